package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSprintCacheInvalidation checks which cached reads each sprint, task
// completion and task-link write drops: the sprint itself, its project's
// views and its tasks' views, and nothing unrelated.
func TestSprintCacheInvalidation(t *testing.T) {
	reads := []request{
		0:  {op: opGetSprint, args: []string{"S-1"}},
		1:  {op: opGetSprint, args: []string{"S-2"}},
		2:  {op: opListSprints, query: map[string][]string{"project_id": {"P-1"}}},
		3:  {op: opSprintProgress, args: []string{"S-1"}},
		4:  {op: opSprintProgress, args: []string{"S-2"}},
		5:  {op: opGetProject, args: []string{"P-1"}},
		6:  {op: opProjectAnalytics, args: []string{"P-1"}},
		7:  {op: opListProjects},
		8:  {op: opGetTask, args: []string{"T-1"}},
		9:  {op: opListTasks},
		10: {op: opGetActionList, args: []string{"AL-1"}},
		11: {op: opListLinkedTasks, args: []string{"AL-1"}},
		12: {op: opListLinkedTasks, args: []string{"AL-2"}},
		13: {op: opGetProject, args: []string{"P-2"}},
	}
	tests := []invalidationCase{
		{request{op: opCreateSprint, body: map[string]any{"name": "S", "project_id": "P-1"}}, []int{2, 5, 6, 7}},
		{request{op: opUpdateSprint, args: []string{"S-1"}}, []int{0, 2, 3}},
		{request{op: opStartSprint, args: []string{"S-1"}}, []int{0, 2, 3}},
		{request{op: opCompleteSprint, args: []string{"S-2"}}, []int{1, 2, 4}},
		// The project is not in the request, nor are the tasks that lose
		// their sprint: every project and task view goes.
		{request{op: opDeleteSprint, args: []string{"S-1"}}, []int{0, 2, 3, 4, 5, 6, 7, 8, 9, 13}},
		// A completed task changes its sprint's progress, whichever it is.
		{request{op: opCompleteTask, args: []string{"T-1"}}, []int{3, 4, 6, 8, 9}},
		{request{op: opCreateTask, body: map[string]any{"title": "t", "sprint_id": "S-1"}}, []int{3, 4, 6, 9}},
		{request{op: opLinkTask, args: []string{"AL-1"}}, []int{10, 11}},
		{request{op: opUnlinkTask, args: []string{"AL-1", "T-1"}}, []int{10, 11}},
		{request{op: opDeleteActionList, args: []string{"AL-1"}}, []int{10, 11}},
		{request{op: opBulkDeleteActionLists}, []int{10, 11, 12}},
	}
	checkInvalidation(t, reads, tests)
}

// TestSprintToolsSurviveRestart writes with the sprint tools over stdio
// with TASKMAN_DATA_FILE, restarts the server on the same file, and reads
// everything back.
func TestSprintToolsSurviveRestart(t *testing.T) {
	env := map[string]string{"TASKMAN_DATA_FILE": filepath.Join(t.TempDir(), "data.json")}
	c := startStdio(t, env)
	c.initialize(version20251125)
	pid, _ := get(structured(t, "project_create", c.callTool("project_create", map[string]any{"project": map[string]any{"name": "P"}})), "project", "id").(string)
	sprint := structured(t, "sprint_create", c.callTool("sprint_create", map[string]any{"sprint": map[string]any{"name": "S", "project_id": pid, "end_date": "2099-12-31"}}))
	sid, _ := get(sprint, "sprint", "id").(string)
	tid, _ := get(structured(t, "task_create", c.callTool("task_create", map[string]any{"task": map[string]any{"title": "t", "project_id": pid, "sprint_id": sid}})), "task", "id").(string)
	structured(t, "task_complete", c.callTool("task_complete", map[string]any{"taskId": tid}))
	structured(t, "sprint_start", c.callTool("sprint_start", map[string]any{"sprintId": sid}))
	alid, _ := get(structured(t, "action_list_create", c.callTool("action_list_create", map[string]any{"title": "L"})), "action_list", "id").(string)
	structured(t, "action_list_link_task", c.callTool("action_list_link_task", map[string]any{"action_list_id": alid, "task_id": tid}))
	if err := c.stop(); err != nil { // the second server opens the same file
		t.Fatalf("first server: %v", err)
	}

	c2 := startStdio(t, env)
	c2.initialize(version20251125)
	got := structured(t, "sprint_read", c2.callTool("sprint_read", map[string]any{"sprintId": sid}))
	want(t, "status after restart", get(got, "sprint", "status"), "active")
	want(t, "end_date after restart", get(got, "sprint", "end_date"), "2099-12-31")
	progress := structured(t, "sprint_progress", c2.callTool("sprint_progress", map[string]any{"sprintId": sid}))
	want(t, "tasks after restart", num(get(progress, "progress", "task_count")), 1)
	want(t, "completed after restart", num(get(progress, "progress", "completed_count")), 1)
	links := structured(t, "action_list_tasks", c2.callTool("action_list_tasks", map[string]any{"action_list_id": alid}))
	want(t, "linked tasks after restart", links["task_ids"], []any{tid})
	project := structured(t, "project_read", c2.callTool("project_read", map[string]any{"projectId": pid}))
	want(t, "project sprints after restart", get(project, "project", "sprints"), []any{sid})
}

