package storage

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Recovery reads every table raw (each column as whatever sqlite holds)
// inside one read transaction, then assemble decodes and cross-checks the
// rows without touching the database: the decoding is a pure function,
// which is what FuzzDecode exercises.

// rawRow is one table row as stored.
type rawRow struct {
	RowID int64
	Vals  []any // int64, float64, string, []byte or nil
}

// rawState is every table, rows in rowid order.
type rawState struct {
	Agent, Resources, Frameworks, Executors, Tasks, Updates, Volumes []rawRow
}

// The columns read per table, in the order rawRow.Vals holds them.
var (
	agentCols     = []string{"agent_id", "info", "boot_id", "config_fingerprint"}
	resourceCols  = []string{"body"}
	frameworkCols = []string{"framework_id", "info", "checkpoint"}
	executorCols  = []string{"container_id", "framework_id", "executor_id", "sandbox", "info", "launched_at", "completed", "completed_at"}
	taskCols      = []string{"framework_id", "task_id", "executor_id", "container_id", "info", "state", "terminal", "done", "acked_seq"}
	updateCols    = []string{"framework_id", "task_id", "seq", "uuid", "state", "terminal", "body", "created_at", "acked_at"}
	// updateSel reads updateCols from an update joined with its task.
	updateSel = []string{"t.framework_id", "t.task_id", "u.seq", "u.uuid", "u.state", "u.terminal", "u.body", "u.created_at", "u.acked_at"}
)

// LoadState reads the whole checkpoint for recovery. With strict, any
// record that cannot be decoded or contradicts another is an error naming
// the table, row and problem. Without strict, such records are skipped
// (with whatever depends on them: a framework's executors, an executor's
// tasks) and listed in State.Errors. A damaged file is a *CorruptError
// either way.
func (s *Store) LoadState(ctx context.Context, strict bool) (State, error) {
	s.mu.RLock() // Close waits for the read
	defer s.mu.RUnlock()
	if s.closed || s.db == nil {
		return State{}, ErrClosed
	}
	raw, err := s.readRaw(ctx)
	if err != nil {
		return State{}, s.wrapErr("load", err)
	}
	st := assemble(raw)
	if strict && len(st.Errors) > 0 {
		more := ""
		if n := len(st.Errors) - 1; n > 0 {
			more = fmt.Sprintf(" (and %d more bad records)", n)
		}
		return State{}, fmt.Errorf("load checkpoint %s: %w%s; restart with --no-strict to skip bad records", s.path, st.Errors[0], more)
	}
	return st, nil
}

func (s *Store) readRaw(ctx context.Context) (raw rawState, err error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return raw, err
	}
	defer tx.Rollback()
	for _, t := range []struct {
		table, from, rowid string
		cols               []string
		dst                *[]rawRow
	}{
		{"agent", "agent", "rowid", agentCols, &raw.Agent},
		{"resources", "resources", "rowid", resourceCols, &raw.Resources},
		{"frameworks", "frameworks", "rowid", frameworkCols, &raw.Frameworks},
		{"executors", "executors", "rowid", executorCols, &raw.Executors},
		{"tasks", "tasks", "rowid", taskCols, &raw.Tasks},
		// WITHOUT ROWID: its key names a row. An update row holds its
		// task's id (tasks.id); the task's own ids are read with it.
		{"updates", "updates u LEFT JOIN tasks t ON t.id = u.task", "0", updateSel, &raw.Updates},
		{"volumes", "volumes", "rowid", volumeCols, &raw.Volumes},
	} {
		if *t.dst, err = readTable(ctx, tx, t.from, t.rowid, t.cols); err != nil {
			return raw, fmt.Errorf("read table %s: %w", t.table, err)
		}
	}
	return raw, nil
}

