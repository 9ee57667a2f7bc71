package api

import (
	"net/url"
	"slices"
	"testing"
)

// An exec request survives its query encoding, and bad queries are the
// client's errors.
func TestExecRequestQuery(t *testing.T) {
	in := ExecRequest{Command: []string{"sh", "-c", "echo a b"}, TTY: true, Stdin: true, Size: ExecSize{Rows: 30, Cols: 100}}
	out, err := ParseExecRequest(in.Query())
	if err != nil || !slices.Equal(out.Command, in.Command) || out.TTY != in.TTY || out.Stdin != in.Stdin || out.Size != in.Size {
		t.Fatalf("round trip: %+v %v, want %+v", out, err, in)
	}
	for _, q := range []string{"", "command=", "command=sh&tty=maybe", "command=sh&rows=70000", "command=sh&shell=1"} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseExecRequest(v); err == nil {
			t.Errorf("%q: accepted", q)
		}
	}
}
