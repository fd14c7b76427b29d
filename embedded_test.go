package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// embTestServer starts the embedded backend with dataFile behind a real
// HTTP server on 127.0.0.1, closed when the test ends.
func embTestServer(t testing.TB, dataFile string) (*embedded, *httptest.Server) {
	t.Helper()
	e, err := newEmbedded(dataFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newEmbedded(%q) = %v", dataFile, err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { e.close() })
	return e, srv
}

// embResp is a decoded answer.
type embResp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // nil unless the body is a JSON object
}

// embCall sends one request; body is nil (none), a string (sent as is) or
// a value sent as JSON.
func embCall(t testing.TB, srv *httptest.Server, method, path string, body any) embResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal %v: %v", b, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatalf("NewRequest(%s %s) = %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, raw := roundTrip(t, srv.Client(), req)
	r := embResp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

// embMust sends a request and fails the test unless the status is want.
func embMust(t testing.TB, srv *httptest.Server, method, path string, body any, want int) map[string]any {
	t.Helper()
	r := embCall(t, srv, method, path, body)
	if r.status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.raw, want)
	}
	return r.body
}

// embTestProject returns the id of the project named "test", creating it
// on first use: tasks must name a project that exists.
func embTestProject(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	list, _ := embMust(t, srv, "GET", "/projects?limit=100", nil, http.StatusOK)["projects"].([]any)
	for _, x := range list {
		if p, _ := x.(map[string]any); p["name"] == "test" {
			return p["id"].(string)
		}
	}
	return embMust(t, srv, "POST", "/projects", map[string]any{"name": "test"}, http.StatusCreated)["id"].(string)
}

// embCreateTask creates a task with extra fields, in the test project
// unless extra names another.
func embCreateTask(t testing.TB, srv *httptest.Server, title string, extra map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"title": title}
	if _, ok := extra["project_id"]; !ok {
		body["project_id"] = embTestProject(t, srv)
	}
	for k, v := range extra {
		body[k] = v
	}
	return embMust(t, srv, "POST", "/tasks", body, http.StatusCreated)
}

// embIDs returns the ids of the records in list.
func embIDs(list any) []string {
	var out []string
	items, _ := list.([]any)
	for _, x := range items {
		m, _ := x.(map[string]any)
		out = append(out, fmt.Sprint(m["id"]))
	}
	return out
}

// embField returns the string field k of each record in list.
func embField(list any, k string) []string {
	var out []string
	items, _ := list.([]any)
	for _, x := range items {
		m, _ := x.(map[string]any)
		out = append(out, fmt.Sprint(m[k]))
	}
	return out
}

// embCheckProblem fails unless r is a problem+json answer with status want
// whose detail contains wantDetail.
func embCheckProblem(t testing.TB, what string, r embResp, want int, wantDetail string) {
	t.Helper()
	if r.status != want {
		t.Errorf("%s = %d %s, want %d", what, r.status, r.raw, want)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s Content-Type = %q, want application/problem+json", what, ct)
	}
	if r.body["type"] != "about:blank" || r.body["title"] != http.StatusText(want) || r.body["status"] != float64(want) {
		t.Errorf("%s problem = %s, want type about:blank, title %q, status %d", what, r.raw, http.StatusText(want), want)
	}
	if d, _ := r.body["detail"].(string); !strings.Contains(d, wantDetail) {
		t.Errorf("%s detail = %q, want it to contain %q", what, d, wantDetail)
	}
}

// embIDPattern matches the ids the embedded backend generates.
var embIDPattern = regexp.MustCompile(`^(T|P|AL|C|B|item)-[0-9a-f]{8}$`)

// TestEmbeddedHealth checks GET /health.
func TestEmbeddedHealth(t *testing.T) {
	_, srv := embTestServer(t, "")
	r := embCall(t, srv, "GET", "/health", nil)
	if r.status != http.StatusOK || r.body["status"] != "ok" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /health = %d %q %s, want 200 application/json {\"status\":\"ok\"}", r.status, r.header.Get("Content-Type"), r.raw)
	}
}

// TestEmbeddedTaskLifecycle walks a task through create, read, merge, null removal and soft delete.
func TestEmbeddedTaskLifecycle(t *testing.T) {
	_, srv := embTestServer(t, "")
	task := embCreateTask(t, srv, "Write docs", map[string]any{
		"custom": map[string]any{"x": 1}, "estimated_hours": 2.5, "assignee": "ann",
	})
	id, _ := task["id"].(string)
	if !embIDPattern.MatchString(id) || !strings.HasPrefix(id, "T-") {
		t.Errorf("task id = %q, want T- and 8 hex characters", id)
	}
	for k, want := range map[string]any{"status": "new", "priority": "medium", "work_type": "task", "estimated_hours": 2.5} {
		if task[k] != want {
			t.Errorf("created task[%q] = %v, want %v", k, task[k], want)
		}
	}
	if c, _ := task["custom"].(map[string]any); c["x"] != float64(1) {
		t.Errorf("created task custom = %v, want the unknown field passed through", task["custom"])
	}
	created, err := time.Parse(time.RFC3339, fmt.Sprint(task["created_at"]))
	if err != nil || created.Location() != time.UTC || task["updated_at"] != task["created_at"] {
		t.Errorf("created_at = %v, updated_at = %v, want equal RFC 3339 UTC times", task["created_at"], task["updated_at"])
	}

	got := embMust(t, srv, "GET", "/tasks/"+id, nil, http.StatusOK)
	if got["title"] != "Write docs" || got["id"] != id {
		t.Errorf("GET /tasks/%s = %v, want the created task", id, got)
	}

	upd := embMust(t, srv, "PUT", "/tasks/"+id, map[string]any{"status": "in_progress", "id": "T-ignored"}, http.StatusOK)
	if upd["status"] != "in_progress" || upd["title"] != "Write docs" || upd["id"] != id || upd["assignee"] != "ann" {
		t.Errorf("PUT status = %v, want status merged into the task", upd)
	}
	upd = embMust(t, srv, "PUT", "/tasks/"+id, map[string]any{"assignee": nil}, http.StatusOK)
	if _, ok := upd["assignee"]; ok {
		t.Errorf("PUT assignee null = %v, want assignee removed", upd)
	}

	r := embCall(t, srv, "DELETE", "/tasks/"+id, nil)
	if r.status != http.StatusNoContent || len(r.raw) != 0 {
		t.Errorf("DELETE /tasks/%s = %d %q, want 204 and no body", id, r.status, r.raw)
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		embCheckProblem(t, m+" deleted task", embCall(t, srv, m, "/tasks/"+id, map[string]any{"status": "new"}), http.StatusNotFound, "task "+id+" does not exist")
	}
	if list := embMust(t, srv, "GET", "/tasks", nil, http.StatusOK); len(embIDs(list["tasks"])) != 0 {
		t.Errorf("GET /tasks = %v, want the deleted task hidden", list)
	}
	list := embMust(t, srv, "GET", "/tasks?include_deleted=true", nil, http.StatusOK)
	tasks, _ := list["tasks"].([]any)
	if len(tasks) != 1 || tasks[0].(map[string]any)["deleted"] != true || tasks[0].(map[string]any)["deleted_at"] == nil {
		t.Errorf("GET /tasks?include_deleted=true = %v, want the task with deleted and deleted_at", list)
	}
}

