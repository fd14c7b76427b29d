package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultMode is how the fault-injecting backend misbehaves.
type faultMode int32

const (
	faultNone    faultMode = iota
	fault503               // every request answers 503
	faultRefused           // the listener is closed: connections are refused
	faultSlow              // answers take longer than the client's timeout
	faultFlap              // every other request answers 503
)

// faultBackend serves the embedded API on a fixed loopback address and
// fails on demand. Writes refused by a fault are never applied.
type faultBackend struct {
	t    *testing.T
	addr string
	emb  *embedded
	mode atomic.Int32
	hits atomic.Int64 // requests that reached the handler
	n    atomic.Int64 // for flapping

	mu  sync.Mutex
	srv *http.Server // nil while refusing
}

// newFaultBackend starts a healthy fault backend.
func newFaultBackend(t *testing.T) *faultBackend {
	t.Helper()
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f := &faultBackend{t: t, emb: emb}
	f.listen("127.0.0.1:0")
	t.Cleanup(func() { f.set(faultNone); f.stop() })
	return f
}

func (f *faultBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	switch faultMode(f.mode.Load()) {
	case fault503:
		http.Error(w, `{"detail":"maintenance"}`, http.StatusServiceUnavailable)
		return
	case faultSlow:
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case faultFlap:
		if f.n.Add(1)%2 == 0 {
			http.Error(w, `{"detail":"flapping"}`, http.StatusServiceUnavailable)
			return
		}
	}
	f.emb.ServeHTTP(w, r)
}

// listen serves on addr.
func (f *faultBackend) listen(addr string) {
	var ln net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("listen %s: %v", addr, err)
	}
	f.addr = ln.Addr().String()
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	f.mu.Lock()
	f.srv = srv
	f.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the listener, so connections are refused.
func (f *faultBackend) stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// set switches the failure mode.
func (f *faultBackend) set(m faultMode) {
	switch {
	case m == faultRefused:
		f.stop()
	case faultMode(f.mode.Load()) == faultRefused:
		f.listen(f.addr)
	}
	f.mode.Store(int32(m))
}

// staleAge returns the age a stale result reports, or -1 for a fresh one.
func staleAge(res map[string]any) int {
	st, ok := get(res, "_meta", "io.taskman/stale").(map[string]any)
	if !ok {
		return -1
	}
	return num(st["age_ms"])
}

// resilienceEnv makes the breaker quick to trip and to recover.
func resilienceEnv(backend string) map[string]string {
	return map[string]string{
		"TASK_MANAGER_API_ENDPOINT":        "http://" + backend,
		"BACKEND_MAX_RETRIES":              "1",
		"BACKEND_TIMEOUT_MS":               "300",
		"CIRCUIT_BREAKER_VOLUME_THRESHOLD": "4",
		"CIRCUIT_BREAKER_ERROR_THRESHOLD":  "50",
		"CIRCUIT_BREAKER_RESET_TIMEOUT_MS": "400",
		"CIRCUIT_BREAKER_WINDOW_MS":        "10000",
		"LOG_LEVEL":                        "info",
	}
}

