package main

import (
	"bytes"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// TestEmbeddedTxChangeLog checks the transaction's one record of its
// changes: changes() names each touched record once, in first-touch order,
// with its final state (nil when removed), and rollback restores every
// table and the sequence number exactly, whatever order the puts and
// removes came in.
func TestEmbeddedTxChangeLog(t *testing.T) {
	e, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := e.store
	p := &embEntry{Seq: 1, Record: map[string]any{"id": "P-00000001", "name": "p"}}
	c := &embEntry{Seq: 2, Record: map[string]any{"id": "C-00000001", "project_id": "P-00000001"}}
	s.Projects["P-00000001"], s.Comments["C-00000001"], s.NextSeq = p, c, 2
	before := map[string]embTable{}
	for name, tp := range s.tables() {
		before[name] = maps.Clone(*tp)
	}

	tx := &embTx{e: e, s: s, seq: s.NextSeq, stamp: "2026-01-01T00:00:00.000Z"}
	task, err := tx.insert(s.Tasks, "task", "T-", map[string]any{"title": "a"})
	if err != nil {
		t.Fatal(err)
	}
	tid := embStr(task, "id")
	rec := maps.Clone(task)
	rec["title"] = "b"
	tx.replace(s.Tasks, s.Tasks[tid], rec) // the same record again
	tx.replace(s.Projects, p, map[string]any{"id": "P-00000001", "name": "q"})
	tx.remove(s.Comments, "C-00000001")
	tx.remove(s.Comments, "C-00000001") // already gone: not a change
	tx.remove(s.Projects, "P-00000001") // put, then removed

	if len(tx.changed) != 5 {
		t.Fatalf("recorded %d changes, want 5 (insert, replace, replace, remove, remove)", len(tx.changed))
	}
	jtx, err := tx.changes()
	if err != nil {
		t.Fatal(err)
	}
	type op struct {
		table, id string
		entry     *embEntry
	}
	var got []op
	for _, o := range jtx.Ops {
		got = append(got, op{o.Table, o.ID, o.Entry})
	}
	want := []op{{"tasks", tid, s.Tasks[tid]}, {"projects", "P-00000001", nil}, {"comments", "C-00000001", nil}}
	if !reflect.DeepEqual(got, want) || jtx.NextSeq != 3 {
		t.Errorf("changes() = %+v next_seq %d, want %+v next_seq 3", got, jtx.NextSeq, want)
	}
	if embStr(s.Tasks[tid].Record, "title") != "b" {
		t.Errorf("task title = %v, want the last put's b", s.Tasks[tid].Record["title"])
	}

	tx.rollback()
	if len(tx.changed) != 0 || s.NextSeq != 2 {
		t.Errorf("after rollback: %d changes recorded, next_seq %d; want 0 and 2", len(tx.changed), s.NextSeq)
	}
	for name, tp := range s.tables() {
		if !maps.Equal(*tp, before[name]) {
			t.Errorf("%s after rollback = %v, want %v", name, *tp, before[name])
		}
	}
}

// TestEmbeddedWriteAfterCloseRefused checks that once close has released
// the data file, a write is refused with a 503 and undone instead of being
// acknowledged with nothing journaled or saved, while reads still work;
// the files hold what they held at close. Closing twice, even concurrently,
// is harmless.
func TestEmbeddedWriteAfterCloseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	e, srv := embTestServer(t, path)
	kept := embCreateTask(t, srv, "kept", nil)["id"].(string)
	pid := embTestProject(t, srv)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := e.close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	wg.Wait()
	snapshot, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	embCheckProblem(t, "POST /tasks after close", embCall(t, srv, "POST", "/tasks", map[string]any{"title": "lost", "project_id": pid}), http.StatusServiceUnavailable, "not saved")
	embCheckProblem(t, "PUT /tasks after close", embCall(t, srv, "PUT", "/tasks/"+kept, map[string]any{"title": "changed"}), http.StatusServiceUnavailable, "not saved")
	embCheckProblem(t, "DELETE /tasks after close", embCall(t, srv, "DELETE", "/tasks/"+kept, nil), http.StatusServiceUnavailable, "not saved")
	if titles := embField(embMust(t, srv, "GET", "/tasks", nil, http.StatusOK)["tasks"], "title"); !slices.Equal(titles, []string{"kept"}) {
		t.Errorf("tasks after the refused writes = %v, want only the unchanged [kept]", titles)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, snapshot) {
		t.Errorf("data file changed after close (err %v)", err)
	}
	if j, err := os.ReadFile(path + embJournalSuffix); err != nil || len(j) != 0 {
		t.Errorf("journal after close = %q, %v; want empty", j, err)
	}

	_, srv2 := embTestServer(t, path)
	if titles := embField(embMust(t, srv2, "GET", "/tasks", nil, http.StatusOK)["tasks"], "title"); !slices.Equal(titles, []string{"kept"}) {
		t.Errorf("reloaded tasks = %v, want [kept]", titles)
	}
}
