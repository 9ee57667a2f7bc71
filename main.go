// Command nodectl is a single-binary cluster appliance: Apache Mesos and
// Marathon semantics with an embedded etcd instead of ZooKeeper, and
// libcontainer instead of external container runtimes.
package main

import (
	"os"

	"nodectl/node"
)

func main() {
	os.Exit(node.Main(os.Args))
}
