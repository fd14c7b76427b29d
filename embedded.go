// embedded.go holds the embedded backend: an in-process implementation of
// the Task Manager REST API (design/backend-api.md), used when
// TASK_MANAGER_API_ENDPOINT is unset so that `go run .` works on a fresh
// machine.
//
// Contract, beyond backend-api.md:
//
//   - Records are JSON objects with id, created_at and updated_at (RFC 3339,
//     UTC, millisecond precision). Ids are a prefix plus 8 lowercase hex
//     characters from crypto/rand: T- (tasks and meta tasks), P- (projects),
//     AL- (action lists), item- (action list items), C- (project comments),
//     B- (project blockers).
//   - Tasks keep fields they do not know (they pass through). Projects,
//     action lists, items, comments and blockers reject unknown fields with
//     422, so a misspelt field is reported rather than silently lost.
//     Server-owned fields (id, created_at, updated_at, deleted, deleted_at,
//     sprints, total_items, completed_items, progress_percentage) are ignored
//     in request bodies, so a record read back can be sent back.
//   - In an update, a field set to null is removed from the record (this is
//     how task_assign clears an assignee); required fields and fields with a
//     default (status, priority, ...) cannot be null.
//   - Deleting a task is a soft delete (deleted: true, deleted_at), visible
//     through GET /tasks?include_deleted=true and nowhere else. Deleting a
//     project or an action list is final; a project's comments and blockers
//     go with it, its tasks keep their project_id.
//   - A meta task is a task of the project (project_id set from the path,
//     meta_task: true), so it is readable with GET /tasks/{id} and counted by
//     the project's analytics.
//   - Lists are ordered by creation and paged with an opaque cursor that
//     encodes the last record seen, so inserts between pages neither repeat
//     nor skip records. The search endpoints page with skip/limit, as the
//     API defines, and their count is the number of records in data.
//   - progress_percentage (action lists) and completion_percentage
//     (analytics) are numbers from 0 to 100 rounded to one decimal place.
//   - Errors are RFC 9457 problem+json: 400 for malformed JSON and query
//     parameters, 404 for missing records and paths, 405 for wrong methods,
//     409 when a project's sprints or an action list's items are at their
//     cap, 413 for oversized bodies, 422 for field rules, 503 when a change
//     could not be saved (it is then rolled back), 507 when a kind is full.
//   - Bulk bodies ignore top-level fields other than the ones they define;
//     bulk calls are all or nothing: every id must exist, or nothing changes.
//   - One mutex serialises every request; with TASKMAN_DATA_FILE the whole
//     store is rewritten (temp file, fsync, rename, fsync of the directory)
//     before a write is acknowledged, which is simple and crash-safe but
//     costs a full rewrite per write: fine for one person's data, not for a
//     team (that is what a real Task Manager API is for).

package main

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// embMaxBodyBytes caps a request body at 4 MiB: the largest legitimate body
// (a bulk call naming embMaxBulkIDs ids, or an action list with embMaxItems
// items) is well under 1 MiB, and 4 MiB of headroom still keeps a handful of
// concurrent oversized requests from exhausting memory.
const embMaxBodyBytes = 4 << 20

// embMaxRecords caps each kind (tasks, projects, action lists, comments,
// blockers) at 100,000 records: a record is typically well under 1 KiB, so a
// full kind stays near 100 MB of memory and the data file that is rewritten
// after every write stays bounded. A runaway loop gets 507, not an OOM kill;
// anyone who needs more needs a real Task Manager API anyway.
const embMaxRecords = 100_000

// embMaxItems caps the items of one action list at 1,000: every item
// operation copies the list, and a checklist longer than that is no longer a
// checklist.
const embMaxItems = 1000

// embMaxSprints caps the sprints linked to one project at 1,000, for the same
// reason as embMaxItems.
const embMaxSprints = 1000

// embMaxBulkIDs caps the ids in one bulk call at 1,000 so that a single call
// holds the store lock for a bounded time.
const embMaxBulkIDs = 1000

// embDefaultLimit is the page size when a list or search names none; the
// tools' own default.
const embDefaultLimit = 50

// embMaxListLimit is the largest page of a list (and of an action list
// search): the 1..100 the tool schemas allow.
const embMaxListLimit = 100

// embMaxTaskSearchLimit is the largest page of a task search: task_search's
// schema allows 1..500.
const embMaxTaskSearchLimit = 500

// embIDAttempts bounds the retries on an id collision: with embMaxRecords of
// 2^32 possible ids one attempt collides at most once in 40,000, so 16
// collisions in a row mean the random source is broken.
const embIDAttempts = 16

// embFormatVersion is the version of the data file layout; a file with
// another version is refused rather than misread.
const embFormatVersion = 1

// embTimeLayout is RFC 3339 in UTC with milliseconds, the layout of
// created_at, updated_at and deleted_at.
const embTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// The enumerations of tools.md.
var (
	embTaskStatuses       = []string{"planned", "new", "pending", "in_progress", "completed", "blocked", "cancelled"}
	embWorkTypes          = []string{"task", "epic", "story", "bug", "feature", "spike"}
	embPriorities         = []string{"low", "medium", "high", "critical"}
	embProjectStatuses    = []string{"active", "inactive"}
	embActionListStatuses = []string{"planned", "new", "pending", "active", "in_progress", "blocked", "completed", "archived", "cancelled"}
)

// embServerOwned lists the fields the backend computes; request bodies that
// carry them (typically a record read back and sent again) have them ignored.
var embServerOwned = map[string]bool{
	"id": true, "created_at": true, "updated_at": true, "deleted": true, "deleted_at": true,
	"sprints": true, "total_items": true, "completed_items": true, "progress_percentage": true,
}

// embedded is the in-process Task Manager API.
type embedded struct {
	dataFile   string           // file the store is saved to after every write; "" keeps it in memory only
	lock       *os.File         // holds the data file's lock for the life of the process; nil without a data file
	now        func() time.Time // clock for created_at and friends; time.Now outside tests
	maxRecords int              // per-kind record cap, embMaxRecords outside tests
	mux        *http.ServeMux   // the routes, built once by newEmbedded

	mu    sync.Mutex // guards store and serialises the saves of dataFile
	store *embStore
}

// embStore is everything the embedded backend knows; it is also the layout
// of the data file.
type embStore struct {
	Version     int      `json:"version"`
	NextSeq     int64    `json:"next_seq"` // last creation sequence number handed out
	Tasks       embTable `json:"tasks"`
	Projects    embTable `json:"projects"`
	ActionLists embTable `json:"action_lists"`
	Comments    embTable `json:"comments"`
	Blockers    embTable `json:"blockers"`
}

// embTable maps a record id to its entry.
type embTable map[string]*embEntry

// embEntry is one stored record. Entries and their records are never
// modified once stored: a change stores a new entry holding a modified copy,
// which makes rollback a pointer swap and lets answers be encoded after the
// store lock is released.
type embEntry struct {
	Seq    int64          `json:"seq"` // creation order, the key of cursor paging
	Record map[string]any `json:"record"`
}

