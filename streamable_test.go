package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	rtmetrics "runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago. It
// is only for a server in another process or an external tool that must be
// told its port before it starts (and so may lose it to another process in
// between); a server in this process gets a listener opened first
// (loopbackListener).
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// loopbackListener opens a listener on a free 127.0.0.1 port for a server
// run in this process, and returns it with its port; it is closed when the
// test ends (a no-op if the server already closed it).
func loopbackListener(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln, port
}

// handOver returns the listenFunc of a test server: it hands over the
// listener of lns opened on the address asked for, and refuses any other,
// so a test server never binds a port of its own.
func handOver(lns ...net.Listener) listenFunc {
	return func(network, address string) (net.Listener, error) {
		for _, ln := range lns {
			if network == ln.Addr().Network() && address == ln.Addr().String() {
				return ln, nil
			}
		}
		return nil, fmt.Errorf("the test handed over no listener for %s %s", network, address)
	}
}

// waitOK polls url every poll until it answers 200, exited is closed (the
// process that should serve it ended), or timeout passes. A nil exited
// never closes.
func waitOK(url string, timeout, poll time.Duration, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second} // a local server slower than this is stuck
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("GET %s: the server exited (last: %v)", url, last)
		case <-time.After(poll):
		}
	}
	return fmt.Errorf("GET %s: no 200 within %v (last: %v)", url, timeout, last)
}

// httpServer is run serving HTTP on loopback, for tests; its httpClient
// talks to it.
type httpServer struct {
	httpClient
	port   string
	stderr *syncBuffer
	cancel context.CancelFunc // the "signal"
	done   chan error
}

// startHTTP runs the server with TASKMAN_MCP_TRANSPORT=http on a listener
// opened first and waits until it answers; it is stopped when the test ends.
func startHTTP(t testing.TB, env map[string]string) *httpServer {
	t.Helper()
	ln, port := loopbackListener(t)
	full := map[string]string{"TASKMAN_MCP_TRANSPORT": "http", "HOST": "127.0.0.1", "PORT": port, "LOG_LEVEL": "warn"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &httpServer{httpClient: httpClient{base: "http://127.0.0.1:" + port}, port: port, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := runListening(ctx, handOver(ln), []string{"taskman-mcp"}, testEnv(full), strings.NewReader(""), io.Discard, s.stderr)
		// A run that failed before serving never took the listener: closing
		// it fails the request below instead of leaving it queued.
		ln.Close()
		s.done <- err
	}()
	// The listener queues the request until the server serves it: no polling.
	client := &http.Client{Timeout: 10 * time.Second} // a local server slower than this to start is stuck
	resp, err := client.Get(s.base + "/health/live")
	if err != nil {
		select {
		case err := <-s.done:
			t.Fatalf("server exited: %v\n%s", err, s.stderr.String())
		case <-time.After(time.Second): // an exit closes the listener just before it reports
		}
		t.Fatalf("server did not start: %v\n%s", err, s.stderr.String())
	}
	resp.Body.Close()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

// stop sends the "signal" and waits for run to return.
func (s *httpServer) stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // later callers see the same result
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("server did not stop")
	}
}

// mcpHeaders are the headers every MCP POST carries.
var mcpHeaders = map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

// setHeaders sets headers on req: "" deletes a header, and "Host" sets
// the request's Host.
func setHeaders(req *http.Request, headers map[string]string) {
	for k, v := range headers {
		switch {
		case k == "Host":
			req.Host = v
		case v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
}

// newMCPPost returns an MCP POST of body to base's /mcp with the
// mcpHeaders and then headers (setHeaders).
func newMCPPost(ctx context.Context, base, body string, headers map[string]string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/mcp", strings.NewReader(body))
	if err != nil {
		panic("newMCPPost: " + err.Error()) // tests pass a valid base URL
	}
	setHeaders(req, mcpHeaders)
	setHeaders(req, headers)
	return req
}

// httpClient posts MCP messages to base+"/mcp": the one HTTP client of
// the tests, for a server of startHTTP or a proxy in front of servers.
type httpClient struct {
	base string // http://127.0.0.1:PORT
}

// post sends an MCP POST with headers (nil values delete a default).
func (c httpClient) post(t testing.TB, body string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	return roundTrip(t, postClient, newMCPPost(context.Background(), c.base, body, headers))
}

// postClient bounds every test MCP POST, its answer read to the end. The
// slowest POST a test makes waits for a shutdown deadline of seconds, so
// two minutes only trips when something is wedged.
var postClient = &http.Client{Timeout: 2 * time.Minute}

// roundTrip sends req with c and returns the answer with its body read and
// closed: the one request helper of the tests. An error sending or reading
// fails the test.
func roundTrip(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// getClient bounds every test GET, and the other short requests that are
// not MCP POSTs (a preflight, a DELETE): the servers are on loopback, so
// ten seconds only trips when something is wedged.
var getClient = &http.Client{Timeout: 10 * time.Second}

// getBody is roundTrip of a plain GET of url with getClient.
func getBody(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return roundTrip(t, getClient, req)
}

// answer posts body and returns the HTTP answer with the JSON-RPC answer
// decoded: the JSON body, or the last message with an id in an event
// stream; nil for an empty body.
func (c httpClient) answer(t testing.TB, body string, headers map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	resp, b := c.post(t, body, headers)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var last map[string]any
		for _, m := range sseMessages(b) {
			if _, ok := m["id"]; ok {
				last = m
			}
		}
		if last == nil {
			t.Fatalf("POST %s/mcp: no answer in the event stream %s", c.base, b)
		}
		return resp, last
	}
	var msg map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatalf("POST %s/mcp: status %d, body %q is not JSON: %v", c.base, resp.StatusCode, b, err)
		}
	}
	return resp, msg
}

