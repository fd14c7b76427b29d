package main

// The TaskMan-v2 dialect against the official Stoplight Prism mock of its
// OpenAPI document (e2e/prism, installed by e2e/install.sh): every tool
// through Prism, which answers 422/404/405 with an sl-violations header
// to any request that breaks the contract. Like the other end-to-end
// tests it skips without the install, unless the run requires it
// (requireOrSkip).

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// prismStartTimeout bounds Prism's start (it parses the document first).
const prismStartTimeout = 60 * time.Second

// prismExchange is one request Prism answered.
type prismExchange struct {
	line       string // "METHOD /path?query"
	status     int
	violations string // the sl-violations header, "" when Prism found none
}

// rejected reports whether Prism refused the request as breaking the
// contract. Violations Prism finds in its own answer (a response example
// of the document lacking a required field, as on
// /action-lists/{id}/tasks) say nothing about the request and are not
// counted.
func (e prismExchange) rejected() bool {
	return e.requestViolations() || e.status == http.StatusNotFound || e.status == http.StatusMethodNotAllowed || e.status == http.StatusUnprocessableEntity
}

// requestViolations reports whether the sl-violations header names a
// violation outside the response (an unparsable header counts).
func (e prismExchange) requestViolations() bool {
	if e.violations == "" {
		return false
	}
	var list []struct {
		Location []string `json:"location"`
	}
	if json.Unmarshal([]byte(e.violations), &list) != nil {
		return true
	}
	for _, v := range list {
		if len(v.Location) == 0 || v.Location[0] != "response" {
			return true
		}
	}
	return false
}

// startPrism runs Prism on the OpenAPI copy in testdata/ and returns the
// URL of a recording proxy in front of it, with the exchanges it records.
func startPrism(t *testing.T) (string, func() []prismExchange) {
	t.Helper()
	node := e2eRequireInstall(t)
	dir, _ := filepath.Abs(e2eDir)
	cli := filepath.Join(dir, "prism", "node_modules", "@stoplight", "prism-cli", "dist", "index.js")
	if _, err := os.Stat(cli); err != nil {
		requireOrSkip(t, "e2e: %s is missing: run e2e/install.sh", cli)
	}
	// A pre-picked port: Prism is an external tool that takes its port on
	// the command line.
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, cli, "mock", "-h", "127.0.0.1", "-p", port, "testdata/taskman-v2-openapi.json")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start Prism: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	target := "http://127.0.0.1:" + port
	// The document's GET /health answers 200, so Prism's mock does.
	if err := waitOK(target+"/health", prismStartTimeout, 100*time.Millisecond, nil); err != nil {
		t.Fatalf("Prism did not start: %v\n%s", err, out.String())
	}
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	var seen []prismExchange
	proxy.ModifyResponse = func(resp *http.Response) error {
		line := resp.Request.Method + " " + resp.Request.URL.Path
		if resp.Request.URL.RawQuery != "" {
			line += "?" + resp.Request.URL.RawQuery
		}
		mu.Lock()
		seen = append(seen, prismExchange{line: line, status: resp.StatusCode, violations: resp.Header.Get("sl-violations")})
		mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL, func() []prismExchange {
		mu.Lock()
		defer mu.Unlock()
		return append([]prismExchange(nil), seen...)
	}
}