// readTable reads cols of every row of from (a table, or a join whose
// columns are unambiguous).
func readTable(ctx context.Context, tx *sql.Tx, from, rowid string, cols []string) ([]rawRow, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+rowid+", "+strings.Join(cols, ", ")+" FROM "+from+" ORDER BY 1")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rawRow
	for rows.Next() {
		r := rawRow{Vals: make([]any, len(cols))}
		dest := make([]any, len(cols)+1)
		dest[0] = &r.RowID
		for i := range r.Vals {
			dest[i+1] = &r.Vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// rowDec decodes the columns of one row, keeping the first problem.
type rowDec struct {
	cols []string
	r    rawRow
	err  error
}

func (d *rowDec) fail(i int, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("column %s: %s", d.cols[i], fmt.Sprintf(format, args...))
	}
}

func (d *rowDec) text(i int) string {
	switch v := d.r.Vals[i].(type) {
	case string:
		if utf8.ValidString(v) {
			return v
		}
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
	default:
		d.fail(i, "want text, have %s", kind(v))
		return ""
	}
	d.fail(i, "text is not valid UTF-8")
	return ""
}

func (d *rowDec) blob(i int) []byte {
	switch v := d.r.Vals[i].(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	default:
		d.fail(i, "want a blob, have %s", kind(v))
		return nil
	}
}

func (d *rowDec) int(i int) int64 {
	v, ok := d.r.Vals[i].(int64)
	if !ok {
		d.fail(i, "want an integer, have %s", kind(d.r.Vals[i]))
	}
	return v
}

func (d *rowDec) time(i int) int64 {
	v := d.int(i)
	if v < 0 {
		d.fail(i, "negative time %d", v)
	}
	return v
}

func (d *rowDec) bool(i int) bool {
	v := d.int(i)
	if v != 0 && v != 1 {
		d.fail(i, "want 0 or 1, have %d", v)
	}
	return v == 1
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "NULL"
	case int64:
		return "an integer"
	case float64:
		return "a real"
	case string:
		return "text"
	case []byte:
		return "a blob"
	}
	return fmt.Sprintf("%T", v)
}