// initSession initializes a legacy 2025-11-25 session and returns its id.
func (c httpClient) initSession(t testing.TB, headers map[string]string) string {
	t.Helper()
	resp, body := c.post(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, headers)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || len(sid) < 32 {
		t.Fatalf("initialize: %d %s (session %q)", resp.StatusCode, body, sid)
	}
	return sid
}

// sessionRequest sends method with params in the legacy session sid and
// returns the HTTP status and the answer.
func (c httpClient) sessionRequest(t testing.TB, sid string, id int, method string, params any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	resp, msg := c.answer(t, string(body), map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": version20251125})
	return resp.StatusCode, msg
}

// sessionTool calls a tool in the legacy session sid and returns the HTTP
// status and the answer.
func (c httpClient) sessionTool(t testing.TB, sid string, id int, name string, args map[string]any) (int, map[string]any) {
	t.Helper()
	return c.sessionRequest(t, sid, id, "tools/call", map[string]any{"name": name, "arguments": args})
}

// modernTool sends a 2026-07-28 tools/call and returns the HTTP status and
// the answer.
func (c httpClient) modernTool(t testing.TB, id int, name string, args map[string]any) (int, map[string]any) {
	t.Helper()
	resp, msg := c.answer(t, modern(id, "tools/call", map[string]any{"name": name, "arguments": args}, nil), modernCallHeaders(name))
	return resp.StatusCode, msg
}

// project creates a project with a 2026-07-28 project_create and returns
// its id: tasks must name a project that exists.
func (c httpClient) project(t testing.TB) string {
	t.Helper()
	status, msg := c.modernTool(t, 900, "project_create", map[string]any{"project": map[string]any{"name": "P"}})
	pid, ok := get(msg, "result", "structuredContent", "project", "id").(string)
	if status != http.StatusOK || !ok {
		t.Fatalf("project_create = %d %v, want 200 with a project", status, msg)
	}
	return pid
}

// checkTool fails the test unless a tools/call answer is 200 with a
// successful result, and returns its structuredContent.
func checkTool(t testing.TB, what string, status int, msg map[string]any) map[string]any {
	t.Helper()
	if status != http.StatusOK || get(msg, "result", "isError") != false {
		t.Fatalf("%s = %d %v, want 200 with a successful result", what, status, msg)
	}
	sc, _ := get(msg, "result", "structuredContent").(map[string]any)
	return sc
}

// sseMessages returns the JSON messages of an event-stream body.
func sseMessages(body []byte) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m map[string]any
			if json.Unmarshal([]byte(data), &m) == nil {
				out = append(out, m)
			}
		}
	}
	return out
}

