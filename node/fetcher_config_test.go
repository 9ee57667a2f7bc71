package node

import (
	"strings"
	"testing"
	"time"

	"nodectl/runtime"
)

// The fetcher flags take Mesos' spellings and Bytes values; the defaults
// are Mesos' (2GB cache, 60s stall timeout) and a 1GB bound per URI.
func TestConfigFetcher(t *testing.T) {
	cfg, err := parse(t, nil)
	if err != nil || cfg.Fetcher != (runtime.FetcherConfig{CacheSize: 2 << 30, StallTimeout: time.Minute, MaxSize: 1 << 30}) {
		t.Errorf("default: %v %+v", err, cfg.Fetcher)
	}
	cfg, err = parse(t, nil, "--fetcher_cache_size=100MB", "--fetcher_cache_dir=/srv/fetch", "--fetcher_stall_timeout=5secs", "--fetcher-max-size", "10MB")
	want := runtime.FetcherConfig{CacheDir: "/srv/fetch", CacheSize: 100 << 20, StallTimeout: 5 * time.Second, MaxSize: 10 << 20}
	if err != nil || cfg.Fetcher != want {
		t.Errorf("Mesos spelling: %v %+v, want %+v", err, cfg.Fetcher, want)
	}
	for _, bad := range [][]string{{"--fetcher-cache-size=lots"}, {"--fetcher-max-size=0"}} {
		if _, err := parse(t, nil, bad...); err == nil || !strings.Contains(err.Error(), strings.SplitN(bad[0], "=", 2)[0]) {
			t.Errorf("%v: err %v, want one naming the flag", bad, err)
		}
	}
}
