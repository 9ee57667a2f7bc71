package storage

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the files under testdata/")

// FuzzDecode feeds assemble (the decoding and cross-checking half of
// LoadState) arbitrary table rows, written as JSON (see decodeRows). It
// must not panic, and what a lenient load keeps must be self-consistent:
// stored again and reloaded, it loads strictly to the same State.
func FuzzDecode(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzDecode (see TestFuzzSeeds).
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := decodeRows(data)
		if err != nil {
			return
		}
		st := assemble(raw)
		for _, e := range st.Errors {
			if _, ok := e.(*RecordError); !ok {
				t.Fatalf("error %v is not a *RecordError", e)
			}
		}
		st.Errors = nil
		again := assemble(rowsOf(st))
		if len(again.Errors) > 0 {
			t.Fatalf("lenient result does not reload cleanly: %v", again.Errors)
		}
		if !reflect.DeepEqual(again, st) {
			t.Fatalf("reload differs:\n got %+v\nwant %+v", again, st)
		}
	})
}

// The fuzz input: {"agent": [row...], "resources": [...], "frameworks":
// [...], "executors": [...], "tasks": [...], "updates": [...]}, each row
// [rowid, column values in the order of agentCols etc.]; a value is a
// number (integer, else real), a string (text), {"blob": "text"} or
// {"hex": "00ff"} (a blob), or null.

type jsonRows struct {
	Agent      [][]any `json:"agent,omitempty"`
	Resources  [][]any `json:"resources,omitempty"`
	Frameworks [][]any `json:"frameworks,omitempty"`
	Executors  [][]any `json:"executors,omitempty"`
	Tasks      [][]any `json:"tasks,omitempty"`
	Updates    [][]any `json:"updates,omitempty"`
}

func (j *jsonRows) tables(r *rawState) []struct {
	j *[][]any
	r *[]rawRow
} {
	return []struct {
		j *[][]any
		r *[]rawRow
	}{{&j.Agent, &r.Agent}, {&j.Resources, &r.Resources}, {&j.Frameworks, &r.Frameworks},
		{&j.Executors, &r.Executors}, {&j.Tasks, &r.Tasks}, {&j.Updates, &r.Updates}}
}

func decodeRows(data []byte) (rawState, error) {
	var j jsonRows
	var raw rawState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&j); err != nil {
		return raw, err
	}
	for _, t := range j.tables(&raw) {
		for _, row := range *t.j {
			if len(row) == 0 {
				return raw, fmt.Errorf("empty row")
			}
			id, err := jsonValue(row[0])
			rowid, ok := id.(int64)
			if err != nil || !ok {
				return raw, fmt.Errorf("bad rowid %v", row[0])
			}
			r := rawRow{RowID: rowid}
			for _, v := range row[1:] {
				x, err := jsonValue(v)
				if err != nil {
					return raw, err
				}
				r.Vals = append(r.Vals, x)
			}
			*t.r = append(*t.r, r)
		}
	}
	return raw, nil
}

func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, string:
		return v, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("bad number %s", v)
		}
		return f, nil
	case map[string]any:
		if s, ok := v["blob"].(string); ok && len(v) == 1 {
			return []byte(s), nil
		}
		if s, ok := v["hex"].(string); ok && len(v) == 1 {
			return hex.DecodeString(s)
		}
	}
	return nil, fmt.Errorf("bad value %v", v)
}

func encodeRows(raw rawState) []byte {
	var j jsonRows
	for _, t := range j.tables(&raw) {
		for _, r := range *t.r {
			row := []any{r.RowID}
			for _, v := range r.Vals {
				if b, ok := v.([]byte); ok {
					if utf8.Valid(b) {
						v = map[string]any{"blob": string(b)}
					} else {
						v = map[string]any{"hex": hex.EncodeToString(b)}
					}
				}
				row = append(row, v)
			}
			*t.j = append(*t.j, row)
		}
	}
	out, err := json.Marshal(j)
	if err != nil {
		panic(err)
	}
	return out
}

// rowsOf is the inverse of assemble: the rows a State is stored as.
func rowsOf(st State) rawState {
	var raw rawState
	var id int64
	row := func(vals ...any) rawRow { id++; return rawRow{RowID: id, Vals: vals} }
	b2i := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	if a := st.Agent; a != nil {
		raw.Agent = append(raw.Agent, row(a.ID, blob(a.Info), a.BootID, a.ConfigFingerprint))
	}
	if st.Resources != nil {
		raw.Resources = append(raw.Resources, row(st.Resources))
	}
	for _, f := range st.Frameworks {
		raw.Frameworks = append(raw.Frameworks, row(f.ID, f.Info, b2i(f.Checkpoint)))
	}
	for _, e := range st.Executors {
		raw.Executors = append(raw.Executors, row(e.ContainerID, e.FrameworkID, e.ExecutorID, e.Sandbox, e.Info,
			toNanos(e.LaunchedAt), b2i(e.Completed), toNanos(e.CompletedAt)))
	}
	for _, t := range st.Tasks {
		var acked int64
		for _, u := range t.Updates {
			if u.Acked() {
				acked = u.Seq
			}
		}
		raw.Tasks = append(raw.Tasks, row(t.FrameworkID, t.TaskID, t.ExecutorID, t.ContainerID, t.Info, t.State, b2i(t.Terminal), b2i(t.Done), acked))
		for _, u := range t.Updates {
			var acked any
			if u.Acked() {
				acked = toNanos(u.AckedAt)
			}
			raw.Updates = append(raw.Updates, row(u.FrameworkID, u.TaskID, u.Seq, u.UUID, u.State, b2i(u.Terminal), u.Body,
				toNanos(u.CreatedAt), acked))
		}
	}
	return raw
}

