package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// Secrets in launches (Mesos' REFERENCE secrets): a task names secrets of
// the cluster store; the master resolves them when it accepts the task,
// before taking its lock (the store is etcd), and sends the values to the
// agent in the LAUNCH only. The task it keeps, persists and shows holds
// the references (and VALUE secrets a framework sent lose their data:
// api.TaskInfo.Redacted). A secret that cannot be resolved refuses the
// launch with TASK_ERROR naming it: never a task with an empty variable.

// SecretResolver returns a stored secret's value (api.ErrSecretMissing
// when there is none).
type SecretResolver func(ctx context.Context, path string) ([]byte, error)

// resolveTimeout bounds the resolution of one accept's secrets.
const resolveTimeout = 10 * time.Second

// resolved is the outcome for one task: the task to send, or why not.
type resolved struct {
	wire api.TaskInfo
	err  error
}

// resolveSecrets resolves the secret references of the tasks of call
// (of its LAUNCH and LAUNCH_GROUP operations), keyed by task id; tasks
// without references are not in the map.
func (m *Master) resolveSecrets(call api.AcceptCall) map[string]resolved {
	var out map[string]resolved
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	for _, op := range call.Operations {
		for _, ti := range launchedTasks(op) { // LAUNCH and LAUNCH_GROUP
			if len(ti.SecretRefs()) == 0 {
				continue
			}
			if out == nil {
				out = map[string]resolved{}
			}
			if m.cfg.Secrets == nil {
				out[ti.TaskID.Value] = resolved{err: errors.New("this master has no secret store")}
				continue
			}
			wire, err := ti.Resolved(func(name string) ([]byte, error) { return m.cfg.Secrets(ctx, name) })
			out[ti.TaskID.Value] = resolved{wire: wire, err: err}
		}
	}
	return out
}

// secretRefusal is the TASK_ERROR message for a task whose secrets did
// not resolve.
func secretRefusal(err error) string {
	if errors.Is(err, api.ErrSecretMissing) {
		return "Task refused: a secret it references does not exist: " + err.Error()
	}
	return "Task refused: its secrets could not be resolved: " + err.Error()
}

// maySeeSecretsLocked: a framework with a principal may reference only
// the secrets that principal may view (view_secrets on the path).
func (m *Master) maySeeSecretsLocked(fw *framework, ti api.TaskInfo) error {
	if m.cfg.Guard == nil || fw.authz == nil {
		return nil
	}
	for _, ref := range ti.SecretRefs() {
		if !m.cfg.Guard.Allowed(*fw.authz, auth.ViewSecrets, ref) {
			return fmt.Errorf("not authorized to use secret '%s'", ref)
		}
	}
	return nil
}