// key renders the id columns of a row as far as they are text, for error
// messages about rows that may not decode.
func key(cols []string, r rawRow, idx ...int) string {
	var parts []string
	for _, i := range idx {
		switch v := r.Vals[i].(type) {
		case string:
			parts = append(parts, fmt.Sprintf("%s %q", cols[i], v))
		case []byte:
			parts = append(parts, fmt.Sprintf("%s %q", cols[i], v))
		case int64:
			parts = append(parts, fmt.Sprintf("%s %d", cols[i], v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// assemble decodes and cross-checks raw rows into a State. A bad record is
// dropped with everything that depends on it, and one *RecordError per
// dropped record goes to State.Errors; what is left is self-consistent.
func assemble(raw rawState) State {
	var st State
	bad := func(table string, r rawRow, k string, err error) {
		st.Errors = append(st.Errors, &RecordError{Table: table, RowID: r.RowID, Key: k, Problem: err.Error()})
	}
	sortRows := func(rs []rawRow) []rawRow {
		rs = slices.Clone(rs)
		slices.SortStableFunc(rs, func(a, b rawRow) int { return cmp.Compare(a.RowID, b.RowID) })
		return rs
	}
	wellFormed := func(table string, cols []string, rows []rawRow) []rawRow {
		return slices.DeleteFunc(sortRows(rows), func(r rawRow) bool {
			if len(r.Vals) != len(cols) {
				bad(table, r, "", fmt.Errorf("has %d columns, want %d", len(r.Vals), len(cols)))
				return true
			}
			return false
		})
	}

	for i, r := range wellFormed("agent", agentCols, raw.Agent) {
		d := &rowDec{cols: agentCols, r: r}
		a := Agent{ID: d.text(0), Info: d.blob(1), BootID: d.text(2), ConfigFingerprint: d.text(3)}
		err := firstErr(d.err, a.check())
		if err == nil && i > 0 {
			err = fmt.Errorf("more than one agent record")
		}
		if err != nil {
			bad("agent", r, key(agentCols, r, 0), err)
			continue
		}
		if len(a.Info) == 0 {
			a.Info = nil
		}
		st.Agent = &a
	}
	for i, r := range wellFormed("resources", resourceCols, raw.Resources) {
		d := &rowDec{cols: resourceCols, r: r}
		body := d.blob(0)
		err := firstErr(d.err, checkJSON("resources", body, false))
		if err == nil && i > 0 {
			err = fmt.Errorf("more than one resources record")
		}
		if err != nil {
			bad("resources", r, "", err)
			continue
		}
		st.Resources = body
	}

	// missing explains a reference to a parent that is not there.
	missing := func(what, id string, skipped bool) error {
		if skipped {
			return fmt.Errorf("its %s %s was skipped (bad record)", what, id)
		}
		return fmt.Errorf("its %s %s is not checkpointed", what, id)
	}
	frameworks, badFrameworks := map[string]bool{}, map[string]bool{}
	for _, r := range wellFormed("frameworks", frameworkCols, raw.Frameworks) {
		d := &rowDec{cols: frameworkCols, r: r}
		f := Framework{ID: d.text(0), Info: d.blob(1), Checkpoint: d.bool(2)}
		err := firstErr(d.err, f.check())
		if err == nil && frameworks[f.ID] {
			err = fmt.Errorf("duplicate framework")
		}
		if err != nil {
			bad("frameworks", r, key(frameworkCols, r, 0), err)
			badFrameworks[f.ID] = true
			continue
		}
		frameworks[f.ID] = true
		st.Frameworks = append(st.Frameworks, f)
	}

	executors, badExecutors := map[string]Executor{}, map[string]bool{}
	for _, r := range wellFormed("executors", executorCols, raw.Executors) {
		d := &rowDec{cols: executorCols, r: r}
		e := Executor{ContainerID: d.text(0), FrameworkID: d.text(1), ExecutorID: d.text(2), Sandbox: d.text(3), Info: d.blob(4),
			LaunchedAt: fromNanos(d.time(5)), Completed: d.bool(6), CompletedAt: fromNanos(d.time(7))}
		err := firstErr(d.err, e.check())
		switch _, dup := executors[e.ContainerID]; {
		case err != nil:
		case dup:
			err = fmt.Errorf("duplicate executor run")
		case !frameworks[e.FrameworkID]:
			err = missing("framework", strconv.Quote(e.FrameworkID), badFrameworks[e.FrameworkID])
		}
		if err != nil {
			bad("executors", r, key(executorCols, r, 1, 2, 0), err)
			badExecutors[e.ContainerID] = true
			continue
		}
		executors[e.ContainerID] = e
		st.Executors = append(st.Executors, e)
	}

	tasks, badTasks, ackedSeq := map[TaskKey]*Task{}, map[TaskKey]bool{}, map[TaskKey]int64{}
	taskRow := map[TaskKey]rawRow{}
	var order []TaskKey
	for _, r := range wellFormed("tasks", taskCols, raw.Tasks) {
		d := &rowDec{cols: taskCols, r: r}
		t := Task{FrameworkID: d.text(0), TaskID: d.text(1), ExecutorID: d.text(2), ContainerID: d.text(3), Info: d.blob(4),
			State: d.text(5), Terminal: d.bool(6), Done: d.bool(7)}
		acked := d.int(8)
		if acked < 0 {
			d.fail(8, "negative sequence number %d", acked)
		}
		err := firstErr(d.err, t.check())
		e, ok := executors[t.ContainerID]
		switch {
		case err != nil:
		case tasks[t.Key()] != nil:
			err = fmt.Errorf("duplicate task")
		case !ok:
			err = missing("executor run", strconv.Quote(t.ContainerID), badExecutors[t.ContainerID])
		case e.FrameworkID != t.FrameworkID || e.ExecutorID != t.ExecutorID:
			err = fmt.Errorf("executor run %q belongs to executor %q of framework %q", t.ContainerID, e.ExecutorID, e.FrameworkID)
		case t.Done && !t.Terminal:
			err = fmt.Errorf("done, but state %s is not terminal", t.State)
		}
		if err != nil {
			bad("tasks", r, key(taskCols, r, 0, 1), err)
			badTasks[t.Key()] = true
			continue
		}
		tasks[t.Key()], taskRow[t.Key()], ackedSeq[t.Key()] = &t, r, acked
		order = append(order, t.Key())
	}

	// Updates: decode each, attach to its task, then check each stream in
	// sequence order.
	type upd struct {
		u Update
		r rawRow
	}
	streams := map[TaskKey][]upd{}
	for _, r := range wellFormed("updates", updateCols, raw.Updates) {
		if r.Vals[0] == nil && r.Vals[1] == nil {
			// Read joined with its task (readRaw): the task row it names
			// is gone (the foreign key makes that impossible).
			bad("updates", r, key(updateCols, r, 2), fmt.Errorf("its task row is not checkpointed"))
			continue
		}
		d := &rowDec{cols: updateCols, r: r}
		u := Update{FrameworkID: d.text(0), TaskID: d.text(1), Seq: d.int(2), UUID: d.blob(3), State: d.text(4),
			Terminal: d.bool(5), Body: d.blob(6), CreatedAt: fromNanos(d.time(7))}
		if d.r.Vals[8] != nil {
			if u.AckedAt = fromNanos(d.time(8)); !u.Acked() {
				d.fail(8, "want NULL or a time")
			}
		}
		err := firstErr(d.err, u.check())
		k := TaskKey{u.FrameworkID, u.TaskID}
		switch {
		case err != nil:
		case u.Seq <= 0:
			err = fmt.Errorf("sequence number %d", u.Seq)
		case tasks[k] == nil:
			err = missing("task", k.String(), badTasks[k])
		}
		if err != nil {
			bad("updates", r, key(updateCols, r, 0, 1, 2), err)
			continue
		}
		streams[k] = append(streams[k], upd{u, r})
	}
	for k, us := range streams {
		slices.SortStableFunc(us, func(a, b upd) int { return cmp.Compare(a.u.Seq, b.u.Seq) })
		t := tasks[k]
		seen := map[string]bool{}
		for i, x := range us {
			switch {
			case i > 0 && x.u.Seq == us[i-1].u.Seq:
				bad("updates", x.r, key(updateCols, x.r, 0, 1, 2), fmt.Errorf("duplicate sequence number"))
			case seen[string(x.u.UUID)]:
				bad("updates", x.r, key(updateCols, x.r, 0, 1, 2), fmt.Errorf("duplicate uuid %x in the stream", x.u.UUID))
			default:
				seen[string(x.u.UUID)] = true
				t.Updates = append(t.Updates, x.u)
			}
		}
	}
	for _, k := range order {
		t := tasks[k]
		if err := checkStream(t, ackedSeq[k]); err != nil {
			bad("tasks", taskRow[k], key(taskCols, taskRow[k], 0, 1), err)
			delete(tasks, k)
		}
	}

	slices.SortFunc(st.Frameworks, func(a, b Framework) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Executors, func(a, b Executor) int {
		return cmp.Or(cmp.Compare(a.FrameworkID, b.FrameworkID), cmp.Compare(a.ExecutorID, b.ExecutorID),
			a.LaunchedAt.Compare(b.LaunchedAt), cmp.Compare(a.ContainerID, b.ContainerID))
	})
	for _, k := range order {
		if t := tasks[k]; t != nil {
			st.Tasks = append(st.Tasks, *t)
		}
	}
	slices.SortFunc(st.Tasks, func(a, b Task) int {
		return cmp.Or(cmp.Compare(a.FrameworkID, b.FrameworkID), cmp.Compare(a.TaskID, b.TaskID))
	})
	st.Volumes = assembleVolumes(wellFormed("volumes", volumeCols, raw.Volumes), func(r rawRow, k string, err error) { bad("volumes", r, k, err) })
	return st
}

// checkStream checks what the writes keep true of a task and its stream:
// the acknowledged updates are exactly those up to acked (acks come in
// order), the task's state is its newest update's, and a done task has
// nothing pending.
func checkStream(t *Task, acked int64) error {
	pending := false
	for _, u := range t.Updates {
		switch {
		case u.Acked() && u.Seq > acked:
			return fmt.Errorf("update %d is acknowledged, but acknowledgements end at update %d", u.Seq, acked)
		case !u.Acked() && u.Seq <= acked:
			return fmt.Errorf("update %d is not acknowledged, but acknowledgements reach update %d", u.Seq, acked)
		}
		pending = pending || !u.Acked()
	}
	if n := len(t.Updates); n > 0 {
		if last := t.Updates[n-1]; last.State != t.State || last.Terminal != t.Terminal {
			return fmt.Errorf("state %s (terminal %t) differs from its newest update %d: %s (terminal %t)",
				t.State, t.Terminal, last.Seq, last.State, last.Terminal)
		}
	}
	if t.Done && pending {
		return fmt.Errorf("done, but updates are pending")
	}
	return nil
}