func TestHTTPRules(t *testing.T) {
	s := startHTTP(t, map[string]string{"TASKMAN_MAX_REQUEST_BYTES": "2048"})
	sid := s.initSession(t, nil)
	deleted := s.initSession(t, nil)
	req, _ := http.NewRequest(http.MethodDelete, s.base+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", deleted)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE session: %v %v", resp, err)
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	modernCall := modern(2, "tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{}}, nil)
	modernHeaders := modernCallHeaders("task_list")
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	session := map[string]string{"Mcp-Session-Id": sid}
	tests := []struct {
		name    string
		body    string
		headers map[string]string
		status  int
		code    int    // JSON-RPC error code expected in the body; 0: none checked
		text    string // expected in the body
	}{
		{"wrong Content-Type", ping, with(session, "Content-Type", "text/plain"), 415, 0, "Content-Type"},
		{"Accept without event-stream", ping, with(session, "Accept", "application/json"), 406, 0, "Accept"},
		{"Accept */* counts", ping, with(session, "Accept", "*/*"), 200, 0, `"result"`},
		{"body over the limit", `{"pad":"` + strings.Repeat("x", 4096) + `"}`, session, 413, 0, "TASKMAN_MAX_REQUEST_BYTES"},
		{"body not JSON", `{"jsonrpc":`, session, 400, codeParseError, ""},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, session, 202, 0, ""},
		{"response from the client", `{"jsonrpc":"2.0","id":"s1","result":{}}`, session, 202, 0, ""},
		{"missing session", ping, nil, 400, -32000, "Mcp-Session-Id"},
		{"unknown session", ping, map[string]string{"Mcp-Session-Id": "0123456789abcdef0123456789abcdef"}, 404, -32001, ""},
		{"deleted session", ping, map[string]string{"Mcp-Session-Id": deleted}, 404, -32001, ""},
		{"bad protocol-version header", ping, with(session, "MCP-Protocol-Version", "1999-01-01"), 400, 0, "unsupported"},
		{"older supported protocol-version header", ping, with(session, "MCP-Protocol-Version", version20250326), 200, 0, `"result"`},
		{"modern request", modernCall, modernHeaders, 200, 0, `"resultType":"complete"`},
		{"modern method header mismatch", modernCall, with(modernHeaders, "Mcp-Method", "tools/list"), 400, codeHeaderMismatch, "Mcp-Method"},
		{"modern name header mismatch", modernCall, with(modernHeaders, "Mcp-Name", "task_read"), 400, codeHeaderMismatch, "Mcp-Name"},
		{"modern version header missing", modernCall, with(modernHeaders, "MCP-Protocol-Version", ""), 400, codeHeaderMismatch, ""},
		{"modern unsupported version", modern(3, "tools/list", nil, map[string]any{metaProtocolVersion: "2099-01-01"}), with(modernHeaders, "MCP-Protocol-Version", "2099-01-01", "Mcp-Method", "tools/list"), 400, codeUnsupportedVersion, "supported"},
		{"modern unknown method", modern(4, "tasks/explode", nil, nil), with(modernHeaders, "Mcp-Method", "tasks/explode"), 404, codeMethodNotFound, ""},
		{"modern without capabilities", modern(5, "tools/list", nil, map[string]any{metaClientCapabilities: nil}), with(modernHeaders, "Mcp-Method", "tools/list"), 400, codeInvalidParams, "clientCapabilities"},
		{"evil Host", ping, with(session, "Host", "evil.example.com"), 403, 0, "Host"},
		{"evil Origin", ping, with(session, "Origin", "http://evil.example.com"), 403, 0, "Origin"},
		{"loopback Origin", ping, with(session, "Origin", "http://localhost:5173"), 200, 0, `"result"`},
		{"Host localhost:PORT", ping, with(session, "Host", "localhost:"+s.port), 200, 0, `"result"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.post(t, tt.body, tt.headers)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			if tt.code != 0 {
				var r response
				if err := json.Unmarshal(body, &r); err != nil || r.Error == nil || r.Error.Code != tt.code {
					t.Errorf("body %s, want JSON-RPC error %d", body, tt.code)
				}
			}
			if !bytes.Contains(body, []byte(tt.text)) {
				t.Errorf("body %s, want it to contain %q", body, tt.text)
			}
			if id := resp.Header.Get("X-Request-Id"); !validRequestID(id) {
				t.Errorf("X-Request-Id = %q, want a valid id on every answer", id)
			}
		})
	}
	t.Run("GET rules", func(t *testing.T) {
		for _, tt := range []struct {
			headers map[string]string
			status  int
		}{
			{map[string]string{"Accept": "text/event-stream"}, 400},
			{map[string]string{"Accept": "text/event-stream", "Mcp-Session-Id": deleted}, 404},
			{map[string]string{"Accept": "application/json", "Mcp-Session-Id": sid}, 406},
			{map[string]string{"Accept": "text/event-stream", "MCP-Protocol-Version": versionModern}, 405},
		} {
			req, _ := http.NewRequest(http.MethodGet, s.base+"/mcp", nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if got := httpStatus(t, req); got != tt.status {
				t.Errorf("GET with %v = %d, want %d", tt.headers, got, tt.status)
			}
		}
	})
	t.Run("GET stream opens once per session", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET stream: %v %v", resp, err)
		}
		defer resp.Body.Close()
		req2, _ := http.NewRequest(http.MethodGet, s.base+"/mcp", nil)
		req2.Header = req.Header.Clone()
		resp2, err := http.DefaultClient.Do(req2)
		if err != nil || resp2.StatusCode != http.StatusConflict {
			t.Fatalf("second GET stream: %v %v, want 409", resp2, err)
		}
		resp2.Body.Close()
	})
	t.Run("other methods", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, s.base+"/mcp", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
			t.Fatalf("PUT /mcp: %v %v", resp, err)
		}
		resp.Body.Close()
	})
}

func TestHTTPAuth(t *testing.T) {
	s := startHTTP(t, map[string]string{"TASKMAN_AUTH_TOKEN": "s3cret-token"})
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, auth := range []string{"", "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer s3cret-token-longer"} {
		resp, _ := s.post(t, ping, map[string]string{"Authorization": auth})
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d, want 401 with WWW-Authenticate: Bearer", auth, resp.StatusCode)
		}
	}
	good := map[string]string{"Authorization": "Bearer s3cret-token"}
	sid := s.initSession(t, good)
	resp, body := s.post(t, ping, map[string]string{"Authorization": "Bearer s3cret-token", "Mcp-Session-Id": sid})
	if resp.StatusCode != 200 {
		t.Fatalf("ping with token: %d %s", resp.StatusCode, body)
	}
	// Health stays open without the token.
	if resp, err := http.Get(s.base + "/health/live"); err != nil || resp.StatusCode != 200 {
		t.Errorf("health without token: %v %v", resp, err)
	}
	if strings.Contains(s.stderr.String(), "s3cret-token") {
		t.Error("the token appears in the logs")
	}
}

func TestHTTPProgressOverSSE(t *testing.T) {
	s := startHTTP(t, nil)
	sid := s.initSession(t, nil)
	h := map[string]string{"Mcp-Session-Id": sid}
	pid := s.project(t)
	var ids []any
	for i := range 3 {
		_, body := s.post(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"p%d","project_id":%q}}}}`, i+1, i, pid), h)
		var r map[string]any
		json.Unmarshal(body, &r)
		ids = append(ids, get(r, "result", "structuredContent", "task", "id"))
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": map[string]any{
		"name": "task_bulk_assign_sprint", "arguments": map[string]any{"taskIds": ids, "sprintId": "S-9"},
		"_meta": map[string]any{"progressToken": 77},
	}})
	resp, body := s.post(t, string(b), h)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}
	msgs := sseMessages(body)
	var methods []string
	for _, m := range msgs {
		if method, ok := m["method"].(string); ok {
			methods = append(methods, method)
			want(t, "token", get(m, "params", "progressToken"), 77)
		} else {
			methods = append(methods, "result")
			want(t, "assigned", get(m, "result", "structuredContent", "assigned_count"), 3)
		}
	}
	want(t, "event order", methods, []string{"notifications/progress", "notifications/progress", "result"})
}

