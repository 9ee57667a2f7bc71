package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"nodectl/runtime/image"
)

// Warm containers of image tasks (docs/runtime.md, "Warm containers"). The
// container driver makes a container ahead of the next image task like the
// last one, on a root of its own of the same image: the agent makes that
// root as for a task, in provisioner/containers/<warm id> with its image
// lease (warmRootfs, the driver's Config.WarmRootfs). An image task whose
// image a ready warm container was made of claims it (the driver's
// ClaimWarm), moves its root with the lease to the task's own container
// directory (image.Store.MoveRootfs) and starts with Spec.Warm naming it:
// the driver takes the container over, or ends it before the task's own
// container starts on that root. Either way the root is the task's, and
// released with it (releaseRootfs).

// warmClaimer is the part of the container driver that hands out warm
// containers of image tasks (container.Driver; the unit tests' fake has
// none).
type warmClaimer interface {
	ClaimWarm(image string) (id, rootfs string, ok bool)
	Unclaim(id string)
}

// warmPrefix begins the ids of warm containers (the driver's).
const warmPrefix = "warm-"

// warmRootfs makes and releases the roots of the driver's warm containers
// of image tasks in provisioner/containers.
type warmRootfs struct{ a *Agent }

func (w warmRootfs) dir(id string) string { return provisionerDir(w.a.cfg.WorkDir, id) }

// Prepare makes a root of image (a manifest digest) for warm container id.
func (w warmRootfs) Prepare(image, id string) (string, error) {
	if w.a.images == nil || !strings.HasPrefix(id, warmPrefix) || filepath.Base(id) != id {
		return "", errors.New("no image store")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rootfs, _, err := w.a.images.PrepareRootfs(ctx, image, w.dir(id))
	if err != nil {
		w.Release(id)
		return "", err
	}
	return rootfs, nil
}

// Release removes warm container id's root, if it is still there (a root
// given to a task moved).
func (w warmRootfs) Release(id string) {
	if w.a.images == nil || !strings.HasPrefix(id, warmPrefix) || filepath.Base(id) != id {
		return
	}
	dir := w.dir(id)
	if err := w.a.images.ReleaseRootfs(dir); err != nil {
		w.a.log.Warn("release the root of a warm container", "dir", dir, "err", err)
		return
	}
	_ = os.RemoveAll(dir)
}

// sweepWarmRootfs releases the roots of warm containers a previous run
// left (it ended before its driver could): at the agent's start no warm
// container exists yet.
func (a *Agent) sweepWarmRootfs() {
	ents, err := os.ReadDir(provisionerDir(a.cfg.WorkDir, ""))
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), warmPrefix) {
			warmRootfs{a}.Release(e.Name())
		}
	}
}

// provisionerDir is the container directory of an image task's (or warm
// container's) root.
func provisionerDir(workDir, containerID string) string {
	return filepath.Join(workDir, "provisioner", "containers", containerID)
}

// warmable reports whether a warm container could take t: no volumes,
// secret files, network or task group of its own (the driver checks the
// rest: user, hostname, seccomp profile).
func warmable(t *task) bool {
	if len(t.hostVolumes) > 0 || len(t.secrets.files) > 0 || t.group != nil {
		return false
	}
	if name, _, err := taskNetwork(t.info); err != nil || name != "" {
		return false
	}
	c := t.info.Container
	return c == nil || len(c.Volumes) == 0
}

// imageRootfs gives image task t its root in t.runDir: a ready warm
// container's root of the same image, moved there (warm names that
// container, for Spec.Warm), or one made for it (warm empty). digest is
// the image's manifest digest (Spec.Image) when the driver makes warm
// containers. A claim that does not reach the driver's Start goes back
// (unclaimWarm).
func (a *Agent) imageRootfs(ctx context.Context, t *task, ref string, pull []image.PullOption) (rootfs string, ic image.ImageConfig, digest, warm string, err error) {
	wc, ok := a.driver.(warmClaimer)
	if !ok || !a.cfg.WarmContainers || a.images == nil {
		rootfs, ic, err = a.prepareRootfs(ctx, ref, t.runDir, pull...)
		return rootfs, ic, "", "", err
	}
	if d, err := a.images.ImageDigest(ctx, ref); err == nil {
		digest = d.String()
		warm = a.claimWarm(ctx, wc, t, digest)
	}
	// A claimed root, moved to t.runDir, is found there as it is (and
	// refused if ref names another image by now); else one is made.
	if rootfs, ic, err = a.prepareRootfs(ctx, ref, t.runDir, pull...); err != nil {
		a.unclaimWarm(warm)
		return "", ic, "", "", err
	}
	if digest == "" { // pulled just now
		if d, err := a.images.ImageDigest(ctx, ref); err == nil {
			digest = d.String()
		}
	}
	return rootfs, ic, digest, warm, nil
}

// claimWarm claims a ready warm container of image digest for t, if t
// could take one, and moves its root to t.runDir; it returns the claimed
// container's id, or "" for none.
func (a *Agent) claimWarm(ctx context.Context, wc warmClaimer, t *task, digest string) string {
	if !warmable(t) {
		return ""
	}
	id, from, ok := wc.ClaimWarm(digest)
	if !ok {
		return ""
	}
	if err := a.images.MoveRootfs(ctx, filepath.Dir(from), t.runDir); err != nil {
		a.log.Warn("take the root of a warm container; making one", "task_id", t.id, "err", err)
		wc.Unclaim(id)
		warmRootfs{a}.Release(id)
		return ""
	}
	return id
}

// unclaimWarm ends the warm container a launch claimed and did not start:
// its root, moved to the task's container directory, is released with
// the task's.
func (a *Agent) unclaimWarm(id string) {
	if wc, ok := a.driver.(warmClaimer); ok && id != "" {
		wc.Unclaim(id)
	}
}
