package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// This file shows the Prometheus metrics working end to end: a scripted MCP
// session over HTTP against a backend the test can break, then one scrape
// of /metrics whose counts must match what the script did.

// mxFamilies is the metric table of docs/observability.md ("Metrics"): every
// family a scrape must declare, with its # TYPE.
var mxFamilies = []struct{ name, typ string }{
	{"taskman_http_requests_total", promTypeCounter},
	{"taskman_http_request_duration_seconds", promTypeHistogram},
	{"taskman_http_response_size_bytes", promTypeHistogram},
	{"taskman_active_connections", promTypeGauge},
	{"taskman_errors_total", promTypeCounter},
	{"taskman_mcp_requests_total", promTypeCounter},
	{"taskman_mcp_tool_executions_total", promTypeCounter},
	{"taskman_mcp_tool_execution_duration_seconds", promTypeHistogram},
	{"taskman_mcp_sessions_active", promTypeGauge},
	{"taskman_backend_api_calls_total", promTypeCounter},
	{"taskman_backend_api_call_duration_seconds", promTypeHistogram},
	{"taskman_backend_api_retries_total", promTypeCounter},
	{"taskman_circuit_breaker_state", promTypeGauge},
	{"taskman_circuit_breaker_transitions_total", promTypeCounter},
	{"taskman_circuit_breaker_rejections_total", promTypeCounter},
	{"taskman_cache_size", promTypeGauge},
	{"taskman_cache_hits_total", promTypeCounter},
	{"taskman_cache_misses_total", promTypeCounter},
	{"taskman_cache_evictions_total", promTypeCounter},
	{"taskman_cache_stale_served_total", promTypeCounter},
	{"taskman_health_check_status", promTypeGauge},
	{"taskman_memory_usage_bytes", promTypeGauge},
	{"taskman_scheduler_latency_seconds", promTypeSummary},
	{"taskman_build_info", promTypeGauge},
	{"mcp_server_operation_duration_seconds", promTypeHistogram},
	{"mcp_server_session_duration_seconds", promTypeHistogram},
	{"process_cpu_seconds_total", promTypeCounter},
	{"process_resident_memory_bytes", promTypeGauge},
	{"process_open_fds", promTypeGauge},
	{"process_max_fds", promTypeGauge},
	{"process_start_time_seconds", promTypeGauge},
	{"go_goroutines", promTypeGauge},
	{"go_threads", promTypeGauge},
	{"go_gc_duration_seconds", promTypeSummary},
	{"go_memstats_heap_alloc_bytes", promTypeGauge},
}

// mxSample is one parsed sample line: name{labels} value.
type mxSample struct {
	name   string            // metric name, including a _bucket, _sum or _count suffix
	labels map[string]string // unescaped label values
	value  float64
}

// mxScrape is a parsed exposition.
type mxScrape struct {
	types   map[string]string // family name → # TYPE
	samples []mxSample
}

// mxParse parses a text exposition (format 0.0.4) into its # TYPE lines and
// samples. It is deliberately small: the strict grammar checks live in
// metrics_test.go; this only has to read values back reliably.
func mxParse(body []byte) (*mxScrape, error) {
	sc := &mxScrape{types: map[string]string{}}
	for n, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			sc.types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := mxSample{labels: map[string]string{}}
		value := ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("line %d: unbalanced braces in %q", n+1, line)
			}
			labels, err := promParseLabels(line[i+1 : j])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			s.name, s.labels, value = line[:i], labels, strings.TrimPrefix(line[j+1:], " ")
		} else {
			s.name, value, _ = strings.Cut(line, " ")
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %q: %w", n+1, line, err)
		}
		s.value = v
		sc.samples = append(sc.samples, s)
	}
	return sc, nil
}