// newEmbedded builds the embedded backend. With a non-empty dataFile it loads
// the store from that file; a missing file is fine (it is created on the
// first write) as long as its directory exists. A file that cannot be read
// or parsed is an error naming it, and the file is left untouched.
func newEmbedded(dataFile string) (*embedded, error) {
	e := &embedded{dataFile: dataFile, now: time.Now, maxRecords: embMaxRecords, store: embNewStore()}
	if dataFile != "" {
		// Each process rewrites the whole file from its own memory, so two
		// processes on one file would erase each other's writes: the
		// second refuses to start instead.
		lock, err := lockFile(dataFile + ".lock")
		if err != nil {
			if !errors.Is(err, errLocked) {
				// A missing or unusable directory: the loader says
				// what is wrong with the path more precisely.
				if _, lerr := embLoad(dataFile); lerr != nil {
					return nil, fmt.Errorf("embedded backend: load %s: %w", dataFile, lerr)
				}
			}
			return nil, fmt.Errorf("embedded backend: data file %s: %w (give each process its own TASKMAN_DATA_FILE)", dataFile, err)
		}
		s, err := embLoad(dataFile)
		if err != nil {
			lock.Close()
			return nil, fmt.Errorf("embedded backend: load %s: %w", dataFile, err)
		}
		embRemoveTemps(dataFile)
		e.store, e.lock = s, lock
	}
	e.mux = e.routes()
	return e, nil
}

// close releases the data file's lock; the store stays readable.
func (e *embedded) close() error {
	if e.lock == nil {
		return nil
	}
	return e.lock.Close()
}

// embRemoveTemps removes the temp files a crash in the middle of a save
// left beside dataFile; each is a whole copy of the store. Only the lock
// holder gets here, so none of them belongs to a running save.
func embRemoveTemps(dataFile string) {
	dir, base := filepath.Dir(dataFile), filepath.Base(dataFile)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), base+".tmp-") {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// describe says, in one line for the startup log and the health answers,
// that the embedded backend is in use and where its data lives.
func (e *embedded) describe() string {
	if e.dataFile == "" {
		return "embedded backend, in memory only (data is lost at exit)"
	}
	return "embedded backend, data in " + e.dataFile
}

// embHandler is an endpoint: it runs under the store lock with the request
// body already read, and returns the status and the value to encode, or an
// error (an *embProblem for anything the client should see).
type embHandler func(tx *embTx, r *http.Request, body []byte) (int, any, error)

// routes registers every endpoint of backend-api.md. ServeMux precedence
// sends /tasks/tasks-search, /tasks/bulk/..., /action-lists/search and
// /action-lists/bulk/... to their own handlers rather than to /{id}.
func (e *embedded) routes() *http.ServeMux {
	mux := http.NewServeMux()
	h := func(pattern string, fn embHandler) { mux.Handle(pattern, e.wrap(fn)) }

	h("GET /health", e.handleHealth)

	h("GET /tasks", e.handleListTasks)
	h("POST /tasks", e.handleCreateTask)
	h("GET /tasks/{id}", e.handleGetTask)
	h("PUT /tasks/{id}", e.handleUpdateTask)
	h("DELETE /tasks/{id}", e.handleDeleteTask)
	h("POST /tasks/bulk/update", e.handleBulkUpdateTasks)
	h("POST /tasks/bulk/assign-sprint", e.handleBulkAssignSprint)
	h("GET /tasks/tasks-search", e.handleSearchTasks)

	h("GET /projects", e.handleListProjects)
	h("POST /projects", e.handleCreateProject)
	h("GET /projects/{id}", e.handleGetProject)
	h("PUT /projects/{id}", e.handleUpdateProject)
	h("DELETE /projects/{id}", e.handleDeleteProject)
	h("POST /projects/{id}/sprints", e.handleAddSprint)
	h("DELETE /projects/{id}/sprints/{sid}", e.handleRemoveSprint)
	h("POST /projects/{id}/meta-tasks", e.handleCreateMetaTask)
	h("GET /projects/{id}/comments", e.handleListComments)
	h("POST /projects/{id}/comments", e.handleCreateComment)
	h("POST /projects/{id}/blockers", e.handleCreateBlocker)
	h("GET /projects/{id}/analytics", e.handleAnalytics)

	h("GET /action-lists", e.handleListActionLists)
	h("POST /action-lists", e.handleCreateActionList)
	h("GET /action-lists/{id}", e.handleGetActionList)
	h("PUT /action-lists/{id}", e.handleUpdateActionList)
	h("DELETE /action-lists/{id}", e.handleDeleteActionList)
	h("POST /action-lists/{id}/items", e.handleAddItem)
	h("PATCH /action-lists/{id}/items/{item_id}", e.handleToggleItem)
	h("DELETE /action-lists/{id}/items/{item_id}", e.handleRemoveItem)
	h("POST /action-lists/{id}/items/reorder", e.handleReorderItems)
	h("POST /action-lists/bulk/delete", e.handleBulkDeleteActionLists)
	h("POST /action-lists/bulk/update", e.handleBulkUpdateActionLists)
	h("GET /action-lists/search", e.handleSearchActionLists)
	return mux
}

// ServeHTTP answers one API request. Paths and methods the API does not have
// get problem+json 404 and 405 answers instead of ServeMux's plain text.
func (e *embedded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := e.mux.Handler(r)
	if pattern != "" {
		e.mux.ServeHTTP(w, r) // ServeHTTP, not h, so that r.PathValue is filled in
		return
	}
	probe := &embStatusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusNotFound:
		embWriteProblem(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	case http.StatusMethodNotAllowed:
		allow := probe.header.Get("Allow")
		w.Header().Set("Allow", allow)
		embWriteProblem(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	default: // a redirect to the cleaned path: let ServeMux answer it
		h.ServeHTTP(w, r)
	}
}

// embStatusProbe is a ResponseWriter that only remembers the status and
// headers, used to learn what ServeMux would answer to an unmatched request.
type embStatusProbe struct {
	header http.Header
	status int
}

// Header returns the probe's headers.
func (p *embStatusProbe) Header() http.Header { return p.header }

// Write discards the body, recording an implicit 200.
func (p *embStatusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// WriteHeader records the first status.
func (p *embStatusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

// wrap turns an embHandler into an http.Handler: it reads the body (before
// taking the lock, so a slow client cannot stall the store), runs the
// handler in a transaction, and writes the answer after releasing the lock.
func (e *embedded) wrap(fn embHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var err error
		if r.Body != nil { // nil on a client request handed over in-process by a RoundTripper
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, embMaxBodyBytes))
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				embWriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: must be at most %d bytes", embMaxBodyBytes))
				return
			}
			embWriteProblem(w, http.StatusBadRequest, "request body: "+err.Error())
			return
		}
		status, out, err := e.apply(fn, r, body)
		if err != nil {
			var p *embProblem
			if errors.As(err, &p) {
				embWriteProblem(w, p.status, p.detail)
				return
			}
			embWriteProblem(w, http.StatusInternalServerError, "internal error: "+err.Error())
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		embWriteJSON(w, status, out)
	})
}

// apply runs fn under the store lock. A handler error rolls back whatever it
// changed; a successful change is saved before it is acknowledged, and is
// rolled back (and answered with 503) when the save fails.
func (e *embedded) apply(fn embHandler, r *http.Request, body []byte) (int, any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := &embTx{e: e, s: e.store, seq: e.store.NextSeq, stamp: e.now().UTC().Format(embTimeLayout)}
	status, out, err := fn(tx, r, body)
	if err != nil {
		tx.rollback()
		return 0, nil, err
	}
	if tx.dirty {
		if err := e.save(); err != nil {
			tx.rollback()
			return 0, nil, embErrf(http.StatusServiceUnavailable, "the change was not saved and has been undone: %v", err)
		}
	}
	return status, out, nil
}

// embTx is one request's view of the store: it records how to undo every
// change so that a failed handler or a failed save leaves no trace.
type embTx struct {
	e     *embedded
	s     *embStore
	undo  []func() // inverse of each change, applied newest first
	seq   int64    // s.NextSeq when the transaction began
	dirty bool     // whether anything changed (and must be saved)
	stamp string   // the transaction's time, for created_at and updated_at
}

