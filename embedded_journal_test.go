package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// embNested returns a JSON object nested depth levels deep ({"a":{"a":…}}),
// counting the outermost object as level 1.
func embNested(depth int) json.RawMessage {
	return json.RawMessage(strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1))
}

// embCopyFiles copies the data file and its journal into a new directory,
// which is what a crash at this instant would leave, and returns the copy's
// data file path.
func embCopyFiles(t *testing.T, dataFile string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data.json")
	for _, suffix := range []string{"", embJournalSuffix} {
		data, err := os.ReadFile(dataFile + suffix)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// embSameRecord fails the test unless path answers want on srv.
func embSameRecord(t *testing.T, srv *httptest.Server, path string, want map[string]any) {
	t.Helper()
	got := embMust(t, srv, "GET", path, nil, http.StatusOK)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("GET %s after reload = %.300s…, want %.300s…", path, gotJSON, wantJSON)
	}
}

// TestEmbeddedDeepValueRefused is issue 14's first finding: a metadata
// object nested 9,996 levels deep was stored and then made the data file
// unloadable. It is now refused before it is decoded, and the data file
// still loads.
func TestEmbeddedDeepValueRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	e, srv := embTestServer(t, path)
	r := embCall(t, srv, "POST", "/action-lists", map[string]any{"title": "deep", "metadata": embNested(9996)})
	embCheckProblem(t, "POST /action-lists with metadata 9,996 levels deep", r, http.StatusBadRequest, "nested more than 64 levels deep")
	embCreateTask(t, srv, "still here", nil)
	e.close()
	if _, err := newEmbedded(path, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("newEmbedded after a deep value was sent = %v, want the data file to load", err)
	}
}

// TestEmbeddedLargestValuesRoundTrip stores the largest values the limits
// accept (a text field of embMaxTextBytes, metadata nested to the depth
// limit, a record of exactly embMaxRecordBytes) and checks that each is
// read back unchanged from the journal (a crash before compaction) and
// from the compacted data file, while one byte or level more is refused.
func TestEmbeddedLargestValuesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	e, srv := embTestServer(t, path)

	text := strings.Repeat("é", embMaxTextBytes/2)
	embCheckProblem(t, "POST /tasks with a description one byte too long",
		embCall(t, srv, "POST", "/tasks", map[string]any{"title": "t", "project_id": "P", "description": text + "x"}),
		http.StatusUnprocessableEntity, fmt.Sprintf("description: must be at most %d bytes", embMaxTextBytes))
	withText := embCreateTask(t, srv, "longest description", map[string]any{"description": text})

	// The body is level 1 and metadata level 2, so metadata may nest
	// jsonMaxDepth-1 levels.
	embCheckProblem(t, "POST /action-lists with metadata one level too deep",
		embCall(t, srv, "POST", "/action-lists", map[string]any{"title": "deep", "metadata": embNested(jsonMaxDepth)}),
		http.StatusBadRequest, "nested more than")
	deepest := embMust(t, srv, "POST", "/action-lists", map[string]any{"title": "deep", "metadata": embNested(jsonMaxDepth - 1)}, http.StatusCreated)

	// A pass-through field sized so that the stored record is exactly
	// embMaxRecordBytes of JSON.
	big := embCreateTask(t, srv, "largest record", map[string]any{"filler": ""})
	id := big["id"].(string)
	stored, _ := json.Marshal(e.store.Tasks[id].Record)
	fill := strings.Repeat("f", embMaxRecordBytes-len(stored))
	embCheckProblem(t, "PUT /tasks with a record one byte too large",
		embCall(t, srv, "PUT", "/tasks/"+id, map[string]any{"filler": fill + "f"}),
		http.StatusRequestEntityTooLarge, fmt.Sprintf("more than the %d a record may have", embMaxRecordBytes))
	big = embMust(t, srv, "PUT", "/tasks/"+id, map[string]any{"filler": fill}, http.StatusOK)
	if b, _ := json.Marshal(e.store.Tasks[id].Record); len(b) != embMaxRecordBytes {
		t.Fatalf("stored record is %d bytes, want exactly %d", len(b), embMaxRecordBytes)
	}

	check := func(name, dataFile string) {
		t.Run(name, func(t *testing.T) {
			e2, srv2 := embTestServer(t, dataFile)
			embSameRecord(t, srv2, "/tasks/"+withText["id"].(string), withText)
			embSameRecord(t, srv2, "/action-lists/"+deepest["id"].(string), deepest)
			embSameRecord(t, srv2, "/tasks/"+id, big)
			e2.close()
		})
	}
	check("from the journal", embCopyFiles(t, path))
	if err := e.close(); err != nil {
		t.Fatalf("close() = %v", err)
	}
	if fi, err := os.Stat(path + embJournalSuffix); err != nil || fi.Size() != 0 {
		t.Fatalf("journal after close: %v, %v; want it empty (compacted)", fi, err)
	}
	check("from the compacted data file", path)
}