// TestOutageAndRecovery takes the backend down in several ways in the
// middle of a session and checks what the assistant sees.
func TestOutageAndRecovery(t *testing.T) {
	for _, mode := range []struct {
		name string
		m    faultMode
	}{{"503", fault503}, {"connection refused", faultRefused}, {"slow beyond the timeout", faultSlow}} {
		t.Run(mode.name, func(t *testing.T) {
			f := newFaultBackend(t)
			c := startStdio(t, resilienceEnv(f.addr))
			c.initialize(version20251125)
			pid := get(structured(t, "project_create", c.callTool("project_create", map[string]any{"project": map[string]any{"name": "P"}})), "project", "id")
			created := structured(t, "task_create", c.callTool("task_create", map[string]any{"task": map[string]any{"title": "before", "project_id": pid}}))
			id := get(created, "task", "id").(string)
			if res := c.callTool("task_read", map[string]any{"taskId": id}); staleAge(res) != -1 {
				t.Fatalf("a healthy read is marked stale: %v", res)
			}

			f.set(mode.m)
			// Reads keep working, marked stale, and the circuit opens.
			for i := range 6 {
				res := c.callTool("task_read", map[string]any{"taskId": id})
				if res["isError"] == true || staleAge(res) < 0 {
					t.Fatalf("read %d during the outage: %v, want a stale copy", i, res)
				}
				if !strings.HasPrefix(get(res, "content", 1, "text").(string), "Stale: the backend is unavailable") {
					t.Errorf("stale text = %q", get(res, "content", 1, "text"))
				}
				want(t, "stale payload", get(res, "structuredContent", "task", "title"), "before")
			}
			hits := f.hits.Load()
			res := c.callTool("task_read", map[string]any{"taskId": id})
			if reason := get(res, "_meta", "io.taskman/stale", "reason").(string); !strings.Contains(reason, "circuit open for GET /tasks/{id}") {
				t.Errorf("stale reason = %q, want the open circuit", reason)
			}
			if f.hits.Load() != hits {
				t.Errorf("the backend was called while the circuit was open")
			}
			// A read with nothing cached says what really happened.
			res = c.callTool("task_read", map[string]any{"taskId": "T-never"})
			if text := textOf(res); res["isError"] != true || !strings.Contains(text, "circuit open for GET /tasks/{id}") || !strings.Contains(text, "no cached copy") {
				t.Errorf("uncached read = %q", text)
			}
			// Writes fail, plainly, and none is applied.
			var lastWrite string
			for range 5 {
				res := c.callTool("task_update", map[string]any{"taskId": id, "changes": map[string]any{"title": "during"}})
				if res["isError"] != true {
					t.Fatalf("a write during the outage succeeded: %v", res)
				}
				lastWrite = textOf(res)
			}
			if !strings.Contains(lastWrite, "circuit open for PUT /tasks/{id}") || !strings.Contains(lastWrite, "the write was not sent") {
				t.Errorf("write error = %q, want it to say the circuit is open and the write was not sent", lastWrite)
			}
			status := structured(t, "activate_taskman_server", c.callTool("activate_taskman_server", nil))
			if open, _ := get(status, "serverStatus", "circuitBreakers", "open").([]any); len(open) < 2 {
				t.Errorf("activate_taskman_server reports open circuits %v, want GET and PUT /tasks/{id}", open)
			}

			// The backend heals; after the reset timeout one probe closes
			// the circuit and fresh data flows.
			f.set(faultNone)
			deadline := time.Now().Add(10 * time.Second)
			for {
				res := c.callTool("task_read", map[string]any{"taskId": id})
				if res["isError"] != true && staleAge(res) == -1 {
					want(t, "title after recovery", get(res, "structuredContent", "task", "title"), "before")
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no fresh read within 10 s of recovery: %v", res)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// Writes work again and are visible at once: the cache was
			// invalidated.
			for time.Now().Before(deadline) {
				if res := c.callTool("task_update", map[string]any{"taskId": id, "changes": map[string]any{"title": "after"}}); res["isError"] != true {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			res = c.callTool("task_read", map[string]any{"taskId": id})
			want(t, "title after the write", get(structured(t, "task_read", res), "task", "title"), "after")
		})
	}
}

// TestFlappingBackendUnderLoad runs 100 concurrent callers against a
// backend failing every other request: no race, no leak, every call
// answered, and the metrics add up.
func TestFlappingBackendUnderLoad(t *testing.T) {
	f := newFaultBackend(t)
	cfg, err := loadConfig(testEnv(resilienceEnv(f.addr)), "")
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(metricsOptions{Enabled: true, Tools: []string{"task_read", "task_create"}, Endpoints: endpointTemplates(), Breakers: operationNames()})
	logger := slog.New(slog.DiscardHandler)
	bs := newBreakers(operationNames(), cfg.Breaker, time.Now, func(name string, _, to breakerState) { m.breakerChanged(name, to) })
	backend, err := newBackendClient(backendOptions{BaseURL: cfg.BackendURL, Timeout: cfg.BackendTimeout, MaxRetries: 1,
		RetryDelay: time.Millisecond, Version: "test", Logger: logger, Metrics: m, Breakers: bs, Cache: newCache(cfg.Cache, time.Now)})
	if err != nil {
		t.Fatal(err)
	}
	defer backend.close()
	s := newTestServerOver(t, cfg, backend, bs, m)
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	pid := callCreateProject(t, s, sess, false)
	var ids []string
	for i := range 10 {
		res := call(t, s, sess, fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"f%d","project_id":%q}}}}`, i, pid))
		ids = append(ids, get(res, "result", "structuredContent", "task", "id").(string))
		call(t, s, sess, fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":%q}}}`, ids[i]))
	}
	f.set(faultFlap)

	const callers, each = 100, 20 // bounded: 2,000 calls
	var fresh, stale, failed atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if ctx.Err() != nil {
					failed.Add(1)
					continue
				}
				msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":%q}}}`, i, ids[(c+i)%len(ids)])
				out := s.handle(ctx, sess, []byte(msg), func(*notification) {})
				var resp map[string]any
				json.Unmarshal(out, &resp)
				res, _ := resp["result"].(map[string]any)
				switch {
				case res == nil || res["isError"] == true:
					failed.Add(1)
				case staleAge(res) >= 0:
					stale.Add(1)
				default:
					fresh.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := fresh.Load() + stale.Load() + failed.Load(); got != callers*each {
		t.Fatalf("%d answers for %d calls", got, callers*each)
	}
	if failed.Load() > 0 {
		t.Errorf("%d reads failed although every task had a cached copy", failed.Load())
	}
	var buf strings.Builder
	m.writeTo(&buf)
	scrape := buf.String()
	sum := 0.0
	for _, status := range []string{"success", "stale", "error"} {
		var v float64
		fmt.Sscanf(grepValue(scrape, `taskman_mcp_tool_executions_total{tool_name="task_read",status="`+status+`"}`), "%g", &v)
		sum += v
	}
	if wantN := float64(callers*each + len(ids)); sum != wantN {
		t.Errorf("tool executions counted %v, want %v", sum, wantN)
	}
}