// put stores ent under id in t, remembering the previous entry.
func (tx *embTx) put(t embTable, id string, ent *embEntry) {
	old, had := t[id]
	tx.undo = append(tx.undo, func() {
		if had {
			t[id] = old
		} else {
			delete(t, id)
		}
	})
	t[id] = ent
	tx.dirty = true
}

// replace stores rec as the new version of the entry ent under id, with
// updated_at set.
func (tx *embTx) replace(t embTable, ent *embEntry, rec map[string]any) map[string]any {
	rec["updated_at"] = tx.stamp
	tx.put(t, embStr(rec, "id"), &embEntry{Seq: ent.Seq, Record: rec})
	return rec
}

// remove deletes id from t, remembering the entry.
func (tx *embTx) remove(t embTable, id string) {
	old, had := t[id]
	if !had {
		return
	}
	tx.undo = append(tx.undo, func() { t[id] = old })
	delete(t, id)
	tx.dirty = true
}

// rollback undoes every change of the transaction.
func (tx *embTx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
	tx.undo = nil
	tx.s.NextSeq = tx.seq
	tx.dirty = false
}

// insert gives rec an id (prefix + 8 hex characters), timestamps and the
// next creation sequence number, and stores it in t. noun names the kind in
// the message when t is full.
func (tx *embTx) insert(t embTable, noun, prefix string, rec map[string]any) (map[string]any, error) {
	if len(t) >= tx.e.maxRecords {
		return nil, embErrf(http.StatusInsufficientStorage, "the embedded backend holds at most %d %ss; delete some or use a real Task Manager API", tx.e.maxRecords, noun)
	}
	id, err := embNewID(prefix, func(id string) bool { return t[id] != nil })
	if err != nil {
		return nil, err
	}
	rec["id"] = id
	rec["created_at"] = tx.stamp
	rec["updated_at"] = tx.stamp
	tx.s.NextSeq++
	tx.put(t, id, &embEntry{Seq: tx.s.NextSeq, Record: rec})
	return rec, nil
}

// get returns the entry id of t, or a 404 naming the noun and id.
func (tx *embTx) get(t embTable, noun, id string) (*embEntry, error) {
	ent := t[id]
	if ent == nil {
		return nil, embErrf(http.StatusNotFound, "%s %s does not exist", noun, id)
	}
	return ent, nil
}

// liveTask returns the task id unless it does not exist or is deleted.
func (tx *embTx) liveTask(id string) (*embEntry, error) {
	ent := tx.s.Tasks[id]
	if ent == nil || embDeleted(ent.Record) {
		return nil, embErrf(http.StatusNotFound, "task %s does not exist", id)
	}
	return ent, nil
}

// embNewID returns prefix plus 8 random lowercase hex characters that taken
// does not report as in use.
func embNewID(prefix string, taken func(string) bool) (string, error) {
	var b [4]byte
	for range embIDAttempts {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("generate id: %w", err)
		}
		id := prefix + hex.EncodeToString(b[:])
		if !taken(id) {
			return id, nil
		}
	}
	return "", fmt.Errorf("generate id: %d collisions in a row", embIDAttempts)
}

// embProblem is an error the client sees as a problem+json answer.
type embProblem struct {
	status int
	detail string
}

// Error returns the detail.
func (p *embProblem) Error() string { return p.detail }

// embErrf builds an *embProblem with a formatted detail.
func embErrf(status int, format string, args ...any) error {
	return &embProblem{status: status, detail: fmt.Sprintf(format, args...)}
}

// embWriteProblem writes an RFC 9457 problem+json answer.
func embWriteProblem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// embWriteJSON writes v as an application/json answer.
func embWriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		embWriteProblem(w, http.StatusInternalServerError, "internal error: encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// embDecode parses a request body holding exactly one JSON value, keeping
// numbers as json.Number so that pass-through fields survive unchanged.
func embDecode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, embErrf(http.StatusBadRequest, "request body: is empty, want JSON")
		}
		return nil, embErrf(http.StatusBadRequest, "request body: invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, embErrf(http.StatusBadRequest, "request body: unexpected data after the JSON value")
	}
	return v, nil
}

// embDecodeObject parses a request body that must be a JSON object.
func embDecodeObject(body []byte) (map[string]any, error) {
	v, err := embDecode(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, embErrf(http.StatusBadRequest, "request body: must be a JSON object")
	}
	return m, nil
}

// embCheck validates one field value and returns it normalised, or an
// error stating the rule it breaks (without the field name).
type embCheck func(v any) (any, error)

// embSpec describes the fields of one kind of record.
type embSpec struct {
	fields      map[string]embCheck
	required    []string       // needed on create, never null
	defaults    map[string]any // set on create when absent or null; never null in an update
	passThrough bool           // keep unknown fields instead of rejecting them
}

// changes validates the fields of in and returns them normalised; a nil
// value means "remove this field". prefix (e.g. "updates.") is put in front
// of field names in messages. On create, nulls are dropped and required
// fields must be present.
func (s *embSpec) changes(in map[string]any, create bool, prefix string) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		if embServerOwned[k] {
			continue
		}
		check, known := s.fields[k]
		if !known && !s.passThrough {
			return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: unknown field", prefix, k)
		}
		if v == nil {
			_, defaulted := s.defaults[k]
			if slices.Contains(s.required, k) || (defaulted && !create) {
				return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: must not be null", prefix, k)
			}
			if !create {
				out[k] = nil
			}
			continue
		}
		if known {
			nv, err := check(v)
			if err != nil {
				return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: %v", prefix, k, err)
			}
			v = nv
		}
		out[k] = v
	}
	if create {
		for _, k := range s.required {
			if _, ok := out[k]; !ok {
				return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: is required", prefix, k)
			}
		}
	}
	return out, nil
}

// create validates in as a new record and returns it with defaults applied.
func (s *embSpec) create(in map[string]any) (map[string]any, error) {
	rec, err := s.changes(in, true, "")
	if err != nil {
		return nil, err
	}
	for k, v := range s.defaults {
		if _, ok := rec[k]; !ok {
			rec[k] = v
		}
	}
	return rec, nil
}

// embApplyChanges returns a copy of rec with changes applied (nil removes).
func embApplyChanges(rec, changes map[string]any) map[string]any {
	out := maps.Clone(rec)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// embString accepts a string of min..max characters.
func embString(minLen, maxLen int) embCheck {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("must be a string")
		}
		if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
			if minLen == 0 {
				return nil, fmt.Errorf("must be at most %d characters", maxLen)
			}
			return nil, fmt.Errorf("must be %d to %d characters", minLen, maxLen)
		}
		return s, nil
	}
}

// embText accepts any string; the body limit bounds its size.
func embText(v any) (any, error) {
	if _, ok := v.(string); !ok {
		return nil, errors.New("must be a string")
	}
	return v, nil
}

// embEnum accepts one of values.
func embEnum(values ...string) embCheck {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok || !slices.Contains(values, s) {
			return nil, fmt.Errorf("must be one of %s", strings.Join(values, ", "))
		}
		return s, nil
	}
}

// embStringList accepts an array of at most maxItems strings of 1..maxLen
// characters each.
func embStringList(maxItems, maxLen int) embCheck {
	return func(v any) (any, error) {
		list, ok := v.([]any)
		if !ok {
			return nil, errors.New("must be an array of strings")
		}
		if len(list) > maxItems {
			return nil, fmt.Errorf("must have at most %d items", maxItems)
		}
		for i, x := range list {
			s, ok := x.(string)
			if !ok || s == "" || utf8.RuneCountInString(s) > maxLen {
				return nil, fmt.Errorf("item %d: must be a string of 1 to %d characters", i, maxLen)
			}
		}
		return slices.Clone(list), nil
	}
}