// TestSprintToolsUnsupportedOnLegacyRemote calls each tool that needs the
// sprint endpoints against a remote legacy backend, named by
// TASKMAN_BACKEND_DIALECT or detected: every one answers an isError result
// saying it is not supported by this backend and why, and the backend
// receives no request for any of them.
func TestSprintToolsUnsupportedOnLegacyRemote(t *testing.T) {
	for _, dialect := range []string{"legacy", "auto"} {
		t.Run(dialect, func(t *testing.T) {
			var requests atomic.Int64
			backend := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"status":"ok"}`))
			}))
			c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": backend + "/api/v1", "TASKMAN_BACKEND_DIALECT": dialect})
			c.initialize(version20251125)
			// A supported call first: it waits for the dialect to be
			// decided, so detection's probes are not counted below.
			structured(t, "activate_taskman_server", c.callTool("activate_taskman_server", nil))
			if requests.Load() == 0 {
				t.Fatal("activate_taskman_server sent no request: the counting backend is not the one in use")
			}
			before := requests.Load()
			for _, tt := range sprintToolCalls() {
				res := c.callTool(tt.tool, tt.args)
				text := textOf(res)
				if res["isError"] != true || !strings.HasPrefix(text, tt.tool+": not supported by this backend: ") || !strings.Contains(text, tt.why) {
					t.Errorf("%s on a legacy remote backend = %q (isError %v), want an error result saying it is not supported by this backend because it has %q", tt.tool, text, res["isError"], tt.why)
				}
			}
			if n := requests.Load() - before; n != 0 {
				t.Errorf("the backend received %d requests for tools it does not support, want 0", n)
			}
		})
	}
}

// sprintToolCall is a valid call of a tool that needs the sprint
// endpoints, and what a legacy backend's refusal says it lacks.
type sprintToolCall struct {
	tool string
	args map[string]any
	why  string
}

// sprintToolCalls returns one valid call of each tool that needs the
// sprint endpoints.
func sprintToolCalls() []sprintToolCall {
	return []sprintToolCall{
		{"sprint_create", map[string]any{"sprint": map[string]any{"name": "S", "project_id": "P-1"}}, "no /sprints endpoints"},
		{"sprint_read", map[string]any{"sprintId": "S-1"}, "no /sprints endpoints"},
		{"sprint_update", map[string]any{"sprintId": "S-1", "changes": map[string]any{"goal": "g"}}, "no /sprints endpoints"},
		{"sprint_delete", map[string]any{"sprintId": "S-1"}, "no /sprints endpoints"},
		{"sprint_list", map[string]any{}, "no /sprints endpoints"},
		{"sprint_progress", map[string]any{"sprintId": "S-1"}, "no /sprints endpoints"},
		{"sprint_start", map[string]any{"sprintId": "S-1"}, "no /sprints endpoints"},
		{"sprint_complete", map[string]any{"sprintId": "S-1"}, "no /sprints endpoints"},
		{"task_complete", map[string]any{"taskId": "T-1"}, "use task_set_status with status completed"},
		{"action_list_link_task", map[string]any{"action_list_id": "AL-1", "task_id": "T-1"}, "no action-list task links"},
		{"action_list_unlink_task", map[string]any{"action_list_id": "AL-1", "task_id": "T-1"}, "no action-list task links"},
		{"action_list_tasks", map[string]any{"action_list_id": "AL-1"}, "no action-list task links"},
	}
}

// TestSprintOperationsObserved runs sprint tools on the embedded backend
// with metrics and breakers on: the new operations are counted under their
// own endpoint templates and have their own breakers, like the old ones.
func TestSprintOperationsObserved(t *testing.T) {
	cfg, err := loadConfig(testEnv(nil), "")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range newToolTable() {
		names = append(names, tl.name)
	}
	m := newMetrics(metricsOptions{Enabled: true, Tools: names, Endpoints: endpointTemplates(), Breakers: operationNames()})
	logger := slog.New(slog.DiscardHandler)
	bs := newBreakers(operationNames(), cfg.Breaker, time.Now, func(name string, _, to breakerState) { m.breakerChanged(name, to) })
	backend, err := newBackendClient(backendOptions{Embedded: emb, Timeout: time.Second, Version: "test", Logger: logger, Metrics: m, Breakers: bs})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServerOver(t, cfg, backend, bs, m)
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	tool := func(name string, args map[string]any) map[string]any {
		raw, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{"name": name, "arguments": args}})
		res, _ := call(t, s, sess, string(raw))["result"].(map[string]any)
		if res["isError"] == true {
			t.Fatalf("%s: %s", name, textOf(res))
		}
		return res
	}
	pid, _ := get(tool("project_create", map[string]any{"project": map[string]any{"name": "P"}}), "structuredContent", "project", "id").(string)
	sid, _ := get(tool("sprint_create", map[string]any{"sprint": map[string]any{"name": "S", "project_id": pid}}), "structuredContent", "sprint", "id").(string)
	tool("sprint_start", map[string]any{"sprintId": sid})
	tool("sprint_progress", map[string]any{"sprintId": sid})

	var buf strings.Builder
	m.writeTo(&buf)
	scrape := buf.String()
	for _, series := range []string{
		`taskman_backend_api_calls_total{method="POST",endpoint="/sprints",status="201"} 1`,
		`taskman_backend_api_calls_total{method="POST",endpoint="/sprints/{id}/start",status="200"} 1`,
		`taskman_backend_api_calls_total{method="GET",endpoint="/sprints/{id}/progress",status="200"} 1`,
		`taskman_circuit_breaker_state{breaker="POST /sprints/{id}/start"} 0`,
		`taskman_circuit_breaker_state{breaker="DELETE /action-lists/{id}/tasks/{task_id}"} 0`,
		`taskman_mcp_tool_executions_total{tool_name="sprint_start",status="success"} 1`,
	} {
		if !strings.Contains(scrape, series+"\n") {
			t.Errorf("the scrape lacks %s", series)
		}
	}
}

// TestSprintToolsOnUndecidedBackend calls a sprint tool while auto
// detection cannot reach the backend: the answer says the backend is
// unreachable, not that an unknown dialect does not support sprints.
func TestSprintToolsOnUndecidedBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every connection is refused
	c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": "http://" + addr + "/api/v1", "BACKEND_MAX_RETRIES": "0"})
	c.initialize(version20251125)
	res := c.callTool("sprint_read", map[string]any{"sprintId": "S-1"})
	if text := textOf(res); res["isError"] != true || strings.Contains(text, "not supported") || !strings.Contains(text, "unreachable") {
		t.Errorf("sprint_read with the backend down and its dialect unknown = %q, want an unreachable error", text)
	}
}