// TestEmbeddedTaskValidation checks that every task field rule and malformed body is refused with a named field.
func TestEmbeddedTaskValidation(t *testing.T) {
	_, srv := embTestServer(t, "")
	id := embCreateTask(t, srv, "base", nil)["id"].(string)
	long := func(n int) string { return strings.Repeat("é", n) }
	tags := make([]string, 26)
	for i := range tags {
		tags[i] = fmt.Sprint("t", i)
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantDetail string
	}{
		{"missing title", "POST", "/tasks", map[string]any{"project_id": "P-1"}, 422, "title: is required"},
		{"missing project", "POST", "/tasks", map[string]any{"title": "x"}, 422, "project_id: is required"},
		{"empty title", "POST", "/tasks", map[string]any{"title": "", "project_id": "P-1"}, 422, "title: must be 1 to 255 characters"},
		{"long title", "POST", "/tasks", map[string]any{"title": long(256), "project_id": "P-1"}, 422, "title: must be 1 to 255 characters"},
		{"title not string", "POST", "/tasks", map[string]any{"title": 7, "project_id": "P-1"}, 422, "title: must be a string"},
		{"long project", "POST", "/tasks", map[string]any{"title": "x", "project_id": long(51)}, 422, "project_id: must be 1 to 50 characters"},
		{"bad status", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "status": "done"}, 422, "status: must be one of planned, new"},
		{"bad work type", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "work_type": "chore"}, 422, "work_type: must be one of"},
		{"bad priority", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "priority": "urgent"}, 422, "priority: must be one of low"},
		{"long owner", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "owner": long(101)}, 422, "owner: must be at most 100 characters"},
		{"long assignee", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "assignee": long(101)}, 422, "assignee: must be at most 100"},
		{"too many tags", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "tags": tags}, 422, "tags: must have at most 25 items"},
		{"tag not string", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "tags": []any{"a", 1}}, 422, "tags: item 1: must be a string of 1 to 100 characters"},
		{"tags not array", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "tags": "a,b"}, 422, "tags: must be an array of strings"},
		{"bad due date", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "due_date": "tomorrow"}, 422, `due_date: must be an RFC 3339 date-time such as 2025-01-31T17:00:00Z, got "tomorrow"`},
		{"due date not string", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "due_date": 7}, 422, "due_date: must be an RFC 3339 date-time string"},
		{"negative hours", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "estimated_hours": -1}, 422, "estimated_hours: must be a number ≥ 0"},
		{"hours not number", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P", "estimated_hours": "2"}, 422, "estimated_hours: must be a number"},
		{"invalid JSON", "POST", "/tasks", `{"title":`, 400, "request body: invalid JSON"},
		{"array body", "POST", "/tasks", `[1]`, 400, "request body: must be a JSON object"},
		{"empty body", "POST", "/tasks", ``, 400, "request body: is empty"},
		{"trailing data", "POST", "/tasks", `{"title":"x","project_id":"P"} {}`, 400, "unexpected data after"},
		{"update null title", "PUT", "/tasks/" + id, map[string]any{"title": nil}, 422, "title: must not be null"},
		{"update null status", "PUT", "/tasks/" + id, map[string]any{"status": nil}, 422, "status: must not be null"},
		{"update bad priority", "PUT", "/tasks/" + id, map[string]any{"priority": "p0"}, 422, "priority: must be one of"},
		{"update missing task", "PUT", "/tasks/T-00000000", map[string]any{"status": "new"}, 404, "task T-00000000 does not exist"},
		{"missing project", "POST", "/tasks", map[string]any{"title": "x", "project_id": "P-00000000"}, 422, "project_id: project P-00000000 does not exist; create it with project_create or find it with project_list"},
		{"update to missing project", "PUT", "/tasks/" + id, map[string]any{"project_id": "P-00000000"}, 422, "project_id: project P-00000000 does not exist; create it with project_create or find it with project_list"},
		{"get missing task", "GET", "/tasks/T-00000000", nil, 404, "task T-00000000 does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			embCheckProblem(t, tt.method+" "+tt.path, embCall(t, srv, tt.method, tt.path, tt.body), tt.wantStatus, tt.wantDetail)
		})
	}
	if got := embMust(t, srv, "GET", "/tasks/"+id, nil, 200); got["title"] != "base" || got["status"] != "new" {
		t.Errorf("task after rejected updates = %v, want it unchanged", got)
	}
}

// TestEmbeddedFullRecords checks the 409 answer, word for word, of each
// add that would take a record past the most it can hold, and that the
// refused add changes nothing.
func TestEmbeddedFullRecords(t *testing.T) {
	e, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "Apollo"}, 201)["id"].(string)
	alid := embMust(t, srv, "POST", "/action-lists", map[string]any{"title": "Launch"}, 201)["id"].(string)
	tid := embCreateTask(t, srv, "t", nil)["id"].(string)
	fill := func(n int, v func(i int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = v(i)
		}
		return out
	}
	e.mu.Lock()
	e.store.Projects[pid].Record["sprints"] = fill(embMaxSprints, func(i int) any { return fmt.Sprint("S-", i) })
	al := e.store.ActionLists[alid].Record
	al["items"] = fill(embMaxItems, func(i int) any { return map[string]any{"id": fmt.Sprint("item-", i), "text": "x", "order": i} })
	al["task_ids"] = fill(embMaxLinkedTasks, func(i int) any { return fmt.Sprint("T-", i) })
	e.mu.Unlock()
	embCheckProblems(t, srv, []embProblemCase{
		{"link a sprint to a full project", "POST", "/projects/" + pid + "/sprints", map[string]any{"sprint_id": "S-new"}, 409,
			fmt.Sprintf("project %s already has %d sprints, the most it can hold", pid, embMaxSprints)},
		{"create a sprint in a full project", "POST", "/sprints", map[string]any{"name": "S", "project_id": pid}, 409,
			fmt.Sprintf("project %s already has %d sprints, the most it can hold", pid, embMaxSprints)},
		{"add an item to a full list", "POST", "/action-lists/" + alid + "/items", map[string]any{"text": "y"}, 409,
			fmt.Sprintf("action list %s already has %d items, the most it can hold", alid, embMaxItems)},
		{"link a task to a full list", "POST", "/action-lists/" + alid + "/tasks?task_id=" + tid, nil, 409,
			fmt.Sprintf("action list %s already has %d linked tasks, the most it can hold", alid, embMaxLinkedTasks)},
	})
	if got := embMust(t, srv, "GET", "/sprints", nil, 200)["total"]; got != float64(0) {
		t.Errorf("sprints after the refused create: total = %v, want 0", got)
	}
}

// TestEmbeddedTaskListFilters checks each GET /tasks filter against a small fixed set.
func TestEmbeddedTaskListFilters(t *testing.T) {
	_, srv := embTestServer(t, "")
	other := embMust(t, srv, "POST", "/projects", map[string]any{"name": "other"}, http.StatusCreated)["id"].(string)
	embCreateTask(t, srv, "alpha", map[string]any{"status": "completed", "priority": "high", "tags": []string{"a", "b"}, "owner": "ann", "sprint_id": "S1"})
	embCreateTask(t, srv, "beta", map[string]any{"work_type": "bug", "assignees": []string{"bob", "cy"}, "description": "Crash on LOGIN", "tags": []string{"a"}})
	embCreateTask(t, srv, "gamma", map[string]any{"assignee": "bob", "project_id": other})
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"alpha", "beta", "gamma"}},
		{"status=completed", []string{"alpha"}},
		{"work_type=bug", []string{"beta"}},
		{"priority=medium", []string{"beta", "gamma"}},
		{"owner=ann", []string{"alpha"}},
		{"assignee=bob", []string{"beta", "gamma"}},
		{"project_id=" + other, []string{"gamma"}},
		{"sprint_id=S1", []string{"alpha"}},
		{"search=login", []string{"beta"}},
		{"search=ALPH", []string{"alpha"}},
		{"tags=a", []string{"alpha", "beta"}},
		{"tags=a&tags=b", []string{"alpha"}},
		{"tags=a&status=new", []string{"beta"}},
		{"limit=2", []string{"alpha", "beta"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := embMust(t, srv, "GET", "/tasks?"+tt.query, nil, http.StatusOK)
			if titles := embField(got["tasks"], "title"); !slices.Equal(titles, tt.want) {
				t.Errorf("GET /tasks?%s titles = %v, want %v", tt.query, titles, tt.want)
			}
		})
	}
}

