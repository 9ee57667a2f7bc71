// Package node is nodectl's composition root: the server command (`up`)
// and its configuration (flags > NODECTL_* environment > YAML file >
// defaults), logging, the roles a process runs (master, agent, all), how
// the packages are wired together, the order in which a node shuts down,
// and the node's local commands (image, snapshot, etcd). The client
// commands are node/cmdline's; the appliance's PID 1 is node/appliance.
//
// node is the only package that imports several nodectl packages; nothing
// but main imports node.
package node
