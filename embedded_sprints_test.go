package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// embSprintIDPattern matches the sprint ids the embedded backend generates;
// they also match TaskMan-v2's SprintCreate id pattern ^S-[A-Za-z0-9_-]+$.
var embSprintIDPattern = regexp.MustCompile(`^S-[0-9a-f]{8}$`)

// TestEmbeddedSprintLifecycle creates, reads, updates, starts, completes
// and lists sprints, and checks that the project lists its sprints.
func TestEmbeddedSprintLifecycle(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "Apollo"}, 201)["id"].(string)
	other := embMust(t, srv, "POST", "/projects", map[string]any{"name": "Gemini"}, 201)["id"].(string)

	s := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "Sprint 1", "project_id": pid, "goal": "orbit", "start_date": "2026-01-05", "end_date": "2026-01-16"}, 201)
	sid, _ := s["id"].(string)
	if !embSprintIDPattern.MatchString(sid) || s["status"] != "new" || s["project_id"] != pid || s["created_at"] == nil {
		t.Errorf("created sprint = %v, want an S- id, status new, project %s, timestamps", s, pid)
	}
	if got := embStringsOf(embMust(t, srv, "GET", "/projects/"+pid, nil, 200)["sprints"]); !slices.Equal(got, []string{sid}) {
		t.Errorf("project sprints after create = %v, want [%s]", got, sid)
	}
	s2 := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "Other", "project_id": other}, 201)["id"].(string)

	if got := embMust(t, srv, "GET", "/sprints/"+sid, nil, 200); got["goal"] != "orbit" {
		t.Errorf("GET sprint = %v, want goal orbit", got)
	}
	if got := embMust(t, srv, "PUT", "/sprints/"+sid, map[string]any{"goal": "land", "project_id": pid, "id": "ignored"}, 200); got["goal"] != "land" || got["name"] != "Sprint 1" || got["id"] != sid {
		t.Errorf("PUT sprint = %v, want goal merged, name and id kept", got)
	}
	if got := embMust(t, srv, "POST", "/sprints/"+sid+"/start", nil, 200); got["status"] != "active" {
		t.Errorf("start = %v, want status active", got)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{sid, s2}},
		{"project_id=" + other, []string{s2}},
		{"status=active", []string{sid}},
		{"status=active&project_id=" + other, nil},
	} {
		got := embMust(t, srv, "GET", "/sprints?"+tt.query, nil, 200)
		if ids := embIDs(got["sprints"]); !slices.Equal(ids, tt.want) || got["total"] != float64(len(tt.want)) {
			t.Errorf("GET /sprints?%s = %v, want ids %v and total %d", tt.query, got, tt.want, len(tt.want))
		}
	}
	page := embMust(t, srv, "GET", "/sprints?limit=1", nil, 200)
	next := embMust(t, srv, "GET", "/sprints?limit=1&cursor="+url.QueryEscape(page["next_cursor"].(string)), nil, 200)
	if seen := append(embIDs(page["sprints"]), embIDs(next["sprints"])...); !slices.Equal(seen, []string{sid, s2}) || next["next_cursor"] != nil || page["total"] != float64(2) {
		t.Errorf("pages = %v then %v, want %s then %s, total 2 and no further cursor", page, next, sid, s2)
	}
	if got := embMust(t, srv, "POST", "/sprints/"+sid+"/complete", nil, 200); got["status"] != "completed" {
		t.Errorf("complete = %v, want status completed", got)
	}
}