// TestEmbeddedPagingStableUnderInserts checks that cursor paging neither repeats nor skips records when records are inserted or deleted between pages.
func TestEmbeddedPagingStableUnderInserts(t *testing.T) {
	_, srv := embTestServer(t, "")
	var original []string
	for i := range 7 {
		original = append(original, embCreateTask(t, srv, fmt.Sprint("orig", i), nil)["id"].(string))
	}
	page := embMust(t, srv, "GET", "/tasks?limit=3", nil, http.StatusOK)
	seen := embIDs(page["tasks"])
	cursor, _ := page["next_cursor"].(string)
	if len(seen) != 3 || cursor == "" {
		t.Fatalf("first page = %v, want 3 tasks and a next_cursor", page)
	}
	// Deleting a task already seen must not shift the later pages either
	// (an offset cursor would now skip one).
	embMust(t, srv, "DELETE", "/tasks/"+original[0], nil, http.StatusNoContent)
	var added []string
	for i := range 4 {
		added = append(added, embCreateTask(t, srv, fmt.Sprint("new", i), nil)["id"].(string))
	}
	for pages := 0; cursor != "" && pages < 10; pages++ {
		page = embMust(t, srv, "GET", "/tasks?limit=3&cursor="+url.QueryEscape(cursor), nil, http.StatusOK)
		seen = append(seen, embIDs(page["tasks"])...)
		cursor, _ = page["next_cursor"].(string)
	}
	if cursor != "" {
		t.Fatalf("paging did not end within 10 pages")
	}
	if want := append(slices.Clone(original), added...); !slices.Equal(seen, want) {
		t.Errorf("paged ids = %v, want the originals then the inserts, each once: %v", seen, want)
	}
	if page["next_cursor"] != nil {
		t.Errorf("last page = %v, want no next_cursor", page)
	}
}

// TestEmbeddedQueryErrors checks that malformed query parameters are 400s naming the parameter.
func TestEmbeddedQueryErrors(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "p"}, 201)["id"].(string)
	for range 2 {
		embMust(t, srv, "POST", "/projects", map[string]any{"name": "q"}, 201)
	}
	projCursor := embMust(t, srv, "GET", "/projects?limit=1", nil, 200)["next_cursor"].(string)
	tests := []struct {
		path       string
		wantDetail string
	}{
		{"/tasks?limit=0", "limit: must be an integer from 1 to 100"},
		{"/tasks?limit=101", "limit: must be an integer from 1 to 100"},
		{"/tasks?limit=ten", "limit: must be an integer"},
		{"/tasks?cursor=%21%21", "cursor:"},
		{"/tasks?cursor=" + projCursor, "cursor:"},
		{"/tasks?status=done", "status: must be one of"},
		{"/tasks?work_type=x", "work_type: must be one of"},
		{"/tasks?include_deleted=maybe", "include_deleted: must be true or false"},
		{"/tasks/tasks-search", "q: is required"},
		{"/tasks/tasks-search?q=x&fields=owner", "fields: must be among"},
		{"/tasks/tasks-search?q=x&skip=-1", "skip: must be an integer"},
		{"/tasks/tasks-search?q=x&limit=501", "limit: must be an integer from 1 to 500"},
		{"/projects?status=closed", "status: must be one of active, inactive"},
		{"/projects?limit=200", "limit:"},
		{"/projects/" + pid + "/comments?limit=0", "limit:"},
		{"/projects/" + pid + "/comments?cursor=xyz", "cursor:"},
		{"/action-lists?priority=urgent", "priority: must be one of"},
		{"/action-lists?status=done", "status: must be one of"},
		{"/action-lists/search", "q: is required"},
		{"/action-lists/search?q=x&limit=101", "limit: must be an integer from 1 to 100"},
		{"/action-lists/search?q=x&fields=tags", "fields: must be among title, description, notes"},
		{"/action-lists/search?q=x&status=x", "status: must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			embCheckProblem(t, "GET "+tt.path, embCall(t, srv, "GET", tt.path, nil), http.StatusBadRequest, tt.wantDetail)
		})
	}
}

// TestEmbeddedTaskBulk checks both task bulk calls, and that a failing one changes nothing.
func TestEmbeddedTaskBulk(t *testing.T) {
	_, srv := embTestServer(t, "")
	a := embCreateTask(t, srv, "a", nil)["id"].(string)
	b := embCreateTask(t, srv, "b", nil)["id"].(string)
	deleted := embCreateTask(t, srv, "gone", nil)["id"].(string)
	embMust(t, srv, "DELETE", "/tasks/"+deleted, nil, http.StatusNoContent)

	got := embMust(t, srv, "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a, b}, "updates": map[string]any{"priority": "high"}}, http.StatusOK)
	if got["success"] != true || got["updated_count"] != float64(2) || !slices.Equal(embStringsOf(got["task_ids"]), []string{a, b}) {
		t.Errorf("bulk update = %v, want success, 2 and both ids", got)
	}
	got = embMust(t, srv, "POST", "/tasks/bulk/assign-sprint", map[string]any{"task_ids": []string{a, b}, "sprint_id": "S9"}, http.StatusOK)
	if got["success"] != true || got["assigned_count"] != float64(2) || got["sprint_id"] != "S9" {
		t.Errorf("bulk assign = %v, want success, 2, S9", got)
	}

	embCheckProblems(t, srv, []embProblemCase{
		{"update missing id", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a, "T-ffffffff"}, "updates": map[string]any{"priority": "low"}}, 404, "task T-ffffffff does not exist"},
		{"update deleted id", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a, deleted}, "updates": map[string]any{"priority": "low"}}, 404, "task " + deleted},
		{"update missing project", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a}, "updates": map[string]any{"project_id": "P-00000000"}}, 422, "updates.project_id: project P-00000000 does not exist; create it with project_create or find it with project_list"},
		{"update bad field", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a}, "updates": map[string]any{"priority": "p0"}}, 422, "updates.priority: must be one of"},
		{"update empty", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a}, "updates": map[string]any{}}, 422, "updates: must contain at least one field"},
		{"update no ids", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{}, "updates": map[string]any{"priority": "low"}}, 422, "task_ids: must be an array of 1 to"},
		{"update duplicate ids", "POST", "/tasks/bulk/update", map[string]any{"task_ids": []string{a, a}, "updates": map[string]any{"priority": "low"}}, 422, "appears more than once"},
		{"assign missing id", "POST", "/tasks/bulk/assign-sprint", map[string]any{"task_ids": []string{b, "T-ffffffff"}, "sprint_id": "S0"}, 404, "task T-ffffffff does not exist"},
		{"assign no sprint", "POST", "/tasks/bulk/assign-sprint", map[string]any{"task_ids": []string{b}}, 422, "sprint_id: must be a string"},
	})
	for _, id := range []string{a, b} {
		if got := embMust(t, srv, "GET", "/tasks/"+id, nil, 200); got["priority"] != "high" || got["sprint_id"] != "S9" {
			t.Errorf("task %s after failed bulk calls = %v, want priority high and sprint S9 (all or nothing)", id, got)
		}
	}
}

// embProblemCase is a request the embedded backend must refuse, and how.
type embProblemCase struct {
	name, method, path string
	body               any
	wantStatus         int
	wantDetail         string
}

// embCheckProblems sends each case's request in a subtest and checks the
// problem answer.
func embCheckProblems(t *testing.T, srv *httptest.Server, cases []embProblemCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			embCheckProblem(t, tt.method+" "+tt.path, embCall(t, srv, tt.method, tt.path, tt.body), tt.wantStatus, tt.wantDetail)
		})
	}
}

// embStringsOf converts a decoded JSON array to strings.
func embStringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// TestEmbeddedTaskSearch checks GET /tasks/tasks-search fields, filters and skip/limit.
func TestEmbeddedTaskSearch(t *testing.T) {
	_, srv := embTestServer(t, "")
	docs := embMust(t, srv, "POST", "/projects", map[string]any{"name": "Docs"}, http.StatusCreated)["id"].(string)
	embCreateTask(t, srv, "Fix LOGIN page", nil)
	embCreateTask(t, srv, "Docs", map[string]any{"description": "explain login flow", "project_id": docs})
	embCreateTask(t, srv, "Notes task", map[string]any{"notes": "see login ticket", "sprint_id": "S1"})
	embCreateTask(t, srv, "Tagged", map[string]any{"tags": []string{"login-service"}})
	embCreateTask(t, srv, "Summary", map[string]any{"summary": "login summary"})
	gone := embCreateTask(t, srv, "login deleted", nil)["id"].(string)
	embMust(t, srv, "DELETE", "/tasks/"+gone, nil, http.StatusNoContent)
	tests := []struct {
		query string
		want  []string
	}{
		{"q=login", []string{"Fix LOGIN page", "Docs", "Notes task", "Tagged"}},
		{"q=login&fields=title", []string{"Fix LOGIN page"}},
		{"q=login&fields=summary,tags", []string{"Tagged", "Summary"}},
		{"q=login&fields=summary&fields=notes", []string{"Notes task", "Summary"}},
		{"q=login&project_id=" + docs, []string{"Docs"}},
		{"q=login&sprint_id=S1", []string{"Notes task"}},
		{"q=login&skip=1&limit=2", []string{"Docs", "Notes task"}},
		{"q=login&skip=10", nil},
		{"q=nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := embMust(t, srv, "GET", "/tasks/tasks-search?"+tt.query, nil, http.StatusOK)
			titles := embField(got["data"], "title")
			if !slices.Equal(titles, tt.want) || got["success"] != true || got["count"] != float64(len(tt.want)) || got["query"] == nil {
				t.Errorf("tasks-search?%s = %s, want success, query, count %d, titles %v", tt.query, got, len(tt.want), tt.want)
			}
		})
	}
}

