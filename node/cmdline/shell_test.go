package cmdline

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

func TestWrapHelp(t *testing.T) {
	in := "   --name value     " + strings.Repeat("word ", 30) + "\nshort line\n"
	got := wrapHelp(in, 40)
	lines := strings.Split(got, "\n")
	if len(lines) < 4 || lines[len(lines)-2] != "short line" {
		t.Fatalf("wrapped:\n%s", got)
	}
	for _, l := range lines[1 : len(lines)-2] {
		if len(l) > 40 || !strings.HasPrefix(l, strings.Repeat(" ", 20)+"word") {
			t.Errorf("continuation %q: want ≤ 40 columns, indented to the text column", l)
		}
	}
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(in), " ") {
		t.Errorf("words changed:\n%s", got)
	}
}

func TestJSONToYAML(t *testing.T) {
	got, err := jsonToYAML([]byte(`[{"id":"/a","n":1,"ok":true,"s":"true","l":[1,2],"m":{}}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := "- id: /a\n  n: 1\n  ok: true\n  s: \"true\"\n  l:\n    - 1\n    - 2\n  m: {}\n"
	if string(got) != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	p := &prefixWriter{prefix: "t1 | ", w: &b}
	_, _ = p.Write([]byte("a\nb"))
	_, _ = p.Write([]byte("c\n\nd"))
	p.flush()
	if b.String() != "t1 | a\nt1 | bc\nt1 | \nt1 | d\n" {
		t.Errorf("got %q", b.String())
	}
}

func TestRawBytes(t *testing.T) {
	for _, c := range []struct {
		in     string
		length int64
		want   string
		n      int64
	}{
		{"abc", 10, "abc", 3},
		{"héllo", 10, "héllo", 6},
		{"ab\uFFFD", 10, "ab\uFFFD", 3},  // an invalid byte, not at a chunk's end
		{"abc\uFFFD\uFFFD", 5, "abc", 3}, // a character cut by the chunk's end
	} {
		b, n := rawBytes(c.in, c.length)
		if string(b) != c.want || n != c.n {
			t.Errorf("rawBytes(%q, %d) = %q, %d; want %q, %d", c.in, c.length, b, n, c.want, c.n)
		}
	}
}

// sandboxFile reads through a real files API (the one agents serve).
func TestSandboxFileTailAndDrain(t *testing.T) {
	dir := t.TempDir()
	var content strings.Builder
	for i := range 5000 {
		content.WriteString("line " + strings.Repeat("x", i%50) + "\n")
	}
	content.WriteString("last-partial")
	if err := os.WriteFile(filepath.Join(dir, "stdout"), []byte(content.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	files := api.FilesHandler(func(virtual string) (api.FileTarget, error) {
		rel, ok := strings.CutPrefix(virtual, "/sb/")
		if !ok {
			return api.FileTarget{}, api.ErrFileNotFound
		}
		return api.FileTarget{Root: dir, Rel: rel}, nil
	})
	srv := httptest.NewServer(http.StripPrefix("/agents/a1", files))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := newSandboxFile(c, "a1", "/sb", "stdout")
	if err := f.seekTail(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := f.drain(ctx, &b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(content.String(), "\n")
	if want := strings.Join(lines[len(lines)-3:], "\n"); b.String() != want {
		t.Errorf("tail 3: %q, want %q", b.String(), want)
	}
	// all of it, across many chunks
	f = newSandboxFile(c, "a1", "/sb", "stdout")
	b.Reset()
	for {
		more, err := f.drain(ctx, &b)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if b.String() != content.String() {
		t.Errorf("drained %d bytes, want %d", b.Len(), content.Len())
	}
	// a file not there yet copies nothing
	missing := newSandboxFile(c, "a1", "/sb", "stderr")
	if more, err := missing.drain(ctx, &b); more || err != nil {
		t.Errorf("missing file: %v %v", more, err)
	}
}