// TestEmbeddedSprintTransitions checks that start needs a sprint not yet
// started and complete a running one, with errors naming both states.
func TestEmbeddedSprintTransitions(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, 201)["id"].(string)
	sprint := func(status string) string {
		return embMust(t, srv, "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "status": status}, 201)["id"].(string)
	}
	fresh, running, done, planning := sprint("new"), sprint("in_progress"), sprint("completed"), sprint("planning")
	tests := []struct {
		name, id, action string
		want             int
		detail           string
	}{
		{"complete before start", fresh, "complete", 409, "sprint " + fresh + " is new: only a sprint that is active, in_progress or blocked can be completed; start it first"},
		{"start a running sprint", running, "start", 409, "sprint " + running + " is in_progress: only a sprint that is new, planning, pending or assigned can be started"},
		{"start a completed sprint", done, "start", 409, "is completed: only a sprint that is new, planning, pending or assigned can be started"},
		{"complete a completed sprint", done, "complete", 409, "sprint " + done + " is completed: only a sprint that is active, in_progress or blocked can be completed"},
		{"start a missing sprint", "S-00000000", "start", 404, "sprint S-00000000 does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := embCall(t, srv, "POST", "/sprints/"+tt.id+"/"+tt.action, nil)
			embCheckProblem(t, tt.action+" "+tt.id, r, tt.want, tt.detail)
			if d, _ := r.body["detail"].(string); tt.id == done && strings.Contains(d, "start it first") {
				t.Errorf("detail %q tells to start a completed sprint", d)
			}
		})
	}
	if got := embMust(t, srv, "POST", "/sprints/"+planning+"/start", nil, 200); got["status"] != "active" {
		t.Errorf("start from planning = %v, want active", got)
	}
	if got := embMust(t, srv, "POST", "/sprints/"+running+"/complete", nil, 200); got["status"] != "completed" {
		t.Errorf("complete from in_progress = %v, want completed", got)
	}
	// A refused transition changes nothing.
	if got := embMust(t, srv, "GET", "/sprints/"+fresh, nil, 200); got["status"] != "new" || got["updated_at"] != got["created_at"] {
		t.Errorf("sprint after a refused complete = %v, want unchanged", got)
	}
}

// TestEmbeddedSprintValidation checks the field rules of sprint bodies and
// queries.
func TestEmbeddedSprintValidation(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, 201)["id"].(string)
	sid := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "start_date": "2026-02-01"}, 201)["id"].(string)
	embCheckProblems(t, srv, []embProblemCase{
		{"no name", "POST", "/sprints", map[string]any{"project_id": pid}, 422, "name: is required"},
		{"no project", "POST", "/sprints", map[string]any{"name": "S"}, 422, "project_id: is required"},
		{"missing project", "POST", "/sprints", map[string]any{"name": "S", "project_id": "P-00000000"}, 422, "project_id: project P-00000000 does not exist"},
		{"long name", "POST", "/sprints", map[string]any{"name": strings.Repeat("n", 201), "project_id": pid}, 422, "name: must be 1 to 200 characters"},
		{"bad status", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "status": "planned"}, 422, "status: must be one of new, planning, pending, assigned, active, in_progress, blocked, completed, closed, cancelled"},
		{"bad date", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "end_date": "2026-02-30"}, 422, `end_date: must be a date YYYY-MM-DD such as 2026-01-31, got "2026-02-30"`},
		{"date not string", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "end_date": 20260230}, 422, "end_date: must be a date string YYYY-MM-DD"},
		{"date-time is not a date", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "start_date": "2026-02-01T00:00:00Z"}, 422, "start_date: must be a date"},
		{"end before start", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "start_date": "2026-02-02", "end_date": "2026-02-01"}, 422, "end_date: 2026-02-01 is before start_date 2026-02-02"},
		{"unknown field", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "velocity": 3}, 422, "velocity: unknown field"},
		{"update end before start", "PUT", "/sprints/" + sid, map[string]any{"end_date": "2026-01-31"}, 422, "end_date: 2026-01-31 is before start_date 2026-02-01"},
		{"update moves project", "PUT", "/sprints/" + sid, map[string]any{"project_id": "P-other"}, 422, "project_id: a sprint stays in its project (" + pid + ")"},
		{"update null name", "PUT", "/sprints/" + sid, map[string]any{"name": nil}, 422, "name: must not be null"},
		{"update missing", "PUT", "/sprints/S-00000000", map[string]any{"name": "x"}, 404, "sprint S-00000000 does not exist"},
		{"list bad status", "GET", "/sprints?status=done", nil, 400, "status: must be one of new"},
		{"list bad cursor", "GET", "/sprints?cursor=abc", nil, 400, "cursor: \"abc\" is not a cursor this list returned"},
		{"progress missing", "GET", "/sprints/S-00000000/progress", nil, 404, "sprint S-00000000 does not exist"},
		{"delete missing", "DELETE", "/sprints/S-00000000", nil, 404, "sprint S-00000000 does not exist"},
	})
	if got := embMust(t, srv, "PUT", "/sprints/"+sid, map[string]any{"start_date": nil}, 200); got["start_date"] != nil {
		t.Errorf("PUT start_date null = %v, want start_date removed", got)
	}
}