// embTimestamp accepts an RFC 3339 date-time string.
func embTimestamp(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("must be an RFC 3339 date-time string")
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return nil, fmt.Errorf("must be an RFC 3339 date-time such as 2025-01-31T17:00:00Z, got %q", s)
	}
	return s, nil
}

// embNonNegative accepts a number ≥ 0.
func embNonNegative(v any) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, errors.New("must be a number")
	}
	f, err := n.Float64()
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return nil, errors.New("must be a number ≥ 0")
	}
	return n, nil
}

// embNonNegativeInt accepts an integer ≥ 0 and returns it as an int.
func embNonNegativeInt(v any) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, errors.New("must be an integer ≥ 0")
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < 0 {
		return nil, errors.New("must be an integer ≥ 0")
	}
	return i, nil
}

// embBool accepts true or false.
func embBool(v any) (any, error) {
	if _, ok := v.(bool); !ok {
		return nil, errors.New("must be true or false")
	}
	return v, nil
}

// embObject accepts a JSON object.
func embObject(v any) (any, error) {
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("must be an object")
	}
	return v, nil
}

// embItemsField accepts the items of a new action list: an array of at most
// embMaxItems objects {text, completed?, order?}. Ids are added by the
// caller, which knows the store.
func embItemsField(v any) (any, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array of objects")
	}
	if len(list) > embMaxItems {
		return nil, fmt.Errorf("must have at most %d items", embMaxItems)
	}
	out := make([]any, 0, len(list))
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d: must be an object", i)
		}
		item, err := embItemSpec.create(m)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if _, ok := item["order"]; !ok {
			item["order"] = i
		}
		out = append(out, item)
	}
	return out, nil
}

// The field specs of every kind, from tools.md. Lengths are in characters.
// Ids that others send (project_id, sprint_id, ...) are 1..50 like the
// tools' project_id; names of people are ≤ 100; lists of people are capped
// at 100 and comment tags at 10 (tools.md); a comment message at 10,000
// characters (pages of prose) and an item's text at 1,000 (one line of a
// checklist).
var (
	embTaskSpec = embSpec{
		fields: map[string]embCheck{
			"title":            embString(1, 255),
			"project_id":       embString(1, 50),
			"description":      embText,
			"status":           embEnum(embTaskStatuses...),
			"work_type":        embEnum(embWorkTypes...),
			"priority":         embEnum(embPriorities...),
			"owner":            embString(0, 100),
			"assignee":         embString(0, 100),
			"assignees":        embStringList(100, 100),
			"tags":             embStringList(25, 100),
			"sprint_id":        embString(1, 50),
			"parent_task_id":   embString(1, 50),
			"due_date":         embTimestamp,
			"done_date":        embTimestamp,
			"estimated_hours":  embNonNegative,
			"actual_hours":     embNonNegative,
			"notes":            embText,
			"completion_notes": embText,
			"summary":          embText,
		},
		required:    []string{"title", "project_id"},
		defaults:    map[string]any{"status": "new", "priority": "medium", "work_type": "task"},
		passThrough: true,
	}
	embProjectSpec = embSpec{
		fields: map[string]embCheck{
			"name":        embString(1, 255),
			"description": embText,
			"status":      embEnum(embProjectStatuses...),
		},
		required: []string{"name"},
		defaults: map[string]any{"status": "active"},
	}
	embActionListSpec = embSpec{
		fields: map[string]embCheck{
			"title":       embString(1, 255),
			"description": embText,
			"project_id":  embString(1, 50),
			"sprint_id":   embString(1, 50),
			"task_id":     embString(1, 50),
			"status":      embEnum(embActionListStatuses...),
			"priority":    embEnum(embPriorities...),
			"notes":       embText,
			"owner":       embString(0, 100),
			"tags":        embStringList(25, 100),
			"metadata":    embObject,
			"items":       embItemsField,
		},
		required: []string{"title"},
		defaults: map[string]any{"status": "new", "priority": "medium"},
	}
	embItemSpec = embSpec{
		fields: map[string]embCheck{
			"text":      embString(1, 1000),
			"completed": embBool,
			"order":     embNonNegativeInt,
		},
		required: []string{"text"},
		defaults: map[string]any{"completed": false},
	}
	embCommentSpec = embSpec{
		fields: map[string]embCheck{
			"message": embString(1, 10000),
			"author":  embString(0, 100),
			"tags":    embStringList(10, 100),
		},
		required: []string{"message"},
	}
	embBlockerSpec = embSpec{
		fields: map[string]embCheck{
			"title":              embString(1, 255),
			"description":        embText,
			"severity":           embEnum(embPriorities...),
			"linked_task_id":     embString(1, 50),
			"external_reference": embText,
		},
		required: []string{"title"},
		defaults: map[string]any{"severity": "medium"},
	}
	embSprintSpec = embSpec{
		fields:   map[string]embCheck{"sprint_id": embString(1, 50)},
		required: []string{"sprint_id"},
	}
)

// embStr returns rec[k] if it is a string, else "".
func embStr(rec map[string]any, k string) string {
	s, _ := rec[k].(string)
	return s
}

