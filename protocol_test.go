package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// handle processes one incoming JSON text (a message or, in 2025-03-26, a
// batch) as the stdio transport does, and returns the JSON to answer with, or nil when there
// is nothing to answer (notifications, responses, cancelled requests).
func (s *server) handle(ctx context.Context, sess *session, raw []byte, notify notifier) []byte {
	a := s.serve(ctx, sess, parseIncoming(raw), nil, notify)
	if a == nil {
		return nil
	}
	return s.encode(a)
}

// initializedCaller opens a 2025-11-25 session on s and returns a function
// that sends one request in it and returns the decoded answer.
func initializedCaller(t *testing.T, s *server) func(method string, params any) map[string]any {
	t.Helper()
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	return func(method string, params any) map[string]any {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 9, "method": method, "params": params})
		return call(t, s, sess, string(b))
	}
}

// newTestServer returns a server on the embedded backend, for driving the
// dispatcher directly.
func newTestServer(t testing.TB) *server {
	t.Helper()
	return newTestServerEnv(t, nil)
}

// testConfig returns the configuration of env over the test defaults.
func testConfig(t testing.TB, env map[string]string) *config {
	t.Helper()
	cfg, err := loadConfig(testEnv(env), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newTestServerEnv is newTestServer configured with env.
func newTestServerEnv(t testing.TB, env map[string]string) *server {
	t.Helper()
	cfg := testConfig(t, env)
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	backend, err := newBackendClient(backendOptions{Embedded: emb, Timeout: time.Second, Version: "test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return newTestServerOver(t, cfg, backend, nil, nil)
}

// newTestServerOver returns a server configured by cfg on backend, with
// breakers bs and metrics m (either may be nil: off).
func newTestServerOver(t testing.TB, cfg *config, backend *backendClient, bs *breakers, m *metrics) *server {
	t.Helper()
	s, err := newServer(serverDeps{Logger: slog.New(slog.DiscardHandler), Version: "test", Transport: cfg.Transport,
		Toolsets: cfg.Toolsets, ReadOnly: cfg.ReadOnly, Backend: backend, Status: newBackendStatus(backend, bs), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// callCreateProject creates a project with project_create through s in
// sess (a 2026-07-28 request when modern, else a call in an initialized
// session) and returns its id: tasks must name a project that exists.
func callCreateProject(t testing.TB, s *server, sess *session, modernCall bool) string {
	t.Helper()
	params := map[string]any{"name": "project_create", "arguments": map[string]any{"project": map[string]any{"name": "P"}}}
	msg := modern(900, "tools/call", params, nil)
	if !modernCall {
		line, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 900, "method": "tools/call", "params": params})
		msg = string(line)
	}
	pid, ok := get(call(t, s, sess, msg), "result", "structuredContent", "project", "id").(string)
	if !ok {
		t.Fatal("project_create returned no project id")
	}
	return pid
}

// call runs one message through the dispatcher and decodes the answer: the
// in-process caller of the tests.
func call(t testing.TB, s *server, sess *session, msg string) map[string]any {
	t.Helper()
	out := s.handle(context.Background(), sess, []byte(msg), func(*notification) {})
	if out == nil {
		return nil
	}
	var resp map[string]any
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %q is not JSON: %v", out, err)
	}
	return resp
}

func TestHostileInputsStdio(t *testing.T) {
	c := startStdio(t, nil)
	c.initialize(version20251125)
	tests := []struct {
		name     string
		line     string
		id       string // id text the answer must carry ("null" for none)
		wantCode int    // JSON-RPC error code; 0 means a tool error result
		wantText string
	}{
		{"invalid JSON", `{"jsonrpc":"2.0","id":1,"method":`, "null", codeParseError, "not valid JSON"},
		{"not an object", `42`, "null", codeInvalidRequest, ""},
		{"array without batching", `[{"jsonrpc":"2.0","id":5,"method":"ping"}]`, "null", codeInvalidRequest, "only accepted in protocol version 2025-03-26"},
		{"id null", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, "null", codeInvalidRequest, "not null"},
		{"id object", `{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}`, "null", codeInvalidRequest, ""},
		{"wrong jsonrpc", `{"jsonrpc":"1.0","id":"v","method":"ping"}`, `"v"`, codeInvalidRequest, `"jsonrpc" must be "2.0"`},
		{"method wrong type", `{"jsonrpc":"2.0","id":"m","method":5}`, `"m"`, codeInvalidRequest, ""},
		{"unknown method", `{"jsonrpc":"2.0","id":7,"method":"tasks/explode"}`, "7", codeMethodNotFound, "tasks/explode"},
		{"params not an object", `{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}`, "8", codeInvalidParams, ""},
		{"unknown tool", `{"jsonrpc":"2.0","id":"u-1","method":"tools/call","params":{"name":"rm_rf","arguments":{}}}`, `"u-1"`, codeInvalidParams, "Unknown tool: rm_rf"},
		{"tools/call without name", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{}}`, "9", codeInvalidParams, "params.name"},
		{"wrong argument type", `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":5}}}`, "10", 0, "taskId: must be a string"},
		{"missing required argument", `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"task_bulk_update","arguments":{"changes":{"priority":"low"}}}}`, "11", 0, "taskIds: is required"},
		{"empty array", `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"task_bulk_update","arguments":{"taskIds":[],"changes":{"priority":"low"}}}}`, "12", 0, "taskIds: must contain at least 1 item"},
		{"unknown argument", `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-1","force":true}}}`, "13", 0, "force: is not a known field"},
		{"bad enum", `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"task_set_status","arguments":{"taskId":"T-1","status":"finished"}}}`, "14", 0, "status: must be one of planned"},
		{"arguments not an object", `{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"task_read","arguments":"T-1"}}`, "15", 0, "arguments must be an object"},
		{"only nulls in changes", `{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"task_update","arguments":{"taskId":"T-1","changes":{"title":null}}}}`, "16", 0, "changes: must contain at least one field"},
		{"neither assignee nor assignees", `{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"task_assign","arguments":{"taskId":"T-1"}}}`, "17", 0, "give assignee"},
		{"second initialize", `{"jsonrpc":"2.0","id":18,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`, "18", codeInvalidRequest, "already initialized"},
		{"bad log level", `{"jsonrpc":"2.0","id":19,"method":"logging/setLevel","params":{"level":"loud"}}`, "19", codeInvalidParams, "unknown log level"},
		{"huge line", `{"jsonrpc":"2.0","id":20,"method":"ping","params":{"pad":"` + strings.Repeat("x", 10<<20) + `"}}`, "null", codeInvalidRequest, "larger than TASKMAN_MAX_REQUEST_BYTES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp map[string]any
			if tt.id == "null" {
				c.send(tt.line)
				resp = c.wait(c.orphans, tt.line[:min(len(tt.line), 60)])
			} else {
				resp = c.raw(tt.id, tt.line)
			}
			if tt.wantCode != 0 {
				if got := errorCode(resp); got != tt.wantCode {
					t.Fatalf("code = %d, want %d (answer %v)", got, tt.wantCode, resp)
				}
				if msg := get(resp, "error", "message").(string); !strings.Contains(msg, tt.wantText) {
					t.Errorf("message = %q, want it to contain %q", msg, tt.wantText)
				}
			} else {
				res, _ := resp["result"].(map[string]any)
				if res["isError"] != true || !strings.Contains(textOf(res), tt.wantText) {
					t.Fatalf("result = %v, want an isError result containing %q", resp, tt.wantText)
				}
			}
			// The server keeps serving.
			if got := c.request("ping", nil); got["result"] == nil {
				t.Fatalf("ping after %s = %v", tt.name, got)
			}
		})
	}
}

func TestIDsEchoedExactly(t *testing.T) {
	c := startStdio(t, nil)
	c.initialize(version20251125)
	for _, id := range []string{"0", `"0"`, "-3", `"a b"`, "12345678901234567890", "1.5"} {
		resp := c.raw(id, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"ping"}`, id))
		if resp["result"] == nil {
			t.Errorf("ping id %s = %v", id, resp)
		}
	}
}

func TestRequestBeforeInitialize(t *testing.T) {
	c := startStdio(t, nil)
	resp := c.request("tools/list", nil)
	if errorCode(resp) != codeInvalidRequest || !strings.Contains(get(resp, "error", "message").(string), "send initialize first") {
		t.Fatalf("tools/list before initialize = %v", resp)
	}
	if c.request("ping", nil)["result"] == nil {
		t.Error("ping before initialize must be answered")
	}
	c.initialize(version20251125)
	if res := c.result("tools/list", nil); len(res["tools"].([]any)) != len(newToolTable()) {
		t.Errorf("tools/list after initialize lists %d tools, want the table's %d", len(res["tools"].([]any)), len(newToolTable()))
	}
}

func TestBatchIn20250326(t *testing.T) {
	s := newTestServer(t)
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	out := s.handle(context.Background(), sess, []byte(`[
		{"jsonrpc":"2.0","id":"a","method":"ping"},
		{"jsonrpc":"2.0","method":"notifications/initialized"},
		{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"ai_parse_task","arguments":{"input":"x #y"}}}]`), func(*notification) {})
	var answers []map[string]any
	if err := json.Unmarshal(out, &answers); err != nil {
		t.Fatalf("batch answer %s: %v", out, err)
	}
	if len(answers) != 2 || answers[0]["id"] != "a" || answers[1]["id"] != "b" {
		t.Fatalf("batch answers = %v, want answers to a and b", answers)
	}
	if got := call(t, s, sess, `[]`); errorCode(got) != codeInvalidRequest {
		t.Errorf("empty batch = %v, want -32600", got)
	}
}

func TestOutputShapedByVersion(t *testing.T) {
	tests := []struct {
		version                          string
		annotations, title, structured   bool
		argErrorIsResult, titleInAnnotes bool
	}{
		{version20241105, false, false, false, false, false},
		{version20250326, true, false, false, false, true},
		{version20250618, true, true, true, false, false},
		{version20251125, true, true, true, true, false},
		{"1999-01-01", true, true, true, true, false}, // unknown: our newest legacy version
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			s := newTestServer(t)
			sess := newSession("")
			init := call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+tt.version+`","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
			negotiated := get(init, "result", "protocolVersion")
			if tt.version == "1999-01-01" {
				want(t, "negotiated", negotiated, version20251125)
			} else {
				want(t, "negotiated", negotiated, tt.version)
			}
			first := get(call(t, s, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`), "result", "tools", 0).(map[string]any)
			_, hasAnn := first["annotations"]
			_, hasTitle := first["title"]
			_, hasOut := first["outputSchema"]
			want(t, "annotations", hasAnn, tt.annotations)
			want(t, "title", hasTitle, tt.title)
			want(t, "outputSchema", hasOut, tt.structured)
			if tt.titleInAnnotes {
				want(t, "annotations.title", get(first, "annotations", "title"), "Create a task")
			}
			res := call(t, s, sess, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ai_parse_task","arguments":{"input":"hello"}}}`)
			_, hasSC := get(res, "result").(map[string]any)["structuredContent"]
			want(t, "structuredContent", hasSC, tt.structured)
			bad := call(t, s, sess, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"ai_parse_task","arguments":{}}}`)
			if tt.argErrorIsResult {
				want(t, "isError", get(bad, "result", "isError"), true)
			} else {
				want(t, "error code", errorCode(bad), codeInvalidParams)
			}
		})
	}
}

// modern returns a 2026-07-28 request line.
func modern(id int, method string, params map[string]any, meta map[string]any) string {
	m := map[string]any{metaProtocolVersion: versionModern, metaClientCapabilities: map[string]any{}}
	for k, v := range meta {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = m
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return string(b)
}

func TestModernRequests(t *testing.T) {
	s := newTestServer(t)
	sess := newSession("") // never initialized: modern requests need no handshake

	disc := call(t, s, sess, modern(1, "server/discover", nil, nil))
	want(t, "discover resultType", get(disc, "result", "resultType"), "complete")
	want(t, "discover versions", get(disc, "result", "supportedVersions"), supportedVersions)
	want(t, "discover serverInfo", get(disc, "result", "_meta", metaServerInfo, "name"), "taskman-mcp")

	list := call(t, s, sess, modern(2, "tools/list", nil, nil))
	want(t, "tools/list resultType", get(list, "result", "resultType"), "complete")
	want(t, "tools/list cacheScope", get(list, "result", "cacheScope"), "public")
	want(t, "tool count", len(get(list, "result", "tools").([]any)), len(newToolTable()))

	pid := callCreateProject(t, s, sess, true)
	res := call(t, s, sess, modern(3, "tools/call", map[string]any{"name": "task_create", "arguments": map[string]any{"task": map[string]any{"title": "m", "project_id": pid}}}, nil))
	want(t, "call resultType", get(res, "result", "resultType"), "complete")
	if get(res, "result", "structuredContent", "task", "id") == nil {
		t.Errorf("modern tools/call = %v, want a created task", res)
	}

	bad := call(t, s, sess, modern(4, "tools/list", nil, map[string]any{metaProtocolVersion: "2099-01-01"}))
	want(t, "unsupported code", errorCode(bad), codeUnsupportedVersion)
	want(t, "unsupported data", get(bad, "error", "data"), map[string]any{"supported": []any{versionModern}, "requested": "2099-01-01"})

	noCaps := call(t, s, sess, modern(5, "tools/list", nil, map[string]any{metaClientCapabilities: nil}))
	want(t, "missing capabilities", errorCode(noCaps), codeInvalidParams)

	ping := call(t, s, sess, modern(6, "ping", nil, nil))
	want(t, "modern ping", errorCode(ping), codeMethodNotFound)

	argErr := call(t, s, sess, modern(7, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{}}, nil))
	want(t, "modern argument error", get(argErr, "result", "isError"), true)

	badLevel := call(t, s, sess, modern(8, "tools/list", nil, map[string]any{metaLogLevel: "verbose"}))
	want(t, "bad log level", errorCode(badLevel), codeInvalidParams)
}

func TestModernLogLevelSendsMessages(t *testing.T) {
	s := newTestServer(t)
	s.logger = newLogger(&syncBuffer{}, slog.LevelError, "json", nil)
	var mu sync.Mutex
	var notes []*notification
	notify := func(n *notification) { mu.Lock(); notes = append(notes, n); mu.Unlock() }
	line := modern(1, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-missing"}}, nil)
	s.handle(context.Background(), newSession(""), []byte(line), notify)
	if len(notes) != 0 {
		t.Fatalf("without logLevel the server sent %d notifications, want none", len(notes))
	}
	line = modern(2, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-missing"}}, map[string]any{metaLogLevel: "info"})
	s.handle(context.Background(), newSession(""), []byte(line), notify)
	if len(notes) != 1 || notes[0].Method != "notifications/message" {
		t.Fatalf("notifications = %v, want one log message", notes)
	}
	p := notes[0].Params.(map[string]any)
	want(t, "level", p["level"], "info") // a 404 is the caller's problem: info, not warning
	want(t, "message", p["data"].(map[string]any)["message"], "tool call failed")
}

func TestLoggingSetLevelStdio(t *testing.T) {
	c := startStdio(t, map[string]string{"LOG_LEVEL": "error"})
	c.initialize(version20250618)
	c.result("logging/setLevel", map[string]any{"level": "debug"})
	c.callTool("task_list", map[string]any{})
	var got []string
	for len(c.notes) > 0 {
		n := <-c.notes
		if n["method"] == "notifications/message" {
			got = append(got, fmt.Sprint(get(n, "params", "level"), ":", get(n, "params", "data", "message")))
		}
	}
	if !slices.Contains(got, "debug:tool call done") {
		t.Errorf("log notifications = %v, want debug:tool call done", got)
	}
}

func TestProgressNotifications(t *testing.T) {
	for _, token := range []string{`"tok-1"`, `7`} {
		t.Run(token, func(t *testing.T) {
			c := startStdio(t, nil)
			c.initialize(version20251125)
			pid := structured(t, "project_create", c.callTool("project_create", map[string]any{"project": map[string]any{"name": "P"}}))["project"].(map[string]any)["id"]
			var ids []any
			for i := range 3 {
				res := c.callTool("task_create", map[string]any{"task": map[string]any{"title": fmt.Sprint("t", i), "project_id": pid}})
				ids = append(ids, get(res, "structuredContent", "task", "id"))
			}
			line, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": map[string]any{
				"name": "task_bulk_update", "arguments": map[string]any{"taskIds": ids, "changes": map[string]any{"priority": "low"}},
				"_meta": map[string]any{"progressToken": json.RawMessage(token)},
			}})
			resp := c.raw("99", string(line))
			want(t, "updated_count", get(resp, "result", "structuredContent", "updated_count"), 3)
			var progress []float64
			for len(c.notes) > 0 {
				n := <-c.notes
				if n["method"] != "notifications/progress" {
					continue
				}
				tok, _ := json.Marshal(get(n, "params", "progressToken"))
				want(t, "token", string(tok), token)
				progress = append(progress, get(n, "params", "progress").(float64))
			}
			want(t, "progress values", progress, []float64{0, 3})
		})
	}
}

// stdioSlowCall starts a stdio server on slowBackend, initializes it and
// sends a task_read with id, returning once the backend holds the call:
// the client, where the answer arrives, and the backend's cancelled and
// release channels.
func stdioSlowCall(t *testing.T, id int) (c *stdioClient, answer chan map[string]any, cancelled chan string, release chan struct{}) {
	t.Helper()
	backend, started, cancelled, release := slowBackend(t)
	// Pinned to legacy: detection probes would stall on this backend too.
	c = startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": backend.URL, "TASKMAN_BACKEND_DIALECT": "legacy"})
	c.initialize(version20251125)
	answer = c.expect(fmt.Sprint(id))
	c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-1"}}}`, id))
	<-started
	return c, answer, cancelled, release
}

func TestCancellationStopsBackendCall(t *testing.T) {
	c, answer, cancelled, _ := stdioSlowCall(t, 42)
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42,"reason":"user gave up"}}`)
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend call was not cancelled")
	}
	// Unknown and malformed cancellations are ignored.
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"nope"}}`)
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":5}`)
	if c.request("ping", nil)["result"] == nil {
		t.Fatal("ping after cancellation failed")
	}
	if err := c.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	// Stdout has ended: the channel holds the answer, or is closed.
	select {
	case m, answered := <-answer:
		if answered {
			t.Errorf("cancelled request was answered: %v", m)
		}
	case <-time.After(stdioGuard):
		t.Fatal("the client read no end of stdout after the server stopped")
	}
}

