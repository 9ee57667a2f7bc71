package runtime

// Registered reports whether the agent is registered with a master now
// (false before its first registration and while it re-registers).
func (a *Agent) Registered() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.registered
}