// embStrings returns rec[k] as strings, skipping non-strings.
func embStrings(rec map[string]any, k string) []string {
	list, _ := rec[k].([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// embDeleted reports whether a task is soft-deleted.
func embDeleted(rec map[string]any) bool { return rec["deleted"] == true }

// embAsInt reads an integer stored either by this process (int) or by the
// JSON decoder (json.Number, after a load).
func embAsInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case json.Number:
		i, _ := strconv.Atoi(n.String())
		return i
	case float64:
		return int(n)
	}
	return 0
}

// embPercent returns part/whole as a percentage rounded to one decimal, 0
// when whole is 0.
func embPercent(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return math.Round(float64(part)*1000/float64(whole)) / 10
}

// embContainsFold reports whether s contains the lower-cased lowerSub,
// ignoring case.
func embContainsFold(s, lowerSub string) bool {
	return strings.Contains(strings.ToLower(s), lowerSub)
}

// embHasAll reports whether have contains every element of want.
func embHasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// embSorted returns the entries of t that keep accepts, in creation order.
func embSorted(t embTable, keep func(map[string]any) bool) []*embEntry {
	out := make([]*embEntry, 0, len(t))
	for _, ent := range t {
		if keep(ent.Record) {
			out = append(out, ent)
		}
	}
	slices.SortFunc(out, func(a, b *embEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// embRecords returns the records of entries, passed through view when it
// is not nil.
func embRecords(entries []*embEntry, view func(map[string]any) map[string]any) []any {
	out := make([]any, 0, len(entries))
	for _, ent := range entries {
		rec := ent.Record
		if view != nil {
			rec = view(rec)
		}
		out = append(out, rec)
	}
	return out
}

// embQueryInt reads an integer query parameter in lo..hi, def when absent.
func embQueryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, embErrf(http.StatusBadRequest, "%s: must be an integer from %d to %d, got %q", name, lo, hi, s)
	}
	return n, nil
}

// embQueryEnum reads an optional query parameter that must be one of values.
func embQueryEnum(q url.Values, name string, values []string) (string, error) {
	s := q.Get(name)
	if s != "" && !slices.Contains(values, s) {
		return "", embErrf(http.StatusBadRequest, "%s: must be one of %s, got %q", name, strings.Join(values, ", "), s)
	}
	return s, nil
}

// embQueryFields reads the fields parameter of a search (repeated or
// comma-separated), def when absent.
func embQueryFields(q url.Values, allowed, def []string) ([]string, error) {
	var out []string
	for _, v := range q["fields"] {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !slices.Contains(allowed, f) {
				return nil, embErrf(http.StatusBadRequest, "fields: must be among %s, got %q", strings.Join(allowed, ", "), f)
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return def, nil
	}
	return out, nil
}

// embEncodeCursor returns the opaque cursor meaning "after the record with
// creation sequence seq" in the list named kind.
func embEncodeCursor(kind string, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatInt(seq, 10)))
}

// embDecodeCursor is the inverse of embEncodeCursor; a cursor from another
// list or not made by it is a 400.
func embDecodeCursor(kind, cursor string) (int64, error) {
	bad := embErrf(http.StatusBadRequest, "cursor: %q is not a cursor this list returned", cursor)
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, bad
	}
	rest, ok := strings.CutPrefix(string(raw), kind+":")
	if !ok {
		return 0, bad
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || seq < 0 {
		return 0, bad
	}
	return seq, nil
}

// embPage cuts one page from entries (in creation order) using the limit
// and cursor query parameters, and returns the cursor of the next page ("" on
// the last one). The cursor holds the last sequence number returned, so
// records inserted meanwhile (which sort later) neither shift nor repeat the
// pages of earlier records.
func embPage(q url.Values, kind string, entries []*embEntry) ([]*embEntry, string, error) {
	limit, err := embQueryInt(q, "limit", embDefaultLimit, 1, embMaxListLimit)
	if err != nil {
		return nil, "", err
	}
	var after int64
	if c := q.Get("cursor"); c != "" {
		if after, err = embDecodeCursor(kind, c); err != nil {
			return nil, "", err
		}
	}
	start, _ := slices.BinarySearchFunc(entries, after, func(ent *embEntry, seq int64) int {
		if ent.Seq <= seq {
			return -1
		}
		return 1
	})
	page := entries[start:]
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = embEncodeCursor(kind, page[limit-1].Seq)
	}
	return page, next, nil
}

// embList builds a list answer {key: [...], next_cursor?}.
func embList(key string, records []any, next string) map[string]any {
	out := map[string]any{key: records}
	if next != "" {
		out["next_cursor"] = next
	}
	return out
}

// embSkipLimit cuts the skip/limit window of a search result.
func embSkipLimit(q url.Values, all []any, maxLimit int) ([]any, error) {
	skip, err := embQueryInt(q, "skip", 0, 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	limit, err := embQueryInt(q, "limit", embDefaultLimit, 1, maxLimit)
	if err != nil {
		return nil, err
	}
	if skip >= len(all) {
		return []any{}, nil
	}
	return all[skip:min(len(all), skip+limit)], nil
}

// embIDList reads in[key] as 1..embMaxBulkIDs distinct id strings.
func embIDList(v any, key string) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > embMaxBulkIDs {
		return nil, embErrf(http.StatusUnprocessableEntity, "%s: must be an array of 1 to %d ids", key, embMaxBulkIDs)
	}
	ids := make([]string, 0, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok || s == "" {
			return nil, embErrf(http.StatusUnprocessableEntity, "%s: item %d: must be a non-empty string", key, i)
		}
		if slices.Contains(ids, s) {
			return nil, embErrf(http.StatusUnprocessableEntity, "%s: %s appears more than once", key, s)
		}
		ids = append(ids, s)
	}
	return ids, nil
}

// embUpdates reads the updates object of a bulk call and validates it with
// spec as a partial record.
func embUpdates(spec *embSpec, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, embErrf(http.StatusUnprocessableEntity, "updates: must be an object")
	}
	changes, err := spec.changes(m, false, "updates.")
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, embErrf(http.StatusUnprocessableEntity, "updates: must contain at least one field to change")
	}
	return changes, nil
}

// handleHealth answers GET /health.
func (e *embedded) handleHealth(*embTx, *http.Request, []byte) (int, any, error) {
	return http.StatusOK, map[string]any{"status": "ok"}, nil
}

// handleCreateTask answers POST /tasks.
func (e *embedded) handleCreateTask(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	rec, err := embTaskSpec.create(in)
	if err != nil {
		return 0, nil, err
	}
	if rec, err = tx.insert(tx.s.Tasks, "task", "T-", rec); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, rec, nil
}