func TestShutdownOnEOFFinishesInFlight(t *testing.T) {
	c, answer, _, release := stdioSlowCall(t, 5)
	c.in.Close() // EOF while the call is in flight
	close(release)
	resp := c.wait(answer, "in-flight call")
	want(t, "title", get(resp, "result", "structuredContent", "task", "title"), "slow")
	if err := c.exited(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestToolsListPagination(t *testing.T) {
	s := newTestServer(t)
	s.toolsPageSize = 10
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	var names []string
	cursor := ""
	for page := 0; page < 10; page++ {
		params := "{}"
		if cursor != "" {
			params = fmt.Sprintf(`{"cursor":%q}`, cursor)
		}
		res := call(t, s, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":`+params+`}`)
		for _, tl := range get(res, "result", "tools").([]any) {
			names = append(names, get(tl, "name").(string))
		}
		next, ok := get(res, "result", "nextCursor").(string)
		if !ok {
			break
		}
		cursor = next
	}
	var all []string
	for _, tl := range s.tools {
		all = append(all, tl.name)
	}
	want(t, "paged names", names, all)
	for _, bad := range []string{"garbage!", encodeCursor(1000), "dG9vbHM6LTE"} {
		res := call(t, s, sess, fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":%q}}`, bad))
		want(t, "bad cursor "+bad, errorCode(res), codeInvalidParams)
	}
}

func TestPanicInHandlerIsInternalError(t *testing.T) {
	s := newTestServer(t)
	s.byName["boom"] = &tool{name: "boom", family: familyHelpers, hints: hintRead, input: object("", nil), call: func(context.Context, *toolCall, map[string]any) (map[string]any, error) {
		panic("kaboom")
	}}
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	res := call(t, s, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"boom"}}`)
	want(t, "panic code", errorCode(res), codeInternalError)
	want(t, "id", res["id"], 2)
	if res := call(t, s, sess, `{"jsonrpc":"2.0","id":3,"method":"ping"}`); res["result"] == nil {
		t.Fatalf("ping after panic = %v", res)
	}
}

func TestRequestIDReachesBackendAndLogs(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Request-ID"))
		mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"detail":"no such task"}`))
	}))
	t.Cleanup(backend.Close)
	// Pinned to legacy: detection probes are not MCP requests and carry no id.
	c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": backend.URL, "TASKMAN_BACKEND_DIALECT": "legacy"})
	c.initialize(version20251125)
	c.callTool("task_read", map[string]any{"taskId": "T-1"})
	c.callTool("task_read", map[string]any{"taskId": "T-2"})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] == seen[1] || !validRequestID(seen[0]) {
		t.Fatalf("X-Request-ID values = %q, want two different valid ids", seen)
	}
	for _, id := range seen {
		if !strings.Contains(c.stderr.String(), `"request_id":"`+id+`"`) {
			t.Errorf("no log line carries request_id %s", id)
		}
	}
}

