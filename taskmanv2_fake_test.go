package main

// A small stateful fake of the TaskMan-v2 Backend API, for the dialect
// tests: its own answer shapes (TaskList and friends with total, page,
// per_page, has_more), 422 with FastAPI's detail list for any request that
// breaks the OpenAPI contract (a missing id included), 204 deletes, and
// page/per_page paging. Every request is checked by openapi_test.go's
// validator; the test that started the fake fails on any violation.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeV2Coll is one collection of the fake: records by id in creation
// order.
type fakeV2Coll struct {
	key     string            // the list answer's key: tasks, projects, action_lists
	noun    string            // for 404 messages
	filters map[string]string // query parameter → record field it filters on
	order   []string
	recs    map[string]map[string]any
}

// fakeV2 is the fake backend.
type fakeV2 struct {
	t   testing.TB
	doc *openAPIDoc
	srv *httptest.Server

	mu         sync.Mutex
	colls      map[string]*fakeV2Coll // by path segment: tasks, projects, action-lists
	items      int                    // item id sequence
	requests   []string               // "METHOD /path?query", in order
	violations []string
	health     string           // the status GET /health reports
	links      map[string][]any // action-list id → linked task ids, in link order
}

// newFakeV2 starts the fake on 127.0.0.1; its base URL is f.srv.URL +
// "/api/v1".
func newFakeV2(t testing.TB) *fakeV2 {
	f := &fakeV2{t: t, doc: loadOpenAPI(t), health: "healthy", colls: map[string]*fakeV2Coll{
		"tasks": {key: "tasks", noun: "Task", filters: map[string]string{"status": "status", "priority": "priority",
			"sprint_id": "primary_sprint", "project_id": "primary_project", "assignee": "assignees", "owner": "owner"}},
		"projects":     {key: "projects", noun: "Project", filters: map[string]string{"status": "status", "owner": "owner"}},
		"action-lists": {key: "action_lists", noun: "Action list", filters: map[string]string{"status": "status", "owner": "owner", "project_id": "project_id", "sprint_id": "sprint_id"}},
		"sprints":      {key: "sprints", noun: "Sprint", filters: map[string]string{"status": "status", "project_id": "primary_project"}},
	}, links: map[string][]any{}}
	for _, c := range f.colls {
		c.recs = map[string]map[string]any{}
	}
	f.srv = httptest.NewServer(f)
	t.Cleanup(func() {
		f.srv.Close()
		for _, v := range f.violations {
			t.Errorf("contract violation: %s", v)
		}
	})
	return f
}

// base returns the base URL the README gives for TaskMan-v2.
func (f *fakeV2) base() string { return f.srv.URL + "/api/v1" }