// TestEmbeddedProjects covers project CRUD, sprints, meta tasks, comments with paging, blockers and their errors.
func TestEmbeddedProjects(t *testing.T) {
	_, srv := embTestServer(t, "")
	p := embMust(t, srv, "POST", "/projects", map[string]any{"name": "Apollo", "description": "moon"}, http.StatusCreated)
	pid, _ := p["id"].(string)
	if !strings.HasPrefix(pid, "P-") || !embIDPattern.MatchString(pid) || p["status"] != "active" || len(p["sprints"].([]any)) != 0 {
		t.Errorf("created project = %v, want P- id, status active, empty sprints", p)
	}
	embMust(t, srv, "POST", "/projects", map[string]any{"name": "Gemini", "status": "inactive"}, http.StatusCreated)

	if got := embMust(t, srv, "GET", "/projects/"+pid, nil, 200); got["name"] != "Apollo" {
		t.Errorf("GET project = %v, want Apollo", got)
	}
	if got := embMust(t, srv, "PUT", "/projects/"+pid, map[string]any{"description": "to the moon", "sprints": []string{"ignored"}}, 200); got["description"] != "to the moon" || got["name"] != "Apollo" || len(got["sprints"].([]any)) != 0 {
		t.Errorf("PUT project = %v, want description merged and sprints untouched", got)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{{"", []string{"Apollo", "Gemini"}}, {"status=inactive", []string{"Gemini"}}, {"search=MOON", []string{"Apollo"}}, {"limit=1", []string{"Apollo"}}} {
		if got := embMust(t, srv, "GET", "/projects?"+tt.query, nil, 200); !slices.Equal(embField(got["projects"], "name"), tt.want) {
			t.Errorf("GET /projects?%s = %v, want names %v", tt.query, got, tt.want)
		}
	}

	// Sprints: add, add again (no duplicate), remove, remove unknown.
	embMust(t, srv, "POST", "/projects/"+pid+"/sprints", map[string]any{"sprint_id": "S1"}, 200)
	got := embMust(t, srv, "POST", "/projects/"+pid+"/sprints", map[string]any{"sprint_id": "S1"}, 200)
	if s := embStringsOf(got["sprints"]); !slices.Equal(s, []string{"S1"}) {
		t.Errorf("sprints after adding S1 twice = %v, want [S1]", s)
	}
	got = embMust(t, srv, "POST", "/projects/"+pid+"/sprints", map[string]any{"sprint_id": "S2"}, 200)
	if s := embStringsOf(got["sprints"]); !slices.Equal(s, []string{"S1", "S2"}) {
		t.Errorf("sprints after adding S1 twice and S2 = %v, want [S1 S2]", s)
	}
	got = embMust(t, srv, "DELETE", "/projects/"+pid+"/sprints/S1", nil, 200)
	if s := embStringsOf(got["sprints"]); !slices.Equal(s, []string{"S2"}) {
		t.Errorf("sprints after removing S1 = %v, want [S2]", s)
	}

	meta := embMust(t, srv, "POST", "/projects/"+pid+"/meta-tasks", map[string]any{"title": "Plan", "owner": "ann"}, 201)
	if !strings.HasPrefix(fmt.Sprint(meta["id"]), "T-") || meta["project_id"] != pid || meta["meta_task"] != true {
		t.Errorf("meta task = %v, want a T- task of %s marked meta_task", meta, pid)
	}
	embMust(t, srv, "GET", "/tasks/"+meta["id"].(string), nil, 200)

	var comments []string
	for i := range 3 {
		c := embMust(t, srv, "POST", "/projects/"+pid+"/comments", map[string]any{"message": fmt.Sprint("note ", i), "author": "ann", "tags": []string{"x"}}, 201)
		if !strings.HasPrefix(fmt.Sprint(c["id"]), "C-") || c["project_id"] != pid || c["created_at"] == nil {
			t.Errorf("comment = %v, want a C- record of %s", c, pid)
		}
		comments = append(comments, c["id"].(string))
	}
	page := embMust(t, srv, "GET", "/projects/"+pid+"/comments?limit=2", nil, 200)
	seen := embIDs(page["comments"])
	page = embMust(t, srv, "GET", "/projects/"+pid+"/comments?limit=2&cursor="+url.QueryEscape(page["next_cursor"].(string)), nil, 200)
	seen = append(seen, embIDs(page["comments"])...)
	if !slices.Equal(seen, comments) || page["next_cursor"] != nil {
		t.Errorf("comment pages = %v (last %v), want %v and no further cursor", seen, page, comments)
	}

	bl := embMust(t, srv, "POST", "/projects/"+pid+"/blockers", map[string]any{"title": "Waiting on API", "linked_task_id": meta["id"]}, 201)
	if !strings.HasPrefix(fmt.Sprint(bl["id"]), "B-") || bl["severity"] != "medium" || bl["project_id"] != pid {
		t.Errorf("blocker = %v, want a B- record with severity medium", bl)
	}

	embCheckProblems(t, srv, []embProblemCase{
		{"create no name", "POST", "/projects", map[string]any{"description": "x"}, 422, "name: is required"},
		{"create bad status", "POST", "/projects", map[string]any{"name": "x", "status": "closed"}, 422, "status: must be one of active, inactive"},
		{"create unknown field", "POST", "/projects", map[string]any{"name": "x", "colour": "red"}, 422, "colour: unknown field"},
		{"get missing", "GET", "/projects/P-00000000", nil, 404, "project P-00000000 does not exist"},
		{"update missing", "PUT", "/projects/P-00000000", map[string]any{"name": "x"}, 404, "project P-00000000 does not exist"},
		{"update long name", "PUT", "/projects/" + pid, map[string]any{"name": strings.Repeat("n", 256)}, 422, "name: must be 1 to 255 characters"},
		{"sprint missing field", "POST", "/projects/" + pid + "/sprints", map[string]any{}, 422, "sprint_id: is required"},
		{"sprint missing project", "POST", "/projects/P-00000000/sprints", map[string]any{"sprint_id": "S"}, 404, "project P-00000000"},
		{"remove unlinked sprint", "DELETE", "/projects/" + pid + "/sprints/S7", nil, 404, "sprint S7 is not linked to project " + pid},
		{"meta no title", "POST", "/projects/" + pid + "/meta-tasks", map[string]any{"owner": "x"}, 422, "title: is required"},
		{"meta other project", "POST", "/projects/" + pid + "/meta-tasks", map[string]any{"title": "x", "project_id": "P-other"}, 422, "project_id: must be the project in the path"},
		{"comment no message", "POST", "/projects/" + pid + "/comments", map[string]any{"author": "x"}, 422, "message: is required"},
		{"comment long author", "POST", "/projects/" + pid + "/comments", map[string]any{"message": "m", "author": strings.Repeat("a", 101)}, 422, "author: must be at most 100"},
		{"comment many tags", "POST", "/projects/" + pid + "/comments", map[string]any{"message": "m", "tags": strings.Split("a,b,c,d,e,f,g,h,i,j,k", ",")}, 422, "tags: must have at most 10 items"},
		{"comments missing project", "GET", "/projects/P-00000000/comments", nil, 404, "project P-00000000"},
		{"blocker bad severity", "POST", "/projects/" + pid + "/blockers", map[string]any{"title": "t", "severity": "urgent"}, 422, "severity: must be one of low, medium, high, critical"},
		{"blocker no title", "POST", "/projects/" + pid + "/blockers", map[string]any{"severity": "low"}, 422, "title: is required"},
		{"analytics missing", "GET", "/projects/P-00000000/analytics", nil, 404, "project P-00000000"},
		{"delete missing", "DELETE", "/projects/P-00000000", nil, 404, "project P-00000000"},
	})

	embMust(t, srv, "DELETE", "/projects/"+pid, nil, http.StatusNoContent)
	embCheckProblem(t, "GET deleted project", embCall(t, srv, "GET", "/projects/"+pid, nil), 404, "project "+pid+" does not exist")
	embCheckProblem(t, "GET deleted project comments", embCall(t, srv, "GET", "/projects/"+pid+"/comments", nil), 404, "project "+pid)
}

// TestEmbeddedProjectAnalytics checks the analytics numbers against real tasks, ignoring deleted and foreign ones.
func TestEmbeddedProjectAnalytics(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "Stats"}, 201)["id"].(string)
	embMust(t, srv, "POST", "/projects/"+pid+"/sprints", map[string]any{"sprint_id": "S1"}, 200)
	embMust(t, srv, "POST", "/projects/"+pid+"/sprints", map[string]any{"sprint_id": "S2"}, 200)
	in := func(extra map[string]any) map[string]any { extra["project_id"] = pid; return extra }
	embCreateTask(t, srv, "done in S1", in(map[string]any{"status": "completed", "sprint_id": "S1", "priority": "high"}))
	embCreateTask(t, srv, "done", in(map[string]any{"status": "completed"}))
	embCreateTask(t, srv, "doing in S1", in(map[string]any{"status": "in_progress", "sprint_id": "S1"}))
	embCreateTask(t, srv, "todo", in(map[string]any{"priority": "critical"}))
	gone := embCreateTask(t, srv, "deleted", in(map[string]any{"status": "completed"}))["id"].(string)
	embMust(t, srv, "DELETE", "/tasks/"+gone, nil, http.StatusNoContent)
	embCreateTask(t, srv, "other project", map[string]any{"status": "completed"})

	got := embMust(t, srv, "GET", "/projects/"+pid+"/analytics", nil, http.StatusOK)
	stats, _ := got["task_statistics"].(map[string]any)
	byStatus, _ := stats["by_status"].(map[string]any)
	byPriority, _ := stats["by_priority"].(map[string]any)
	sprintStats, _ := got["sprint_statistics"].(map[string]any)
	sprints, _ := sprintStats["sprints"].([]any)
	checks := []struct {
		name      string
		got, want any
	}{
		{"project.id", got["project"].(map[string]any)["id"], pid},
		{"total", stats["total"], 4.0},
		{"completed", stats["completed"], 2.0},
		{"in_progress", stats["in_progress"], 1.0},
		{"completion_percentage", stats["completion_percentage"], 50.0},
		{"by_status.completed", byStatus["completed"], 2.0},
		{"by_status.new", byStatus["new"], 1.0},
		{"by_status.blocked", byStatus["blocked"], 0.0},
		{"by_priority.medium", byPriority["medium"], 2.0},
		{"by_priority.high", byPriority["high"], 1.0},
		{"by_priority.critical", byPriority["critical"], 1.0},
		{"total_sprints", sprintStats["total_sprints"], 2.0},
		{"len(sprints)", len(sprints), 2},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("analytics %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(sprints) == 2 {
		s1, s2 := sprints[0].(map[string]any), sprints[1].(map[string]any)
		if s1["sprint_id"] != "S1" || s1["total_tasks"] != 2.0 || s1["completed_tasks"] != 1.0 || s1["completion_percentage"] != 50.0 {
			t.Errorf("analytics sprint S1 = %v, want 2 tasks, 1 completed, 50%%", s1)
		}
		if s2["sprint_id"] != "S2" || s2["total_tasks"] != 0.0 || s2["completion_percentage"] != 0.0 {
			t.Errorf("analytics sprint S2 = %v, want 0 tasks, 0%%", s2)
		}
	}
}

