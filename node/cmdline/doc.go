// Package cmdline is nodectl's client command line: the commands that talk
// to a cluster over HTTPS (execute, logs, task, exec, agent, app, volume,
// master, token, user, secret, whoami, check), the credentials they find
// (client config, a node's work dir, --principal), their output formats
// (-q, -o table|wide|json|yaml), and the shell around every command
// (help, exit codes, completion, man page, flags after arguments).
//
// It runs no node: package node wires the server (up), the node's local
// commands (image, snapshot, etcd) and the appliance's PID 1
// (node/appliance), and adds these commands to the same program.
// deps_test.go keeps it off etcd's server, runc and the agent.
package cmdline