// TestEmbeddedJournalTornTail appends half a line to a journal, as a crash
// in the middle of a write would, and checks that the load keeps every
// complete write, logs the drop, and cuts the tail off so that the next
// write follows the last complete line.
func TestEmbeddedJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	_, srv := embTestServer(t, path)
	kept := embCreateTask(t, srv, "kept", nil)
	crashed := embCopyFiles(t, path)
	line, err := embEncodeJournalLine(&embJournalTx{NextSeq: 99, Ops: []embJournalOp{{Table: "tasks", ID: "T-0000000f", Entry: &embEntry{Seq: 99, Record: map[string]any{"id": "T-0000000f"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(crashed+embJournalSuffix, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(line[:len(line)/2])
	f.Close()

	var logs bytes.Buffer
	e, err := newEmbedded(crashed, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("newEmbedded with a torn journal tail = %v, want it loaded", err)
	}
	if !strings.Contains(logs.String(), "torn end") || !strings.Contains(logs.String(), fmt.Sprintf("bytes=%d", len(line)/2)) {
		t.Errorf("log = %q, want a warning about the %d-byte torn tail", logs.String(), len(line)/2)
	}
	srv2 := httptest.NewServer(e)
	defer srv2.Close()
	embSameRecord(t, srv2, "/tasks/"+kept["id"].(string), kept)
	embMust(t, srv2, "GET", "/tasks/T-0000000f", nil, http.StatusNotFound)
	later := embCreateTask(t, srv2, "later", nil)
	copied := embCopyFiles(t, crashed)
	e.close()
	_, srv3 := embTestServer(t, copied)
	embSameRecord(t, srv3, "/tasks/"+later["id"].(string), later)
}

// TestEmbeddedJournalDamagedMiddle checks that a damaged line with complete
// lines after it (not a crash's doing) stops the load, naming the line.
func TestEmbeddedJournalDamagedMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	_, srv := embTestServer(t, path)
	embCreateTask(t, srv, "one", nil)
	embCreateTask(t, srv, "two", nil)
	crashed := embCopyFiles(t, path)
	data, _ := os.ReadFile(crashed + embJournalSuffix)
	data[20] ^= 1 // inside the first line's payload
	os.WriteFile(crashed+embJournalSuffix, data, 0o600)
	_, err := newEmbedded(crashed, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "journal line 1 is damaged (checksum mismatch)") {
		t.Fatalf("newEmbedded with a damaged first journal line = %v, want an error naming line 1", err)
	}
	if after, _ := os.ReadFile(crashed + embJournalSuffix); !bytes.Equal(after, data) {
		t.Errorf("a refused load changed the journal")
	}
}

// FuzzReadJournal checks that no journal, however damaged, panics the
// reader, that whatever it accepts is a prefix of the input that encodes
// back to the same lines, and that a torn tail is never longer than the
// input.
func FuzzReadJournal(f *testing.F) {
	good, _ := embEncodeJournalLine(&embJournalTx{NextSeq: 1, Ops: []embJournalOp{{Table: "tasks", ID: "T-00000001", Entry: &embEntry{Seq: 1, Record: map[string]any{"id": "T-00000001", "title": "x"}}}}})
	del, _ := embEncodeJournalLine(&embJournalTx{NextSeq: 1, Ops: []embJournalOp{{Table: "tasks", ID: "T-00000001"}}})
	for _, seed := range [][]byte{nil, good, append(bytes.Clone(good), del...), good[:len(good)/2],
		append(bytes.Clone(good), good[:5]...), []byte("00000000 {}\n"), []byte("\n\n"), []byte("zz {}\n")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		txs, torn, err := embReadJournal(data)
		if err != nil {
			return
		}
		if torn < 0 || torn > len(data) {
			t.Fatalf("torn = %d for %d bytes", torn, len(data))
		}
		var again []byte
		for _, tx := range txs {
			line, err := embEncodeJournalLine(tx)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", tx, err)
			}
			again = append(again, line...)
		}
		txs2, torn2, err := embReadJournal(again)
		if err != nil || torn2 != 0 || len(txs2) != len(txs) {
			t.Fatalf("re-read of the accepted lines = %d txs, torn %d, %v; want %d, 0, nil", len(txs2), torn2, err, len(txs))
		}
		s := embNewStore()
		_ = s.replay(txs) // must not panic whatever the lines say
	})
}

// BenchmarkEmbeddedWrite measures one acknowledged write (PUT of the same
// small task, journaled and fsynced) against stores of different sizes;
// with the journal the cost does not grow with the store (compaction,
// amortised, is included).
func BenchmarkEmbeddedWrite(b *testing.B) {
	for _, bc := range []struct {
		name    string
		records int
		size    int // bytes of description per record
	}{
		{"store=empty", 0, 0},
		{"store=10000-records", 10_000, 0},
		{"store=10MB", 160, 64 << 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "data.json")
			e, err := newEmbedded(path, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer e.close()
			desc := strings.Repeat("d", bc.size)
			for i := range bc.records {
				id := fmt.Sprintf("T-%08x", i)
				e.store.NextSeq++
				e.store.Tasks[id] = &embEntry{Seq: e.store.NextSeq, Record: map[string]any{"id": id, "title": "t", "project_id": "P", "description": desc}}
			}
			e.store.NextSeq++
			e.store.Tasks["T-small"] = &embEntry{Seq: e.store.NextSeq, Record: map[string]any{"id": "T-small", "title": "t", "project_id": "P"}}
			if err := e.compact(); err != nil {
				b.Fatal(err)
			}
			for i := 0; b.Loop(); i++ {
				rec := httptest.NewRecorder()
				body := fmt.Appendf(nil, `{"title":"renamed %d"}`, i)
				req := httptest.NewRequest("PUT", "/tasks/T-small", bytes.NewReader(body))
				e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("PUT = %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