func TestLogsNeverOnStdout(t *testing.T) {
	c := startStdio(t, map[string]string{"LOG_LEVEL": "trace"})
	c.initialize(version20251125)
	c.callTool("task_list", map[string]any{})
	// readLoop fails the test on any stdout line that is not JSON-RPC; a
	// log line would also be a notification without a method.
	for len(c.notes) > 0 {
		if n := <-c.notes; n["method"] == nil {
			t.Errorf("stdout carried a non-protocol line: %v", n)
		}
	}
	if !strings.Contains(c.stderr.String(), `"level":"DEBUG"`) {
		t.Error("expected debug logs on stderr")
	}
}

func FuzzHandleMessage(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"a","project_id":"p"}}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]`,
		`{"jsonrpc":"2.0","id":null}`, `{"id":"x","result":{}}`, `[]`, `{`, `"str"`,
		modern(3, "tools/list", nil, nil),
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"task_bulk_update\",\"_meta\":{\"progressToken\":\"\xfe\"}}}",
		`{"jsonrpc":"2.0","id":1,"method":"ping","Method":"server/discover"}`,
	} {
		f.Add([]byte(seed))
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		sess := newSession("")
		s.handle(context.Background(), sess, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}`), func(*notification) {})
		out := s.handle(context.Background(), sess, data, func(n *notification) {
			b, err := json.Marshal(n)
			if err != nil {
				t.Fatalf("notification does not encode: %v", err)
			}
			if !utf8.Valid(b) {
				t.Fatalf("notification is not valid UTF-8: %q", b)
			}
		})
		// json.Valid accepts invalid UTF-8 inside strings, so both checks.
		if out != nil && (!json.Valid(out) || !utf8.Valid(out)) {
			t.Fatalf("answer is not valid UTF-8 JSON: %q", out)
		}
	})
}

