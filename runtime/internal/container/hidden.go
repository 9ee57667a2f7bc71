package container

import "nodectl/runtime/internal/container/internal/hostsecrets"

// HiddenFromTasks reports whether the resolved host path p is one that
// command tasks never see: the host's secrets (/etc/shadow, /root, SSH
// keys, ...) or one of hidden (the agent's --task-hidden-paths), or a
// path beneath one. The fetcher asks it before it copies a local file into
// a sandbox, so a task cannot fetch what its container hides.
func HiddenFromTasks(p string, hidden []string) bool { return hostsecrets.IsHidden(p, hidden) }
