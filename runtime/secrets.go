package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// Secrets reach the agent resolved (VALUE secrets in the LAUNCH, over the
// mTLS agent stream): SECRET environment variables and SECRET volumes
// (Mesos Environment.Variable.SECRET and Volume.Source.SECRET). The agent
// takes the values out of the task when it admits it (takeSecrets): what
// it checkpoints in sqlite, shows and reports is the task without them.
// Variables join the container's environment through the shim
// (container.Spec.SecretEnv, handed over in a 0600 file the shim removes
// once read, never in the container's request file). A volume is a file,
// mode 0400, in <work dir>/secrets/<container id>/ (0700), bind-mounted
// read-only at its container path in the sandbox: the sandbox on the host,
// which the files API serves, holds only the empty mount point. Mesos
// mounts a tmpfs instead; nodectl's file is on the agent's disk and is
// removed when the task ends (releaseRootfs). Files are owned by the
// agent's user (root), as is the task's process.
//
// After an agent restart a running task keeps its environment and files;
// nothing of a secret is recovered from the checkpoint, because nothing
// needs relaunching from it.

// taskSecrets are the resolved secrets of one task.
type taskSecrets struct {
	env   []string // NAME=value
	files []secretFile
	pull  []byte // the image's pull config, a Docker config.json (pullauth.go)
	err   error  // a secret arrived without its value: the launch is refused
}

type secretFile struct {
	containerPath string
	data          []byte
}

// takeSecrets splits ti into the task without secret values and its
// secrets.
func takeSecrets(ti api.TaskInfo) (api.TaskInfo, taskSecrets) {
	var s taskSecrets
	missing := func(where string, sec *api.Secret) {
		name := ""
		if sec != nil && sec.Reference != nil {
			name = " " + sec.Reference.Name
		}
		s.err = errors.Join(s.err, fmt.Errorf("%s: secret%s arrived without its value", where, name))
	}
	if c := ti.Command; c != nil && c.Environment != nil {
		for _, v := range c.Environment.Variables {
			if v.Type != api.EnvTypeSecret {
				continue
			}
			if v.Secret == nil || v.Secret.Value == nil {
				missing("environment variable "+v.Name, v.Secret)
				continue
			}
			s.env = append(s.env, v.Name+"="+string(v.Secret.Value.Data))
		}
	}
	if ct := ti.Container; ct != nil {
		for _, v := range ct.Volumes {
			if v.Source == nil || v.Source.Type != api.VolumeTypeSecret {
				continue
			}
			if v.Source.Secret == nil || v.Source.Secret.Value == nil {
				missing("volume "+v.ContainerPath, v.Source.Secret)
				continue
			}
			s.files = append(s.files, secretFile{containerPath: v.ContainerPath, data: v.Source.Secret.Value.Data})
		}
		if m := ct.Mesos; m != nil && m.Image != nil && m.Image.Docker != nil && m.Image.Docker.Config != nil {
			if c := m.Image.Docker.Config; c.Value == nil {
				missing("image "+m.Image.Docker.Name+" pull config", c)
			} else {
				s.pull = c.Value.Data
			}
		}
	}
	return ti.Redacted(), s
}

// secretDir holds a container's secret files, outside its sandbox (the
// files API serves sandboxes): <work dir>/secrets/<container id>, 0700.
func secretDir(workDir, containerID string) string {
	return filepath.Join(workDir, "secrets", containerID)
}

// secretMounts writes the task's secret files, 0400, into dir and returns
// read-only bind mounts of each at its container path under the sandbox
// as the container sees it (sandboxTarget). The sandbox itself only gets
// the empty mount point. A container path must stay inside the sandbox.
func secretMounts(dir, sandboxTarget string, files []secretFile, owner taskUser) ([]container.Mount, error) {
	if len(files) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secret volumes: %w", err)
	}
	var out []container.Mount
	for i, f := range files {
		rel := filepath.Clean(strings.TrimPrefix(f.containerPath, "/"))
		if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, fmt.Errorf("secret volume %s: not a path inside the sandbox", f.containerPath)
		}
		p := filepath.Join(dir, fmt.Sprintf("%d", i))
		// O_EXCL|O_NOFOLLOW: a fresh file, never through a link.
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o400)
		if err != nil {
			return nil, fmt.Errorf("secret volume %s: %w", f.containerPath, err)
		}
		_, werr := fh.Write(f.data)
		if werr == nil {
			// 0400 and the task's user's: readable by the task only.
			werr = fh.Chown(int(owner.UID), int(owner.GID))
		}
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("secret volume %s: %w", f.containerPath, werr)
		}
		out = append(out, container.Mount{Source: p, Destination: filepath.Join(sandboxTarget, rel), ReadOnly: true})
	}
	return out, nil
}