// embItemTexts returns the item texts and completed flags of an action list.
func embItemTexts(al map[string]any) []string {
	var out []string
	items, _ := al["items"].([]any)
	for _, x := range items {
		m := x.(map[string]any)
		s := fmt.Sprint(m["text"])
		if m["completed"] == true {
			s += "✓"
		}
		out = append(out, s)
	}
	return out
}

// embItemID returns the id of the item with text in al.
func embItemID(t *testing.T, al map[string]any, text string) string {
	t.Helper()
	items, _ := al["items"].([]any)
	for _, x := range items {
		if m := x.(map[string]any); m["text"] == text {
			return m["id"].(string)
		}
	}
	t.Fatalf("action list %v has no item %q", al, text)
	return ""
}

// TestEmbeddedActionListItems covers item add, toggle, reorder and remove, with the computed counts.
func TestEmbeddedActionListItems(t *testing.T) {
	_, srv := embTestServer(t, "")
	al := embMust(t, srv, "POST", "/action-lists", map[string]any{
		"title": "Launch", "metadata": map[string]any{"k": "v"},
		"items": []any{map[string]any{"text": "a"}, map[string]any{"text": "b", "completed": true}, map[string]any{"text": "c", "order": 0}},
	}, http.StatusCreated)
	id, _ := al["id"].(string)
	if !strings.HasPrefix(id, "AL-") || al["status"] != "new" || al["priority"] != "medium" {
		t.Errorf("created action list = %v, want AL- id, status new, priority medium", al)
	}
	state := func(what string, al map[string]any, wantTexts []string, wantDone int, wantPct float64) {
		t.Helper()
		if got := embItemTexts(al); !slices.Equal(got, wantTexts) {
			t.Errorf("%s items = %v, want %v", what, got, wantTexts)
		}
		if al["total_items"] != float64(len(wantTexts)) || al["completed_items"] != float64(wantDone) || al["progress_percentage"] != wantPct {
			t.Errorf("%s counts = %v/%v/%v, want %d/%d/%v", what, al["total_items"], al["completed_items"], al["progress_percentage"], len(wantTexts), wantDone, wantPct)
		}
		for _, x := range al["items"].([]any) {
			m := x.(map[string]any)
			if !embIDPattern.MatchString(fmt.Sprint(m["id"])) || m["order"] == nil {
				t.Errorf("%s item = %v, want an item- id and an order", what, m)
			}
		}
	}
	state("created", al, []string{"a", "c", "b✓"}, 1, 33.3)

	al = embMust(t, srv, "POST", "/action-lists/"+id+"/items", map[string]any{"text": "d"}, http.StatusOK)
	state("after add", al, []string{"a", "c", "b✓", "d"}, 1, 25)
	al = embMust(t, srv, "PATCH", "/action-lists/"+id+"/items/"+embItemID(t, al, "a"), nil, http.StatusOK)
	state("after toggle a", al, []string{"a✓", "c", "b✓", "d"}, 2, 50)
	al = embMust(t, srv, "PATCH", "/action-lists/"+id+"/items/"+embItemID(t, al, "a"), nil, http.StatusOK)
	state("after toggle a back", al, []string{"a", "c", "b✓", "d"}, 1, 25)

	order := []string{embItemID(t, al, "d"), embItemID(t, al, "b"), embItemID(t, al, "a"), embItemID(t, al, "c")}
	al = embMust(t, srv, "POST", "/action-lists/"+id+"/items/reorder", map[string]any{"item_ids": order}, http.StatusOK)
	state("after reorder", al, []string{"d", "b✓", "a", "c"}, 1, 25)

	removed := embItemID(t, al, "b")
	al = embMust(t, srv, "DELETE", "/action-lists/"+id+"/items/"+removed, nil, http.StatusOK)
	state("after remove b", al, []string{"d", "a", "c"}, 0, 0)
	if got := embMust(t, srv, "GET", "/action-lists/"+id, nil, http.StatusOK); !slices.Equal(embItemTexts(got), []string{"d", "a", "c"}) {
		t.Errorf("GET action list items = %v, want [d a c]", embItemTexts(got))
	}

	base := "/action-lists/" + id + "/items"
	embCheckProblems(t, srv, []embProblemCase{
		{"reorder missing one", "POST", base + "/reorder", map[string]any{"item_ids": order[:2]}, 400, "item_ids: must list each of the 3 item ids"},
		{"reorder duplicate", "POST", base + "/reorder", map[string]any{"item_ids": []string{order[0], order[0], order[2]}}, 400, "exactly once"},
		{"reorder unknown", "POST", base + "/reorder", map[string]any{"item_ids": []string{order[0], removed, order[2]}}, 400, "exactly once"},
		{"reorder not array", "POST", base + "/reorder", map[string]any{"item_ids": "x"}, 400, "item_ids:"},
		{"remove removed", "DELETE", base + "/" + removed, nil, 404, "item " + removed + " does not exist in action list " + id},
		{"toggle unknown", "PATCH", base + "/item-00000000", nil, 404, "item item-00000000 does not exist"},
		{"add no text", "POST", base, map[string]any{"order": 1}, 422, "text: is required"},
		{"add bad order", "POST", base, map[string]any{"text": "x", "order": -1}, 422, "order: must be an integer ≥ 0"},
		{"add fractional order", "POST", base, map[string]any{"text": "x", "order": 1.5}, 422, "order: must be an integer ≥ 0"},
		{"add unknown field", "POST", base, map[string]any{"text": "x", "due": "now"}, 422, "due: unknown field"},
		{"add to missing list", "POST", "/action-lists/AL-00000000/items", map[string]any{"text": "x"}, 404, "action list AL-00000000 does not exist"},
	})
}

