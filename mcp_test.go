package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// Errors of the stdio client's calls.
var (
	// errStdioEnded reports a call whose answer never came because the
	// server's stdout ended (it exited or was killed).
	errStdioEnded = errors.New("the server's stdout ended before the answer")
	// errStillRunning reports a server that did not end within stdioGuard.
	errStillRunning = errors.New("the server is still running")
)

// stdioClient drives the server over stdio pipes, as an MCP client would:
// the one stdio client of the tests, for run in this process (startStdio)
// or the binary as a child process (pxStart). Its call and tool return
// errors, for writer goroutines and calls across a kill; the other methods
// fail the test.
type stdioClient struct {
	t      *testing.T
	in     io.WriteCloser
	stderr *syncBuffer
	signal func()     // what SIGTERM does: cancels run's context, or signals the child
	done   chan error // run's result or the child's exit, put back by whoever reads it
	nextID atomic.Int64

	mu      sync.Mutex
	pending map[string]chan map[string]any // by canonical id; guarded by mu
	ended   bool                           // stdout has ended; guarded by mu
	orphans chan map[string]any            // answers with a null id
	notes   chan map[string]any            // notifications
}

// newStdioClient returns a client that writes to in; its server writes its
// log to stderr, and signal does what SIGTERM does to it. The caller runs
// readLoop on the server's stdout and sends the server's result to done.
func newStdioClient(t *testing.T, in io.WriteCloser, stderr *syncBuffer, signal func()) *stdioClient {
	return &stdioClient{
		t: t, in: in, stderr: stderr, signal: signal, done: make(chan error, 1),
		pending: make(map[string]chan map[string]any),
		orphans: make(chan map[string]any, 100),
		notes:   make(chan map[string]any, 1000),
	}
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

// startStdio starts run on pipes with env and returns a client for it; lns
// are the listeners handed over to the server (TASKMAN_OPS_ADDR). The
// server is stopped (stdin closed) when the test ends.
func startStdio(t *testing.T, env map[string]string, lns ...net.Listener) *stdioClient {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := newStdioClient(t, inW, &syncBuffer{}, cancel)
	go func() {
		err := runListening(ctx, handOver(lns...), []string{"taskman-mcp"}, testEnv(env), inR, outW, c.stderr)
		outW.Close()
		c.done <- err
	}()
	go c.readLoop(outR)
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
		cancel()
		if t.Failed() {
			t.Logf("server stderr:\n%s", c.stderr.String())
		}
	})
	return c
}

// stop closes stdin, as a client that is done does, and returns what the
// server's run returned (or errStillRunning).
func (c *stdioClient) stop() error {
	c.in.Close()
	return c.exited()
}

// exited waits up to stdioGuard for the server to end and returns its
// result, or errStillRunning; later calls return the same.
func (c *stdioClient) exited() error {
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(stdioGuard):
		return fmt.Errorf("%w %s after stdin closed or the signal", errStillRunning, stdioGuard)
	}
}

// readLoop routes each line the server writes; at the end of stdout it
// closes the channel of every answer still awaited.
func (c *stdioClient) readLoop(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20) // answers listing many records are long lines
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
	c.mu.Lock()
	c.ended = true
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// write writes one raw line; an error if stdin is closed or the server
// stops reading it.
func (c *stdioClient) write(line string) error {
	written := make(chan error, 1)
	go func() { _, err := io.WriteString(c.in, line+"\n"); written <- err }()
	select {
	case err := <-written:
		if err != nil {
			return fmt.Errorf("write stdin: %w", err)
		}
		return nil
	case <-time.After(stdioGuard):
		return fmt.Errorf("the server stopped reading stdin; unread: %s", line)
	}
}

// send writes one raw line, failing the test on an error.
func (c *stdioClient) send(line string) {
	c.t.Helper()
	if err := c.write(line); err != nil {
		c.t.Fatal(err)
	}
}

// expect registers interest in the answer to id (its JSON text); the
// channel is closed if stdout ends first.
func (c *stdioClient) expect(id string) chan map[string]any {
	ch := make(chan map[string]any, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		close(ch)
		return ch
	}
	c.pending[id] = ch
	return ch
}

// wait returns the message from ch, failing the test after a while or if
// stdout ended.
func (c *stdioClient) wait(ch chan map[string]any, what string) map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			c.t.Fatalf("no answer to %s: %v", what, errStdioEnded)
		}
		return m
	case <-time.After(stdioGuard):
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

// call sends method with params and returns the whole answer; an error if
// the server ends or does not answer within stdioGuard.
func (c *stdioClient) call(method string, params any) (map[string]any, error) {
	id := fmt.Sprint(c.nextID.Add(1))
	msg := map[string]any{"jsonrpc": "2.0", "id": json.RawMessage(id), "method": method}
	if params != nil {
		msg["params"] = params
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", method, err)
	}
	ch := c.expect(id)
	if err := c.write(string(b)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: %w", method, errStdioEnded)
		}
		return m, nil
	case <-time.After(stdioGuard):
		return nil, fmt.Errorf("%s: no answer within %s", method, stdioGuard)
	}
}

// request sends method with params and returns the whole answer, failing
// the test on an error.
func (c *stdioClient) request(method string, params any) map[string]any {
	c.t.Helper()
	m, err := c.call(method, params)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
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

// tool calls a tool and returns its structuredContent; a JSON-RPC error or
// an isError result is an error.
func (c *stdioClient) tool(name string, args map[string]any) (map[string]any, error) {
	msg, err := c.call("tools/call", map[string]any{"name": name, "arguments": args})
	if err != nil {
		return nil, err
	}
	if e, ok := msg["error"]; ok {
		return nil, fmt.Errorf("%s: JSON-RPC error %v", name, e)
	}
	if get(msg, "result", "isError") != false {
		return nil, fmt.Errorf("%s: not acknowledged: %v", name, get(msg, "result", "content"))
	}
	sc, ok := get(msg, "result", "structuredContent").(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: no structuredContent in %v", name, msg)
	}
	return sc, nil
}

// project creates a project with project_create and returns its id: tasks
// must name a project that exists.
func (c *stdioClient) project() string {
	c.t.Helper()
	sc, err := c.tool("project_create", map[string]any{"project": map[string]any{"name": "P"}})
	if err != nil {
		c.t.Fatal(err)
	}
	return get(sc, "project", "id").(string)
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
	httpRequest := func(method string, params any) map[string]any {
		t.Helper()
		_, m := hs.sessionRequest(t, sid, int(ids.Add(1)), method, params)
		return m
	}
	return map[string]legacyClient{"stdio": sc.request, "http": httpRequest}
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
