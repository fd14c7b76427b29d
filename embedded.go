// embedded.go holds the embedded backend: an in-process implementation of
// the Task Manager REST API (docs/backend-api.md), used when
// TASK_MANAGER_API_ENDPOINT is unset so that `go run .` works on a fresh
// machine.
//
// Contract, beyond docs/backend-api.md:
//
//   - Records are JSON objects with id, created_at and updated_at (RFC 3339,
//     UTC, millisecond precision). Ids are a prefix plus 8 lowercase hex
//     characters from crypto/rand: T- (tasks and meta tasks), P- (projects),
//     AL- (action lists), item- (action list items), C- (project comments),
//     B- (project blockers), S- (sprints).
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
//   - A project_id given to a create, a PUT or a bulk update must name a
//     project that exists (a 422 that names the tools to create or find
//     one), so a typo is refused rather than stored as an orphan.
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
//   - One mutex serialises every request; with TASKMAN_DATA_FILE every write
//     is appended to a journal and fsynced before it is acknowledged, and
//     the journal is compacted into the data file (temp file, fsync, rename,
//     fsync of the directory) once it outgrows it (embedded_journal.go), so
//     a write costs the size of the change, not of the store.
//   - Text fields are at most embMaxTextBytes bytes and a stored record at
//     most embMaxRecordBytes of JSON (413 beyond); bodies nest at most
//     jsonMaxDepth levels (400 beyond), so whatever is accepted can be
//     saved and loaded again.

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// embMaxBodyBytes caps a request body at 4 MiB: the largest legitimate body
// (a bulk call naming embMaxBulkIDs ids, or an action list with embMaxItems
// items) is well under 1 MiB, and 4 MiB of headroom still keeps a handful of
// concurrent oversized requests from exhausting memory.
const embMaxBodyBytes = 4 << 20

// embMaxRecords caps each kind (tasks, projects, action lists, comments,
// blockers) at 100,000 records: a record is typically well under 1 KiB, so a
// full kind stays near 100 MB of memory and the data file stays bounded: a
// write only appends the records it changed to the journal, but a
// compaction (at start, at a clean stop, and once the journal outgrows the
// snapshot) rewrites the whole file. A runaway loop gets 507, not an OOM
// kill; anyone who needs more needs a real Task Manager API anyway.
const embMaxRecords = 100_000

// embMaxTextBytes caps one free-text field (a description, notes, a
// summary) at 64 KiB: dozens of pages of prose, while twenty such fields do
// not make a store that is slow to load or large in memory. Longer material
// belongs in a document the task links to.
const embMaxTextBytes = 64 << 10

// embMaxRecordBytes caps the JSON of one stored record at 1 MiB: a task
// with every text field full is a fraction of it, and so is an action list
// of embMaxItems ordinary lines (a list of a thousand lines of a thousand
// characters is refused by this limit, not by the item limits). It bounds
// a journal line, the memory a record holds and the cost of copying it.
const embMaxRecordBytes = 1 << 20

// embMaxItems caps the items of one action list, at the limit the tool
// schemas state too: every item operation copies the list, and a checklist
// longer than that is no longer a checklist.
const embMaxItems = maxActionItems

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
// search): the one the tool schemas allow.
const embMaxListLimit = maxPageSize

// embMaxTaskSearchLimit is the largest page of a task search: the one
// task_search's schema allows.
const embMaxTaskSearchLimit = maxTaskSearchPage

// embIDAttempts bounds the retries on an id collision: with embMaxRecords of
// 2^32 possible ids one attempt collides at most once in 40,000, so 16
// collisions in a row mean the random source is broken.
const embIDAttempts = 16

// embTimeLayout is RFC 3339 in UTC with milliseconds, the layout of
// created_at, updated_at and deleted_at.
const embTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// embedded is the in-process Task Manager API.
type embedded struct {
	dataFile   string           // the snapshot the store is compacted into; "" keeps it in memory only
	lock       *os.File         // holds the data file's lock for the life of the process; nil without a data file
	now        func() time.Time // clock for created_at and friends; time.Now outside tests
	maxRecords int              // per-kind record cap, embMaxRecords outside tests
	mux        *http.ServeMux   // the routes, built once by newEmbedded
	logger     *slog.Logger

	mu            sync.Mutex  // guards the fields below and serialises the writes of dataFile and its journal
	store         *embStore   //
	journal       *embJournal // the writes since the last compaction; nil without a data file
	snapshotBytes int64       // size of dataFile as last written or read
}