// TestEmbeddedActionLists covers action list CRUD, filters, search and the all-or-nothing bulk calls.
func TestEmbeddedActionLists(t *testing.T) {
	_, srv := embTestServer(t, "")
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, http.StatusCreated)["id"].(string)
	mk := func(body map[string]any) string {
		t.Helper()
		return embMust(t, srv, "POST", "/action-lists", body, http.StatusCreated)["id"].(string)
	}
	a := mk(map[string]any{"title": "Alpha", "status": "active", "priority": "high", "owner": "ann", "project_id": pid, "tags": []string{"x", "y"}, "notes": "ship it"})
	b := mk(map[string]any{"title": "Beta", "sprint_id": "S1", "tags": []string{"x"}, "description": "ship docs"})
	c := mk(map[string]any{"title": "Gamma", "project_id": pid, "sprint_id": "S1"})
	if got := embMust(t, srv, "GET", "/action-lists/"+b, nil, 200); got["items"] == nil || got["total_items"] != 0.0 || got["progress_percentage"] != 0.0 {
		t.Errorf("action list without items = %v, want items [], total 0, progress 0", got)
	}

	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"Alpha", "Beta", "Gamma"}},
		{"status=active", []string{"Alpha"}},
		{"priority=medium", []string{"Beta", "Gamma"}},
		{"owner=ann", []string{"Alpha"}},
		{"project_id=" + pid, []string{"Alpha", "Gamma"}},
		{"sprint_id=S1", []string{"Beta", "Gamma"}},
		{"tags=x", []string{"Alpha", "Beta"}},
		{"tags=x&tags=y", []string{"Alpha"}},
		{"limit=1", []string{"Alpha"}},
	} {
		got := embMust(t, srv, "GET", "/action-lists?"+tt.query, nil, 200)
		if titles := embField(got["action_lists"], "title"); !slices.Equal(titles, tt.want) {
			t.Errorf("GET /action-lists?%s titles = %v, want %v", tt.query, titles, tt.want)
		}
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"q=SHIP", []string{"Alpha", "Beta"}},
		{"q=ship&fields=notes", []string{"Alpha"}},
		{"q=ship&fields=title", nil},
		{"q=a&project_id=" + pid, []string{"Alpha", "Gamma"}},
		{"q=a&sprint_id=S1&priority=medium", []string{"Beta", "Gamma"}},
		{"q=a&status=active", []string{"Alpha"}},
		{"q=a&skip=1&limit=1", []string{"Beta"}},
	} {
		got := embMust(t, srv, "GET", "/action-lists/search?"+tt.query, nil, 200)
		if titles := embField(got["data"], "title"); !slices.Equal(titles, tt.want) || got["count"] != float64(len(tt.want)) || got["success"] != true {
			t.Errorf("GET /action-lists/search?%s = %s, want titles %v", tt.query, got, tt.want)
		}
	}

	got := embMust(t, srv, "PUT", "/action-lists/"+a, map[string]any{"title": "Alpha 2", "metadata": map[string]any{"n": 1}, "total_items": 99}, 200)
	if got["title"] != "Alpha 2" || got["owner"] != "ann" || got["total_items"] != 0.0 {
		t.Errorf("PUT action list = %v, want title merged, owner kept, computed fields ignored", got)
	}
	got = embMust(t, srv, "POST", "/action-lists/bulk/update", map[string]any{"action_list_ids": []string{a, b}, "updates": map[string]any{"status": "completed"}}, 200)
	if got["success"] != true || got["updated_count"] != 2.0 || !slices.Equal(embStringsOf(got["action_list_ids"]), []string{a, b}) {
		t.Errorf("bulk update = %v, want success, 2, [a b]", got)
	}

	embCheckProblems(t, srv, []embProblemCase{
		{"create no title", "POST", "/action-lists", map[string]any{"notes": "x"}, 422, "title: is required"},
		{"create bad status", "POST", "/action-lists", map[string]any{"title": "x", "status": "done"}, 422, "status: must be one of planned, new"},
		{"create bad item", "POST", "/action-lists", map[string]any{"title": "x", "items": []any{map[string]any{"completed": true}}}, 422, "items: item 0: text: is required"},
		{"create item not object", "POST", "/action-lists", map[string]any{"title": "x", "items": []any{map[string]any{"text": "a"}, "b"}}, 422, "items: item 1: must be an object"},
		{"create items not array", "POST", "/action-lists", map[string]any{"title": "x", "items": "a"}, 422, "items: must be an array of objects"},
		{"create too many items", "POST", "/action-lists", map[string]any{"title": "x", "items": make([]map[string]any, embMaxItems+1)}, 422, fmt.Sprintf("items: must have at most %d items", embMaxItems)},
		{"create bad metadata", "POST", "/action-lists", map[string]any{"title": "x", "metadata": "m"}, 422, "metadata: must be an object"},
		{"create unknown", "POST", "/action-lists", map[string]any{"title": "x", "colour": "red"}, 422, "colour: unknown field"},
		{"update items", "PUT", "/action-lists/" + a, map[string]any{"items": []any{}}, 422, "items: change items through"},
		{"update missing", "PUT", "/action-lists/AL-00000000", map[string]any{"title": "x"}, 404, "action list AL-00000000 does not exist"},
		{"create missing project", "POST", "/action-lists", map[string]any{"title": "x", "project_id": "P-00000000"}, 422, "project_id: project P-00000000 does not exist; create it with project_create or find it with project_list"},
		{"update to missing project", "PUT", "/action-lists/" + a, map[string]any{"project_id": "P-00000000"}, 422, "project_id: project P-00000000 does not exist; create it with project_create or find it with project_list"},
		{"bulk update missing project", "POST", "/action-lists/bulk/update", map[string]any{"action_list_ids": []string{a}, "updates": map[string]any{"project_id": "P-00000000"}}, 422, "updates.project_id: project P-00000000 does not exist; create it with project_create or find it with project_list"},
		{"bulk update missing", "POST", "/action-lists/bulk/update", map[string]any{"action_list_ids": []string{a, "AL-00000000"}, "updates": map[string]any{"status": "archived"}}, 404, "action list AL-00000000 does not exist"},
		{"bulk update bad", "POST", "/action-lists/bulk/update", map[string]any{"action_list_ids": []string{a}, "updates": map[string]any{"priority": "p1"}}, 422, "updates.priority: must be one of"},
		{"bulk update empty", "POST", "/action-lists/bulk/update", map[string]any{"action_list_ids": []string{a}, "updates": map[string]any{}}, 422, "updates: must contain at least one field"},
		{"bulk delete missing", "POST", "/action-lists/bulk/delete", []string{a, "AL-00000000"}, 404, "action list AL-00000000 does not exist"},
		{"bulk delete object", "POST", "/action-lists/bulk/delete", map[string]any{"ids": []string{a}}, 400, "must be a JSON array of action list ids"},
		{"bulk delete empty", "POST", "/action-lists/bulk/delete", []string{}, 422, "must be an array of 1 to"},
	})
	for _, id := range []string{a, b} {
		if got := embMust(t, srv, "GET", "/action-lists/"+id, nil, 200); got["status"] != "completed" {
			t.Errorf("action list %s after failed bulk calls = %v, want status completed (all or nothing)", id, got)
		}
	}

	got = embMust(t, srv, "POST", "/action-lists/bulk/delete", []string{a, b}, 200)
	if got["success"] != true || got["deleted_count"] != 2.0 {
		t.Errorf("bulk delete = %v, want success and 2", got)
	}
	embMust(t, srv, "DELETE", "/action-lists/"+c, nil, http.StatusNoContent)
	for _, id := range []string{a, b, c} {
		embCheckProblem(t, "GET deleted action list", embCall(t, srv, "GET", "/action-lists/"+id, nil), 404, "action list "+id+" does not exist")
	}
	embCheckProblem(t, "DELETE deleted action list", embCall(t, srv, "DELETE", "/action-lists/"+c, nil), 404, "action list "+c)
}