// embSameJSON reports whether a and b encode to the same JSON.
func embSameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestEmbeddedSprintProgress counts a sprint's tasks from the tasks
// themselves: deleted ones and other sprints' ones do not count, completed
// ones count as done.
func TestEmbeddedSprintProgress(t *testing.T) {
	e, srv := embTestServer(t, "")
	e.now = func() time.Time { return time.Date(2026, 1, 10, 23, 30, 0, 0, time.UTC) }
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, 201)["id"].(string)
	sid := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "S", "project_id": pid, "end_date": "2026-01-16"}, 201)["id"].(string)
	empty := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "Empty", "project_id": pid}, 201)["id"].(string)

	in := map[string]any{"sprint_id": sid}
	a := embCreateTask(t, srv, "a", in)["id"].(string)
	embCreateTask(t, srv, "b", in)
	embCreateTask(t, srv, "c", map[string]any{"sprint_id": sid, "status": "completed"})
	gone := embCreateTask(t, srv, "gone", in)["id"].(string)
	embMust(t, srv, "DELETE", "/tasks/"+gone, nil, 204)
	embCreateTask(t, srv, "elsewhere", map[string]any{"sprint_id": empty + "x", "status": "completed"})
	embMust(t, srv, "POST", "/tasks/"+a+"/complete", nil, 200)

	got := embMust(t, srv, "GET", "/sprints/"+sid+"/progress", nil, 200)
	want := map[string]any{"sprint_id": sid, "name": "S", "status": "new", "project_id": pid,
		"task_count": float64(3), "completed_count": float64(2), "completion_percentage": 66.7, "days_remaining": float64(6)}
	if !embSameJSON(got, want) {
		t.Errorf("progress = %v, want %v", got, want)
	}
	got = embMust(t, srv, "GET", "/sprints/"+empty+"/progress", nil, 200)
	if got["task_count"] != float64(0) || got["completion_percentage"] != float64(0) || got["days_remaining"] != nil {
		t.Errorf("empty sprint progress = %v, want 0 tasks, 0%%, no days_remaining without an end_date", got)
	}
	e.now = func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }
	if got := embMust(t, srv, "GET", "/sprints/"+sid+"/progress", nil, 200); got["days_remaining"] != float64(0) {
		t.Errorf("progress after the end = %v, want days_remaining 0", got)
	}
}

