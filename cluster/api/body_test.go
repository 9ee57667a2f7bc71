package api

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadBody: ReadBody returns what io.ReadAll would, whatever size it
// is told, and reads a body of the size it was told into one buffer.
func TestReadBody(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 12 << 10, 64<<10 + 7, 300 << 10} {
		body := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, hint := range []int64{-1, 0, 1, int64(n) / 2, int64(n), int64(n) + 100, 10 << 20} {
			for _, r := range []io.Reader{bytes.NewReader(body), iotest.OneByteReader(bytes.NewReader(body)), iotest.HalfReader(bytes.NewReader(body))} {
				got, err := ReadBody(r, hint)
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("%d bytes, told %d: got %d bytes, %v", n, hint, len(got), err)
				}
			}
		}
	}
	boom := errors.New("boom")
	if _, err := ReadBody(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 3); !errors.Is(err, boom) {
		t.Errorf("a failing read: %v, want its error", err)
	}
	body := bytes.Repeat([]byte("x"), 12<<10) // under maxBodyHint
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(body)
		if b, _ := ReadBody(r, int64(len(body))); len(b) != len(body) {
			t.Fatal("short read")
		}
	})
	if allocs != 1 {
		t.Errorf("a 12 KiB body of announced size: %v allocations, want 1", allocs)
	}
}