func TestHTTPConcurrentSessions(t *testing.T) {
	const sessions = 200
	s := startHTTP(t, map[string]string{"TASKMAN_MAX_IN_FLIGHT": strconv.Itoa(sessions)}) // every call may be in flight at once
	var projects [7]string                                                                // the sessions' tasks spread over them
	for i := range projects {
		projects[i] = s.project(t)
	}
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	const callsEach = 5 // bounded: 200 × (init + 5 calls + delete)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	do := func(method, sid, body string) (int, []byte, http.Header) {
		req, _ := http.NewRequest(method, s.base+"/mcp", strings.NewReader(body))
		for k, v := range mcpHeaders {
			req.Header.Set(k, v)
		}
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, []byte(err.Error()), nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	var failures atomic.Int32
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, h := do("POST", "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
			sid := h.Get("Mcp-Session-Id")
			if code != 200 || sid == "" {
				t.Errorf("initialize %d: %d %s", i, code, body)
				failures.Add(1)
				return
			}
			var taskID string
			for j := range callsEach {
				var call string
				switch {
				case j == 0:
					call = fmt.Sprintf(`{"name":"task_create","arguments":{"task":{"title":"s%d","project_id":%q}}}`, i, projects[i%len(projects)])
				case j%2 == 1:
					call = fmt.Sprintf(`{"name":"task_read","arguments":{"taskId":%q}}`, taskID)
				default:
					call = fmt.Sprintf(`{"name":"task_list","arguments":{"project_id":%q,"limit":5}}`, projects[i%len(projects)])
				}
				code, body, _ := do("POST", sid, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":%s}`, j+1, call))
				var r map[string]any
				json.Unmarshal(body, &r)
				if code != 200 || get(r, "result", "isError") != false {
					t.Errorf("session %d call %d: %d %s", i, j, code, body)
					failures.Add(1)
					return
				}
				if j == 0 {
					taskID, _ = get(r, "result", "structuredContent", "task", "id").(string)
				}
			}
			if code, body, _ := do("DELETE", sid, ""); code != 204 {
				t.Errorf("DELETE %d: %d %s", i, code, body)
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d sessions failed", failures.Load())
	}
	tr.CloseIdleConnections()
	// Every session is gone and the goroutines they used have ended.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Errorf("goroutines: %d before, %d after all sessions closed", before, n)
	}
	// The store emptying (the gauge below) and the goroutine count above
	// are the leak checks; this bound only catches gross retention, such
	// as event-stream buffers kept per closed session. What the heap
	// legitimately keeps is the 200 tasks of the embedded backend.
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapAlloc) - int64(heapBefore); grown > 8<<20 {
		t.Errorf("heap grew by %d KiB after all sessions closed", grown>>10)
	}
	_, body := getBody(t, s.base+"/metrics")
	if !bytes.Contains(body, []byte("\ntaskman_mcp_sessions_active 0\n")) {
		t.Errorf("sessions gauge not back to 0:\n%s", grepLines(body, "sessions_active"))
	}
}