// TestEmbeddedSprintDeleteKeepsTasks deletes a sprint: its tasks stay with
// their sprint_id cleared, the answer names them, and no project lists the
// sprint any more.
func TestEmbeddedSprintDeleteKeepsTasks(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, 201)["id"].(string)
	sid := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "S", "project_id": pid}, 201)["id"].(string)
	keep := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "Keep", "project_id": pid}, 201)["id"].(string)
	t1 := embCreateTask(t, srv, "one", map[string]any{"sprint_id": sid})["id"].(string)
	t2 := embCreateTask(t, srv, "two", map[string]any{"sprint_id": sid})["id"].(string)
	t3 := embCreateTask(t, srv, "three", map[string]any{"sprint_id": keep})["id"].(string)

	got := embMust(t, srv, "DELETE", "/sprints/"+sid, nil, 200)
	want := map[string]any{"deleted": true, "sprint_id": sid, "project_id": pid, "cleared_task_ids": []any{t1, t2}}
	if !embSameJSON(got, want) {
		t.Errorf("DELETE /sprints/%s = %v, want %v", sid, got, want)
	}
	for _, id := range []string{t1, t2} {
		if task := embMust(t, srv, "GET", "/tasks/"+id, nil, 200); task["sprint_id"] != nil {
			t.Errorf("task %s after its sprint was deleted = %v, want no sprint_id", id, task)
		}
	}
	if task := embMust(t, srv, "GET", "/tasks/"+t3, nil, 200); task["sprint_id"] != keep {
		t.Errorf("task of another sprint = %v, want sprint_id %s kept", task, keep)
	}
	if s := embStringsOf(embMust(t, srv, "GET", "/projects/"+pid, nil, 200)["sprints"]); !slices.Equal(s, []string{keep}) {
		t.Errorf("project sprints after delete = %v, want [%s]", s, keep)
	}
	embCheckProblem(t, "GET deleted sprint", embCall(t, srv, "GET", "/sprints/"+sid, nil), 404, "sprint "+sid+" does not exist")
}

// TestEmbeddedTaskComplete marks tasks completed, with and without a body.
func TestEmbeddedTaskComplete(t *testing.T) {
	e, srv := embTestServer(t, "")
	e.now = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	id := embCreateTask(t, srv, "t", nil)["id"].(string)
	got := embMust(t, srv, "POST", "/tasks/"+id+"/complete", map[string]any{"completion_notes": "shipped"}, 200)
	if got["status"] != "completed" || got["completion_notes"] != "shipped" || got["done_date"] != "2026-03-01T12:00:00.000Z" {
		t.Errorf("complete = %v, want completed, notes and done_date now", got)
	}
	e.now = func() time.Time { return time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) }
	if again := embMust(t, srv, "POST", "/tasks/"+id+"/complete", nil, 200); again["done_date"] != got["done_date"] {
		t.Errorf("second complete = %v, want the first done_date kept", again)
	}
	other := embCreateTask(t, srv, "u", nil)["id"].(string)
	if got := embMust(t, srv, "POST", "/tasks/"+other+"/complete", map[string]any{"done_date": "2026-01-01T00:00:00Z"}, 200); got["done_date"] != "2026-01-01T00:00:00Z" {
		t.Errorf("complete with done_date = %v, want it stored", got)
	}
	embMust(t, srv, "DELETE", "/tasks/"+other, nil, 204)
	for _, tt := range []struct {
		name, path string
		body       any
		want       int
		detail     string
	}{
		{"missing task", "/tasks/T-00000000/complete", nil, 404, "task T-00000000 does not exist"},
		{"deleted task", "/tasks/" + other + "/complete", nil, 404, "task " + other + " does not exist"},
		{"unknown field", "/tasks/" + id + "/complete", map[string]any{"status": "new"}, 422, "status: unknown field"},
		{"not an object", "/tasks/" + id + "/complete", "[]", 400, "request body: must be a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			embCheckProblem(t, tt.path, embCall(t, srv, "POST", tt.path, tt.body), tt.want, tt.detail)
		})
	}
}