// TestEmbeddedRouting checks problem+json 404 and 405 answers, route precedence and the body limit.
func TestEmbeddedRouting(t *testing.T) {
	_, srv := embTestServer(t, "")
	embCheckProblem(t, "GET /nope", embCall(t, srv, "GET", "/nope", nil), 404, "no endpoint GET /nope")
	embCheckProblem(t, "GET /api/v1/tasks", embCall(t, srv, "GET", "/api/v1/tasks", nil), 404, "no endpoint")
	r := embCall(t, srv, "PATCH", "/tasks", nil)
	embCheckProblem(t, "PATCH /tasks", r, 405, "method PATCH is not allowed on /tasks")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("PATCH /tasks Allow = %q, want GET and POST", allow)
	}
	embCheckProblem(t, "DELETE /health", embCall(t, srv, "DELETE", "/health", nil), 405, "not allowed")
	if got := embMust(t, srv, "GET", "/tasks/tasks-search?q=x", nil, 200); got["success"] != true {
		t.Errorf("GET /tasks/tasks-search = %v, want the search endpoint, not a task lookup", got)
	}
	if got := embMust(t, srv, "GET", "/action-lists/search?q=x", nil, 200); got["success"] != true {
		t.Errorf("GET /action-lists/search = %v, want the search endpoint, not a lookup", got)
	}
	big := `{"title":"x","project_id":"P","description":"` + strings.Repeat("a", embMaxBodyBytes) + `"}`
	embCheckProblem(t, "POST /tasks 4 MiB", embCall(t, srv, "POST", "/tasks", big), 413, "at most 4194304 bytes")
	if got := embMust(t, srv, "GET", "/tasks", nil, 200); len(embIDs(got["tasks"])) != 0 {
		t.Errorf("GET /tasks after the oversized POST = %v, want no task", got)
	}
}

// TestEmbeddedNilBody checks that a request without a Body (as a client
// request handed over in-process by a RoundTripper may be) is served.
func TestEmbeddedNilBody(t *testing.T) {
	e, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{{"GET", "/health", http.StatusOK}, {"POST", "/tasks", http.StatusBadRequest}} {
		req, err := http.NewRequest(tt.method, "http://embedded"+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Body = nil
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s %s with a nil Body = %d %s, want %d", tt.method, tt.path, rec.Code, rec.Body, tt.want)
		}
	}
}

// TestEmbeddedRecordCap checks that a full kind answers 507.
func TestEmbeddedRecordCap(t *testing.T) {
	e, srv := embTestServer(t, "")
	e.maxRecords = 2
	embCreateTask(t, srv, "one", nil)
	embCreateTask(t, srv, "two", nil)
	embCheckProblem(t, "POST /tasks beyond the cap", embCall(t, srv, "POST", "/tasks", map[string]any{"title": "three", "project_id": embTestProject(t, srv)}), http.StatusInsufficientStorage, "at most 2 tasks")
	embMust(t, srv, "POST", "/projects", map[string]any{"name": "other kinds are counted apart"}, http.StatusCreated)
}

// TestEmbeddedDescribe checks the startup description in both modes.
func TestEmbeddedDescribe(t *testing.T) {
	mem, _ := embTestServer(t, "")
	if got := mem.describe(); !strings.Contains(got, "in memory only") {
		t.Errorf("describe() without a file = %q, want it to say in memory only", got)
	}
	path := filepath.Join(t.TempDir(), "data.json")
	disk, _ := embTestServer(t, path)
	if got := disk.describe(); !strings.Contains(got, path) {
		t.Errorf("describe() = %q, want it to name %s", got, path)
	}
}

// TestEmbeddedPersistence checks that a new backend on the same data file sees everything written.
func TestEmbeddedPersistence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.json")
	first, srv := embTestServer(t, path)
	task := embCreateTask(t, srv, "persist me", map[string]any{"custom": json.RawMessage(`{"big":12345678901234567890}`)})
	pid := embMust(t, srv, "POST", "/projects", map[string]any{"name": "P"}, 201)["id"].(string)
	embMust(t, srv, "POST", "/projects/"+pid+"/sprints", map[string]any{"sprint_id": "S1"}, 200)
	comment := embMust(t, srv, "POST", "/projects/"+pid+"/comments", map[string]any{"message": "hi"}, 201)
	al := embMust(t, srv, "POST", "/action-lists", map[string]any{"title": "L", "items": []any{map[string]any{"text": "i1"}, map[string]any{"text": "i2"}}}, 201)
	al = embMust(t, srv, "PATCH", "/action-lists/"+al["id"].(string)+"/items/"+embItemID(t, al, "i2"), nil, 200)
	gone := embCreateTask(t, srv, "deleted", nil)["id"].(string)
	embMust(t, srv, "DELETE", "/tasks/"+gone, nil, 204)

	checkMode := func(p string) {
		t.Helper()
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: stat = %v, %v; want mode 0600", p, fi, err)
		}
	}
	checkMode(path + embJournalSuffix)
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("data directory holds %d entries, want only the journal and the lock (no temporary files left)", len(entries))
	}

	if err := first.close(); err != nil { // a restart: the first process is gone
		t.Fatalf("close() = %v", err)
	}
	checkMode(path)
	_, srv2 := embTestServer(t, path)
	for _, c := range []struct {
		path string
		want map[string]any
	}{
		{"/tasks/" + task["id"].(string), task},
		{"/action-lists/" + al["id"].(string), al},
	} {
		got := embMust(t, srv2, "GET", c.path, nil, 200)
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(c.want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("after reload GET %s = %s, want %s", c.path, gotJSON, wantJSON)
		}
	}
	r := embCall(t, srv2, "GET", "/tasks/"+task["id"].(string), nil)
	if !bytes.Contains(r.raw, []byte("12345678901234567890")) {
		t.Errorf("after reload task = %s, want the large number passed through exactly", r.raw)
	}
	if got := embMust(t, srv2, "GET", "/projects/"+pid+"/comments", nil, 200); !slices.Equal(embIDs(got["comments"]), []string{comment["id"].(string)}) {
		t.Errorf("after reload comments = %v, want [%s]", got, comment["id"])
	}
	if got := embMust(t, srv2, "GET", "/tasks?include_deleted=true", nil, 200); len(embIDs(got["tasks"])) != 2 {
		t.Errorf("after reload tasks incl. deleted = %v, want 2", got)
	}
	// New records after the reload still sort after the old ones.
	newer := embCreateTask(t, srv2, "after reload", nil)["id"].(string)
	if ids := embIDs(embMust(t, srv2, "GET", "/tasks", nil, 200)["tasks"]); len(ids) != 2 || ids[1] != newer {
		t.Errorf("after reload GET /tasks = %v, want [%s %s]", ids, task["id"], newer)
	}
}

