package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"

	"nodectl/cluster/api"
)

// BenchmarkFetch100MB fetches a 100 MB .tgz (10 files of 10 MB of random
// bytes, so it does not compress) from a server on 127.0.0.1 and extracts
// it: cold (cache=true, an empty cache: download, then extract from the
// cache), cached (the file is in the cache: extract only) and direct
// (cache=false: download into the sandbox, then extract).
//
//	go test -run '^$' -bench Fetch100MB -benchtime 3x ./runtime
func BenchmarkFetch100MB(b *testing.B) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	rng := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 10<<20)
	for i := range 10 {
		_, _ = rng.Read(chunk)
		_ = tw.WriteHeader(&tar.Header{Name: "data/f" + string(rune('0'+i)), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(chunk))})
		_, _ = tw.Write(chunk)
	}
	_ = tw.Close()
	_ = zw.Close()
	srv := newFileServer(b, map[string][]byte{"/big.tgz": buf.Bytes()})
	uri := srv.URL + "/big.tgz"
	b.Logf("archive %d bytes", buf.Len())
	run := func(b *testing.B, f *fetcher, wd string, cache bool) {
		b.Helper()
		if err := f.fetch(context.Background(), fetchRequest{sandbox: newSandbox(b, wd), uris: []api.CommandURI{{Value: uri, Cache: cache}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			b.StopTimer()
			f, wd := benchFetcher(b)
			b.StartTimer()
			run(b, f, wd, true)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		f, wd := benchFetcher(b)
		run(b, f, wd, true)
		before := srv.count("/big.tgz")
		for b.Loop() {
			run(b, f, wd, true)
		}
		if srv.count("/big.tgz") != before {
			b.Fatal("a cached fetch downloaded")
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		f, wd := benchFetcher(b)
		for b.Loop() {
			run(b, f, wd, false)
		}
	})
}

func benchFetcher(b *testing.B) (*fetcher, string) {
	wd := b.TempDir()
	f, err := newFetcher(FetcherConfig{}, wd, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return f, wd
}
