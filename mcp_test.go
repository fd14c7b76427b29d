package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stdioClient drives run over stdio pipes, as an MCP client would.
type stdioClient struct {
	t      *testing.T
	in     io.WriteCloser
	stderr *syncBuffer
	done   chan error
	nextID atomic.Int64

	mu      sync.Mutex
	pending map[string]chan map[string]any // by canonical id; guarded by mu
	orphans chan map[string]any            // answers with a null id
	notes   chan map[string]any            // notifications
}

// testEnv is the environment every test server starts with: quick retries
// and a short shutdown, so failures surface fast.
func testEnv(extra map[string]string) func(string) string {
	env := map[string]string{
		"BACKEND_RETRY_DELAY_MS":       "1",
		"BACKEND_TIMEOUT_MS":           "5000",
		"GRACEFUL_SHUTDOWN_TIMEOUT_MS": "5000",
		"LOG_LEVEL":                    "debug",
		"TRACING_ENABLED":              "false",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// startStdio starts run on pipes with env and returns a client for it. The
// server is stopped (stdin closed) when the test ends.
func startStdio(t *testing.T, env map[string]string) *stdioClient {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &stdioClient{
		t: t, in: inW, stderr: &syncBuffer{}, done: make(chan error, 1),
		pending: make(map[string]chan map[string]any),
		orphans: make(chan map[string]any, 100),
		notes:   make(chan map[string]any, 1000),
	}
	go func() {
		err := run(context.Background(), []string{"taskman-mcp"}, testEnv(env), inR, outW, c.stderr)
		outW.Close()
		c.done <- err
	}()
	go c.readLoop(outR)
	t.Cleanup(func() {
		c.in.Close()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("server did not stop after stdin closed")
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", c.stderr.String())
		}
	})
	return c
}

// readLoop routes each line the server writes.
func (c *stdioClient) readLoop(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var msg map[string]any
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			c.t.Errorf("server wrote a line that is not JSON: %q", sc.Text())
			continue
		}
		var raw struct {
			ID json.RawMessage `json:"id"`
		}
		json.Unmarshal(sc.Bytes(), &raw)
		switch b := raw.ID; {
		case b == nil:
			c.notes <- msg
		case string(b) == "null":
			c.orphans <- msg
		default:
			c.mu.Lock()
			ch := c.pending[string(b)]
			delete(c.pending, string(b))
			c.mu.Unlock()
			if ch == nil {
				c.t.Errorf("answer to unknown id %s: %v", b, msg)
				continue
			}
			ch <- msg
		}
	}
}

// send writes one raw line.
func (c *stdioClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("write stdin: %v", err)
	}
}

// expect registers interest in the answer to id (its JSON text).
func (c *stdioClient) expect(id string) chan map[string]any {
	ch := make(chan map[string]any, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	return ch
}

// wait returns the message from ch, failing the test after a while.
func (c *stdioClient) wait(ch chan map[string]any, what string) map[string]any {
	c.t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(15 * time.Second):
		c.t.Fatalf("no answer to %s", what)
		return nil
	}
}

// raw sends a request with the given id text and returns the answer.
func (c *stdioClient) raw(id, line string) map[string]any {
	c.t.Helper()
	ch := c.expect(id)
	c.send(line)
	return c.wait(ch, line)
}

// request sends method with params and returns the whole answer.
func (c *stdioClient) request(method string, params any) map[string]any {
	c.t.Helper()
	id := fmt.Sprint(c.nextID.Add(1))
	msg := map[string]any{"jsonrpc": "2.0", "id": json.RawMessage(id), "method": method}
	if params != nil {
		msg["params"] = params
	}
	b, _ := json.Marshal(msg)
	return c.raw(id, string(b))
}

// result sends a request and returns its result, failing on an error.
func (c *stdioClient) result(method string, params any) map[string]any {
	c.t.Helper()
	resp := c.request(method, params)
	res, ok := resp["result"].(map[string]any)
	if !ok {
		c.t.Fatalf("%s: answer %v, want a result", method, resp)
	}
	return res
}

// initialize performs the legacy handshake at version v.
func (c *stdioClient) initialize(v string) map[string]any {
	c.t.Helper()
	res := c.result("initialize", map[string]any{
		"protocolVersion": v, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "test", "version": "1"},
	})
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return res
}

// callTool calls a tool and returns its result.
func (c *stdioClient) callTool(name string, args map[string]any) map[string]any {
	c.t.Helper()
	return c.result("tools/call", map[string]any{"name": name, "arguments": args})
}

// structured returns a successful tool result's structuredContent, after
// checking that content[0].text holds the same JSON.
func structured(t *testing.T, name string, res map[string]any) map[string]any {
	t.Helper()
	if res["isError"] == true {
		t.Fatalf("%s: error result: %v", name, textOf(res))
	}
	sc, ok := res["structuredContent"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no structuredContent in %v", name, res)
	}
	var fromText map[string]any
	if err := json.Unmarshal([]byte(textOf(res)), &fromText); err != nil {
		t.Fatalf("%s: content[0].text is not JSON: %v", name, err)
	}
	a, _ := json.Marshal(sc)
	b, _ := json.Marshal(fromText)
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: text %s differs from structuredContent %s", name, b, a)
	}
	return sc
}