// TestEmbeddedLoadFailures checks that a bad data file is an error naming it and is left byte for byte untouched.
func TestEmbeddedLoadFailures(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.json")
	first, srv := embTestServer(t, valid)
	embCreateTask(t, srv, "one", nil)
	embCreateTask(t, srv, "two", nil)
	first.close() // compacts the journal into the data file
	data, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		path       string
		wantDetail string
	}{
		{"truncated", write("truncated.json", data[:len(data)/2]), "parse"},
		{"empty", write("empty.json", nil), "parse"},
		{"not an object", write("array.json", []byte(`[]`)), "parse"},
		{"trailing data", write("trailing.json", append(slices.Clone(data), []byte(" {}")...)), "unexpected data"},
		{"wrong version", write("v3.json", []byte(`{"version":3}`)), "unsupported format version 3"},
		{"inconsistent record", write("mismatch.json", []byte(`{"version":1,"next_seq":1,"tasks":{"T-00000001":{"seq":1,"record":{"id":"T-99999999"}}}}`)), "inconsistent record"},
		{"sequence beyond next_seq", write("seq.json", []byte(`{"version":1,"next_seq":0,"tasks":{"T-00000001":{"seq":1,"record":{"id":"T-00000001"}}}}`)), "inconsistent record"},
		{"directory", dir, "is a directory"},
		{"missing directory", filepath.Join(dir, "nope", "data.json"), "data directory"},
		{"parent is a file", filepath.Join(valid, "data.json"), "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.path)
			e, err := newEmbedded(tt.path, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatalf("newEmbedded(%q) = %v, nil; want an error", tt.path, e.describe())
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "embedded backend: load "+tt.path+": ") || !strings.Contains(msg, tt.wantDetail) {
				t.Errorf("newEmbedded(%q) error = %q, want it to name the file and contain %q", tt.path, msg, tt.wantDetail)
			}
			if after, _ := os.ReadFile(tt.path); !bytes.Equal(before, after) {
				t.Errorf("newEmbedded(%q) changed the file", tt.path)
			}
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		p := write("unreadable.json", data)
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		if f, err := os.Open(p); err == nil {
			f.Close()
			t.Skip("running with privileges that ignore file modes")
		}
		if _, err := newEmbedded(p, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("newEmbedded(unreadable %q) error = %v, want one naming the file", p, err)
		}
	})
}

// TestEmbeddedSaveFailureRollsBack checks that a write whose save fails is not acknowledged and leaves no trace.
func TestEmbeddedSaveFailureRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	first, srv := embTestServer(t, path)
	kept := embCreateTask(t, srv, "kept", nil)["id"].(string)
	// A read-only handle in place of the journal makes every append fail,
	// whatever the process's privileges.
	ro, err := os.Open(path + embJournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	first.mu.Lock()
	rw := first.journal.f
	first.journal.f = ro
	first.mu.Unlock()
	embCheckProblem(t, "POST /tasks with a failing save", embCall(t, srv, "POST", "/tasks", map[string]any{"title": "lost", "project_id": embTestProject(t, srv)}), http.StatusServiceUnavailable, "not saved")
	embCheckProblem(t, "PUT /tasks with a failing save", embCall(t, srv, "PUT", "/tasks/"+kept, map[string]any{"title": "changed"}), http.StatusServiceUnavailable, "not saved")
	embCheckProblem(t, "DELETE /tasks with a failing save", embCall(t, srv, "DELETE", "/tasks/"+kept, nil), http.StatusServiceUnavailable, "not saved")

	first.mu.Lock()
	first.journal.f = rw
	first.mu.Unlock()
	got := embMust(t, srv, "GET", "/tasks", nil, 200)
	if titles := embField(got["tasks"], "title"); !slices.Equal(titles, []string{"kept"}) {
		t.Errorf("tasks after failed saves = %v, want only the unchanged [kept]", titles)
	}
	embCreateTask(t, srv, "saved", nil)
	first.close() // a restart: the first process is gone
	_, srv2 := embTestServer(t, path)
	if titles := embField(embMust(t, srv2, "GET", "/tasks", nil, 200)["tasks"], "title"); !slices.Equal(titles, []string{"kept", "saved"}) {
		t.Errorf("reloaded tasks = %v, want [kept saved]", titles)
	}
}

// TestEmbeddedConcurrentWrites checks that concurrent creates are all answered and all persisted.
func TestEmbeddedConcurrentWrites(t *testing.T) {
	const workers, each = 8, 50 // bounded: 400 creates, each saved with fsync
	path := filepath.Join(t.TempDir(), "data.json")
	first, srv := embTestServer(t, path)
	pid := embTestProject(t, srv)
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Not embCall: t.Fatal must not be called off the test goroutine.
				body := fmt.Sprintf(`{"title":"w%d-%d","project_id":%q}`, w, i, pid)
				res, err := srv.Client().Post(srv.URL+"/tasks", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- fmt.Sprintf("POST /tasks: %v", err)
					continue
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					errs <- fmt.Sprintf("POST /tasks = %d %s", res.StatusCode, raw)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	first.close() // a restart: the first process is gone
	_, srv2 := embTestServer(t, path)
	seen := map[string]bool{}
	cursor := ""
	for range workers*each/100 + 2 {
		page := embMust(t, srv2, "GET", "/tasks?limit=100&cursor="+url.QueryEscape(cursor), nil, 200)
		for _, title := range embField(page["tasks"], "title") {
			seen[title] = true
		}
		if cursor, _ = page["next_cursor"].(string); cursor == "" {
			break
		}
	}
	if len(seen) != workers*each {
		t.Errorf("reloaded store has %d distinct tasks, want %d", len(seen), workers*each)
	}
}

// FuzzEmbeddedTaskBody checks that no POST /tasks body makes the handler panic or answer other than 2xx/4xx JSON.
func FuzzEmbeddedTaskBody(f *testing.F) {
	for _, seed := range []string{
		`{"title":"x","project_id":"P"}`,
		`{"title":"x","project_id":"P","tags":["a"],"estimated_hours":1e308,"due_date":"2025-01-01T00:00:00Z"}`,
		`{"title":null}`, `[]`, `"str"`, ``, `{"title":"x","project_id":"P","order":-0}`, `{`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := newEmbedded("", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("POST", "/tasks", bytes.NewReader(body)))
		if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("POST /tasks %q = %d %s, want 2xx or 4xx", body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST /tasks %q body = %q, want JSON", body, rec.Body)
		}
	})
}

// BenchmarkEmbeddedGetTask measures GET /tasks/{id} through ServeHTTP.
func BenchmarkEmbeddedGetTask(b *testing.B) {
	e, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("POST", "/projects", strings.NewReader(`{"name":"bench"}`)))
	var project map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &project); err != nil {
		b.Fatal(err)
	}
	pid := project["id"]
	for i := range 1000 { // a store of realistic size, so the lookup is not trivially cached
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("POST", "/tasks", strings.NewReader(fmt.Sprintf(`{"title":"t%d","project_id":%q,"tags":["a","b"]}`, i, pid))))
		if rec.Code != http.StatusCreated {
			b.Fatalf("POST /tasks = %d %s", rec.Code, rec.Body)
		}
	}
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("POST", "/tasks", strings.NewReader(fmt.Sprintf(`{"title":"target","project_id":%q}`, pid))))
	var task map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &task); err != nil {
		b.Fatal(err)
	}
	path := "/tasks/" + task["id"].(string)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s = %d", path, rec.Code)
		}
	}
}

// TestEmbeddedDataFileIsExclusive checks that a second user of the same
// data file is refused while the first holds it, and admitted after.
func TestEmbeddedDataFileIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.json")
	first, err := newEmbedded(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newEmbedded(path, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, errLocked) {
		t.Fatalf("second newEmbedded(%q) error = %v, want errLocked naming the file", path, err)
	}
	first.close()
	second, err := newEmbedded(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newEmbedded after the first closed: %v", err)
	}
	second.close()
}

// TestEmbeddedRemovesLeftoverTemps checks that temp files a crash left in
// the middle of a save are removed at start, and the data survives.
func TestEmbeddedRemovesLeftoverTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.json")
	first, srv := embTestServer(t, path)
	embCreateTask(t, srv, "kept", nil)
	first.close()
	leftover := filepath.Join(dir, "data.json.tmp-123456")
	if err := os.WriteFile(leftover, []byte(`{"partial`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.json.tmp-1") // not ours: left alone
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, srv2 := embTestServer(t, path)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover temp file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file's temp was removed: %v", err)
	}
	if titles := embField(embMust(t, srv2, "GET", "/tasks", nil, 200)["tasks"], "title"); !slices.Equal(titles, []string{"kept"}) {
		t.Errorf("tasks = %v, want [kept]", titles)
	}
}