// handleGetTask answers GET /tasks/{id}; a deleted task does not exist.
func (e *embedded) handleGetTask(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.liveTask(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ent.Record, nil
}

// handleUpdateTask answers PUT /tasks/{id}, merging a partial task.
func (e *embedded) handleUpdateTask(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.liveTask(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	changes, err := embTaskSpec.changes(in, false, "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tx.replace(tx.s.Tasks, ent, embApplyChanges(ent.Record, changes)), nil
}

// handleDeleteTask answers DELETE /tasks/{id} with a soft delete.
func (e *embedded) handleDeleteTask(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.liveTask(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	rec := maps.Clone(ent.Record)
	rec["deleted"] = true
	rec["deleted_at"] = tx.stamp
	tx.replace(tx.s.Tasks, ent, rec)
	return http.StatusNoContent, nil, nil
}

// handleListTasks answers GET /tasks.
func (e *embedded) handleListTasks(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	equal := map[string]string{}
	for _, f := range []struct {
		name   string
		values []string
	}{{"status", embTaskStatuses}, {"work_type", embWorkTypes}, {"priority", embPriorities}} {
		v, err := embQueryEnum(q, f.name, f.values)
		if err != nil {
			return 0, nil, err
		}
		if v != "" {
			equal[f.name] = v
		}
	}
	for _, name := range []string{"owner", "project_id", "sprint_id"} {
		if v := q.Get(name); v != "" {
			equal[name] = v
		}
	}
	includeDeleted := false
	if s := q.Get("include_deleted"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return 0, nil, embErrf(http.StatusBadRequest, "include_deleted: must be true or false, got %q", s)
		}
		includeDeleted = b
	}
	assignee, search, tags := q.Get("assignee"), strings.ToLower(q.Get("search")), q["tags"]
	entries := embSorted(tx.s.Tasks, func(rec map[string]any) bool {
		if embDeleted(rec) && !includeDeleted {
			return false
		}
		for k, v := range equal {
			if embStr(rec, k) != v {
				return false
			}
		}
		if assignee != "" && embStr(rec, "assignee") != assignee && !slices.Contains(embStrings(rec, "assignees"), assignee) {
			return false
		}
		if search != "" && !embContainsFold(embStr(rec, "title"), search) && !embContainsFold(embStr(rec, "description"), search) {
			return false
		}
		return embHasAll(embStrings(rec, "tags"), tags)
	})
	page, next, err := embPage(q, "tasks", entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embList("tasks", embRecords(page, nil), next), nil
}

// handleBulkUpdateTasks answers POST /tasks/bulk/update: every id must name
// a live task and the updates must be valid, or nothing changes.
func (e *embedded) handleBulkUpdateTasks(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	ids, err := embIDList(in["task_ids"], "task_ids")
	if err != nil {
		return 0, nil, err
	}
	changes, err := embUpdates(&embTaskSpec, in["updates"])
	if err != nil {
		return 0, nil, err
	}
	for _, id := range ids {
		if _, err := tx.liveTask(id); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ids {
		ent := tx.s.Tasks[id]
		tx.replace(tx.s.Tasks, ent, embApplyChanges(ent.Record, changes))
	}
	return http.StatusOK, map[string]any{"success": true, "updated_count": len(ids), "task_ids": ids}, nil
}

// handleBulkAssignSprint answers POST /tasks/bulk/assign-sprint, all or
// nothing like the bulk update.
func (e *embedded) handleBulkAssignSprint(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	ids, err := embIDList(in["task_ids"], "task_ids")
	if err != nil {
		return 0, nil, err
	}
	sprint, err := embString(1, 50)(in["sprint_id"])
	if err != nil {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "sprint_id: %v", err)
	}
	for _, id := range ids {
		if _, err := tx.liveTask(id); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ids {
		ent := tx.s.Tasks[id]
		tx.replace(tx.s.Tasks, ent, embApplyChanges(ent.Record, map[string]any{"sprint_id": sprint}))
	}
	return http.StatusOK, map[string]any{"success": true, "assigned_count": len(ids), "sprint_id": sprint}, nil
}

// handleSearchTasks answers GET /tasks/tasks-search: a case-insensitive
// substring search of q in the chosen fields of live tasks.
func (e *embedded) handleSearchTasks(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	query := q.Get("q")
	if query == "" {
		return 0, nil, embErrf(http.StatusBadRequest, "q: is required")
	}
	fields, err := embQueryFields(q,
		[]string{"title", "description", "tags", "notes", "summary", "completion_notes"},
		[]string{"title", "description", "notes", "tags"})
	if err != nil {
		return 0, nil, err
	}
	project, sprint, lower := q.Get("project_id"), q.Get("sprint_id"), strings.ToLower(query)
	entries := embSorted(tx.s.Tasks, func(rec map[string]any) bool {
		if embDeleted(rec) || (project != "" && embStr(rec, "project_id") != project) || (sprint != "" && embStr(rec, "sprint_id") != sprint) {
			return false
		}
		return embMatchFields(rec, fields, lower)
	})
	data, err := embSkipLimit(q, embRecords(entries, nil), embMaxTaskSearchLimit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"success": true, "query": query, "count": len(data), "data": data}, nil
}

// embMatchFields reports whether any of fields of rec contains lowerQuery
// (a list field matches when one of its strings does).
func embMatchFields(rec map[string]any, fields []string, lowerQuery string) bool {
	for _, f := range fields {
		if f == "tags" {
			for _, t := range embStrings(rec, f) {
				if embContainsFold(t, lowerQuery) {
					return true
				}
			}
			continue
		}
		if embContainsFold(embStr(rec, f), lowerQuery) {
			return true
		}
	}
	return false
}

// handleCreateProject answers POST /projects.
func (e *embedded) handleCreateProject(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	rec, err := embProjectSpec.create(in)
	if err != nil {
		return 0, nil, err
	}
	rec["sprints"] = []any{}
	if rec, err = tx.insert(tx.s.Projects, "project", "P-", rec); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, rec, nil
}

// handleGetProject answers GET /projects/{id}.
func (e *embedded) handleGetProject(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Projects, "project", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ent.Record, nil
}

// handleUpdateProject answers PUT /projects/{id}.
func (e *embedded) handleUpdateProject(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Projects, "project", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	changes, err := embProjectSpec.changes(in, false, "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tx.replace(tx.s.Projects, ent, embApplyChanges(ent.Record, changes)), nil
}

// handleDeleteProject answers DELETE /projects/{id}; the project's comments
// and blockers are deleted with it.
func (e *embedded) handleDeleteProject(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	id := r.PathValue("id")
	if _, err := tx.get(tx.s.Projects, "project", id); err != nil {
		return 0, nil, err
	}
	tx.remove(tx.s.Projects, id)
	for _, t := range []embTable{tx.s.Comments, tx.s.Blockers} {
		for cid, ent := range t {
			if embStr(ent.Record, "project_id") == id {
				tx.remove(t, cid)
			}
		}
	}
	return http.StatusNoContent, nil, nil
}

// handleListProjects answers GET /projects.
func (e *embedded) handleListProjects(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	status, err := embQueryEnum(q, "status", embProjectStatuses)
	if err != nil {
		return 0, nil, err
	}
	search := strings.ToLower(q.Get("search"))
	entries := embSorted(tx.s.Projects, func(rec map[string]any) bool {
		if status != "" && embStr(rec, "status") != status {
			return false
		}
		return search == "" || embContainsFold(embStr(rec, "name"), search) || embContainsFold(embStr(rec, "description"), search)
	})
	page, next, err := embPage(q, "projects", entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embList("projects", embRecords(page, nil), next), nil
}

// handleAddSprint answers POST /projects/{id}/sprints; linking a sprint
// that is already linked changes nothing.
func (e *embedded) handleAddSprint(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Projects, "project", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	c, err := embSprintSpec.create(in)
	if err != nil {
		return 0, nil, err
	}
	sprints, _ := ent.Record["sprints"].([]any)
	if slices.Contains(sprints, c["sprint_id"]) {
		return http.StatusOK, ent.Record, nil
	}
	if len(sprints) >= embMaxSprints {
		return 0, nil, embErrf(http.StatusConflict, "project %s already has %d sprints, the most it can hold", embStr(ent.Record, "id"), embMaxSprints)
	}
	rec := maps.Clone(ent.Record)
	rec["sprints"] = append(slices.Clone(sprints), c["sprint_id"])
	return http.StatusOK, tx.replace(tx.s.Projects, ent, rec), nil
}

// handleRemoveSprint answers DELETE /projects/{id}/sprints/{sid}.
func (e *embedded) handleRemoveSprint(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Projects, "project", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	sid := r.PathValue("sid")
	sprints, _ := ent.Record["sprints"].([]any)
	i := slices.Index(sprints, any(sid))
	if i < 0 {
		return 0, nil, embErrf(http.StatusNotFound, "sprint %s is not linked to project %s", sid, embStr(ent.Record, "id"))
	}
	rec := maps.Clone(ent.Record)
	rec["sprints"] = slices.Delete(slices.Clone(sprints), i, i+1)
	return http.StatusOK, tx.replace(tx.s.Projects, ent, rec), nil
}

// handleCreateMetaTask answers POST /projects/{id}/meta-tasks: the meta task
// is a task of the project, marked meta_task: true.
func (e *embedded) handleCreateMetaTask(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	pid := r.PathValue("id")
	if _, err := tx.get(tx.s.Projects, "project", pid); err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	if p, ok := in["project_id"]; ok && p != nil && p != pid {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "project_id: must be the project in the path (%s) or absent", pid)
	}
	in["project_id"] = pid
	rec, err := embTaskSpec.create(in)
	if err != nil {
		return 0, nil, err
	}
	rec["meta_task"] = true
	if rec, err = tx.insert(tx.s.Tasks, "task", "T-", rec); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, rec, nil
}

// handleCreateComment answers POST /projects/{id}/comments.
func (e *embedded) handleCreateComment(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	return e.createProjectChild(tx, r, body, &embCommentSpec, tx.s.Comments, "comment", "C-")
}

// handleCreateBlocker answers POST /projects/{id}/blockers.
func (e *embedded) handleCreateBlocker(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	return e.createProjectChild(tx, r, body, &embBlockerSpec, tx.s.Blockers, "blocker", "B-")
}

// createProjectChild creates a record of spec in t belonging to the project
// in the path.
func (e *embedded) createProjectChild(tx *embTx, r *http.Request, body []byte, spec *embSpec, t embTable, noun, prefix string) (int, any, error) {
	pid := r.PathValue("id")
	if _, err := tx.get(tx.s.Projects, "project", pid); err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	rec, err := spec.create(in)
	if err != nil {
		return 0, nil, err
	}
	rec["project_id"] = pid
	if rec, err = tx.insert(t, noun, prefix, rec); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, rec, nil
}

// handleListComments answers GET /projects/{id}/comments, oldest first.
func (e *embedded) handleListComments(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	pid := r.PathValue("id")
	if _, err := tx.get(tx.s.Projects, "project", pid); err != nil {
		return 0, nil, err
	}
	entries := embSorted(tx.s.Comments, func(rec map[string]any) bool { return embStr(rec, "project_id") == pid })
	page, next, err := embPage(r.URL.Query(), "comments", entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embList("comments", embRecords(page, nil), next), nil
}

// handleAnalytics answers GET /projects/{id}/analytics from the project's
// live tasks.
func (e *embedded) handleAnalytics(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Projects, "project", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	pid := embStr(ent.Record, "id")
	byStatus, byPriority := map[string]int{}, map[string]int{}
	for _, s := range embTaskStatuses {
		byStatus[s] = 0
	}
	for _, p := range embPriorities {
		byPriority[p] = 0
	}
	type sprintCount struct{ total, completed int }
	sprintIDs := embStrings(ent.Record, "sprints")
	perSprint := map[string]*sprintCount{}
	for _, sid := range sprintIDs {
		perSprint[sid] = &sprintCount{}
	}
	total := 0
	for _, t := range tx.s.Tasks {
		rec := t.Record
		if embDeleted(rec) || embStr(rec, "project_id") != pid {
			continue
		}
		total++
		status := embStr(rec, "status")
		byStatus[status]++
		byPriority[embStr(rec, "priority")]++
		if c := perSprint[embStr(rec, "sprint_id")]; c != nil {
			c.total++
			if status == "completed" {
				c.completed++
			}
		}
	}
	sprints := make([]any, 0, len(sprintIDs))
	for _, sid := range sprintIDs {
		c := perSprint[sid]
		sprints = append(sprints, map[string]any{
			"sprint_id": sid, "total_tasks": c.total, "completed_tasks": c.completed,
			"completion_percentage": embPercent(c.completed, c.total),
		})
	}
	return http.StatusOK, map[string]any{
		"project": ent.Record,
		"task_statistics": map[string]any{
			"total": total, "completed": byStatus["completed"], "in_progress": byStatus["in_progress"],
			"by_status": byStatus, "by_priority": byPriority,
			"completion_percentage": embPercent(byStatus["completed"], total),
		},
		"sprint_statistics": map[string]any{"total_sprints": len(sprintIDs), "sprints": sprints},
	}, nil
}

// embActionListView returns an action list as answered: items (sorted by
// order when stored) plus total_items, completed_items and
// progress_percentage.
func embActionListView(rec map[string]any) map[string]any {
	out := maps.Clone(rec)
	items, _ := rec["items"].([]any)
	if items == nil {
		items = []any{}
	}
	done := 0
	for _, it := range items {
		if m, _ := it.(map[string]any); m["completed"] == true {
			done++
		}
	}
	out["items"] = items
	out["total_items"] = len(items)
	out["completed_items"] = done
	out["progress_percentage"] = embPercent(done, len(items))
	return out
}

// embSortItems sorts items by order, keeping the current order of ties.
func embSortItems(items []any) {
	slices.SortStableFunc(items, func(a, b any) int {
		am, _ := a.(map[string]any)
		bm, _ := b.(map[string]any)
		return cmp.Compare(embAsInt(am["order"]), embAsInt(bm["order"]))
	})
}

// embNewItemID returns an item id not used in items.
func embNewItemID(items []any) (string, error) {
	return embNewID("item-", func(id string) bool {
		return slices.ContainsFunc(items, func(it any) bool {
			m, _ := it.(map[string]any)
			return embStr(m, "id") == id
		})
	})
}

// handleCreateActionList answers POST /action-lists.
func (e *embedded) handleCreateActionList(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	rec, err := embActionListSpec.create(in)
	if err != nil {
		return 0, nil, err
	}
	items, _ := rec["items"].([]any)
	withIDs := make([]any, 0, len(items))
	for _, it := range items {
		id, err := embNewItemID(withIDs)
		if err != nil {
			return 0, nil, err
		}
		m := maps.Clone(it.(map[string]any))
		m["id"] = id
		withIDs = append(withIDs, m)
	}
	embSortItems(withIDs)
	rec["items"] = withIDs
	if rec, err = tx.insert(tx.s.ActionLists, "action list", "AL-", rec); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, embActionListView(rec), nil
}

// handleGetActionList answers GET /action-lists/{id}.
func (e *embedded) handleGetActionList(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embActionListView(ent.Record), nil
}

// embActionListChanges validates a partial action list; items change only
// through the items endpoints.
func embActionListChanges(in map[string]any, prefix string) (map[string]any, error) {
	if _, ok := in["items"]; ok {
		return nil, embErrf(http.StatusUnprocessableEntity, "%sitems: change items through /action-lists/{id}/items", prefix)
	}
	return embActionListSpec.changes(in, false, prefix)
}

// handleUpdateActionList answers PUT /action-lists/{id}.
func (e *embedded) handleUpdateActionList(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	changes, err := embActionListChanges(in, "")
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, embApplyChanges(ent.Record, changes))), nil
}

// handleDeleteActionList answers DELETE /action-lists/{id}.
func (e *embedded) handleDeleteActionList(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	id := r.PathValue("id")
	if _, err := tx.get(tx.s.ActionLists, "action list", id); err != nil {
		return 0, nil, err
	}
	tx.remove(tx.s.ActionLists, id)
	return http.StatusNoContent, nil, nil
}

// handleListActionLists answers GET /action-lists.
func (e *embedded) handleListActionLists(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	equal := map[string]string{}
	for _, f := range []struct {
		name   string
		values []string
	}{{"status", embActionListStatuses}, {"priority", embPriorities}} {
		v, err := embQueryEnum(q, f.name, f.values)
		if err != nil {
			return 0, nil, err
		}
		if v != "" {
			equal[f.name] = v
		}
	}
	for _, name := range []string{"owner", "project_id", "sprint_id"} {
		if v := q.Get(name); v != "" {
			equal[name] = v
		}
	}
	tags := q["tags"]
	entries := embSorted(tx.s.ActionLists, func(rec map[string]any) bool {
		for k, v := range equal {
			if embStr(rec, k) != v {
				return false
			}
		}
		return embHasAll(embStrings(rec, "tags"), tags)
	})
	page, next, err := embPage(q, "action_lists", entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embList("action_lists", embRecords(page, embActionListView), next), nil
}

// handleAddItem answers POST /action-lists/{id}/items; without an order the
// item goes last.
func (e *embedded) handleAddItem(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	item, err := embItemSpec.create(in)
	if err != nil {
		return 0, nil, err
	}
	items, _ := ent.Record["items"].([]any)
	if len(items) >= embMaxItems {
		return 0, nil, embErrf(http.StatusConflict, "action list %s already has %d items, the most it can hold", embStr(ent.Record, "id"), embMaxItems)
	}
	if _, ok := item["order"]; !ok {
		next := 0
		for _, it := range items {
			m, _ := it.(map[string]any)
			next = max(next, embAsInt(m["order"])+1)
		}
		item["order"] = next
	}
	if item["id"], err = embNewItemID(items); err != nil {
		return 0, nil, err
	}
	newItems := append(slices.Clone(items), item)
	embSortItems(newItems)
	rec := maps.Clone(ent.Record)
	rec["items"] = newItems
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, rec)), nil
}

// itemEdit finds item_id in the action list of the path and stores the list
// with edit applied to its items (edit gets a copy it may change).
func (e *embedded) itemEdit(tx *embTx, r *http.Request, edit func(items []any, i int) []any) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	itemID := r.PathValue("item_id")
	items, _ := ent.Record["items"].([]any)
	i := slices.IndexFunc(items, func(it any) bool {
		m, _ := it.(map[string]any)
		return embStr(m, "id") == itemID
	})
	if i < 0 {
		return 0, nil, embErrf(http.StatusNotFound, "item %s does not exist in action list %s", itemID, embStr(ent.Record, "id"))
	}
	rec := maps.Clone(ent.Record)
	rec["items"] = edit(slices.Clone(items), i)
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, rec)), nil
}

// handleToggleItem answers PATCH /action-lists/{id}/items/{item_id} by
// flipping the item's completed flag.
func (e *embedded) handleToggleItem(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	return e.itemEdit(tx, r, func(items []any, i int) []any {
		m, _ := items[i].(map[string]any)
		m = maps.Clone(m)
		m["completed"] = m["completed"] != true
		items[i] = m
		return items
	})
}

// handleRemoveItem answers DELETE /action-lists/{id}/items/{item_id}.
func (e *embedded) handleRemoveItem(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	return e.itemEdit(tx, r, func(items []any, i int) []any { return slices.Delete(items, i, i+1) })
}

// handleReorderItems answers POST /action-lists/{id}/items/reorder: item_ids
// must name every item exactly once, and their position becomes the order.
func (e *embedded) handleReorderItems(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	items, _ := ent.Record["items"].([]any)
	byID := map[string]map[string]any{}
	for _, it := range items {
		m, _ := it.(map[string]any)
		byID[embStr(m, "id")] = m
	}
	bad := embErrf(http.StatusBadRequest, "item_ids: must list each of the %d item ids of action list %s exactly once", len(items), embStr(ent.Record, "id"))
	list, ok := in["item_ids"].([]any)
	if !ok || len(list) != len(items) {
		return 0, nil, bad
	}
	reordered := make([]any, 0, len(items))
	seen := map[string]bool{}
	for i, x := range list {
		id, _ := x.(string)
		m := byID[id]
		if m == nil || seen[id] {
			return 0, nil, bad
		}
		seen[id] = true
		m = maps.Clone(m)
		m["order"] = i
		reordered = append(reordered, m)
	}
	rec := maps.Clone(ent.Record)
	rec["items"] = reordered
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, rec)), nil
}