// FuzzRawString checks rawString's fast path against the JSON decoder: a
// JSON string decodes to what json.Unmarshal gives, anything else comes
// back as it is.
func FuzzRawString(f *testing.F) {
	for _, seed := range []string{`"2026-07-28"`, `42`, `"a\"b"`, `"caf\u00e9"`, "\"\xff\"", `"tab\there"`, `""`, `"`, `null`, `"é"`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := string(raw)
		var s string
		if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
			want = s
		}
		if got := rawString(raw); got != want {
			t.Fatalf("rawString(%q) = %q, want %q", raw, got, want)
		}
	})
}

func FuzzValidateArguments(f *testing.F) {
	for _, seed := range []string{
		`{"task":{"title":"t","project_id":"p","due_date":"2026-01-01T00:00:00Z","estimated_hours":1.5}}`,
		`{"taskIds":["a"],"changes":{"priority":null,"tags":["x"]}}`,
		`{"query":"q","limit":500,"skip":0,"fields":["title"]}`,
		`{"x":1e400}`, `{"limit":1.5}`, `[]`, `{"assignee":null,"taskId":"T"}`,
	} {
		f.Add(seed)
	}
	tools := newToolTable()
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.TrimSpace(raw)
		if !validJSON([]byte(raw)) {
			return // decodeArguments reads members of a validated message only
		}
		args, err := decodeArguments(json.RawMessage(raw))
		if err != nil {
			return
		}
		for _, tl := range tools {
			if err := tl.input.validate("", args); err != nil {
				if _, ok := err.(*argError); !ok {
					t.Fatalf("%s: validate returned %T, want *argError", tl.name, err)
				}
				continue
			}
			if tl.name == "task_create" {
				task := args.(map[string]any)["task"].(map[string]any)
				if title, ok := task["title"].(string); !ok || title == "" {
					t.Fatalf("task_create accepted a task without a title: %s", raw)
				}
			}
		}
	})
}

