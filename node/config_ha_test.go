package node

import (
	"strings"
	"testing"
	"time"
)

func TestHAConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", "master", "--join", "ftp://a:1"}, `--join: "ftp://a:1" is not http[s]://HOST:PORT`},
		{[]string{"--role", "master", "--wipe-removed"}, "--wipe-removed: needs --join"},
		{[]string{"--role", "master", "--cluster-reset", "--join", "https://a:1"}, "--cluster-reset: excludes --join"},
		{[]string{"--role", "master", "--restore", "f.db"}, "--restore: needs --cluster-reset"},
		{[]string{"--role", "master", "--snapshot-retention", "0"}, "--snapshot-retention: must be at least 1"},
		{[]string{"--role", "master", "--etcd-election-timeout", "100ms"}, "--etcd-election-timeout: 100ms is less than 5 heartbeats"},
		{[]string{"--role", "master", "--leader-lease-ttl", "1s"}, "--leader-lease-ttl: 1s is not a whole number of seconds ≥ 2s"},
		{[]string{"--role", "master", "--leader-lease-ttl", "2500ms"}, "--leader-lease-ttl"},
	} {
		_, err := parse(t, nil, c.args...)
		if err == nil || !strings.Contains(oneLine(err.Error()), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}

func TestHAConfigValues(t *testing.T) {
	cfg, err := parse(t, nil, "--role", "agent", "--join", "http://10.0.0.1:5050", "--token", "T")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.joinURL() != "https://10.0.0.1:5050" || cfg.Token != "T" {
		t.Errorf("join %q token %q", cfg.joinURL(), cfg.Token)
	}
	cfg, err = parse(t, nil, "--role", "master")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EtcdHeartbeatInterval != 50*time.Millisecond || cfg.EtcdElectionTimeout != 500*time.Millisecond ||
		cfg.LeaderLeaseTTL != 0 || cfg.SnapshotInterval != 12*time.Hour || cfg.SnapshotRetention != 5 {
		t.Errorf("defaults: %+v", cfg)
	}
}