// textOf returns the text of a tool result's first content block.
func textOf(res map[string]any) string {
	content, _ := res["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	block, _ := content[0].(map[string]any)
	s, _ := block["text"].(string)
	return s
}

// errorCode returns the JSON-RPC error code of an answer, 0 for a result.
func errorCode(resp map[string]any) int {
	e, ok := resp["error"].(map[string]any)
	if !ok {
		return 0
	}
	n, _ := e["code"].(float64)
	return int(n)
}

// envelopeBackend serves the embedded API wrapped in the older envelope
// dialect: {"success": true, "data": X} for every success (deletes
// included) and {"success": false, "error": "..."} for every failure.
func envelopeBackend(t *testing.T) *httptest.Server {
	t.Helper()
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/api/v1")
		emb.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		var body any
		if rec.Body.Len() > 0 {
			json.Unmarshal(rec.Body.Bytes(), &body)
		}
		if rec.Code >= 400 {
			w.WriteHeader(rec.Code)
			json.NewEncoder(w).Encode(map[string]any{"success": false, "error": errorMessage(rec.Body.Bytes())})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"success": true, "data": body})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// slowBackend answers every request after release is closed or the
// request is cancelled, reporting cancellations on cancelled.
func slowBackend(t *testing.T) (srv *httptest.Server, started, cancelled chan string, release chan struct{}) {
	t.Helper()
	started, cancelled, release = make(chan string, 100), make(chan string, 100), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- r.URL.Path
		select {
		case <-release:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"T-1","title":"slow"}`)
		case <-r.Context().Done():
			cancelled <- r.URL.Path
		}
	}))
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return srv, started, cancelled, release
}

// legacyClient sends one request in an initialized 2025-11-25 session and
// returns the whole answer.
type legacyClient func(method string, params any) map[string]any

// legacyClients starts a server with env under stdio and under HTTP and
// returns a client of each, by transport name, so a test runs the same
// steps over both.
func legacyClients(t *testing.T, env map[string]string) map[string]legacyClient {
	t.Helper()
	sc := startStdio(t, env)
	sc.initialize(version20251125)
	hs := startHTTP(t, env)
	sid := hs.initSession(t, nil)
	var ids atomic.Int64
	httpClient := func(method string, params any) map[string]any {
		t.Helper()
		id := ids.Add(1)
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
		resp, b := hs.post(t, string(body), map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": version20251125})
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			for _, m := range sseMessages(b) {
				if num(m["id"]) == int(id) {
					return m
				}
			}
			t.Fatalf("%s: no answer in the event stream %s", method, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: answer %d %q is not JSON: %v", method, resp.StatusCode, b, err)
		}
		return m
	}
	return map[string]legacyClient{"stdio": sc.request, "http": httpClient}
}

// countingBackend serves a fresh embedded API on a loopback port and
// counts the requests it receives; the env points a server at it.
func countingBackend(t *testing.T) (env map[string]string, requests *atomic.Int64) {
	t.Helper()
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	requests = &atomic.Int64{}
	url := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		emb.ServeHTTP(w, r)
	}))
	return map[string]string{"TASK_MANAGER_API_ENDPOINT": url, "TASKMAN_BACKEND_DIALECT": "legacy"}, requests
}

// TestNewServerRefusesMissingDeps checks that newServer names what is
// missing or wrong instead of building a server that fails later.
func TestNewServerRefusesMissingDeps(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	backend, err := newBackendClient(backendOptions{BaseURL: "http://127.0.0.1:1", Timeout: time.Second, Version: "test", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(backend.close)
	good := serverDeps{Logger: logger, Transport: "stdio", Toolsets: toolsetNames, Backend: backend, Status: newBackendStatus(backend, nil)}
	if _, err := newServer(good); err != nil {
		t.Fatalf("newServer(complete deps) = %v, want a server", err)
	}
	tests := []struct {
		name string
		edit func(d *serverDeps)
		want string
	}{
		{"no logger", func(d *serverDeps) { d.Logger = nil }, "logger, backend and status are required"},
		{"no backend", func(d *serverDeps) { d.Backend = nil }, "logger, backend and status are required"},
		{"no status", func(d *serverDeps) { d.Status = nil }, "logger, backend and status are required"},
		{"no transport", func(d *serverDeps) { d.Transport = "" }, `transport "", want stdio or http`},
		{"no toolset", func(d *serverDeps) { d.Toolsets = nil }, "no toolset offered"},
		{"a tool twice", func(d *serverDeps) { d.Tools = append(newToolTable(), newToolTable()[0]) }, "defined twice"},
	}
	for _, tt := range tests {
		d := good
		tt.edit(&d)
		if _, err := newServer(d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("newServer(%s) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