// BenchmarkToolCall measures tools/call task_read through the dispatcher
// against the embedded backend.
func BenchmarkToolCall(b *testing.B) {
	s := newTestServer(b)
	sess := newSession("")
	call(b, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	pid := callCreateProject(b, s, sess, false)
	created := call(b, s, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"bench","project_id":"`+pid+`"}}}}`)
	id := get(created, "result", "structuredContent", "task", "id").(string)
	msg := []byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"` + id + `"}}}`)
	ctx := context.Background()
	notify := func(*notification) {}
	b.ReportAllocs()
	for b.Loop() {
		if out := s.handle(ctx, sess, msg, notify); out == nil {
			b.Fatal("no answer")
		}
	}
}

// TestProtocolRules holds one case per rule of the protocol core (issue
// 15 and docs/mcp.md), over stdio and over Streamable HTTP. Every answer
// must also be valid UTF-8 JSON.
func TestProtocolRules(t *testing.T) {
	const na = -1 // the rule does not apply to this transport
	discover := func(meta map[string]any) string {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": map[string]any{"_meta": meta}})
		return string(b)
	}
	parse := modern(1, "tools/call", map[string]any{"name": "ai_parse_task", "arguments": map[string]any{"input": "x"}}, nil)
	b64 := func(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }
	tests := []struct {
		name string
		// legacy: the message belongs to a session initialized at
		// 2025-11-25 first; otherwise it is sent with the 2026-07-28
		// headers mirrored from the body, then headers applied.
		legacy     bool
		body       string
		headers    map[string]string // HTTP only; "" removes one
		stdioCode  int               // JSON-RPC error code, 0 for a result, na
		httpStatus int               // na: HTTP does not apply
		httpCode   int
		want       string // in the answer, both transports
	}{
		{"server/discover without _meta", false, `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`,
			map[string]string{"MCP-Protocol-Version": versionModern}, codeInvalidParams, 400, codeInvalidParams, "protocol version"},
		{"server/discover without the protocol version", false, discover(map[string]any{metaClientCapabilities: map[string]any{}}),
			map[string]string{"MCP-Protocol-Version": versionModern}, codeInvalidParams, 400, codeInvalidParams, metaProtocolVersion},
		{"server/discover without clientCapabilities", false, discover(map[string]any{metaProtocolVersion: versionModern}),
			nil, codeInvalidParams, 400, codeInvalidParams, metaClientCapabilities},
		{"tools/list without the protocol version", false, modern(1, "tools/list", nil, map[string]any{metaProtocolVersion: nil}),
			map[string]string{"MCP-Protocol-Version": versionModern}, codeInvalidParams, 400, codeInvalidParams, metaProtocolVersion},
		{"version header differs from an older body version", false, modern(1, "tools/list", nil, map[string]any{metaProtocolVersion: version20251125}),
			map[string]string{"MCP-Protocol-Version": versionModern}, codeUnsupportedVersion, 400, codeHeaderMismatch, ""},
		{"version header differs from an unknown body version", false, modern(1, "tools/list", nil, map[string]any{metaProtocolVersion: "v999"}),
			map[string]string{"MCP-Protocol-Version": versionModern}, codeUnsupportedVersion, 400, codeHeaderMismatch, ""},
		{"Mcp-Name in base64 is decoded", false, parse, map[string]string{"Mcp-Name": b64("ai_parse_task")}, na, 200, 0, `"resultType":"complete"`},
		{"Mcp-Name in base64 naming another tool", false, parse, map[string]string{"Mcp-Name": b64("task_read")}, na, 400, codeHeaderMismatch, "task_read"},
		{"Mcp-Name not valid base64", false, parse, map[string]string{"Mcp-Name": "=?base64?***?="}, na, 400, codeHeaderMismatch, "base64"},
		{"member names are exact", true, `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"server/discover"}`, nil, 0, 200, 0, `"result":{}`},
		{"duplicate members are refused", true, `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/list"}`, nil, codeInvalidRequest, 200, codeInvalidRequest, "more than once"},
		{"duplicate ids are refused", true, `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, nil, codeInvalidRequest, 200, codeInvalidRequest, `"id":null`},
		{"an array that is not a batch is an invalid request", true, `[1]`, nil, codeInvalidRequest, 200, codeInvalidRequest, ""},
		{"an invalid UTF-8 id is echoed as valid UTF-8", true, "{\"jsonrpc\":\"2.0\",\"id\":\"a\xffb\",\"method\":\"ping\"}", nil, 0, 200, 0, "\"id\":\"a\uFFFDb\""},
	}
	web := startHTTP(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.stdioCode != na {
				var script []string
				if tt.legacy {
					script = append(script, initLine(version20251125))
				}
				answers := stdioAnswers(t, newTestServer(t), append(script, tt.body))
				checkRuleAnswer(t, "stdio", []byte(answers[len(answers)-1]), tt.stdioCode, tt.want)
			}
			if tt.httpStatus == na {
				return
			}
			headers := mirroredHeaders(tt.body)
			if tt.legacy {
				headers = map[string]string{"Mcp-Session-Id": web.initSession(t, nil), "MCP-Protocol-Version": version20251125}
			}
			for k, v := range tt.headers {
				headers[k] = v
			}
			resp, body := web.post(t, tt.body, headers)
			if resp.StatusCode != tt.httpStatus {
				t.Errorf("HTTP status = %d, want %d (body %s)", resp.StatusCode, tt.httpStatus, body)
			}
			checkRuleAnswer(t, "HTTP", body, tt.httpCode, tt.want)
		})
	}
}

// checkRuleAnswer checks that an answer is valid UTF-8 JSON carrying the
// JSON-RPC error code (0: a result) and the text want.
func checkRuleAnswer(t *testing.T, transport string, answer []byte, code int, want string) {
	t.Helper()
	if !utf8.Valid(answer) || !json.Valid(answer) {
		t.Fatalf("%s answer %q is not valid UTF-8 JSON", transport, answer)
	}
	var resp map[string]any
	if json.Unmarshal(answer, &resp) != nil {
		var batch []map[string]any
		json.Unmarshal(answer, &batch)
		if len(batch) != 1 {
			t.Fatalf("%s answer %s: want one response", transport, answer)
		}
		resp = batch[0]
	}
	if got := errorCode(resp); got != code {
		t.Errorf("%s answer %s: code %d, want %d", transport, answer, got, code)
	}
	if !strings.Contains(string(answer), want) {
		t.Errorf("%s answer %s: want it to contain %s", transport, answer, want)
	}
}

// TestMissingClientCapability: a 2026-07-28 request to a method that
// relies on a client capability the request does not declare gets -32021
// with data.requiredCapabilities as a ClientCapabilities object, and HTTP
// 400; declaring it lets the request through.
func TestMissingClientCapability(t *testing.T) {
	s := newTestServer(t)
	s.methods["test/sample"] = &method{modern: true, clientCapabilities: []string{"sampling"},
		handle: func(*server, context.Context, *invocation) (any, error) { return &discoverResult{}, nil }}
	tr := newHTTPTransport(s, testConfig(t, nil), disabledHealth(), nil, context.Background())
	hs := httptest.NewServer(tr.routes())
	t.Cleanup(hs.Close)
	for _, tt := range []struct {
		caps   map[string]any
		status int
		code   int
	}{
		{map[string]any{"elicitation": map[string]any{}}, 400, codeMissingCapability},
		{map[string]any{"sampling": map[string]any{}}, 200, 0},
	} {
		line := modern(1, "test/sample", nil, map[string]any{metaClientCapabilities: tt.caps})
		got := call(t, s, newSession(""), line)
		want(t, "stdio code", errorCode(got), tt.code)
		if tt.code != 0 {
			want(t, "requiredCapabilities", get(got, "error", "data", "requiredCapabilities"), map[string]any{"sampling": map[string]any{}})
		}
		resp, _ := httpClient{base: hs.URL}.post(t, line, mirroredHeaders(line))
		want(t, "HTTP status", resp.StatusCode, tt.status)
	}
}

// TestMethodTable: every row names an era, and the capability it belongs
// to is one the server declares in initialize and server/discover.
func TestMethodTable(t *testing.T) {
	s := newTestServer(t)
	disc := call(t, s, newSession(""), modern(1, "server/discover", nil, nil))
	declared := get(disc, "result", "capabilities").(map[string]any)
	for name, m := range methodTable {
		if !m.legacy && !m.modern {
			t.Errorf("%s: served in no era", name)
		}
		if _, ok := declared[m.capability]; m.capability != "" && !ok {
			t.Errorf("%s: capability %q is not declared (declared: %v)", name, m.capability, declared)
		}
	}
}

// TestModernStreamCarriesOnlyItsOwnMessages: without a logLevel in its
// _meta, a 2026-07-28 request gets no notifications/message, even in a
// process whose legacy session asked for every level; its answer is
// plain JSON.
func TestModernStreamCarriesOnlyItsOwnMessages(t *testing.T) {
	s := newTestServer(t)
	sess := newSession("")
	call(t, s, sess, initLine(version20251125))
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"debug"}}`)
	var notes []*notification
	line := modern(2, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-missing"}}, nil)
	s.handle(context.Background(), sess, []byte(line), func(n *notification) { notes = append(notes, n) })
	if len(notes) != 0 {
		t.Fatalf("notifications = %v, want none", notes)
	}
}

// FuzzValidJSON: validJSON accepts exactly what json.Valid accepts.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{}`, ` [1, 2.5e-3, -0] `, `"\u00e9\n"`, `{"a":[true,false,null],"b":{}}`, `01`, `1.`, `-`, `1e`,
		`[1,]`, `{"a" 1}`, `{"a":1,}`, "\"\x01\"", `"\x"`, `"\u12"`, `tru`, `nul`, `[[[`, `{} {}`, "\"\xff\"", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if got, want := validJSON(text), json.Valid(text); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", text, got, want)
		}
	})
}