// prismToolCalls are the arguments of every tool for the Prism run; ids
// are arbitrary since Prism answers from the document's examples.
var prismToolCalls = []struct {
	tool string
	args map[string]any
}{
	{"activate_taskman_server", map[string]any{"verbose": true}},
	{"activate_task_tools", nil},
	{"activate_project_tools", nil},
	{"activate_action_list_tools", nil},
	{"ai_parse_task", map[string]any{"input": "Ship it #release priority: high"}},
	{"task_create", map[string]any{"task": map[string]any{"title": "t", "project_id": "P-1", "priority": "critical", "status": "planned",
		"tags": []any{"a"}, "sprint_id": "S-1", "parent_task_id": "T-0", "assignee": "ann", "due_date": "2026-12-24T10:00:00Z", "description": "d"}}},
	{"task_read", map[string]any{"taskId": "T-1"}},
	{"task_update", map[string]any{"taskId": "T-1", "changes": map[string]any{"status": "completed", "priority": "low", "tags": []any{"b"}}}},
	{"task_set_status", map[string]any{"taskId": "T-1", "status": "cancelled"}},
	{"task_assign", map[string]any{"taskId": "T-1", "assignee": "bob"}},
	{"task_list", map[string]any{"status": "pending", "priority": "high", "project_id": "P-1", "sprint_id": "S-1", "owner": "o", "assignee": "a", "limit": 100, "search": "x"}},
	{"task_bulk_update", map[string]any{"taskIds": []any{"T-1", "T-2"}, "changes": map[string]any{"priority": "medium"}}},
	{"task_bulk_assign_sprint", map[string]any{"taskIds": []any{"T-1", "T-2"}, "sprintId": "S-2"}},
	{"task_search", map[string]any{"query": "string", "project_id": "P-1"}},
	{"task_delete", map[string]any{"taskId": "T-1"}},
	{"project_create", map[string]any{"project": map[string]any{"name": "p", "description": "d", "status": "inactive"}}},
	{"project_read", map[string]any{"projectId": "P-1"}},
	{"project_update", map[string]any{"projectId": "P-1", "changes": map[string]any{"status": "active", "description": "m"}}},
	{"project_list", map[string]any{"status": "inactive", "limit": 100, "cursor": "v2page:2"}},
	{"project_add_sprint", map[string]any{"projectId": "P-1", "sprintId": "S-1"}},
	{"project_remove_sprint", map[string]any{"projectId": "P-1", "sprintId": "string"}},
	{"project_add_meta_task", map[string]any{"projectId": "P-1", "metaTask": map[string]any{"title": "m"}}},
	{"project_add_comment", map[string]any{"projectId": "P-1", "comment": map[string]any{"message": "c"}}},
	{"project_add_blocker", map[string]any{"projectId": "P-1", "blocker": map[string]any{"title": "b"}}},
	{"project_get_comments", map[string]any{"projectId": "P-1"}},
	{"project_get_metrics", map[string]any{"projectId": "P-1"}},
	{"project_delete", map[string]any{"projectId": "P-1"}},
	{"action_list_create", map[string]any{"title": "l", "status": "completed", "priority": "high", "metadata": map[string]any{"k": "v"},
		"project_id": "P-1", "items": []any{map[string]any{"text": "a", "completed": false, "order": 0}}}},
	{"action_list_read", map[string]any{"action_list_id": "AL-1"}},
	{"action_list_list", map[string]any{"status": "archived", "owner": "o", "project_id": "P-1", "sprint_id": "S-1", "priority": "low", "limit": 5}},
	{"action_list_update", map[string]any{"action_list_id": "AL-1", "title": "n", "status": "active", "metadata": map[string]any{"a": 1}}},
	{"action_list_add_item", map[string]any{"action_list_id": "AL-1", "text": "x", "order": 1}},
	{"action_list_toggle_item", map[string]any{"action_list_id": "AL-1", "item_id": "item-1"}},
	{"action_list_remove_item", map[string]any{"action_list_id": "AL-1", "item_id": "item-1"}},
	{"action_list_reorder_items", map[string]any{"action_list_id": "AL-1", "item_ids": []any{"item-2", "item-1"}}},
	{"action_list_search", map[string]any{"q": "string", "status": "active"}},
	{"action_list_bulk_update", map[string]any{"action_list_ids": []any{"AL-1", "AL-2"}, "status": "archived"}},
	{"action_list_bulk_delete", map[string]any{"action_list_ids": []any{"AL-1", "AL-2"}}},
	{"action_list_delete", map[string]any{"action_list_id": "AL-1"}},
	{"task_complete", map[string]any{"taskId": "T-1", "notes": "n"}},
	{"action_list_link_task", map[string]any{"action_list_id": "AL-1", "task_id": "T-1"}},
	{"action_list_tasks", map[string]any{"action_list_id": "AL-1"}},
	{"action_list_unlink_task", map[string]any{"action_list_id": "AL-1", "task_id": "T-1"}},
	{"sprint_create", map[string]any{"sprint": map[string]any{"name": "s", "project_id": "P-1", "goal": "g", "start_date": "2026-01-05", "end_date": "2026-01-16"}}},
	{"sprint_read", map[string]any{"sprintId": "S-1"}},
	{"sprint_update", map[string]any{"sprintId": "S-1", "changes": map[string]any{"goal": "h", "status": "planning", "owner": "o"}}},
	{"sprint_list", map[string]any{"project_id": "P-1", "status": "active", "limit": 5, "cursor": "v2page:2"}},
	{"sprint_progress", map[string]any{"sprintId": "S-1"}},
	{"sprint_start", map[string]any{"sprintId": "S-1"}},
	{"sprint_complete", map[string]any{"sprintId": "S-1"}},
	{"sprint_delete", map[string]any{"sprintId": "S-1"}},
}