// handleBulkDeleteActionLists answers POST /action-lists/bulk/delete, whose
// body is a bare JSON array of ids; all exist or nothing is deleted.
func (e *embedded) handleBulkDeleteActionLists(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	v, err := embDecode(body)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := v.([]any); !ok {
		return 0, nil, embErrf(http.StatusBadRequest, "request body: must be a JSON array of action list ids")
	}
	ids, err := embIDList(v, "request body")
	if err != nil {
		return 0, nil, err
	}
	for _, id := range ids {
		if _, err := tx.get(tx.s.ActionLists, "action list", id); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ids {
		tx.remove(tx.s.ActionLists, id)
	}
	return http.StatusOK, map[string]any{"success": true, "deleted_count": len(ids)}, nil
}

// handleBulkUpdateActionLists answers POST /action-lists/bulk/update, all or
// nothing.
func (e *embedded) handleBulkUpdateActionLists(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	ids, err := embIDList(in["action_list_ids"], "action_list_ids")
	if err != nil {
		return 0, nil, err
	}
	m, ok := in["updates"].(map[string]any)
	if !ok {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "updates: must be an object")
	}
	changes, err := embActionListChanges(m, "updates.")
	if err != nil {
		return 0, nil, err
	}
	if len(changes) == 0 {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "updates: must contain at least one field to change")
	}
	for _, id := range ids {
		if _, err := tx.get(tx.s.ActionLists, "action list", id); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ids {
		ent := tx.s.ActionLists[id]
		tx.replace(tx.s.ActionLists, ent, embApplyChanges(ent.Record, changes))
	}
	return http.StatusOK, map[string]any{"success": true, "updated_count": len(ids), "action_list_ids": ids}, nil
}

