// Package runtime is the agent: it registers with the leading master, keeps
// pinging it, and (as later issues add) runs tasks in libcontainer
// containers, manages images, sandboxes and volumes, and restores its
// containers after a restart.
//
// runtime and its subpackages are the only nodectl packages that import runc.
// runtime may import storage and the wire-type leaf cluster/api; it must not
// import cluster, embed, ui or node.
package runtime