// mxSeries renders a series as Prometheus writes it, for messages.
func mxSeries(name string, labels map[string]string) string {
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		pairs = append(pairs, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// value returns the sample of the series with exactly these labels.
func (sc *mxScrape) value(name string, labels map[string]string) (float64, bool) {
	for _, s := range sc.samples {
		if s.name != name || len(s.labels) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if got, ok := s.labels[k]; !ok || got != v {
				match = false
				break
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// mxL builds a label set from name, value pairs.
func mxL(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// mxScrapeMetrics fetches and parses /metrics, checking the status and the
// content type on the way.
func mxScrapeMetrics(t testing.TB, s *httpServer) (*mxScrape, []byte) {
	t.Helper()
	resp, body := getBody(t, s.base+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics status = %d, want 200\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != promContentType {
		t.Errorf("GET /metrics Content-Type = %q, want %q", ct, promContentType)
	}
	sc, err := mxParse(body)
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return sc, body
}

// mxClient calls tools over /mcp with 2026-07-28 requests and counts its
// POSTs, so the test knows what taskman_http_requests_total must say.
type mxClient struct {
	s     *httpServer
	posts int // POST /mcp requests sent
	next  int // next JSON-RPC id
}

// initSession opens a legacy session (one POST), so the sessions gauge has
// something to count.
func (c *mxClient) initSession(t *testing.T) {
	t.Helper()
	c.posts++
	c.s.initSession(t, nil)
}

// call runs one tools/call and returns its result; the HTTP answer must be
// 200 with a JSON-RPC result (tool errors are results with isError).
func (c *mxClient) call(t *testing.T, tool string, args map[string]any) map[string]any {
	t.Helper()
	c.next++
	c.posts++
	status, r := c.s.modernTool(t, c.next, tool, args)
	res, ok := r["result"].(map[string]any)
	if status != http.StatusOK || !ok {
		t.Fatalf("tools/call %s = %d %v, want 200 with a result", tool, status, r)
	}
	return res
}

// mxBackend is a loopback backend in front of envelopeBackend that can be
// switched to answer every GET /tasks/{id} with 503, and counts those 503s
// so the metrics can be checked against what really went over the wire.
type mxBackend struct {
	url      string      // base URL including /api/v1
	failing  atomic.Bool // true: GET /tasks/{id} answers 503
	failures atomic.Int64
}

// mxNewBackend starts the switchable backend; it stops when the test ends.
func mxNewBackend(t *testing.T) *mxBackend {
	t.Helper()
	inner := envelopeBackend(t)
	b := &mxBackend{}
	b.url = newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, isTask := strings.CutPrefix(r.URL.Path, "/api/v1/tasks/")
		if b.failing.Load() && r.Method == http.MethodGet && isTask && id != "" && !strings.Contains(id, "/") {
			b.failures.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"success":false,"error":"maintenance"}`)
			return
		}
		proxyTo(inner.URL, w, r)
	})) + "/api/v1"
	return b
}

// mxEnv is the server environment of the scripted session: one retry with
// a 1 ms delay, and a breaker that opens after 3 calls at 50 % failures and
// stays open (window and reset of a minute outlast any test run).
func mxEnv(backendURL string) map[string]string {
	return map[string]string{
		"TASK_MANAGER_API_ENDPOINT":        backendURL,
		"BACKEND_RETRY_DELAY_MS":           "1",
		"BACKEND_MAX_RETRIES":              "1",
		"CIRCUIT_BREAKER_VOLUME_THRESHOLD": "3",
		"CIRCUIT_BREAKER_ERROR_THRESHOLD":  "50",
		"CIRCUIT_BREAKER_WINDOW_MS":        "60000",
		"CIRCUIT_BREAKER_RESET_TIMEOUT_MS": "60000",
	}
}

// mxStale returns the io.taskman/stale marker of a tool result, or nil.
func mxStale(res map[string]any) any {
	return get(res, "_meta", "io.taskman/stale")
}

// mxMissingID is a task id the backend does not hold.
const mxMissingID = "T-mx-missing"

// mxRunScript starts the server against a switchable backend and runs the
// scripted session, checking each answer. Counts the metrics must show
// follow from the steps, which are commented with the breaker window
// (calls, failures) for GET /tasks/{id}.
func mxRunScript(t *testing.T) (*httpServer, *mxBackend, *mxClient) {
	t.Helper()
	b := mxNewBackend(t)
	s := startHTTP(t, mxEnv(b.url))
	c := &mxClient{s: s}
	c.initSession(t)

	pid, _ := get(c.call(t, "project_create", map[string]any{"project": map[string]any{"name": "mx"}}), "structuredContent", "project", "id").(string)
	res := c.call(t, "task_create", map[string]any{"task": map[string]any{"title": "mx metrics", "project_id": pid}})
	id, _ := get(res, "structuredContent", "task", "id").(string)
	if id == "" || get(res, "isError") == true {
		t.Fatalf("task_create result = %v, want a task with an id", res)
	}
	// Window (1, 0); the answer is cached for the stale read below.
	res = c.call(t, "task_read", map[string]any{"taskId": id})
	want(t, "task_read isError", get(res, "isError"), false)
	want(t, "task_read task id", get(res, "structuredContent", "task", "id"), id)
	if st := mxStale(res); st != nil {
		t.Errorf("fresh task_read stale marker = %v, want none", st)
	}
	res = c.call(t, "task_list", map[string]any{})
	want(t, "task_list isError", get(res, "isError"), false)
	// A 404 is the backend working: window (2, 0).
	res = c.call(t, "task_read", map[string]any{"taskId": mxMissingID})
	want(t, "task_read(missing) isError", get(res, "isError"), true)
	// Argument validation fails before any backend call.
	res = c.call(t, "task_read", map[string]any{})
	want(t, "task_read({}) isError", get(res, "isError"), true)

	b.failing.Store(true)
	// 503, retry, 503: window (3, 1), 33 % < 50 %, still closed; the cached
	// copy is served stale.
	res = c.call(t, "task_read", map[string]any{"taskId": id})
	want(t, "stale task_read isError", get(res, "isError"), false)
	if mxStale(res) == nil {
		t.Errorf(`task_read during 503s: _meta["io.taskman/stale"] missing in %v`, res)
	}
	// 503, retry, 503: window (4, 2), 50 %: the circuit opens; stale again.
	res = c.call(t, "task_read", map[string]any{"taskId": id})
	if mxStale(res) == nil {
		t.Errorf(`second task_read during 503s: _meta["io.taskman/stale"] missing in %v`, res)
	}
	// Open: rejected without a backend call, answered from the cache.
	res = c.call(t, "task_read", map[string]any{"taskId": id})
	if mxStale(res) == nil || get(res, "isError") != false {
		t.Errorf(`task_read with the circuit open = %v, want a stale answer`, res)
	}
	// Open and nothing cached for this id: a tool error (a cache miss).
	res = c.call(t, "task_read", map[string]any{"taskId": mxMissingID})
	want(t, "task_read(missing) with the circuit open isError", get(res, "isError"), true)
	return s, b, c
}

// TestMetricsAfterScriptedSession runs the scripted session, then checks
// that one scrape declares every family of docs/observability.md and that its
// counts match what the script did and what the backend saw.
func TestMetricsAfterScriptedSession(t *testing.T) {
	s, b, c := mxRunScript(t)
	if resp, body := getBody(t, s.base+"/health/ready"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health/ready = %d, want 200 (degraded: one circuit open)\n%s", resp.StatusCode, body)
	}

	// taskman_http_requests_total is recorded after a handler returns,
	// which may be just after the client has read the answer: scrape until
	// the last POST shows up (bounded), then check everything on that scrape.
	postsLabels := mxL("method", "POST", "route", "/mcp", "status", "200")
	var sc *mxScrape
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); ; {
		sc, body = mxScrapeMetrics(t, s)
		if v, _ := sc.value("taskman_http_requests_total", postsLabels); v >= float64(c.posts) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}

	for _, f := range mxFamilies {
		if got, ok := sc.types[f.name]; !ok {
			t.Errorf("family %s: no # TYPE line", f.name)
		} else if got != f.typ {
			t.Errorf("family %s: # TYPE %s, want %s", f.name, got, f.typ)
		}
	}

	const (
		read     = "task_read"
		endpoint = "/tasks/{id}"
		breaker  = "GET /tasks/{id}"
	)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"taskman_http_requests_total", postsLabels, float64(c.posts)},
		{"taskman_mcp_sessions_active", nil, 1},
		{"taskman_mcp_requests_total", mxL("method", "initialize", "status", "ok"), 1},
		{"taskman_mcp_requests_total", mxL("method", "tools/call", "status", "ok"), float64(c.next)},
		{"taskman_mcp_tool_executions_total", mxL("tool_name", "task_create", "status", "success"), 1},
		{"taskman_mcp_tool_executions_total", mxL("tool_name", "task_list", "status", "success"), 1},
		{"taskman_mcp_tool_executions_total", mxL("tool_name", read, "status", "success"), 1},
		{"taskman_mcp_tool_executions_total", mxL("tool_name", read, "status", "error"), 3}, // 404, validation, open and uncached
		{"taskman_mcp_tool_executions_total", mxL("tool_name", read, "status", "stale"), 3},
		{"taskman_mcp_tool_execution_duration_seconds_count", mxL("tool_name", read), 7},
		{"taskman_errors_total", mxL("kind", "tool_error"), 1},
		{"taskman_errors_total", mxL("kind", "invalid_params"), 1},
		{"taskman_errors_total", mxL("kind", "backend"), 1},
		{"taskman_errors_total", mxL("kind", "panic"), 0},
		{"taskman_backend_api_calls_total", mxL("method", "POST", "endpoint", "/tasks", "status", "200"), 1}, // envelopeBackend answers every success 200
		{"taskman_backend_api_calls_total", mxL("method", "GET", "endpoint", "/tasks", "status", "200"), 1},
		{"taskman_backend_api_calls_total", mxL("method", "GET", "endpoint", endpoint, "status", "200"), 1},
		{"taskman_backend_api_calls_total", mxL("method", "GET", "endpoint", endpoint, "status", "404"), 1},
		{"taskman_backend_api_calls_total", mxL("method", "GET", "endpoint", endpoint, "status", "503"), float64(b.failures.Load())},
		{"taskman_backend_api_calls_total", mxL("method", "GET", "endpoint", endpoint, "status", "503"), 4}, // two calls × (attempt + one retry)
		{"taskman_backend_api_call_duration_seconds_count", mxL("method", "GET", "endpoint", endpoint), 6},
		{"taskman_backend_api_retries_total", mxL("method", "GET", "endpoint", endpoint, "reason", "503"), 2},
		{"taskman_circuit_breaker_state", mxL("breaker", breaker), 1},
		{"taskman_circuit_breaker_state", mxL("breaker", "POST /tasks"), 0},
		{"taskman_circuit_breaker_transitions_total", mxL("breaker", breaker, "to", "open"), 1},
		{"taskman_circuit_breaker_rejections_total", mxL("breaker", breaker), 2},
		{"taskman_cache_hits_total", nil, 3},
		{"taskman_cache_stale_served_total", nil, 3},
		{"taskman_cache_misses_total", nil, 1},
		{"taskman_cache_size", nil, 2}, // the task and the list page
		{"taskman_health_check_status", mxL("check", "backend"), 1},
		{"taskman_health_check_status", mxL("check", "lifecycle"), 1},
		{"taskman_health_check_status", mxL("check", "circuits"), 0.5}, // warn: one circuit open
		// The OpenTelemetry convention's view of the same calls: the
		// script's tools/call requests are 2026-07-28 ones over HTTP, and
		// an isError result is error_type tool_error.
		{"mcp_server_operation_duration_seconds_count", mxL("mcp_method_name", "tools/call", "gen_ai_tool_name", read, "error_type", "", "network_transport", "tcp", "mcp_protocol_version", versionModern), 4},
		{"mcp_server_operation_duration_seconds_count", mxL("mcp_method_name", "tools/call", "gen_ai_tool_name", read, "error_type", "tool_error", "network_transport", "tcp", "mcp_protocol_version", versionModern), 3},
		{"mcp_server_operation_duration_seconds_count", mxL("mcp_method_name", "initialize", "gen_ai_tool_name", "", "error_type", "", "network_transport", "tcp", "mcp_protocol_version", version20251125), 1},
		{"taskman_build_info", mxL("version", cmp.Or(buildVersion(), "unknown"), "goversion", runtime.Version(), "revision", cmp.Or(buildRevision(), "unknown")), 1},
	}
	for _, tt := range tests {
		got, ok := sc.value(tt.name, tt.labels)
		if !ok {
			t.Errorf("%s: no such series", mxSeries(tt.name, tt.labels))
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %v, want %v", mxSeries(tt.name, tt.labels), got, tt.want)
		}
	}

	// Values the script does not fix exactly, only bounds.
	positive := []struct {
		name   string
		labels map[string]string
	}{
		{"process_resident_memory_bytes", nil},
		{"process_open_fds", nil},
		{"go_goroutines", nil},
		{"taskman_active_connections", nil}, // the scrape's own connection
		{"taskman_memory_usage_bytes", mxL("type", "heap_alloc")},
		{"taskman_http_response_size_bytes_count", mxL("route", "/mcp")},
	}
	for _, p := range positive {
		if got, ok := sc.value(p.name, p.labels); !ok || !(got > 0) {
			t.Errorf("%s = %v (present %v), want > 0", mxSeries(p.name, p.labels), got, ok)
		}
	}
}