// handleSearchActionLists answers GET /action-lists/search.
func (e *embedded) handleSearchActionLists(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	query := q.Get("q")
	if query == "" {
		return 0, nil, embErrf(http.StatusBadRequest, "q: is required")
	}
	all := []string{"title", "description", "notes"}
	fields, err := embQueryFields(q, all, all)
	if err != nil {
		return 0, nil, err
	}
	status, err := embQueryEnum(q, "status", embActionListStatuses)
	if err != nil {
		return 0, nil, err
	}
	priority, err := embQueryEnum(q, "priority", embPriorities)
	if err != nil {
		return 0, nil, err
	}
	equal := map[string]string{"project_id": q.Get("project_id"), "sprint_id": q.Get("sprint_id"), "status": status, "priority": priority}
	lower := strings.ToLower(query)
	entries := embSorted(tx.s.ActionLists, func(rec map[string]any) bool {
		for k, v := range equal {
			if v != "" && embStr(rec, k) != v {
				return false
			}
		}
		return embMatchFields(rec, fields, lower)
	})
	data, err := embSkipLimit(q, embRecords(entries, embActionListView), embMaxListLimit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"success": true, "query": query, "count": len(data), "data": data}, nil
}

// embNewStore returns an empty store.
func embNewStore() *embStore {
	return &embStore{
		Version: embFormatVersion, Tasks: embTable{}, Projects: embTable{},
		ActionLists: embTable{}, Comments: embTable{}, Blockers: embTable{},
	}
}

// embLoad reads the store from path. A missing file gives an empty store if
// its directory exists (so a typo in the directory is caught at start, not
// at the first write); anything else that is not a complete, consistent
// store is an error. The file is only read.
func embLoad(path string) (*embStore, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("data directory %s is not a directory", dir)
		}
		return embNewStore(), nil
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var s embStore
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse: unexpected data after the store")
	}
	if s.Version != embFormatVersion {
		return nil, fmt.Errorf("unsupported format version %d, want %d", s.Version, embFormatVersion)
	}
	for name, t := range map[string]*embTable{
		"tasks": &s.Tasks, "projects": &s.Projects, "action_lists": &s.ActionLists,
		"comments": &s.Comments, "blockers": &s.Blockers,
	} {
		if *t == nil {
			*t = embTable{}
		}
		for id, ent := range *t {
			if ent == nil || ent.Record == nil || embStr(ent.Record, "id") != id || ent.Seq < 1 || ent.Seq > s.NextSeq {
				return nil, fmt.Errorf("%s %s: inconsistent record", name, id)
			}
		}
	}
	return &s, nil
}

// save writes the whole store to dataFile crash-safely; without a data file
// it does nothing. Called with mu held.
func (e *embedded) save() error {
	if e.dataFile == "" {
		return nil
	}
	data, err := json.Marshal(e.store)
	if err != nil {
		return fmt.Errorf("save %s: %w", e.dataFile, err)
	}
	if err := embWriteFileAtomic(e.dataFile, data); err != nil {
		return fmt.Errorf("save %s: %w", e.dataFile, err)
	}
	return nil
}

// embWriteFileAtomic replaces path with data (mode 0600) so that a crash at
// any point leaves either the old or the new file: it writes and fsyncs a
// temporary file in the same directory, renames it over path, and fsyncs
// the directory so that the rename itself is durable.
func embWriteFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
