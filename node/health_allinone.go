package node

import (
	"net/http"
	"sync/atomic"
)

// allInOneHealth gates /health of a --role=all node on its own agent.
//
// A Mesos master's /health answers 200 as soon as the master serves
// (https://mesos.apache.org/documentation/latest/endpoints/master/health/),
// and /master/health keeps exactly that meaning here. A --role=all node is
// a master and an agent in one process, though: until its agent has
// registered, the node as a whole is not up (GET_AGENTS, /slaves and offers
// lack its own resources), so its /health answers 503 {"message": ...}
// until the first registration. After that /health is the master's again:
// an agent that later re-registers (a leader failover) does not make the
// node unhealthy.
func allInOneHealth(h http.Handler, registered func() bool) http.Handler {
	var up atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !up.Load() {
			if !registered() {
				w.Header().Set("Retry-After", "1")
				writeShedError(w, http.StatusServiceUnavailable, "this --role=all node's agent has not registered yet (the master alone: /master/health)")
				return
			}
			up.Store(true)
		}
		h.ServeHTTP(w, r)
	})
}