// sent returns the requests received so far.
func (f *fakeV2) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// ServeHTTP answers one request.
func (f *fakeV2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	f.requests = append(f.requests, line)
	switch r.URL.Path {
	case "/openapi.json":
		raw, _ := os.ReadFile("testdata/taskman-v2-openapi.json")
		w.Header().Set("Content-Type", "application/json")
		w.Write(raw)
		return
	case "/health":
		fakeJSON(w, 200, map[string]any{"status": f.health, "environment": "test", "version": "0.1.0", "database": map[string]any{"status": "connected"}})
		return
	case "/api/health":
		fakeJSON(w, 200, map[string]any{"status": "ok", "canonical": "/health", "canonical_base": "/api/v1"})
		return
	}
	if errs := f.doc.validateRequest(r.Method, r.URL.Path, r.URL.Query(), body); len(errs) > 0 {
		f.violations = append(f.violations, errs...)
		detail := make([]any, len(errs))
		for i, e := range errs {
			detail[i] = map[string]any{"loc": []any{"body"}, "msg": e, "type": "value_error"}
		}
		fakeJSON(w, 422, map[string]any{"detail": detail})
		return
	}
	var in map[string]any
	if len(body) > 0 {
		json.Unmarshal(body, &in)
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	c := f.colls[segs[0]]
	switch {
	case len(segs) == 1 && r.Method == "GET":
		f.list(w, r, c)
	case len(segs) == 1 && r.Method == "POST":
		f.create(w, c, in)
	case len(segs) == 2:
		f.record(w, r, c, segs[1], in)
	case segs[2] == "items":
		f.item(w, r, c, segs[1], segs[3:], in)
	case !f.sprintExtra(w, r, segs):
		fakeJSON(w, 404, map[string]any{"detail": "Not Found"})
	}
}

// fakeJSON writes v with status.
func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// list answers a page of c, filtered.
func (f *fakeV2) list(w http.ResponseWriter, r *http.Request, c *fakeV2Coll) {
	q := r.URL.Query()
	page, per := 1, 20
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if v := q.Get("per_page"); v != "" {
		per, _ = strconv.Atoi(v)
	}
	var match []any
	for _, id := range c.order {
		rec := c.recs[id]
		ok := true
		for param, fieldName := range c.filters {
			want := q.Get(param)
			if want == "" {
				continue
			}
			switch v := rec[fieldName].(type) {
			case []any:
				ok = ok && slices.Contains(v, any(want))
			default:
				ok = ok && fmt.Sprint(v) == want
			}
		}
		if ok {
			match = append(match, rec)
		}
	}
	from := min((page-1)*per, len(match))
	to := min(from+per, len(match))
	fakeJSON(w, 200, map[string]any{c.key: orEmpty(match[from:to]), "total": len(match), "page": page, "per_page": per, "has_more": to < len(match)})
}

// create stores a new record with the backend's defaults.
func (f *fakeV2) create(w http.ResponseWriter, c *fakeV2Coll, in map[string]any) {
	id, _ := in["id"].(string)
	if c.recs[id] != nil {
		fakeJSON(w, 409, map[string]any{"detail": c.noun + " " + id + " already exists"})
		return
	}
	defaults := map[string]map[string]any{
		"tasks":        {"status": "new", "priority": "p2", "assignees": []any{}, "labels": []any{}, "parents": []any{}, "description": ""},
		"projects":     {"status": "new", "sprints": []any{}},
		"action_lists": {"status": "active", "items": []any{}, "tags": []any{}, "extra_metadata": map[string]any{}},
		"sprints":      {"status": "new", "cadence": "biweekly", "tasks": []any{}},
	}[c.key]
	rec := map[string]any{"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
	for k, v := range defaults {
		rec[k] = v
	}
	for k, v := range in {
		rec[k] = v
	}
	if items, ok := rec["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok && m["id"] == nil {
				f.items++
				m["id"] = fmt.Sprintf("item-%d", f.items)
			}
		}
	}
	c.recs[id] = rec
	c.order = append(c.order, id)
	fakeJSON(w, 201, rec)
}

// record serves GET, PUT and DELETE of one record.
func (f *fakeV2) record(w http.ResponseWriter, r *http.Request, c *fakeV2Coll, id string, in map[string]any) {
	rec := c.recs[id]
	if rec == nil {
		fakeJSON(w, 404, map[string]any{"detail": c.noun + " not found"})
		return
	}
	switch r.Method {
	case "GET":
		fakeJSON(w, 200, rec)
	case "PUT", "PATCH":
		for k, v := range in {
			rec[k] = v
		}
		rec["updated_at"] = "2026-01-02T00:00:00Z"
		fakeJSON(w, 200, rec)
	case "DELETE":
		delete(c.recs, id)
		c.order = slices.DeleteFunc(c.order, func(s string) bool { return s == id })
		w.WriteHeader(204)
	}
}

// item serves the action-list item endpoints: POST items, DELETE
// items/{id} (204), PATCH items/reorder.
func (f *fakeV2) item(w http.ResponseWriter, r *http.Request, c *fakeV2Coll, id string, rest []string, in map[string]any) {
	rec := c.recs[id]
	if rec == nil {
		fakeJSON(w, 404, map[string]any{"detail": c.noun + " not found"})
		return
	}
	items, _ := rec["items"].([]any)
	switch {
	case r.Method == "POST" && len(rest) == 0:
		f.items++
		items = append(items, map[string]any{"id": fmt.Sprintf("item-%d", f.items), "text": in["text"], "completed": false, "order": len(items)})
	case r.Method == "DELETE" && len(rest) == 1:
		n := len(items)
		items = slices.DeleteFunc(items, func(it any) bool { return field(it, "id") == rest[0] })
		if len(items) == n {
			fakeJSON(w, 404, map[string]any{"detail": "Item not found"})
			return
		}
		rec["items"] = items
		w.WriteHeader(204)
		return
	case r.Method == "PATCH" && len(rest) == 1 && rest[0] == "reorder":
		ids, _ := in["item_ids"].([]any)
		slices.SortStableFunc(items, func(a, b any) int {
			return slices.Index(ids, field(a, "id")) - slices.Index(ids, field(b, "id"))
		})
	default:
		fakeJSON(w, 405, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	rec["items"] = items
	fakeJSON(w, 200, rec)
}
