package embed

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	etcdembed "go.etcd.io/etcd/server/v3/embed"
)

// Space is the member's database usage.
type Space struct {
	// Size is the database file's size; InUse the part holding data (the
	// rest is free pages, returned to the file system by a defrag).
	Size, InUse int64
	// Quota is the configured quota (Config.QuotaBackendBytes).
	Quota int64
	// Alarms are the cluster's active alarms, by type (e.g. "NOSPACE"),
	// one per member that raised it.
	Alarms []string
}

// NoSpace reports whether the NOSPACE alarm is raised.
func (sp Space) NoSpace() bool {
	for _, a := range sp.Alarms {
		if a == pb.AlarmType_NOSPACE.String() {
			return true
		}
	}
	return false
}

// Space reads the member's database usage and the cluster's alarms (zero
// before Start).
func (s *Server) Space() Space {
	if s.etcd == nil {
		return Space{}
	}
	return space(s.etcd, s.cfg.QuotaBackendBytes)
}

func space(e *etcdembed.Etcd, quota int64) Space {
	be := e.Server.Backend()
	sp := Space{Size: be.Size(), InUse: be.SizeInUse(), Quota: quota}
	for _, a := range e.Server.Alarms() {
		sp.Alarms = append(sp.Alarms, a.Alarm.String())
	}
	return sp
}

// defragWorthIt: at least half the file is free pages and they amount to
// a tenth of the quota. A defrag rewrites the file and blocks the member
// meanwhile, so it is only done when it gives much back.
func defragWorthIt(sp Space) bool {
	free := sp.Size - sp.InUse
	return free >= sp.Quota/10 && free >= sp.Size/2
}

// defragLoop defragments the member's database when worth it (checked
// every DefragInterval), and logs what it did. It ends with Close.
func (s *Server) defragLoop(e *etcdembed.Etcd) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.DefragInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		sp := space(e, s.cfg.QuotaBackendBytes)
		if !defragWorthIt(sp) {
			continue
		}
		if free, ok := freeBytes(s.cfg.Dir); ok && !roomToDefrag(sp, free) {
			// The copy would fill the filesystem, and a member that
			// then cannot commit stops the process.
			s.cfg.Logger.Warn("not defragmenting etcd database: too little free space for its copy",
				"in_use", sp.InUse, "free_bytes", free)
			continue
		}
		if err := defrag(e, sp, s.cfg); err != nil {
			s.cfg.Logger.Warn("defragment etcd database", "err", err)
		}
	}
}

// defrag defragments and logs the sizes before and after.
func defrag(e *etcdembed.Etcd, before Space, cfg Config) error {
	start := time.Now()
	if err := e.Server.Defragment(); err != nil {
		return fmt.Errorf("defragment: %w", err)
	}
	after := space(e, cfg.QuotaBackendBytes)
	cfg.Logger.Info("defragmented etcd database", "size_before", before.Size, "size_after", after.Size, "in_use", after.InUse, "quota", after.Quota, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// roomToDefrag: a defrag writes the data in use into a new file beside
// the database before it removes the old one; it goes ahead only if that
// copy leaves as much again free.
func roomToDefrag(sp Space, free uint64) bool {
	return free >= 2*uint64(max(sp.InUse, 0))
}

// freeBytes is the space available on dir's filesystem.
func freeBytes(dir string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
