package runtime

import (
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"nodectl/cluster/api"
)

// FilesConfig configures the agent's files API.
type FilesConfig struct {
	// WorkDir is the agent's work dir; sandboxes are under WorkDir/slaves.
	WorkDir string
	// AgentID returns the agent's current id (for the
	// /frameworks/<fid>/executors/<eid>/runs/latest virtual paths).
	AgentID func() string
	// LogFile is served as /slave/log ("": none).
	LogFile string
}

// agentLogPath is the Mesos virtual path of the agent's log.
const agentLogPath = "/slave/log"

// FilesHandler serves the Mesos files API (/files/browse, /files/read,
// /files/download, also under /slave(1)) over the agent's sandboxes and
// log. A sandbox has the Mesos virtual paths: its real directory
// <work_dir>/slaves/<aid>/frameworks/<fid>/executors/<eid>/runs/<cid or latest>
// and /frameworks/<fid>/executors/<eid>/runs/latest (this agent id). Nothing
// outside a sandbox is served: a path that leaves it (through a symlink
// a task made, say) is refused with 403.
func FilesHandler(cfg FilesConfig) (http.Handler, error) {
	if cfg.WorkDir == "" || cfg.AgentID == nil {
		return nil, fmt.Errorf("files config: WorkDir and AgentID are required")
	}
	wd, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("files config: %w", err)
	}
	cfg.WorkDir = wd
	return api.FilesHandler(cfg.resolve, "/slave(1)"), nil
}

// resolve maps a clean virtual path to its sandbox (the root every open
// stays beneath) and the path inside it.
func (cfg FilesConfig) resolve(virtual string) (api.FileTarget, error) {
	if virtual == agentLogPath && cfg.LogFile != "" {
		return api.FileAt(cfg.LogFile), nil
	}
	slaves := filepath.Join(cfg.WorkDir, "slaves")
	var root string
	var rest []string
	switch {
	case strings.HasPrefix(virtual, "/frameworks/"):
		// frameworks/<fid>/executors/<eid>/runs/latest[/...]
		segs := strings.Split(strings.TrimPrefix(virtual, "/"), "/")
		if len(segs) < 6 || segs[2] != "executors" || segs[4] != "runs" || segs[5] != "latest" {
			return api.FileTarget{}, fmt.Errorf("%s: %w", virtual, api.ErrFileNotFound)
		}
		id := cfg.AgentID()
		if id == "" {
			return api.FileTarget{}, fmt.Errorf("%s: agent not registered: %w", virtual, api.ErrFileNotFound)
		}
		root = filepath.Join(slaves, id, filepath.Join(segs[:6]...))
		rest = segs[6:]
	case strings.HasPrefix(virtual, slaves+"/"):
		// <aid>/frameworks/<fid>/executors/<eid>/runs/<cid>[/...]
		segs := strings.Split(strings.TrimPrefix(virtual, slaves+"/"), "/")
		if len(segs) < 7 || segs[1] != "frameworks" || segs[3] != "executors" || segs[5] != "runs" {
			return api.FileTarget{}, fmt.Errorf("%s: %w", virtual, api.ErrFileNotFound)
		}
		root = filepath.Join(slaves, filepath.Join(segs[:7]...))
		rest = segs[7:]
	default:
		return api.FileTarget{}, fmt.Errorf("%s: %w", virtual, api.ErrFileNotFound)
	}
	return api.FileTarget{Root: root, Rel: path.Join(rest...)}, nil
}