// TestEmbeddedActionListTaskLinks links and unlinks tasks to an action
// list: idempotent both ways, in link order, only existing tasks.
func TestEmbeddedActionListTaskLinks(t *testing.T) {
	_, srv := embTestServer(t, "")
	al := embMust(t, srv, "POST", "/action-lists", map[string]any{"title": "L"}, 201)
	alid := al["id"].(string)
	if ids := embStringsOf(al["task_ids"]); al["task_ids"] == nil || len(ids) != 0 {
		t.Errorf("new action list task_ids = %v, want []", al["task_ids"])
	}
	t1 := embCreateTask(t, srv, "one", nil)["id"].(string)
	t2 := embCreateTask(t, srv, "two", nil)["id"].(string)
	embMust(t, srv, "POST", "/action-lists/"+alid+"/tasks?task_id="+t2, nil, 200)
	embMust(t, srv, "POST", "/action-lists/"+alid+"/tasks?task_id="+t1, nil, 200)
	got := embMust(t, srv, "POST", "/action-lists/"+alid+"/tasks?task_id="+t2, nil, 200)
	if ids := embStringsOf(got["task_ids"]); !slices.Equal(ids, []string{t2, t1}) || got["title"] != "L" {
		t.Errorf("action list after linking %s, %s, %s = %v, want task_ids [%s %s]", t2, t1, t2, got, t2, t1)
	}
	r := embCall(t, srv, "GET", "/action-lists/"+alid+"/tasks", nil)
	if r.status != 200 || string(r.raw) != `["`+t2+`","`+t1+`"]`+"\n" {
		t.Errorf("GET tasks = %d %s, want the bare array [%s, %s]", r.status, r.raw, t2, t1)
	}
	// A record read back can be sent back: task_ids is the server's.
	embMust(t, srv, "PUT", "/action-lists/"+alid, map[string]any{"notes": "n", "task_ids": []any{"x"}}, 200)
	got = embMust(t, srv, "DELETE", "/action-lists/"+alid+"/tasks/"+t2, nil, 200)
	if ids := embStringsOf(got["task_ids"]); !slices.Equal(ids, []string{t1}) {
		t.Errorf("task_ids after unlinking %s = %v, want [%s]", t2, ids, t1)
	}
	if again := embMust(t, srv, "DELETE", "/action-lists/"+alid+"/tasks/"+t2, nil, 200); !slices.Equal(embStringsOf(again["task_ids"]), []string{t1}) {
		t.Errorf("unlinking again = %v, want no change", again)
	}
	embMust(t, srv, "GET", "/tasks/"+t2, nil, 200) // unlinking keeps the task
	for _, tt := range []struct {
		name, method, path string
		want               int
		detail             string
	}{
		{"link without task_id", "POST", "/action-lists/" + alid + "/tasks", 400, "task_id: is required"},
		{"link missing task", "POST", "/action-lists/" + alid + "/tasks?task_id=T-00000000", 422, "task_id: task T-00000000 does not exist"},
		{"link to missing list", "POST", "/action-lists/AL-00000000/tasks?task_id=" + t1, 404, "action list AL-00000000 does not exist"},
		{"tasks of missing list", "GET", "/action-lists/AL-00000000/tasks", 404, "action list AL-00000000 does not exist"},
		{"unlink from missing list", "DELETE", "/action-lists/AL-00000000/tasks/" + t1, 404, "action list AL-00000000 does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			embCheckProblem(t, tt.method+" "+tt.path, embCall(t, srv, tt.method, tt.path, nil), tt.want, tt.detail)
		})
	}
}