// TestValidJSONNesting: validJSON stops at encoding/json's nesting limit,
// the same level as json.Valid.
func TestValidJSONNesting(t *testing.T) {
	for _, depth := range []int{jsonMaxNesting, jsonMaxNesting + 1} {
		arrays := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		objects := strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
		for _, text := range []string{arrays, objects} {
			if got, want := validJSON([]byte(text)), json.Valid([]byte(text)); got != want || got != (depth <= jsonMaxNesting) {
				t.Errorf("validJSON(%.8s… nested %d deep) = %v, json.Valid says %v", text, depth, got, want)
			}
		}
	}
}

// FuzzParseMessage checks the message parser against the JSON decoder:
// it refuses exactly the texts that are not JSON, and a message it
// accepts has the method the decoder reads, a valid UTF-8 id, and params
// that are an object.
func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`, `{"jsonrpc":"2.0","method":"x","params":{"_meta":{"a":1}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`, `{"id":"x","result":{}}`, `[1]`, `42`, `{`, `{} {}`,
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"ping\"}", `{"jsonrpc":"2.0","id":1,"method":"m","params":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		m := parseMessage(text)
		if (m == nil) != !json.Valid(text) {
			t.Fatalf("parseMessage(%q) = %v, json.Valid = %v", text, m, json.Valid(text))
		}
		if m == nil || m.invalid != nil || m.response {
			return
		}
		if !utf8.Valid(m.id) {
			t.Fatalf("parseMessage(%q): id %q is not valid UTF-8", text, m.id)
		}
		var generic map[string]any
		if json.Unmarshal(text, &generic) != nil {
			t.Fatalf("parseMessage(%q) accepted a message the decoder refuses", text)
		}
		if got, _ := generic["method"].(string); got != m.method {
			t.Fatalf("parseMessage(%q): method %q, the decoder reads %q", text, m.method, got)
		}
		if m.paramsErr == nil && generic["params"] != nil {
			if _, ok := generic["params"].(map[string]any); !ok {
				t.Fatalf("parseMessage(%q): params %v accepted, not an object", text, generic["params"])
			}
		}
	})
}

// TestInvalidUTF8ProgressTokenEchoedValid: a string progressToken holding
// invalid UTF-8 comes back in notifications/progress as valid UTF-8.
func TestInvalidUTF8ProgressTokenEchoedValid(t *testing.T) {
	s := newTestServer(t)
	sess := newSession("")
	call(t, s, sess, initLine(version20251125))
	pid := callCreateProject(t, s, sess, false)
	created := call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"u","project_id":"`+pid+`"}}}}`)
	id := get(created, "result", "structuredContent", "task", "id").(string)
	line := "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"task_bulk_update\",\"arguments\":{\"taskIds\":[\"" + id +
		"\"],\"changes\":{\"priority\":\"low\"}},\"_meta\":{\"progressToken\":\"t\xff\"}}}"
	var notes [][]byte
	s.handle(context.Background(), sess, []byte(line), func(n *notification) {
		b, _ := json.Marshal(n)
		notes = append(notes, b)
	})
	if len(notes) == 0 {
		t.Fatal("no progress notifications")
	}
	for _, b := range notes {
		if !utf8.Valid(b) || !strings.Contains(string(b), "\"progressToken\":\"t\uFFFD\"") {
			t.Errorf("notification %q: want valid UTF-8 with the token t\\uFFFD", b)
		}
	}
}

// TestToolResponseEncodedOnce: the hand-assembled tools/call response is
// byte for byte what encoding/json writes for the same response, for every
// shape a tool result takes.
func TestToolResponseEncodedOnce(t *testing.T) {
	record := json.RawMessage(`{"id":"T-1","title":"a \u003cb\u003e","hours":1.50}`)
	stale := newToolResult(version20251125, map[string]any{"task": record, "note": "x"})
	markStale(stale, &staleness{age: 3 * time.Second, cause: errors.New("backend down")})
	stamped := newToolResult(versionModern, map[string]any{"projectId": "P-1", "task": map[string]any{"b": 1, "a": "<&>"}})
	stamped.stamp(&implementation{Name: "taskman-mcp", Version: "test"})
	results := map[string]*toolResult{
		"legacy text only": newToolResult(version20250326, map[string]any{"task": record}),
		"structured":       newToolResult(version20250618, map[string]any{"task": record}),
		"stale":            stale,
		"stamped":          stamped,
		"error":            errorToolResult("task_read: <not found> \u2028 \xff"),
		"no content":       {},
	}
	for name, tr := range results {
		for _, id := range []json.RawMessage{json.RawMessage(`7`), json.RawMessage(`-1.5e3`), json.RawMessage(`"req-1"`), json.RawMessage(`"<id>"`), json.RawMessage(`"a\"b"`), json.RawMessage(`"é\u00e9"`), nil} {
			want, err := json.Marshal(&response{JSONRPC: "2.0", ID: id, Result: tr})
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalToolResponse(id, tr)
			if err != nil || string(got) != string(want) {
				t.Errorf("%s, id %s:\n got %s (%v)\nwant %s", name, id, got, err, want)
			}
		}
	}
	text, err := encodePayload(map[string]any{"task": record, "a": []any{1, "<"}})
	if want := `{"a":[1,"\u003c"],"task":` + string(record) + `}`; err != nil || string(text) != want {
		t.Errorf("encodePayload = %s, %v; want %s", text, err, want)
	}
}

// TestModernCallEndsWithItsStream: over HTTP, a 2026-07-28 request is
// cancelled by closing its stream; the backend call stops with it.
func TestModernCallEndsWithItsStream(t *testing.T) {
	backend, started, cancelled, _ := slowBackend(t)
	s := startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": backend.URL, "TASKMAN_BACKEND_DIALECT": "legacy"})
	ctx, cancel := context.WithCancel(context.Background())
	req := newMCPPost(ctx, s.base, modern(1, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-1"}}, nil), modernCallHeaders("task_read"))
	errc := make(chan error, 1)
	go func() { // not the test's goroutine: Do, not roundTrip
		resp, err := postClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("the call ended before reaching the backend: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not reach the backend")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the stream did not cancel the backend call")
	}
	<-errc
}
