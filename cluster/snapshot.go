package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// handleSnapshotSave streams a snapshot of this master's etcd member (the
// whole key space; etcd appends a SHA-256 of it) for `nodectl snapshot save`.
func (m *Master) handleSnapshotSave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	rc, err := m.cfg.Etcd.Snapshot(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("etcd snapshot: %v", err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="nodectl-snapshot.db"`)
	if _, err := io.Copy(w, rc); err != nil {
		m.log.Warn("snapshot stream broke off", "err", err)
	}
}
