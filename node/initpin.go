package node

import "nodectl/node/internal/initpin"

// By node's init every package of the binary but main has been initialised
// (node imports them all): the process gets back the CPUs initpin kept it
// off while they were.
func init() { initpin.Release() }
