// Package api holds the wire types shared by masters and agents: resources,
// agent registration and ping messages, and the JSON shapes of the operator
// endpoints. It is the one nodectl package that both cluster (master) and
// runtime (agent) import, so it must stay a leaf: it imports no other nodectl
// package and nothing heavier than the standard library and the Prometheus
// client.
package api
