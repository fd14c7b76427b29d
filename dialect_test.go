package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dialectClient returns a client for base with the given dialect setting.
func dialectClient(t *testing.T, base string, d dialect) *backendClient {
	t.Helper()
	c, err := newBackendClient(backendOptions{BaseURL: base, Dialect: d, Timeout: time.Second, Version: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

// routes serves fixed JSON answers by "METHOD /path"; anything else is 404.
func routes(t *testing.T, answers map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if body == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestDialectDetection(t *testing.T) {
	tests := []struct {
		name    string
		answers map[string]string
		want    string
	}{
		{"openapi title", map[string]string{"GET /openapi.json": `{"info":{"title":"TaskMan-v2 Backend API"}}`}, "taskman-v2"},
		{"api health fingerprint", map[string]string{"GET /api/health": `{"status":"ok","canonical":"/health","canonical_base":"/api/v1"}`}, "taskman-v2"},
		{"legacy health under the base", map[string]string{"GET /api/v1/health": `{"status":"ok"}`,
			"GET /openapi.json": `{"info":{"title":"Some Other API"}}`}, "legacy"},
		{"TaskMan-v2 HealthResponse at the origin", map[string]string{"GET /health": `{"status":"string","environment":"string","version":"string","database":{}}`}, "taskman-v2"},
		{"nothing matches", map[string]string{"GET /health": `{"status":"ok"}`}, "legacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := routes(t, tt.answers)
			c := dialectClient(t, srv.URL+"/api/v1", dialectAuto)
			if got := c.dialectName(); got != "auto (undecided)" {
				t.Errorf("before detection: dialect = %q", got)
			}
			c.adapter(context.Background())
			if got := c.dialectName(); got != tt.want {
				t.Errorf("dialect = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDialectDetectionRetriesUntilDecided checks that a backend that could
// not be asked at start is asked again on the next call, and that the
// decision is then kept.
func TestDialectDetectionRetriesUntilDecided(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close() // no answer at all
			return
		}
		if r.URL.Path == "/openapi.json" {
			probes.Add(1)
			io.WriteString(w, `{"info":{"title":"TaskMan-v2 Backend API"}}`)
			return
		}
		io.WriteString(w, `{"tasks":[],"total":0,"page":1,"per_page":20,"has_more":false}`)
	}))
	t.Cleanup(srv.Close)
	c := dialectClient(t, srv.URL+"/api/v1", dialectAuto)
	if a := c.adapter(context.Background()); a.dialect != dialectLegacy || c.dialectName() != "auto (undecided)" {
		t.Fatalf("backend down: adapter %s, dialect %q; want legacy for this call and undecided", a.dialect, c.dialectName())
	}
	down.Store(false)
	v, err := c.do(context.Background(), request{op: opListTasks})
	if err != nil {
		t.Fatalf("list after the backend came up: %v", err)
	}
	if c.dialectName() != "taskman-v2" || field(v, "total") == nil {
		t.Errorf("dialect %q, answer %v; want taskman-v2 and a page with total", c.dialectName(), v)
	}
	c.do(context.Background(), request{op: opListTasks})
	if probes.Load() != 1 {
		t.Errorf("openapi.json asked %d times, want once: the decision is kept", probes.Load())
	}
}

// TestTaskmanV2Health checks the health probe's URL (the origin's /health,
// not the base's) and how its status reads.
func TestTaskmanV2Health(t *testing.T) {
	f := newFakeV2(t)
	c := dialectClient(t, f.base(), dialectTaskmanV2)
	for _, status := range []string{"healthy", "degraded"} {
		f.mu.Lock()
		f.health = status
		f.mu.Unlock()
		if _, err := c.do(context.Background(), request{op: opHealth}); err != nil {
			t.Errorf("%s: health error %v, want up", status, err)
		}
	}
	f.mu.Lock()
	f.health = "unhealthy"
	f.mu.Unlock()
	if _, err := c.do(context.Background(), request{op: opHealth}); err == nil || !strings.Contains(err.Error(), "reports itself unhealthy") {
		t.Errorf("unhealthy: error %v, want one saying so", err)
	}
	for _, s := range f.sent() {
		if s != "GET /health" {
			t.Errorf("sent %q, want only GET /health", s)
		}
	}
}

// TestTaskmanV2Readiness runs the server over HTTP against the fake with
// only the README's base URL: readiness passes.
func TestTaskmanV2Readiness(t *testing.T) {
	f := newFakeV2(t)
	s := startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": f.base()})
	resp, body := getBody(t, s.base+"/health/ready")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/health/ready = %d %s, want 200", resp.StatusCode, body)
	}
	_, body = getBody(t, s.base+"/health/info")
	var info map[string]any
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatalf("/health/info: %v\n%s", err, body)
	}
	if info["backendDialect"] != "taskman-v2" {
		t.Errorf("/health/info backendDialect = %v, want taskman-v2", info["backendDialect"])
	}
}

// TestLegacyRemoveItemReadsBack: a legacy backend answering the item
// DELETE with an empty 204 still gets the tool its action list.
func TestLegacyRemoveItemReadsBack(t *testing.T) {
	srv, _ := routes(t, map[string]string{
		"DELETE /action-lists/AL-1/items/item-1": "",
		"GET /action-lists/AL-1":                 `{"id":"AL-1","title":"t","items":[]}`,
	})
	c := dialectClient(t, srv.URL, dialectLegacy)
	v, err := c.do(context.Background(), request{op: opRemoveItem, args: []string{"AL-1", "item-1"}})
	if err != nil || field(v, "id") != "AL-1" {
		t.Errorf("remove item = %v, %v; want the list read back", v, err)
	}
}

// TestDotSegmentIDsAreRefused: an id "." or ".." never reaches a path, in
// either dialect, so a normalising proxy cannot turn it into another
// request.
func TestDotSegmentIDsAreRefused(t *testing.T) {
	srv, n := routes(t, map[string]string{})
	for _, d := range []dialect{dialectLegacy, dialectTaskmanV2} {
		c := dialectClient(t, srv.URL, d)
		for _, req := range []request{
			{op: opRemoveSprint, args: []string{"P-1", ".."}},
			{op: opDeleteProject, args: []string{"."}},
			{op: opGetTask, args: []string{""}},
		} {
			_, err := c.do(context.Background(), req)
			var aerr *argError
			if !errors.As(err, &aerr) {
				t.Errorf("%s %s %q: error %v, want an argument error", d, req.op, req.args, err)
			}
		}
	}
	if n.Load() != 0 {
		t.Errorf("%d requests sent, want none", n.Load())
	}
	// A bulk call refuses the bad id alone.
	f := newFakeV2(t)
	c := dialectClient(t, f.base(), dialectTaskmanV2)
	v, err := c.do(context.Background(), request{op: opBulkDeleteActionLists, body: []any{".."}})
	if err != nil || !strings.Contains(field(v, "failed").([]any)[0].(map[string]any)["error"].(string), "cannot name a record") || len(f.sent()) != 0 {
		t.Errorf("bulk delete of .. = %v, %v, sent %q; want it failed alone and nothing sent", v, err, f.sent())
	}
}

func TestListAnswersKeepTotalsAndRefuseRecords(t *testing.T) {
	la, err := asList(opListTasks, map[string]any{"tasks": []any{}, "total": json.Number("7"), "has_more": true, "next_cursor": "c"}, "tasks")
	if err != nil || la.total != json.Number("7") || la.hasMore == nil || !*la.hasMore || la.nextCursor != "c" {
		t.Errorf("asList = %+v, %v; want total 7, has_more true, next_cursor c", la, err)
	}
	res := withCursor(map[string]any{}, la)
	if res["total"] != json.Number("7") || res["has_more"] != true || res["next_cursor"] != "c" {
		t.Errorf("withCursor = %v, want total, has_more and next_cursor", res)
	}
	// An action list record has items, but it is not a list of hits.
	if _, err := asList(opSearchActionLists, map[string]any{"id": "AL-1", "items": []any{map[string]any{"id": "item-1"}}}, "data"); err == nil {
		t.Error("asList took a record with items for a list")
	}
}

func TestAnswerErrorsSayWhatHappened(t *testing.T) {
	srv, _ := scripted(t, status(502, ""), status(200, `<html>welcome</html>`))
	c, _ := testBackend(t, srv.URL, 0)
	_, err := c.do(context.Background(), request{op: opCreateTask, body: map[string]any{}})
	if err == nil || err.Error() != "backend returned 502 Bad Gateway with an empty body" {
		t.Errorf("empty error body: %v", err)
	}
	_, err = c.do(context.Background(), request{op: opCreateTask, body: map[string]any{}})
	var serr *shapeMismatchError
	if !errors.As(err, &serr) || countsAsFailure(err) || strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "TASKMAN_BACKEND_DIALECT") {
		t.Errorf("HTML answer: %v; want a shape mismatch, not counted as unreachable, pointing at the dialect setting", err)
	}
}

// FuzzV2Paging checks that any limit and cursor either turn into a page
// and per_page within TaskMan-v2's bounds or are refused as an argument
// error naming the field.
func FuzzV2Paging(f *testing.F) {
	f.Add("", "")
	f.Add("5", "v2page:2")
	f.Add("1000", "v2page:0")
	f.Add("-1", "page:3")
	f.Add("", "v2page:99999999999999999999")
	f.Fuzz(func(t *testing.T, limit, cursor string) {
		q := url.Values{}
		if limit != "" {
			q.Set("limit", limit)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		out := url.Values{}
		if err := v2Paging(q, out); err != nil {
			var aerr *argError
			if !errors.As(err, &aerr) || (aerr.path != "limit" && aerr.path != "cursor") {
				t.Fatalf("v2Paging(%q, %q) error %v, want an argument error naming limit or cursor", limit, cursor, err)
			}
			return
		}
		page, err1 := strconv.Atoi(out.Get("page"))
		per, err2 := strconv.Atoi(out.Get("per_page"))
		if err1 != nil || err2 != nil || page < 1 || per < 1 || per > v2PerPageMax {
			t.Fatalf("v2Paging(%q, %q) = page %q per_page %q, want page >= 1 and per_page 1..%d", limit, cursor, out.Get("page"), out.Get("per_page"), v2PerPageMax)
		}
	})
}

// FuzzOriginOf checks that the origin is always a prefix of the base and
// never ends in /api.
func FuzzOriginOf(f *testing.F) {
	for _, s := range []string{"http://h:3001/api/v1", "http://h/api", "http://h", "http://h/x/api/v1/api", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, base string) {
		o := originOf(base)
		if !strings.HasPrefix(base, o) {
			t.Fatalf("originOf(%q) = %q, not a prefix of the base", base, o)
		}
		if cut := strings.TrimPrefix(base, o); cut != "" && cut != "/api" && cut != "/api/v1" {
			t.Fatalf("originOf(%q) = %q removed %q, want only /api or /api/v1", base, o, cut)
		}
	})
}

// TestLegacyMapsTaskmanV2Values: values of the union enums that only
// TaskMan-v2 uses reach a legacy backend in its own vocabulary.
func TestLegacyMapsTaskmanV2Values(t *testing.T) {
	wc, err := legacyMapped(request{op: opBulkUpdateTasks, query: url.Values{"status": {"ready"}, "q": {"done"}},
		body: map[string]any{"task_ids": []any{"T-1"}, "updates": map[string]any{"status": "done", "priority": "p0", "title": "p1"}}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "query", wc.query, url.Values{"status": {"pending"}, "q": {"done"}})
	want(t, "body", wc.body, map[string]any{"task_ids": []any{"T-1"}, "updates": map[string]any{"status": "completed", "priority": "critical", "title": "p1"}})
	// Through the embedded backend: a value read from TaskMan-v2 is stored.
	s := newTestServer(t)
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	res := call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"project_create","arguments":{"project":{"name":"p","status":"paused"}}}}`)
	want(t, "project status", get(res, "result", "structuredContent", "project", "status"), "inactive")
}

// TestTaskmanV2ScansAreBounded: a search or metrics over more tasks than
// the scan bound reads exactly the bound and says truncated.
func TestTaskmanV2ScansAreBounded(t *testing.T) {
	f := newFakeV2(t)
	tasks := f.colls["tasks"]
	n := v2ScanPages*v2PerPageMax + 1
	for i := range n {
		id := "T-" + strconv.Itoa(i)
		tasks.recs[id] = map[string]any{"id": id, "title": "needle " + id, "status": "done", "priority": "p1", "primary_project": "P-1"}
		tasks.order = append(tasks.order, id)
	}
	f.colls["projects"].recs["P-1"] = map[string]any{"id": "P-1", "name": "p", "status": "active"}
	c := dialectClient(t, f.base(), dialectTaskmanV2)
	v, err := c.do(context.Background(), request{op: opSearchTasks, query: url.Values{"q": {"NEEDLE"}, "limit": {"5"}}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "search scanned", field(v, "scanned"), v2ScanPages*v2PerPageMax)
	want(t, "search truncated", field(v, "truncated"), true)
	want(t, "search count", field(v, "count"), 5)
	v, err = c.do(context.Background(), request{op: opProjectAnalytics, args: []string{"P-1"}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "metrics truncated", field(v, "truncated"), true)
	want(t, "metrics completed", get(v, "task_statistics", "completed"), v2ScanPages*v2PerPageMax)
	want(t, "metrics by priority", get(v, "task_statistics", "by_priority"), map[string]any{"high": v2ScanPages * v2PerPageMax})
	if got := len(f.sent()); got != 2*v2ScanPages+1 {
		t.Errorf("sent %d requests, want %d (two bounded scans and the project)", got, 2*v2ScanPages+1)
	}
}

// TestTaskmanV2MetricsKeepLogicalOperations: the calls a TaskMan-v2 bulk
// update sends (one PUT per id) are counted under the logical operation,
// so dashboards do not change with the dialect.
func TestTaskmanV2MetricsKeepLogicalOperations(t *testing.T) {
	f := newFakeV2(t)
	m := newMetrics(metricsOptions{Enabled: true, Version: "test", Endpoints: endpointTemplates(), Breakers: operationNames()})
	c, err := newBackendClient(backendOptions{BaseURL: f.base(), Dialect: dialectTaskmanV2, Timeout: time.Second, Version: "test",
		Logger: slog.New(slog.DiscardHandler), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	if _, err := c.do(context.Background(), request{op: opBulkUpdateTasks,
		body: map[string]any{"task_ids": []any{"T-1", "T-2"}, "updates": map[string]any{"priority": "low"}}}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := m.writeTo(&b); err != nil {
		t.Fatal(err)
	}
	// Two PUT /tasks/{id} on the wire (neither task exists: both 404),
	// one logical POST /tasks/bulk/update in the metrics.
	line := `taskman_backend_api_calls_total{method="POST",endpoint="/tasks/bulk/update",status="404"} 2`
	if !strings.Contains(b.String(), line) {
		t.Errorf("metrics lack %s; backend call lines:\n%s", line, grepLines([]byte(b.String()), "taskman_backend_api_calls_total{"))
	}
}

// TestTaskmanV2MapsEveryOperation: exactly the five operations that
// backend has no endpoint for are unsupported; every other one has a
// route.
func TestTaskmanV2MapsEveryOperation(t *testing.T) {
	a := newTaskmanV2Adapter("o")
	want := map[opID]bool{opAddMetaTask: true, opListComments: true, opAddComment: true, opAddBlocker: true, opToggleItem: true}
	for op := range numOps {
		err := a.check(op)
		if (err != nil) != want[op] {
			t.Errorf("%s: check = %v, want unsupported %v", op, err, want[op])
		}
	}
}