// grepLines returns the lines of b containing s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHTTPShutdownFinishesInFlight(t *testing.T) {
	backend := envelopeBackend(t)
	release := make(chan struct{})
	var started atomic.Int32
	gate := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/tasks") { // task creates wait; the project below does not
			started.Add(1)
			<-release
		}
		proxyTo(backend.URL, w, r)
	})
	gated := newLoopbackServer(t, gate)
	s := startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": gated + "/api/v1", "GRACEFUL_SHUTDOWN_TIMEOUT_MS": "20000"})
	const inFlight = 20
	pid := s.project(t)
	results := make([]<-chan string, inFlight) // postAsync: t.Fatal must not run off the test's goroutine
	for i := range inFlight {
		body := modern(i, "tools/call", map[string]any{"name": "task_create", "arguments": map[string]any{"task": map[string]any{"title": fmt.Sprint("w", i), "project_id": pid}}}, nil)
		results[i] = postAsync(context.Background(), s, modernCallHeaders("task_create"), body)
	}
	for started.Load() < inFlight {
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	// New requests are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := http.Get(s.base + "/health/live")
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	for _, result := range results {
		if r := <-result; !strings.HasPrefix(r, "200 ") || !strings.Contains(r, `"isError":false`) {
			t.Errorf("in-flight call: %s", r)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}
	// Every acknowledged write is in the backend.
	resp, err := http.Get(backend.URL + "/api/v1/tasks?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data struct {
			Tasks []any `json:"tasks"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if len(env.Data.Tasks) != inFlight {
		t.Errorf("backend holds %d tasks, want %d", len(env.Data.Tasks), inFlight)
	}
}

// proxyTo forwards r to base and copies the answer back.
func proxyTo(base string, w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// newLoopbackServer serves h on 127.0.0.1 until the test ends and returns
// its base URL.
func newLoopbackServer(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// processCPU returns the user and system CPU time this process has used so
// far, from /proc/self/stat; ok is false where there is no such file.
func processCPU() (time.Duration, bool) {
	var s promScrape
	st, ok := s.procStat()
	return time.Duration(st.cpuSeconds() * float64(time.Second)), ok
}

// gcCPU returns the runtime's estimate of the CPU seconds the garbage
// collector has used so far.
func gcCPU() float64 {
	s := []rtmetrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}

// BenchmarkHTTPToolCall measures tools/call task_read over loopback HTTP
// with 16 concurrent clients against the embedded backend, reporting
// throughput and p50/p99 latency.
func BenchmarkHTTPToolCall(b *testing.B) {
	benchmarkHTTPToolCall(b, nil, 16)
}

// benchTask creates a task through s for a load benchmark and returns its
// id and the body of a task_read call of it.
func benchTask(b *testing.B, s *httpServer) (id string, readBody []byte) {
	_, created := s.post(b, modern(1, "tools/call", map[string]any{"name": "task_create", "arguments": map[string]any{"task": map[string]any{"title": "bench", "project_id": s.project(b)}}}, nil), modernCallHeaders("task_create"))
	var r map[string]any
	json.Unmarshal(created, &r)
	id, _ = get(r, "result", "structuredContent", "task", "id").(string)
	if id == "" {
		b.Fatalf("create: %s", created)
	}
	return id, []byte(modern(2, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": id}}, nil))
}

// benchmarkHTTPToolCall runs the HTTP tool-call load with the given
// environment and client count.
func benchmarkHTTPToolCall(b *testing.B, env map[string]string, clients int) {
	b.StopTimer() // driveHTTPLoad times only the load
	s := startHTTP(b, env)
	_, body := benchTask(b, s)
	st := driveHTTPLoad(b, s.base+"/mcp", body, clients, b.N)
	st.report(b)
	// A tracer that dropped spans under the load did less work than the
	// figures claim. Drops are logged at the next export, so look after
	// the final flush.
	if err := s.stop(); err != nil {
		b.Fatalf("run: %v", err)
	}
	if strings.Contains(s.stderr.String(), "spans dropped") {
		b.Errorf("the tracer dropped spans; the figures undercount its cost:\n%s", s.stderr.String())
	}
}

// httpLoadStats is what one run of driveHTTPLoad measured. CPU,
// allocation and GC count the whole process, load generator included: it
// is the same work in every variant, so differences between variants are
// the server's.
type httpLoadStats struct {
	calls     int
	elapsed   time.Duration
	cpu       time.Duration // process CPU over the run; 0 if unknown
	gcCPU     float64       // runtime's GC CPU seconds over the run
	bytes     uint64
	mallocs   uint64
	gcs       uint32
	latencies []time.Duration // sorted
}

// rate returns the calls per second.
func (st httpLoadStats) rate() float64 { return float64(st.calls) / st.elapsed.Seconds() }

// cpuPerCall returns the process CPU per call in microseconds.
func (st httpLoadStats) cpuPerCall() float64 { return st.cpu.Seconds() * 1e6 / float64(st.calls) }

// report reports st as the benchmark's custom metrics.
func (st httpLoadStats) report(b *testing.B) {
	if st.calls == 0 {
		return
	}
	// On a shared machine CPU per call varies far less than throughput
	// does, since time other tenants take is not charged to this process.
	if st.cpu > 0 {
		b.ReportMetric(st.cpuPerCall(), "cpu-µs/call")
	}
	n := float64(st.calls)
	b.ReportMetric(st.gcCPU*1e6/n, "gc-cpu-µs/call")
	b.ReportMetric(float64(st.bytes)/n, "B/call")
	b.ReportMetric(float64(st.mallocs)/n, "allocs/call")
	b.ReportMetric(float64(st.gcs)*1000/n, "GCs/1k-calls")
	b.ReportMetric(st.rate(), "calls/s")
	b.ReportMetric(float64(st.latencies[len(st.latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(st.latencies[len(st.latencies)*99/100].Microseconds()), "p99-µs")
}

// driveHTTPLoad POSTs body to url as a 2026-07-28 task_read from clients
// concurrent keep-alive clients until n calls are made, failing b on any
// answer but 200, and returns what it measured. The benchmark timer runs
// only while the load does.
func driveHTTPLoad(b *testing.B, url string, body []byte, clients, n int) httpLoadStats {
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, cpuOK := processCPU()
	gc0 := gcCPU()
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("MCP-Protocol-Version", versionModern)
				req.Header.Set("Mcp-Method", "tools/call")
				req.Header.Set("Mcp-Name", "task_read")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := httpLoadStats{calls: len(lat), elapsed: time.Since(start)}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if cpu1, ok := processCPU(); ok && cpuOK {
		st.cpu = cpu1 - cpu0
	}
	st.gcCPU = gcCPU() - gc0
	st.bytes = after.TotalAlloc - before.TotalAlloc
	st.mallocs = after.Mallocs - before.Mallocs
	st.gcs = after.NumGC - before.NumGC
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	st.latencies = lat
	return st
}

// TestReadinessFollowsBackend checks readiness end to end against a backend
// that goes away and comes back: by default the replica stays ready
// (200 "degraded", the reason in the answer) so a shared backend's outage
// does not empty the Service; with TASKMAN_READY_REQUIRES_BACKEND=true it
// answers 503 until the backend is back. Liveness holds throughout.
func TestReadinessFollowsBackend(t *testing.T) {
	for _, tt := range []struct {
		strict             string
		wantCode           int
		wantStatus, reason string
	}{
		{"false", http.StatusOK, healthDegraded, "connection refused"},
		{"true", http.StatusServiceUnavailable, healthDown, "connection refused"},
	} {
		t.Run("TASKMAN_READY_REQUIRES_BACKEND="+tt.strict, func(t *testing.T) {
			f := newFaultBackend(t)
			s := startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": "http://" + f.addr, "BACKEND_TIMEOUT_MS": "300",
				"BACKEND_MAX_RETRIES": "0", "TASKMAN_READY_REQUIRES_BACKEND": tt.strict})
			ready := func(path string) (int, map[string]any) {
				resp, err := http.Get(s.base + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				defer resp.Body.Close()
				var body map[string]any
				json.NewDecoder(resp.Body).Decode(&body)
				return resp.StatusCode, body
			}
			// waitFor polls readiness until it reports status for reason
			// (any reason when ""); the backend check is cached for a few
			// seconds, so this can take that long. The reason matters: on a
			// loaded machine the scheduler check may turn readiness
			// degraded on its own.
			waitFor := func(status, reason string) int {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					code, body := ready("/health/ready")
					if body["status"] == status && strings.Contains(fmt.Sprint(body["output"]), reason) {
						return code
					}
					if time.Now().After(deadline) {
						t.Fatalf("readiness never became %q; last answer %d %v", status, code, body)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			if code := waitFor(healthOK, ""); code != http.StatusOK {
				t.Errorf("readiness ok = %d, want 200", code)
			}
			f.set(faultRefused)
			if code := waitFor(tt.wantStatus, tt.reason); code != tt.wantCode {
				t.Errorf("readiness %s while the backend is down = %d, want %d", tt.wantStatus, code, tt.wantCode)
			}
			if code, body := ready("/readyz"); code != tt.wantCode || !strings.Contains(fmt.Sprint(body["output"]), tt.reason) {
				t.Errorf("/readyz = %d %v, want %d like /health/ready, with the reason %q", code, body["output"], tt.wantCode, tt.reason)
			}
			if code, _ := ready("/health/live"); code != http.StatusOK {
				t.Errorf("liveness = %d while the backend is down, want 200", code)
			}
			f.set(faultNone)
			if code := waitFor(healthOK, ""); code != http.StatusOK {
				t.Errorf("readiness after recovery = %d, want 200", code)
			}
		})
	}
}

func TestOpsListenerUnderStdio(t *testing.T) {
	ln, port := loopbackListener(t)
	c := startStdio(t, map[string]string{"TASKMAN_OPS_ADDR": "127.0.0.1:" + port}, ln)
	c.initialize(version20251125)
	c.callTool("task_list", map[string]any{})
	base := "http://127.0.0.1:" + port
	_, body := getBody(t, base+"/metrics")
	if !strings.Contains(string(body), `taskman_mcp_tool_executions_total{tool_name="task_list",status="success"} 1`) {
		t.Errorf("ops /metrics lacks the tool call:\n%s", grepLines(body, "tool_executions"))
	}
	for _, path := range []string{"/health/live", "/health/ready", "/health/info"} {
		if resp, body := getBody(t, base+path); resp.StatusCode != http.StatusOK {
			t.Errorf("ops %s = %d %s, want 200", path, resp.StatusCode, body)
		}
	}
	if resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader("{}")); err == nil {
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("ops listener serves /mcp: %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
}

func TestMetricsEndpointDisabled(t *testing.T) {
	s := startHTTP(t, map[string]string{"METRICS_ENABLED": "false"})
	resp, body := getBody(t, s.base+"/metrics")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "METRICS_ENABLED") {
		t.Errorf("/metrics with metrics off = %d %s, want 404 with a hint", resp.StatusCode, body)
	}
	// Everything else still works.
	s.initSession(t, nil)
}

func TestRequestIDOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	emb, _ := newEmbedded("", slog.New(slog.DiscardHandler))
	backend := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Request-ID"))
		mu.Unlock()
		emb.ServeHTTP(w, r)
	}))
	// Pinned to legacy: detection probes are not MCP requests and carry no id.
	s := startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": backend, "TASKMAN_BACKEND_DIALECT": "legacy", "LOG_LEVEL": "info"})
	h := map[string]string{"MCP-Protocol-Version": versionModern, "Mcp-Method": "tools/call", "Mcp-Name": "task_list", "X-Request-ID": "client-trace:42"}
	resp, _ := s.post(t, modern(1, "tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{}}, nil), h)
	if got := resp.Header.Get("X-Request-ID"); got != "client-trace:42" {
		t.Errorf("echoed X-Request-ID = %q, want the client's", got)
	}
	h["X-Request-ID"] = "bad id with spaces"
	resp, _ = s.post(t, modern(2, "tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{}}, nil), h)
	replaced := resp.Header.Get("X-Request-ID")
	if replaced == "bad id with spaces" || !validRequestID(replaced) {
		t.Errorf("invalid X-Request-ID answered with %q, want a fresh valid id", replaced)
	}
	mu.Lock()
	defer mu.Unlock()
	want(t, "ids at the backend", seen, []string{"client-trace:42", replaced})
	for _, id := range []string{"client-trace:42", replaced} {
		if !strings.Contains(s.stderr.String(), `"request_id":"`+id+`"`) {
			t.Errorf("no log line carries request_id %s", id)
		}
	}
}

// TestSSEPrimingEvent: in a 2025-11-25 session an event stream (a POST
// answered with progress, and the GET stream) starts with the priming
// event, an event id and empty data, and announces the retry delay; an
// older session's stream does not.
func TestSSEPrimingEvent(t *testing.T) {
	s := startHTTP(t, nil)
	for _, tt := range []struct {
		version string
		primed  bool
	}{{version20251125, true}, {version20250618, false}} {
		t.Run(tt.version, func(t *testing.T) {
			resp, _ := s.post(t, initLine(tt.version), nil)
			h := map[string]string{"Mcp-Session-Id": resp.Header.Get("Mcp-Session-Id"), "MCP-Protocol-Version": tt.version}
			_, body := s.post(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"p","project_id":"`+s.project(t)+`"}}}}`, h)
			var created map[string]any
			json.Unmarshal(body, &created)
			id := get(created, "result", "structuredContent", "task", "id")
			b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": map[string]any{
				"name": "task_bulk_update", "arguments": map[string]any{"taskIds": []any{id}, "changes": map[string]any{"priority": "low"}},
				"_meta": map[string]any{"progressToken": 1},
			}})
			resp, body = s.post(t, string(b), h)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("Content-Type = %q, want text/event-stream", ct)
			}
			checkPriming(t, "POST stream", string(body), tt.primed)
			if len(sseMessages(body)) != 3 {
				t.Errorf("POST stream %q: want two progress events and the result", body)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/mcp", nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Mcp-Session-Id", h["Mcp-Session-Id"])
			stream, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Body.Close()
			if !tt.primed {
				return // the stream carries nothing until its first heartbeat
			}
			first, err := bufio.NewReader(stream.Body).ReadString('\n')
			if err != nil || !strings.HasPrefix(first, "id: ") {
				t.Errorf("GET stream starts with %q (%v), want the priming event's id", first, err)
			}
		})
	}
}

