// Package node is nodectl's composition root: the command line (urfave/cli),
// configuration (flags > NODECTL_* environment > YAML file > defaults),
// logging, the roles a process runs (master, agent, all), how the packages
// are wired together, and the order in which a node shuts down.
//
// node is the only package that imports several nodectl packages; nothing
// but main imports node.
package node