// seedRows is the rows of a real store: a healthy state to mutate.
func seedRows(t *testing.T) rawState {
	s := openTest(t)
	ctx := context.Background()
	if err := s.PutAgent(ctx, Agent{ID: "a1", Info: []byte(`{"hostname":"h"}`), BootID: "b1", ConfigFingerprint: "f1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResources(ctx, []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	l := mustLaunch(t, s, "fw", "t1")
	fin := updateOf("fw", "t1", "TASK_FINISHED", true)
	mustAppend(t, s, fin)
	if _, err := s.Ack(ctx, TaskKey{"fw", "t1"}, l.Update.UUID); err != nil {
		t.Fatal(err)
	}
	mustLaunch(t, s, "fw", "t2")
	mustLaunch(t, s, "fw2", "t3")
	if err := s.CompleteExecutor(ctx, "ctr-fw2-t3", fromNanos(2e18)); err != nil {
		t.Fatal(err)
	}
	raw, err := s.readRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Fixed times and uuids, so that regenerated seeds do not churn.
	for i := range raw.Executors {
		raw.Executors[i].Vals[5] = int64(1e18 + i)
	}
	for i := range raw.Updates {
		r := &raw.Updates[i]
		r.Vals[3] = []byte(fmt.Sprintf("uuid-%d", i))
		r.Vals[7] = int64(1e18 + i)
		if r.Vals[8] != nil {
			r.Vals[8] = int64(1.5e18 + i)
		}
	}
	return raw
}

// TestFuzzSeeds keeps the FuzzDecode seed corpus in step with the input
// format; -update rewrites it from a real store's rows and some damage.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *update {
		base := seedRows(t)
		mutate := func(f func(r *rawState)) rawState {
			r := base
			for _, t := range []*[]rawRow{&r.Agent, &r.Resources, &r.Frameworks, &r.Executors, &r.Tasks, &r.Updates} {
				rows := make([]rawRow, len(*t))
				for i, row := range *t {
					rows[i] = rawRow{RowID: row.RowID, Vals: append([]any(nil), row.Vals...)}
				}
				*t = rows
			}
			f(&r)
			return r
		}
		seeds := map[string]rawState{
			"healthy":            base,
			"empty":              {},
			"bad_json":           mutate(func(r *rawState) { r.Tasks[0].Vals[4] = []byte("{") }),
			"duplicate_seq":      mutate(func(r *rawState) { r.Updates[1].Vals[2] = int64(1) }),
			"ack_out_of_order":   mutate(func(r *rawState) { r.Updates[0].Vals[8] = nil; r.Updates[1].Vals[8] = int64(1.6e18) }),
			"missing_framework":  mutate(func(r *rawState) { r.Frameworks = r.Frameworks[:1] }),
			"wrong_types":        mutate(func(r *rawState) { r.Executors[0].Vals[5] = "yesterday"; r.Tasks[1].Vals[6] = 2.5 }),
			"invalid_utf8":       mutate(func(r *rawState) { r.Frameworks[0].Vals[0] = []byte{0xff, 0xfe} }),
			"two_agents":         mutate(func(r *rawState) { r.Agent = append(r.Agent, r.Agent[0]) }),
			"short_row":          mutate(func(r *rawState) { r.Tasks[0].Vals = r.Tasks[0].Vals[:3] }),
			"done_with_pending":  mutate(func(r *rawState) { r.Updates[1].Vals[8] = nil }),
			"state_disagreement": mutate(func(r *rawState) { r.Tasks[1].Vals[5] = "TASK_RUNNING" }),
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, r := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(encodeRows(r))))
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) < 5 {
		t.Fatalf("seed corpus %s: %d files, %v (go test -run TestFuzzSeeds -update)", dir, len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		const prefix = "go test fuzz v1\n[]byte("
		s, ok := bytes.CutPrefix(bytes.TrimSpace(b), []byte(prefix))
		if !ok {
			t.Fatalf("%s: not a fuzz corpus file", f)
		}
		q, err := strconv.Unquote(string(bytes.TrimSuffix(s, []byte(")"))))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := decodeRows([]byte(q)); err != nil {
			t.Errorf("%s: seed does not decode: %v", f, err)
		}
	}
}