// TestEmbeddedSprintsPersist checks that sprints, sprint assignments and
// task links survive a restart with a data file.
func TestEmbeddedSprintsPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	first, srv := embTestServer(t, path)
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, 201)["id"].(string)
	sprint := embMust(t, srv, "POST", "/sprints", map[string]any{"name": "S", "project_id": pid}, 201)
	sid := sprint["id"].(string)
	sprint = embMust(t, srv, "POST", "/sprints/"+sid+"/start", nil, 200)
	tid := embCreateTask(t, srv, "t", map[string]any{"sprint_id": sid})["id"].(string)
	embMust(t, srv, "POST", "/tasks/"+tid+"/complete", nil, 200)
	alid := embMust(t, srv, "POST", "/action-lists", map[string]any{"title": "L"}, 201)["id"].(string)
	embMust(t, srv, "POST", "/action-lists/"+alid+"/tasks?task_id="+tid, nil, 200)
	progress := embMust(t, srv, "GET", "/sprints/"+sid+"/progress", nil, 200)
	first.close()

	_, srv2 := embTestServer(t, path)
	if got := embMust(t, srv2, "GET", "/sprints/"+sid, nil, 200); !embSameJSON(got, sprint) {
		t.Errorf("sprint after reload = %v, want %v", got, sprint)
	}
	if got := embMust(t, srv2, "GET", "/sprints/"+sid+"/progress", nil, 200); !embSameJSON(got, progress) {
		t.Errorf("progress after reload = %v, want %v", got, progress)
	}
	if r := embCall(t, srv2, "GET", "/action-lists/"+alid+"/tasks", nil); string(r.raw) != `["`+tid+`"]`+"\n" {
		t.Errorf("linked tasks after reload = %s, want [%s]", r.raw, tid)
	}
	if got := embMust(t, srv2, "GET", "/sprints?project_id="+pid, nil, 200); !slices.Equal(embIDs(got["sprints"]), []string{sid}) {
		t.Errorf("sprints after reload = %v, want [%s]", got, sid)
	}
}

// TestEmbeddedLoadsFileWithoutSprints loads a data file written before the
// sprints table existed: it has no "sprints" key and must still work.
func TestEmbeddedLoadsFileWithoutSprints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.json")
	old := `{"version":1,"next_seq":1,"tasks":{},"projects":{"P-00000001":{"seq":1,"record":{"id":"P-00000001","name":"Old","status":"active","sprints":[]}}},"action_lists":{},"comments":{},"blockers":{}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	_, srv := embTestServer(t, path)
	if got := embMust(t, srv, "GET", "/sprints", nil, 200); len(embIDs(got["sprints"])) != 0 {
		t.Errorf("GET /sprints on an old file = %v, want none", got)
	}
	embMust(t, srv, "POST", "/sprints", map[string]any{"name": "S", "project_id": "P-00000001"}, http.StatusCreated)
}

// FuzzEmbeddedSprintBody sends arbitrary bodies to POST /sprints (with $P
// standing for an existing project's id) and, when one creates a sprint,
// to PUT /sprints/{id}, then starts, completes and reads its progress: no
// answer is a 5xx or not JSON, and the stored sprint keeps a known status
// and its project.
func FuzzEmbeddedSprintBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"s","project_id":"$P"}`,
		`{"name":"s","project_id":"$P","start_date":"2026-01-01","end_date":"2025-12-31"}`,
		`{"name":"s","project_id":"$P","status":"active","goal":"","owner":null}`,
		`{"name":"s","project_id":"P-none"}`, `{"name":null}`, `[]`, ``, `{`, "\xff",
		`{"name":"s","project_id":"$P","end_date":"2026-02-29","id":"S-1","task_ids":[1]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := newEmbedded("", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		serve := func(method, path string, b []byte) map[string]any {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewReader(b)))
			if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s %q = %d %q, want 2xx or 4xx with JSON", method, path, b, rec.Code, rec.Body)
			}
			var m map[string]any
			json.Unmarshal(rec.Body.Bytes(), &m)
			return m
		}
		pid, _ := serve("POST", "/projects", []byte(`{"name":"p"}`))["id"].(string)
		body = bytes.ReplaceAll(body, []byte("$P"), []byte(pid))
		sid, _ := serve("POST", "/sprints", body)["id"].(string)
		if sid == "" {
			return
		}
		serve("PUT", "/sprints/"+sid, body)
		serve("POST", "/sprints/"+sid+"/start", nil)
		serve("POST", "/sprints/"+sid+"/complete", nil)
		serve("GET", "/sprints/"+sid+"/progress", nil)
		got := serve("GET", "/sprints/"+sid, nil)
		if s, _ := got["status"].(string); !slices.Contains(embSprintStatuses, s) || got["project_id"] != pid {
			t.Fatalf("sprint after %q = %v, want a known status and project %s", body, got, pid)
		}
	})
}
