package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// traceBackend serves the embedded API and records the traceparent of
// every request.
func traceBackend(t *testing.T) (url string, seen func() []string) {
	t.Helper()
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	url = newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("traceparent"))
		mu.Unlock()
		emb.ServeHTTP(w, r)
	}))
	return url, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// tracingEnv turns tracing on, exporting to the receiver.
func tracingEnv(rcv *otlpReceiver, backend string) map[string]string {
	return map[string]string{
		"TRACING_ENABLED":             "true",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.url(),
		"OTEL_SAMPLE_RATE":            "1",
		"TASK_MANAGER_API_ENDPOINT":   backend,
		"TASKMAN_BACKEND_DIALECT":     "legacy", // detection probes are not traced calls
		"LOG_LEVEL":                   "debug",
	}
}

// modernCallHeaders are the headers of a 2026-07-28 tools/call.
func modernCallHeaders(tool string) map[string]string {
	return map[string]string{"MCP-Protocol-Version": versionModern, "Mcp-Method": "tools/call", "Mcp-Name": tool}
}

func TestTraceOfOneHTTPToolCall(t *testing.T) {
	rcv := otlpStartReceiver(t)
	backend, seen := traceBackend(t)
	s := startHTTP(t, tracingEnv(rcv, backend))
	body := modern(1, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-missing"}}, nil)
	resp, answer := s.post(t, body, modernCallHeaders("task_read"))
	if resp.StatusCode != 200 || !strings.Contains(string(answer), `"isError":true`) {
		t.Fatalf("tools/call: %d %s", resp.StatusCode, answer)
	}
	if err := s.stop(); err != nil { // flushes the spans
		t.Fatal(err)
	}

	httpSpan := rcv.span("POST /mcp")
	mcpSpan := rcv.span("tools/call task_read")
	backendSpan := rcv.span("GET")
	want(t, "http span kind", httpSpan.Kind, "SPAN_KIND_SERVER")
	want(t, "mcp span kind", mcpSpan.Kind, "SPAN_KIND_INTERNAL")
	want(t, "backend span kind", backendSpan.Kind, "SPAN_KIND_CLIENT")
	want(t, "mcp parent", mcpSpan.ParentSpanID, httpSpan.SpanID)
	want(t, "backend parent", backendSpan.ParentSpanID, mcpSpan.SpanID)
	for _, sp := range []otlpSpan{mcpSpan, backendSpan} {
		want(t, sp.Name+" trace", sp.TraceID, httpSpan.TraceID)
	}
	for k, v := range map[string]string{
		"http.request.method": "POST", "http.route": "/mcp", "http.response.status_code": "200", "url.path": "/mcp", "client.address": "127.0.0.1",
	} {
		want(t, "http span "+k, httpSpan.Attributes[k], v)
	}
	for k, v := range map[string]string{
		"mcp.method.name": "tools/call", "gen_ai.tool.name": "task_read", "gen_ai.operation.name": "execute_tool",
		"jsonrpc.request.id": "1", "mcp.protocol.version": versionModern, "error.type": "tool_error",
	} {
		want(t, "mcp span "+k, mcpSpan.Attributes[k], v)
	}
	if !validRequestID(mcpSpan.Attributes["request_id"]) {
		t.Errorf("mcp span request_id = %q", mcpSpan.Attributes["request_id"])
	}
	for k, v := range map[string]string{
		"http.request.method": "GET", "http.response.status_code": "404", "server.address": "127.0.0.1", "url.full": backend + "/tasks/T-missing",
		"backend.operation": "GET /tasks/{id}",
	} {
		want(t, "backend span "+k, backendSpan.Attributes[k], v)
	}
	want(t, "service.name", httpSpan.Resource["service.name"], "taskman-mcp")

	// The backend received a traceparent naming the backend span.
	wantTP := fmt.Sprintf("00-%s-%s-01", backendSpan.TraceID, backendSpan.SpanID)
	if got := seen(); len(got) != 1 || got[0] != wantTP {
		t.Errorf("backend traceparent = %q, want [%s]", got, wantTP)
	}
	// Log lines of the call carry the exported trace id; the access line,
	// the one line a successful call writes at info, carries the HTTP
	// span's ids.
	if !strings.Contains(s.stderr.String(), `"trace_id":"`+httpSpan.TraceID+`"`) {
		t.Errorf("no log line carries trace_id %s:\n%s", httpSpan.TraceID, s.stderr.String())
	}
	access := `"trace_id":"` + httpSpan.TraceID + `","span_id":"` + httpSpan.SpanID + `"`
	found := false
	for line := range strings.Lines(s.stderr.String()) {
		if strings.Contains(line, `"msg":"http request"`) && strings.Contains(line, access) {
			found = true
		}
	}
	if !found {
		t.Errorf("no access line carries %s:\n%s", access, s.stderr.String())
	}
}

func TestTraceParentFromCaller(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	t.Run("traceparent header", func(t *testing.T) {
		rcv := otlpStartReceiver(t)
		backend, _ := traceBackend(t)
		s := startHTTP(t, tracingEnv(rcv, backend))
		h := modernCallHeaders("task_list")
		h["traceparent"] = "00-" + tid + "-" + sid + "-01"
		s.post(t, modern(1, "tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{}}, nil), h)
		s.stop()
		sp := rcv.span("POST /mcp")
		want(t, "trace id", sp.TraceID, tid)
		want(t, "parent", sp.ParentSpanID, sid)
		want(t, "mcp span trace", rcv.span("tools/call task_list").TraceID, tid)
	})
	t.Run("_meta.traceparent under stdio", func(t *testing.T) {
		rcv := otlpStartReceiver(t)
		backend, _ := traceBackend(t)
		c := startStdio(t, tracingEnv(rcv, backend))
		c.initialize(version20251125)
		c.result("tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{},
			"_meta": map[string]any{"traceparent": "00-" + tid + "-" + sid + "-01"}})
		c.in.Close()
		if err := <-c.done; err != nil {
			t.Fatal(err)
		}
		c.done <- nil
		sp := rcv.span("tools/call task_list")
		want(t, "kind", sp.Kind, "SPAN_KIND_SERVER")
		want(t, "trace id", sp.TraceID, tid)
		want(t, "parent", sp.ParentSpanID, sid)
		want(t, "session protocol", sp.Attributes["mcp.protocol.version"], version20251125)
	})
}

func TestTracingOffExportsNothing(t *testing.T) {
	for name, extra := range map[string]map[string]string{
		"OTEL_SAMPLE_RATE=0":     {"OTEL_SAMPLE_RATE": "0"},
		"OTEL_SDK_DISABLED=true": {"OTEL_SDK_DISABLED": "true"},
		"TRACING_ENABLED=false":  {"TRACING_ENABLED": "false"},
	} {
		t.Run(name, func(t *testing.T) {
			rcv := otlpStartReceiver(t)
			backend, seen := traceBackend(t)
			env := tracingEnv(rcv, backend)
			for k, v := range extra {
				env[k] = v
			}
			s := startHTTP(t, env)
			for i := range 3 {
				s.post(t, modern(i, "tools/call", map[string]any{"name": "task_list", "arguments": map[string]any{}}, nil), modernCallHeaders("task_list"))
			}
			s.stop()
			if n := len(rcv.spans()); n != 0 {
				t.Errorf("%d spans exported, want none", n)
			}
			if name != "OTEL_SAMPLE_RATE=0" && len(rcv.paths()) != 0 {
				t.Errorf("the exporter contacted the collector %d times, want never", len(rcv.paths()))
			}
			if strings.Contains(s.stderr.String(), `"trace_id"`) {
				t.Error("log lines carry a trace_id although nothing is traced")
			}
			if name == "TRACING_ENABLED=false" {
				for _, tp := range seen() {
					if tp != "" {
						t.Errorf("traceparent %q sent with tracing off", tp)
					}
				}
			}
		})
	}
}

func TestCollectorDownDoesNotBlock(t *testing.T) {
	backend, _ := traceBackend(t)
	env := map[string]string{
		"TRACING_ENABLED":              "true",
		"OTEL_EXPORTER_OTLP_ENDPOINT":  "http://127.0.0.1:" + freePort(t), // nothing listens
		"OTEL_SAMPLE_RATE":             "1",
		"TASK_MANAGER_API_ENDPOINT":    backend,
		"GRACEFUL_SHUTDOWN_TIMEOUT_MS": "3000",
	}
	c := startStdio(t, env)
	c.initialize(version20251125)
	pid := get(structured(t, "project_create", c.callTool("project_create", map[string]any{"project": map[string]any{"name": "P"}})), "project", "id")
	for i := range 200 { // bounded
		res := c.callTool("task_create", map[string]any{"task": map[string]any{"title": fmt.Sprint("c", i), "project_id": pid}})
		if res["isError"] == true {
			t.Fatalf("call %d: %v", i, res)
		}
	}
	c.in.Close()
	if err := <-c.done; err != nil { // the cleanup bounds how long this may take
		t.Fatalf("run: %v", err)
	}
	c.done <- nil
}

// BenchmarkHTTPToolCallTracing compares tools/call over HTTP (16 clients,
// embedded backend) with tracing off, at ratio 1.0, and at the production
// default ratio 0.1. The collector is a sink that discards what it gets, as
// a collector in another process costs this one nothing to decode.
func BenchmarkHTTPToolCallTracing(b *testing.B) {
	sink := newLoopbackServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	traced := func(ratio string) map[string]string {
		return map[string]string{"TRACING_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_SAMPLE_RATE": ratio}
	}
	b.Run("off", func(b *testing.B) { benchmarkHTTPToolCall(b, map[string]string{"TRACING_ENABLED": "false"}, 16) })
	b.Run("ratio-1.0", func(b *testing.B) { benchmarkHTTPToolCall(b, traced("1"), 16) })
	b.Run("ratio-0.1", func(b *testing.B) { benchmarkHTTPToolCall(b, traced("0.1"), 16) })
}

// tracedBaseline is the tracing half of BenchmarkBareProxyBaseline: servers
// like the baseline's tracing-off one but tracing at sample ratio 1.0 and at
// the production default 0.1, exporting to a loopback sink that discards
// what it gets (a collector in another process costs this one nothing to
// decode). Throughput on a shared machine drifts within seconds by more
// than tracing costs, so each baseline round is cut into
// tracedChunksPerRound short chunks that drive tracing off, 1.0 and 0.1
// back to back, and every chunk gives each traced variant one ratio to the
// tracing-off run just before it.
//
// Spans a chunk ends are exported after it, and a process-wide heap
// collects what a chunk allocated later: left alone, that work would land
// in the chunk that follows (measured: tracing at 0.1 run right after 1.0
// looked several per cent dearer than run before it). So every chunk
// starts settled (a collection, the exporters idle), and a traced chunk
// ends only once its exports have: the wall time and process CPU of that
// drain count as its own.
type tracedBaseline struct {
	off      *httpServer // the baseline's tracing-off server
	sink     *exportSink
	variants []*tracedVariant
}

// exportSink is the loopback OTLP receiver: it discards what it gets and
// knows when the last export request ended.
type exportSink struct {
	mu     sync.Mutex
	active int       // export requests being read
	last   time.Time // when the last one ended
}

func (s *exportSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
	io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.active--
	s.last = time.Now()
	s.mu.Unlock()
}

// Settling bounds: exporters quiet for exportQuiet count as idle (a batch
// follows the one before it at once); exportSettleMax bounds the wait.
const (
	exportQuiet     = 30 * time.Millisecond
	exportSettleMax = 3 * time.Second
)

// settle waits until no export has run for exportQuiet (at most
// exportSettleMax) and returns when the last export that ended after
// since ended (since itself if none did).
func (s *exportSink) settle(since time.Time) time.Time {
	deadline := time.Now().Add(exportSettleMax)
	for {
		s.mu.Lock()
		active, last := s.active, s.last
		s.mu.Unlock()
		if active == 0 && time.Since(last) >= exportQuiet || time.Now().After(deadline) {
			if last.After(since) {
				return last
			}
			return since
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tracedChunksPerRound is how many off/1.0/0.1 chunks a baseline round
// holds: with the baseline's rounds, enough ratios for a median that one
// noisy chunk cannot move.
const tracedChunksPerRound = 4

// tracedVariant is one traced server and its per-chunk ratios to tracing off.
type tracedVariant struct {
	name string // the metric prefix, "tracing-1.0"
	srv  *httpServer
	rate []float64 // throughput ratios, traced/off (higher is better)
	cpu  []float64 // CPU-per-call ratios, traced/off (lower is better)
}

// startTracedBaseline starts the traced servers with offEnv, the
// environment of off, and tracing turned on.
func startTracedBaseline(b *testing.B, off *httpServer, offEnv map[string]string) *tracedBaseline {
	tb := &tracedBaseline{off: off, sink: &exportSink{}}
	sink := newLoopbackServer(b, tb.sink)
	for _, ratio := range []string{"1.0", "0.1"} {
		env := map[string]string{"TRACING_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_SAMPLE_RATE": ratio}
		for k, v := range offEnv {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
		tb.variants = append(tb.variants, &tracedVariant{name: "tracing-" + ratio, srv: startHTTP(b, env)})
	}
	return tb
}

// round drives tracing off and every traced server with body from clients
// clients, n calls each in all, in tracedChunksPerRound chunks, and records
// each chunk's ratios. It returns false when a load failed
// (driveHTTPLoad has failed b).
func (tb *tracedBaseline) round(b *testing.B, body []byte, clients, n int) bool {
	calls := max(n/tracedChunksPerRound, clients)
	for range tracedChunksPerRound {
		tb.settle()
		off := driveHTTPLoad(b, tb.off.base+"/mcp", body, clients, calls)
		if off.calls == 0 {
			return false
		}
		for _, v := range tb.variants {
			tb.settle()
			st := driveHTTPLoad(b, v.srv.base+"/mcp", body, clients, calls)
			if st.calls == 0 {
				return false
			}
			tb.drain(&st)
			v.rate = append(v.rate, st.rate()/off.rate())
			if st.cpu > 0 && off.cpu > 0 {
				v.cpu = append(v.cpu, st.cpuPerCall()/off.cpuPerCall())
			}
		}
	}
	return true
}

// settle starts a chunk from a collected heap and idle exporters.
func (tb *tracedBaseline) settle() {
	runtime.GC()
	tb.sink.settle(time.Now())
}

// drain waits for the exports of the chunk st measured and counts them in
// it: the chunk lasts until its last export ended, and the process CPU of
// the wait is added to its own.
func (tb *tracedBaseline) drain(st *httpLoadStats) {
	end := time.Now()
	cpu0, ok0 := processCPU()
	last := tb.sink.settle(end)
	if cpu1, ok1 := processCPU(); ok0 && ok1 && st.cpu > 0 {
		st.cpu += cpu1 - cpu0
	}
	st.elapsed += last.Sub(end)
}

// report reports the medians of the per-chunk ratios of every variant as
// NAME-ratio (throughput) and NAME-cpu-ratio, and fails b if a tracer
// dropped spans: it would have done less work than the figures claim.
// Drops are logged at the next export, so it looks after the servers'
// final flush.
func (tb *tracedBaseline) report(b *testing.B) {
	for _, v := range tb.variants {
		if err := v.srv.stop(); err != nil {
			b.Fatalf("%s: run: %v", v.name, err)
		}
		if strings.Contains(v.srv.stderr.String(), "spans dropped") {
			b.Errorf("%s: the tracer dropped spans; the figures undercount its cost:\n%s", v.name, v.srv.stderr.String())
		}
		b.Logf("%s against tracing off: per-chunk throughput ratios %s, CPU ratios %s", v.name, formatRatios(v.rate), formatRatios(v.cpu))
		b.ReportMetric(median(v.rate), v.name+"-ratio")
		if len(v.cpu) > 0 {
			b.ReportMetric(median(v.cpu), v.name+"-cpu-ratio")
		}
	}
}