// checkPriming checks whether an event stream starts with the priming
// event: "id: X", "retry: N", and empty data.
func checkPriming(t *testing.T, what, stream string, primed bool) {
	t.Helper()
	lines := strings.SplitN(stream, "\n", 5)
	got := len(lines) >= 4 && strings.HasPrefix(lines[0], "id: ") && len(lines[0]) > len("id: ") &&
		lines[1] == fmt.Sprintf("retry: %d", sseRetry.Milliseconds()) && lines[2] == "data: " && lines[3] == ""
	if got != primed {
		t.Errorf("%s %q: priming event = %v, want %v", what, stream, got, primed)
	}
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		accept, mediaType string
		want              bool
	}{
		{"application/json, text/event-stream", "text/event-stream", true},
		{"application/json,text/event-stream", "application/json", true},
		{"Application/JSON", "application/json", true},
		{"application/*", "application/json", true},
		{"*/*", "text/event-stream", true},
		{"application/json;q=0.5", "application/json", true},
		{"text/event-stream;q=0, application/json", "text/event-stream", false},
		{"application/*;q=0", "application/json", false},
		{"application/jsonx", "application/json", false},
		{"text/*", "application/json", false},
		{"", "application/json", false},
		{"application/json;=", "application/json", false},
	}
	for _, tt := range tests {
		if got := accepts(tt.accept, tt.mediaType); got != tt.want {
			t.Errorf("accepts(%q, %q) = %v, want %v", tt.accept, tt.mediaType, got, tt.want)
		}
	}
	for ct, want := range map[string]bool{"application/json": true, "application/json; charset=utf-8": true, "Application/Json": true, "text/plain": false, "": false} {
		if got := isJSONContentType(ct); got != want {
			t.Errorf("isJSONContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}

// TestAccessLineCarriesSession: the access line of a request in a legacy
// session names the session; a modern request's has none to name.
func TestAccessLineCarriesSession(t *testing.T) {
	s := startHTTP(t, map[string]string{"LOG_LEVEL": "info"})
	sid := s.initSession(t, nil)
	s.post(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": version20251125})
	if resp, body := s.post(t, modern(2, "tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{}}, nil), modernCallHeaders("task_list")); resp.StatusCode != 200 {
		t.Fatalf("modern call: %d %s", resp.StatusCode, body)
	}
	var legacy, modernLines int
	for line := range strings.Lines(s.stderr.String()) {
		if !strings.Contains(line, `"msg":"http request"`) || !strings.Contains(line, `"route":"/mcp"`) {
			continue
		}
		if strings.Contains(line, `"session_id":"`+sid+`"`) {
			legacy++
		} else if !strings.Contains(line, `"session_id"`) {
			modernLines++
		}
	}
	if legacy != 2 || modernLines != 1 {
		t.Errorf("access lines with the session %d (want 2: initialize, ping), without %d (want 1):\n%s", legacy, modernLines, s.stderr.String())
	}
}