// prismProbeMiss are the detection probes Prism cannot know: FastAPI serves
// /openapi.json without listing it, and {base}/health is the legacy
// contract's health.
var prismProbeMiss = map[string]bool{"GET /openapi.json": true, "GET /api/v1/health": true}

// prismUnsupported are the tools TaskMan-v2 cannot serve.
var prismUnsupported = map[string]bool{"project_add_meta_task": true, "project_add_comment": true, "project_get_comments": true,
	"project_add_blocker": true, "action_list_toggle_item": true}

// prismRefusedByState are the tools whose answer depends on a record's
// state, which Prism's static examples fix: the sprint it serves is new,
// so sprint_complete is refused after reading it, with this text.
var prismRefusedByState = map[string]string{"sprint_complete": "is new: only a sprint that is active, in_progress or blocked can be completed"}

// TestPrismEveryTool drives every tool through Prism with only the base URL
// set: no request is rejected, the unsupported tools answer plainly
// without a request, the others succeed, and readiness passes.
func TestPrismEveryTool(t *testing.T) {
	base, seen := startPrism(t)
	c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": base + "/api/v1", "BACKEND_MAX_RETRIES": "0"})
	c.initialize(version20251125)
	covered := map[string]bool{}
	worked, refused := 0, 0
	for _, call := range prismToolCalls {
		covered[call.tool] = true
		args := call.args
		if args == nil {
			args = map[string]any{}
		}
		before := len(seen())
		res := c.callTool(call.tool, args)
		sent := seen()[before:]
		switch {
		case prismUnsupported[call.tool]:
			if res["isError"] != true || !strings.Contains(textOf(res), "not supported by the TaskMan-v2 backend") || len(sent) != 0 {
				t.Errorf("%s: %q after %d requests, want the not-supported error and none", call.tool, textOf(res), len(sent))
			}
			refused++
		case prismRefusedByState[call.tool] != "":
			if res["isError"] != true || !strings.Contains(textOf(res), prismRefusedByState[call.tool]) {
				t.Errorf("%s: %q, want the refusal %q", call.tool, textOf(res), prismRefusedByState[call.tool])
			}
			refused++
		case res["isError"] == true:
			t.Errorf("%s: error result %q", call.tool, textOf(res))
		default:
			worked++
		}
	}
	for _, tl := range newToolTable() {
		if !covered[tl.name] {
			t.Errorf("tool %s is not driven through Prism", tl.name)
		}
	}
	all := seen()
	rejected, probeMisses := 0, 0
	for _, e := range all {
		switch {
		case prismProbeMiss[e.line]:
			// Dialect detection asking a path the document does not
			// list: FastAPI's own /openapi.json, the legacy {base}/health.
			probeMisses++
		case e.rejected():
			rejected++
			t.Errorf("Prism rejected %s: %d %s", e.line, e.status, e.violations)
		}
	}
	t.Logf("Prism: %d requests, %d rejected, %d detection probes of paths outside the document; %d tools worked, %d answered not supported",
		len(all), rejected, probeMisses, worked, refused)

	s := startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": base + "/api/v1"})
	resp, body := getBody(t, s.base+"/health/ready")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/health/ready through Prism = %d %s, want 200", resp.StatusCode, body)
	}
}
