package cni

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// Host-wide ownership of port forwards and masquerade rules. The plugins'
// nftables rules live in the kernel, not in an agent's directory: an
// agent killed and never started again in its work dir (its directory
// deleted) would leave its bridge tasks' DNAT rules behind, and those
// take 127.0.0.1:<hostPort> from every other program of the host. So
// every attachment records its owner — the agent's networking directory —
// in a file under ownersDir (on /run: gone with the rules at reboot),
// written before CNI ADD under the shared host lock, and any agent
// starting on the host drops the rules of containers whose owner
// directory no longer exists (SweepHost), under the exclusive lock.

// ownersDir holds one file per attached container id, naming the Dir of
// the agent that attached it.
var ownersDir = "/run/nodectl/cni-owners"

// hostIPAMDir is host-local's lease directory for the built-in bridge
// network. Every agent of a host attaches its bridge tasks to the same
// bridge and subnet, so they draw from one pool (host-local locks it):
// with a directory per agent, two agents of one host handed out the same
// addresses. A lease is released by the agent that owns its container
// (releaseOrphanLeases), or by any agent once that owner's directory is
// gone.
var hostIPAMDir = "/run/nodectl/cni-ipam"

// ownerDir is the Dir recorded as container id's owner ("" if none).
func ownerDir(id string) string {
	b, err := os.ReadFile(filepath.Join(ownersDir, id))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// claim records m as the owner of container id's networking.
func (m *Manager) claim(id string) error {
	if err := os.MkdirAll(ownersDir, 0o700); err != nil {
		return fmt.Errorf("record the owner of %s: %w", id, err)
	}
	dir, err := filepath.Abs(m.cfg.Dir)
	if err != nil {
		return fmt.Errorf("record the owner of %s: %w", id, err)
	}
	if err := os.WriteFile(filepath.Join(ownersDir, id), []byte(dir+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the owner of %s: %w", id, err)
	}
	return nil
}

// unclaim forgets container id's owner once its networking is gone.
func unclaim(id string) {
	_ = os.Remove(filepath.Join(ownersDir, id))
}

// anyAbandoned reports whether some recorded owner's directory is gone.
func anyAbandoned() bool {
	es, err := os.ReadDir(ownersDir)
	if err != nil {
		return false
	}
	for _, e := range es {
		if recorded, alive := owner(e.Name()); recorded && !alive {
			return true
		}
	}
	return false
}

// ruleOwner is the container id a plugin rule's comment names: portmap's
// comment is the id itself, bridge's masquerade rules end in "id: <id>".
func ruleOwner(comment string) string {
	if _, id, ok := strings.Cut(comment, "id: "); ok {
		return strings.TrimSpace(id)
	}
	if strings.ContainsAny(comment, " \t") {
		return "" // not a plugin's container comment
	}
	return comment
}

// SweepHost removes the plugin rules of containers no agent of this host
// can clean up any more: those whose recorded owner directory is gone.
// It returns their container ids. Rules without an owner record are not
// nodectl's to judge (another CNI user of the host, such as podman, puts
// its port forwards in the same tables); the owner of a container whose
// directory still exists is left to clean up at its own next start.
func SweepHost(ctx context.Context) ([]string, error) {
	unlock := hostLock(unix.LOCK_EX) // no ADD between claim and rules meanwhile
	defer unlock()
	if !anyAbandoned() {
		// Nothing below would be removed: only an abandoned owner's rules,
		// leases and record are. Listing the tables execs nft once per
		// table (~100 ms, most of an agent's start on a fresh work dir).
		return nil, nil
	}
	ids := map[string]bool{}
	for _, t := range pluginTables {
		nft, err := knftables.New(t.family, t.name)
		if err != nil {
			return nil, nil // no nft: no plugin rules either
		}
		rules, err := nft.ListRules(ctx, "")
		if err != nil {
			continue // no such table
		}
		for _, r := range rules {
			if r.Comment == nil {
				continue
			}
			if id := ruleOwner(*r.Comment); id != "" {
				ids[id] = true
			}
		}
	}
	abandoned := func(id string) bool {
		recorded, alive := owner(id)
		return recorded && !alive
	}
	swept := map[string]bool{}
	var errs []error
	for id := range ids {
		if !abandoned(id) {
			continue
		}
		if err := dropRules(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		swept[id] = true
	}
	// Their address leases in the host's pool, then their records.
	for _, id := range releaseLeasesIn(hostIPAMDir, func(id string) bool { return !abandoned(id) }) {
		swept[id] = true
	}
	if es, err := os.ReadDir(ownersDir); err == nil {
		for _, e := range es {
			if abandoned(e.Name()) && (swept[e.Name()] || !ids[e.Name()]) {
				unclaim(e.Name())
			}
		}
	}
	var out []string
	for id := range swept {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, errors.Join(errs...)
}

// owner reports whether container id has an owner record, and whether
// the directory it names still exists.
func owner(id string) (recorded, alive bool) {
	if _, err := os.Stat(filepath.Join(ownersDir, id)); err != nil {
		return false, false
	}
	dir := ownerDir(id)
	if dir == "" {
		return true, false
	}
	_, err := os.Stat(dir)
	return true, err == nil
}