// newEmbedded builds the embedded backend. With a non-empty dataFile it loads
// the store from that file and replays its journal; a missing file is fine
// (it is created on the first write) as long as its directory exists. A
// file that cannot be read or parsed is an error naming it, and the file is
// left untouched. A torn journal tail (a write interrupted by a crash,
// never acknowledged) is dropped and logged.
func newEmbedded(dataFile string, logger *slog.Logger) (*embedded, error) {
	e := &embedded{dataFile: dataFile, now: time.Now, maxRecords: embMaxRecords, store: embNewStore(), logger: logger}
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
		if err := e.load(); err != nil {
			lock.Close()
			return nil, fmt.Errorf("embedded backend: load %s: %w", dataFile, err)
		}
		e.lock = lock
	}
	e.mux = e.routes()
	return e, nil
}

// load reads the snapshot and its journal into the store and, when the
// journal held anything, compacts it so that the data file alone is the
// whole store again. Only a lock holder calls it.
func (e *embedded) load() error {
	s, err := embLoad(e.dataFile)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(e.dataFile); err == nil {
		e.snapshotBytes = fi.Size()
	}
	j, torn, err := embOpenJournal(e.dataFile, s)
	if err != nil {
		return err
	}
	if torn > 0 {
		e.logger.Warn("dropped the torn end of the embedded backend's journal: a write interrupted by a crash, never acknowledged",
			"journal", e.dataFile+embJournalSuffix, "bytes", torn)
	}
	embRemoveTemps(e.dataFile)
	e.store, e.journal = s, j
	if j.size > 0 {
		if err := e.compact(); err != nil {
			e.logger.Warn("compacting the embedded backend's journal at start failed; it is replayed again at the next start", "err", err)
		}
	}
	return nil
}

// close compacts the journal into the data file, so that a stopped
// server's data file holds everything, and releases the file and its lock;
// the store stays readable, and a write after close is refused (commit).
// Closing again does nothing.
func (e *embedded) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lock == nil {
		return nil
	}
	var err error
	if e.journal != nil {
		if e.journal.size > 0 {
			err = e.compact()
		}
		err = errors.Join(err, e.journal.close())
		e.journal = nil
	}
	err = errors.Join(err, e.lock.Close())
	e.lock = nil
	return err
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

// routes registers every endpoint of docs/backend-api.md. ServeMux precedence
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
	e.sprintRoutes(h)
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
// rolled back when it cannot be: a record over embMaxRecordBytes keeps its
// 413 (any *embProblem of commit passes unchanged), and a failed save, or a
// write after close, is answered 503.
func (e *embedded) apply(fn embHandler, r *http.Request, body []byte) (int, any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx := &embTx{e: e, s: e.store, seq: e.store.NextSeq, stamp: e.now().UTC().Format(embTimeLayout)}
	status, out, err := fn(tx, r, body)
	if err != nil {
		tx.rollback()
		return 0, nil, err
	}
	if len(tx.changed) > 0 {
		if err := e.commit(tx); err != nil {
			tx.rollback()
			var p *embProblem
			if errors.As(err, &p) {
				return 0, nil, err
			}
			return 0, nil, embErrf(http.StatusServiceUnavailable, "the change was not saved and has been undone: %v", err)
		}
	}
	return status, out, nil
}

// handleHealth answers GET /health.
func (e *embedded) handleHealth(*embTx, *http.Request, []byte) (int, any, error) {
	return http.StatusOK, map[string]any{"status": "ok"}, nil
}

// handleCreateTask answers POST /tasks.
func (e *embedded) handleCreateTask(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	rec, err := embTaskSpec.createFrom(body)
	if err != nil {
		return 0, nil, err
	}
	if err := tx.checkProject(rec, ""); err != nil {
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
	if err := tx.checkProject(changes, ""); err != nil {
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
	equal, err := embEqualFilters(q, []embEnumParam{{"status", embTaskStatuses}, {"work_type", embWorkTypes}, {"priority", embPriorities}},
		"owner", "project_id", "sprint_id")
	if err != nil {
		return 0, nil, err
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
		if embDeleted(rec) && !includeDeleted || !embMatches(rec, equal) {
			return false
		}
		if assignee != "" && embStr(rec, "assignee") != assignee && !slices.Contains(embStrings(rec, "assignees"), assignee) {
			return false
		}
		if search != "" && !embContainsFold(embStr(rec, "title"), search) && !embContainsFold(embStr(rec, "description"), search) {
			return false
		}
		return embHasAll(embStrings(rec, "tags"), tags)
	})
	return embListAnswer(q, "tasks", entries, nil)
}

// handleBulkUpdateTasks answers POST /tasks/bulk/update: every id must name
// a live task and the updates must be valid, or nothing changes.
func (e *embedded) handleBulkUpdateTasks(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, ids, err := embBulkRequest(body)
	if err != nil {
		return 0, nil, err
	}
	changes, err := embUpdates(&embTaskSpec, in["updates"])
	if err != nil {
		return 0, nil, err
	}
	if err := tx.checkProject(changes, "updates."); err != nil {
		return 0, nil, err
	}
	if err := tx.editLiveTasks(ids, changes); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"success": true, "updated_count": len(ids), "task_ids": ids}, nil
}