// grepValue returns the value of the series line starting with series.
func grepValue(scrape, series string) string {
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return "0"
}

func TestCacheInvalidationPrefixes(t *testing.T) {
	reads := []request{
		{op: opGetTask, args: []string{"T-1"}},
		{op: opGetTask, args: []string{"T-2"}},
		{op: opListTasks},
		{op: opSearchTasks, query: map[string][]string{"q": {"x"}}},
		{op: opProjectAnalytics, args: []string{"P-1"}},
		{op: opGetProject, args: []string{"P-1"}},
		{op: opGetActionList, args: []string{"AL-1"}},
	}
	tests := []invalidationCase{
		{request{op: opUpdateTask, args: []string{"T-1"}}, []int{0, 2, 3, 4}},
		{request{op: opBulkUpdateTasks}, []int{0, 1, 2, 3, 4}},
		{request{op: opUpdateProject, args: []string{"P-1"}}, []int{4, 5}},
		{request{op: opToggleItem, args: []string{"AL-1", "item-1"}}, []int{6}},
		{request{op: opAddComment, args: []string{"P-1"}}, nil},
	}
	checkInvalidation(t, reads, tests)
}

// invalidationCase is a write and the indexes of the cached reads it must
// drop.
type invalidationCase struct {
	write request
	gone  []int // indexes of reads dropped
}

// checkInvalidation caches every read, applies each case's write
// invalidation, and checks that exactly the reads it names are dropped.
func checkInvalidation(t *testing.T, reads []request, tests []invalidationCase) {
	t.Helper()
	c := newCache(cacheConfig{Enabled: true, MaxSize: 100, TTL: time.Hour}, time.Now)
	for _, tt := range tests {
		for _, r := range reads {
			c.put(r.cacheKey(), []byte("{}"))
		}
		for _, p := range tt.write.invalidates() {
			c.invalidatePrefix(p)
		}
		for i, r := range reads {
			_, _, ok := c.get(r.cacheKey())
			dropped := !ok
			wantDropped := false
			for _, g := range tt.gone {
				wantDropped = wantDropped || g == i
			}
			if dropped != wantDropped {
				t.Errorf("after %s %v: %s dropped = %v, want %v", tt.write.op, tt.write.args, r.cacheKey(), dropped, wantDropped)
			}
		}
	}
}
