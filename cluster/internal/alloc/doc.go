// Package alloc is the master's resource allocator: a Dominant Resource
// Fairness (DRF) allocator on the Mesos model, behaving like Mesos'
// HierarchicalDRF allocator.
//
// The master feeds it events (agents and frameworks coming and going,
// offers declined or accepted, tasks ending) and calls Allocate on its own
// schedule. Allocate walks the agents and offers each one's free resources to
// the role with the lowest weighted dominant share, and within that role to
// the framework with the lowest dominant share, skipping frameworks that
// suppressed the role or filtered the agent. The master turns the returned
// Offers into OFFERS events, assigns offer ids and times offers out; the
// resources stay "offered" (and count for DRF) until it reports them back
// through Allocated, RecoverResources or RemoveFramework/RemoveAgent.
//
// Quota (quota.go) follows Mesos 1.9: guarantees are met first and held
// back from others as headroom, limits cut offers; a limit on a role
// applies to the roles below it ("eng" covers "eng/backend").
//
// Scope, compared to Mesos: for DRF, roles are treated flat (a role
// "eng/backend" is its own leaf, not a child of "eng"); there are no
// revocable resources, no inverse offers and no offer constraints. Statically reserved
// resources ("cpus(web):2") are offered only to frameworks in that role, and
// after the role's share has been compared like any other.
//
// The package is pure logic: no I/O, no goroutines and no clock (time comes
// in as an argument). An Allocator is not safe for concurrent use; the
// master's single event loop owns it. It imports no nodectl package other
// than cluster/api.
package alloc