// handleBulkAssignSprint answers POST /tasks/bulk/assign-sprint, all or
// nothing like the bulk update.
func (e *embedded) handleBulkAssignSprint(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, ids, err := embBulkRequest(body)
	if err != nil {
		return 0, nil, err
	}
	sprint, err := embString(1, 50)(in["sprint_id"])
	if err != nil {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "sprint_id: %v", err)
	}
	if err := tx.editLiveTasks(ids, map[string]any{"sprint_id": sprint}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"success": true, "assigned_count": len(ids), "sprint_id": sprint}, nil
}

// embBulkRequest decodes the body of a bulk task request and its task_ids.
func embBulkRequest(body []byte) (map[string]any, []string, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return nil, nil, err
	}
	ids, err := embIDList(in["task_ids"], "task_ids")
	if err != nil {
		return nil, nil, err
	}
	return in, ids, nil
}

// editLiveTasks applies changes to every task of ids, all or nothing:
// unless each id names a live task, nothing changes.
func (tx *embTx) editLiveTasks(ids []string, changes map[string]any) error {
	for _, id := range ids {
		if _, err := tx.liveTask(id); err != nil {
			return err
		}
	}
	for _, id := range ids {
		ent := tx.s.Tasks[id]
		tx.replace(tx.s.Tasks, ent, embApplyChanges(ent.Record, changes))
	}
	return nil
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
	return embSearchAnswer(q, query, embRecords(entries, nil), embMaxTaskSearchLimit)
}

// handleCreateProject answers POST /projects.
func (e *embedded) handleCreateProject(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	rec, err := embProjectSpec.createFrom(body)
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
//
// The answer carries the project's blockers (oldest first; absent when it
// has none), which have no endpoint of their own: project_read is where an
// assistant reads a project, so that is where they are seen
// (docs/tools.md).
func (e *embedded) handleGetProject(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	pid := r.PathValue("id")
	ent, err := tx.get(tx.s.Projects, "project", pid)
	if err != nil {
		return 0, nil, err
	}
	blockers := embSorted(tx.s.Blockers, func(rec map[string]any) bool { return embStr(rec, "project_id") == pid })
	if len(blockers) == 0 {
		return http.StatusOK, ent.Record, nil
	}
	out := maps.Clone(ent.Record)
	out["blockers"] = embRecords(blockers, nil)
	return http.StatusOK, out, nil
}

// handleUpdateProject answers PUT /projects/{id}.
func (e *embedded) handleUpdateProject(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, in, err := tx.getWithBody(tx.s.Projects, "project", r.PathValue("id"), body, embDecodeObject)
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
	return embListAnswer(q, "projects", entries, nil)
}

// handleAddSprint answers POST /projects/{id}/sprints; linking a sprint
// that is already linked changes nothing.
func (e *embedded) handleAddSprint(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, c, err := tx.getWithBody(tx.s.Projects, "project", r.PathValue("id"), body, embSprintSpec.createFrom)
	if err != nil {
		return 0, nil, err
	}
	rec, err := tx.link(tx.s.Projects, ent, embProjectSprints, embStr(c, "sprint_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rec, nil
}

// handleRemoveSprint answers DELETE /projects/{id}/sprints/{sid}.
func (e *embedded) handleRemoveSprint(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Projects, "project", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	sid := r.PathValue("sid")
	rec, linked := tx.unlink(tx.s.Projects, ent, embProjectSprints, sid)
	if !linked {
		return 0, nil, embErrf(http.StatusNotFound, "sprint %s is not linked to project %s", sid, embStr(ent.Record, "id"))
	}
	return http.StatusOK, rec, nil
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
	rec, err := spec.createFrom(body)
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
	return embListAnswer(r.URL.Query(), "comments", entries, nil)
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
