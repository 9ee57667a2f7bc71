package node

import "testing"

func TestIsUpFlag(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"role": true, "work-dir": true, "work_dir": true, "slave_ping_timeout": true, "master": true,
		"config": false, "join-token": false, "net": false, "": false,
	} {
		if got := isUpFlag(name); got != want {
			t.Errorf("isUpFlag(%q) = %v, want %v", name, got, want)
		}
	}
}
