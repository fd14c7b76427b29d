package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// promUpdate rewrites the golden files instead of comparing with them:
// go test -run Golden -update.
var promUpdate = flag.Bool("update", false, "rewrite testdata/metrics_*.golden")

// promTestOptions are the options of every enabled metric set in these
// tests: a few of each bounded vocabulary.
var promTestOptions = metricsOptions{
	Enabled:   true,
	Version:   "1.2.3",
	Revision:  "abc1234",
	Tools:     []string{"task_create", "task_list", "task_read"},
	Routes:    []string{"/health", "/mcp", "/metrics"},
	Endpoints: []string{"/projects", "/tasks", "/tasks/{id}"},
	Breakers:  []string{"GET /tasks", "GET /tasks/{id}"},
}

// promPrimitivesRegistry returns a registry exercising every primitive with
// fixed values, including the escaping and special-float cases.
func promPrimitivesRegistry() *promRegistry {
	r := &promRegistry{}

	c := r.newCounter("demo_events_total", "Events seen.\nA second line with a backslash \\ in it.")
	c.inc()
	c.inc()
	c.add(1.5)
	c.add(-7)         // ignored: counters never go down
	c.add(math.NaN()) // ignored

	r.newCounter("demo_untouched_total", "A counter nobody incremented.")

	g := r.newGauge("demo_temperature_celsius", "A gauge that went up and down.")
	g.set(20)
	g.inc()
	g.dec()
	g.add(-22.5)

	special := r.newGaugeVec("demo_special_values", "Gauges holding +Inf, -Inf, NaN and large numbers.", promLabel{name: "case"})
	special.with("pos_inf").set(math.Inf(1))
	special.with("neg_inf").set(math.Inf(-1))
	special.with("nan").set(math.NaN())
	special.with("big_int").set(1 << 40)
	special.with("huge").set(1e300)
	special.with("tiny").set(1e-9)

	esc := r.newGaugeVec("demo_escaped_labels", "Label values needing escapes.", promLabel{name: "value"})
	esc.with(`back\slash`).set(1)
	esc.with(`say "hi"`).set(2)
	esc.with("two\nlines").set(3)
	esc.with("bad utf8 \xff").set(4)

	reqs := r.newCounterVec("demo_requests_total", "Requests by method, route and status.",
		promLabel{"method", []string{"GET", "POST"}}, promLabel{name: "route"}, promLabel{name: "status"})
	// Created out of order to show that series are written sorted.
	reqs.with("POST", "/b", "500").inc()
	reqs.with("GET", "/b", "200").add(3)
	reqs.with("GET", "/a", "200").inc()
	reqs.with("BREW", "/a", "418").inc() // BREW is not allowed: it folds into "other"

	lat := r.newHistogramVec("demo_latency_seconds", "Latency by route.", []float64{0.1, 0.5, 1}, promLabel{name: "route"})
	for _, v := range []float64{0.05, 0.1, 0.3, 0.5, 0.7, 2} { // 0.1 and 0.5 sit on a bound: le is inclusive
		lat.with("/a").observe(v)
	}
	lat.with("/nan").observe(math.NaN()) // lands in +Inf and makes the sum NaN

	r.newHistogram("demo_empty_seconds", "An unlabelled histogram with no observations.", []float64{1, 2})
	r.newHistogramVec("demo_unused_seconds", "A labelled histogram with no series yet.", []float64{1}, promLabel{name: "route"})

	r.newSummary("demo_pause_seconds", "A summary from a fixed source.", []float64{0, 0.5, 0.99, 1},
		func(*promScrape) ([]float64, float64, uint64, bool) {
			return []float64{0.001, 0.002, 0.25, 0.5}, 1.25, 42, true
		})
	r.newSummary("demo_no_data_seconds", "A summary whose source has nothing yet.", []float64{0.5},
		func(*promScrape) ([]float64, float64, uint64, bool) { return nil, 0, 0, false })
	return r
}

// promRecordFixture records a fixed, representative set of observations
// through the project's metric set.
func promRecordFixture(m *metrics) {
	m.observeHTTPRequest("POST", "/mcp", 200, 12*time.Millisecond, 900)
	m.observeHTTPRequest("POST", "/mcp", 200, 40*time.Millisecond, 70000)
	m.observeHTTPRequest("GET", "/metrics", 200, 2*time.Millisecond, 5000)
	m.observeHTTPRequest("GET", "/wp-admin", 404, time.Millisecond, 19) // unknown route folds into "other"
	m.observeHTTPRequest("BREW", "/mcp", 405, time.Millisecond, 0)      // unknown method folds into "other"
	m.activeConnections.inc()
	m.activeConnections.inc()
	m.activeConnections.dec()
	m.errorsTotal.with("tool_error").inc()
	m.errorsTotal.with("made_up").inc() // unknown kind folds into "other"
	m.mcpRequests.with("tools/call", "ok").inc()
	m.mcpRequests.with("initialize", "ok").inc()
	m.mcpRequests.with("no/such/method", "error").inc()
	m.observeToolExecution("task_read", "success", 80*time.Millisecond)
	m.observeToolExecution("task_read", "stale", 3*time.Second)
	m.observeToolExecution("task_create", "error", 31*time.Second)
	m.sessionsActive.set(3)
	m.observeBackendCall("GET", "/tasks/{id}", statusLabel(200), 30*time.Millisecond)
	m.observeBackendCall("GET", "/tasks/{id}", statusLabel(503), 7*time.Second)
	m.observeBackendCall("GET", "/tasks/{id}", "timeout", 10*time.Second)
	m.backendRetries.with("GET", "/tasks/{id}", statusLabel(503)).inc()
	m.backendRetries.with("GET", "/tasks/{id}", "timeout").inc()
	m.breakerState.with("GET /tasks/{id}").set(1)
	m.breakerTransitions.with("GET /tasks/{id}", "open").inc()
	m.breakerRejections.with("GET /tasks/{id}").add(4)
	m.cacheSize.set(17)
	m.cacheHits.add(5)
	m.cacheMisses.inc()
	m.cacheEvictions.inc()
	m.cacheStaleServed.inc()
	m.healthCheckStatus.with("backend").set(0.5)
	m.healthCheckStatus.with("memory").set(1)

	legacy := newSession("s-1")
	legacy.version = version20251125
	modern := rawObject{{name: []byte(metaProtocolVersion), value: json.RawMessage(`"` + versionModern + `"`)}}
	call := &message{method: "tools/call"}
	read := &requestInfo{tool: "task_read"}
	ok := &answer{result: &toolResult{}}
	m.observeMCPOperation("http", legacy, call, read, ok, 40*time.Millisecond)
	m.observeMCPOperation("http", legacy, call, read, &answer{result: &toolResult{IsError: true}}, 3*time.Second)
	m.observeMCPOperation("stdio", newSession(""), &message{method: "tools/list", meta: modern}, &requestInfo{}, ok, 3*time.Millisecond)
	m.observeMCPOperation("http", legacy, &message{method: "no/such/method"}, &requestInfo{},
		&answer{err: &rpcError{Code: codeMethodNotFound}}, time.Millisecond) // unknown method folds into "other"
	m.observeMCPOperation("http", legacy, call, &requestInfo{tool: "made_up"},
		&answer{err: &rpcError{Code: -1}}, 15*time.Millisecond) // unknown tool into "other", unknown code into "_OTHER"
	m.observeMCPOperation("http", legacy, call, read, nil, 400*time.Second)                                                                                                                      // cancelled: no error_type
	m.observeMCPOperation("http", newSession(""), &message{method: "ping", meta: rawObject{{name: []byte(metaProtocolVersion), value: json.RawMessage(`"1999-01-01"`)}}}, &requestInfo{}, ok, 0) // unknown version folds into "other"
	m.observeMCPSession("http", version20251125, 90*time.Second)
	m.observeMCPSession("http", "", 2*time.Second) // ended before initialize
}

// TestMetricsGolden compares deterministic expositions with the files in
// testdata; the scrape-time families (process, go, memory, scheduler, build
// info) are left out because their values change between runs.
func TestMetricsGolden(t *testing.T) {
	project := metricsBuild(promTestOptions)
	promRecordFixture(project)
	tests := []struct {
		name string
		reg  *promRegistry
	}{
		{"primitives", promPrimitivesRegistry()},
		{"project", project.reg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.reg.appendTo(nil)
			promCheckExposition(t, got)
			path := filepath.Join("testdata", "metrics_"+tt.name+".golden")
			if *promUpdate {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -run Golden -update): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("exposition differs from %s (run go test -run Golden -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// TestMCPMethodLabelsFollowMethodTable checks that every method of the
// method table is counted under its own name, so a new method row gets its
// own series without a second list to update, and that a method the table
// does not have folds into "other".
func TestMCPMethodLabelsFollowMethodTable(t *testing.T) {
	m := metricsBuild(promTestOptions)
	names := slices.Sorted(maps.Keys(methodTable))
	for _, name := range names {
		m.countMCPRequest(name, true)
	}
	m.countMCPRequest("no/such/method", true)
	fams, _, err := promParseExposition(m.reg.appendTo(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range fams["taskman_mcp_requests_total"].samples {
		got[s.labels["method"]] += s.value
	}
	for _, name := range append(names, promOther) {
		if got[name] != 1 {
			t.Errorf("taskman_mcp_requests_total{method=%q} = %v, want 1", name, got[name])
		}
	}
}

// promTestSample is one parsed sample line.
type promTestSample struct {
	name   string            // metric name including any _bucket/_sum/_count suffix
	labels map[string]string // unescaped label values
	value  float64
}

// promTestFamily is one parsed family.
type promTestFamily struct {
	typ     string
	samples []promTestSample
}

// promParseLabels parses the inside of {...}, unescaping values, and fails
// on anything outside the exposition grammar.
func promParseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, fmt.Errorf("bad label pair in %q", s)
		}
		name := s[:eq]
		var val strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\n' {
				return nil, fmt.Errorf("raw newline in label %s", name)
			}
			if s[i] != '\\' {
				val.WriteByte(s[i])
				continue
			}
			i++
			if i >= len(s) {
				return nil, fmt.Errorf("dangling backslash in label %s", name)
			}
			switch s[i] {
			case '\\':
				val.WriteByte('\\')
			case '"':
				val.WriteByte('"')
			case 'n':
				val.WriteByte('\n')
			default:
				return nil, fmt.Errorf("bad escape \\%c in label %s", s[i], name)
			}
		}
		if i >= len(s) {
			return nil, fmt.Errorf("unterminated value of label %s", name)
		}
		if _, dup := labels[name]; dup {
			return nil, fmt.Errorf("duplicate label %s", name)
		}
		labels[name] = val.String()
		s = s[i+1:]
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("want ',' after label %s, got %q", name, s)
			}
			s = s[1:]
		}
	}
	return labels, nil
}

// promBelongs reports whether a sample called name belongs to family fam of
// type typ.
func promBelongs(name, fam, typ string) bool {
	switch typ {
	case promTypeHistogram:
		return name == fam+"_bucket" || name == fam+"_sum" || name == fam+"_count"
	case promTypeSummary:
		return name == fam || name == fam+"_sum" || name == fam+"_count"
	}
	return name == fam
}

// promParseExposition parses a text exposition strictly: every family has
// HELP then TYPE before its samples and appears once, every sample belongs
// to the family above it, no timestamps, and the body ends with a newline.
func promParseExposition(body []byte) (map[string]*promTestFamily, []string, error) {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return nil, nil, errors.New("body does not end with a newline")
	}
	fams := map[string]*promTestFamily{}
	var order []string
	var cur, helpFor string
	for n, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		n++
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, _, _ := strings.Cut(line[len("# HELP "):], " ")
			if _, seen := fams[name]; seen {
				return nil, nil, fmt.Errorf("line %d: family %s appears twice", n, name)
			}
			helpFor, cur = name, ""
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(line[len("# TYPE "):], " ")
			if name != helpFor {
				return nil, nil, fmt.Errorf("line %d: TYPE of %s not right after its HELP", n, name)
			}
			if !slices.Contains([]string{promTypeCounter, promTypeGauge, promTypeHistogram, promTypeSummary}, typ) {
				return nil, nil, fmt.Errorf("line %d: unknown type %q", n, typ)
			}
			fams[name] = &promTestFamily{typ: typ}
			order = append(order, name)
			cur, helpFor = name, ""
		case strings.HasPrefix(line, "#") || line == "":
			return nil, nil, fmt.Errorf("line %d: unexpected %q", n, line)
		default:
			if cur == "" {
				return nil, nil, fmt.Errorf("line %d: sample before HELP and TYPE: %q", n, line)
			}
			var smp promTestSample
			rest := line
			if i := strings.IndexByte(line, '{'); i >= 0 {
				j := strings.LastIndexByte(line, '}')
				if j < i {
					return nil, nil, fmt.Errorf("line %d: unbalanced braces", n)
				}
				labels, err := promParseLabels(line[i+1 : j])
				if err != nil {
					return nil, nil, fmt.Errorf("line %d: %w", n, err)
				}
				smp.name, smp.labels, rest = line[:i], labels, line[j+1:]
			} else {
				name, value, _ := strings.Cut(line, " ")
				smp.name, smp.labels, rest = name, map[string]string{}, " "+value
			}
			fields := strings.Fields(rest)
			if len(fields) != 1 || !strings.HasPrefix(rest, " ") {
				return nil, nil, fmt.Errorf("line %d: want exactly one value (no timestamp): %q", n, line)
			}
			v, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", n, err)
			}
			smp.value = v
			if !promBelongs(smp.name, cur, fams[cur].typ) {
				return nil, nil, fmt.Errorf("line %d: sample %s outside its family (current %s)", n, smp.name, cur)
			}
			fams[cur].samples = append(fams[cur].samples, smp)
		}
	}
	return fams, order, nil
}

// promSeriesID renders a sample's identity without the le label.
func promSeriesID(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "le" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%q", k, labels[k])
	}
	return b.String()
}

// promCheckExposition parses body and checks the invariants of every
// scrape: the grammar (promParseExposition), families sorted by name, no
// duplicate series, and for histograms buckets that never decrease and end
// in +Inf equal to _count. It returns the parsed families.
func promCheckExposition(t *testing.T, body []byte) map[string]*promTestFamily {
	t.Helper()
	fams, order, err := promParseExposition(body)
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	if !slices.IsSorted(order) {
		t.Errorf("families not sorted by name: %v", order)
	}
	for name, f := range fams {
		seen := map[string]bool{}
		for _, s := range f.samples {
			id := promSeriesID(s.name, s.labels) + ",le=" + s.labels["le"]
			if seen[id] {
				t.Errorf("duplicate series %s", id)
			}
			seen[id] = true
		}
		if f.typ != promTypeHistogram {
			continue
		}
		last := map[string]float64{}   // series → last cumulative bucket value
		lastLe := map[string]string{}  // series → last le
		counts := map[string]float64{} // series → _count
		for _, s := range f.samples {
			id := promSeriesID(name, s.labels)
			switch s.name {
			case name + "_bucket":
				if s.value < last[id] {
					t.Errorf("%s: bucket le=%s = %v below the previous %v", id, s.labels["le"], s.value, last[id])
				}
				last[id], lastLe[id] = s.value, s.labels["le"]
			case name + "_count":
				counts[id] = s.value
			}
		}
		for id, c := range counts {
			if lastLe[id] != "+Inf" {
				t.Errorf("%s: last bucket le=%q, want +Inf", id, lastLe[id])
			}
			if last[id] != c {
				t.Errorf("%s: +Inf bucket = %v, want _count %v", id, last[id], c)
			}
		}
	}
	return fams
}

// TestMetricsConcurrentScrape records from 8 goroutines while another
// scrapes, and checks every scrape's invariants and that no counter (nor
// histogram bucket or count) ever decreases between scrapes.
func TestMetricsConcurrentScrape(t *testing.T) {
	m := newMetrics(promTestOptions)
	const (
		workers    = 8
		iterations = 2000 // per worker: enough to overlap many scrapes
		maxScrapes = 200  // bounds the scraper if the workers finish late
	)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			routes := []string{"/mcp", "/health", "/metrics", "/nope"}
			for i := range iterations {
				route := routes[(w+i)%len(routes)]
				m.observeHTTPRequest("POST", route, 200+(i%3)*100, time.Duration(i)*time.Microsecond, int64(i*10))
				m.observeToolExecution("task_read", "success", time.Duration(i)*time.Millisecond)
				m.observeBackendCall("GET", "/tasks/{id}", statusLabel(200), time.Millisecond)
				m.cacheHits.inc()
				m.errorsTotal.with("backend").add(0.5)
				m.activeConnections.inc()
				m.activeConnections.dec()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	prev := map[string]float64{}
	scrapes := 0
	for finished := false; !finished && scrapes < maxScrapes; scrapes++ {
		select {
		case <-done:
			finished = true // one last scrape after every worker stopped
		default:
		}
		var buf bytes.Buffer
		if err := m.writeTo(&buf); err != nil {
			t.Fatalf("writeTo: %v", err)
		}
		fams := promCheckExposition(t, buf.Bytes())
		for name, f := range fams {
			for _, s := range f.samples {
				monotonic := f.typ == promTypeCounter ||
					(f.typ == promTypeHistogram && (s.name == name+"_bucket" || s.name == name+"_count"))
				if !monotonic {
					continue
				}
				id := promSeriesID(s.name, s.labels) + ",le=" + s.labels["le"]
				if s.value < prev[id] {
					t.Errorf("scrape %d: %s went down from %v to %v", scrapes, id, prev[id], s.value)
				}
				prev[id] = s.value
			}
		}
	}
	<-done
	if got, want := m.cacheHits.value(), float64(workers*iterations); got != want {
		t.Errorf("cacheHits.value() = %v, want %v", got, want)
	}
	if got := m.activeConnections.value(); got != 0 {
		t.Errorf("activeConnections.value() = %v, want 0", got)
	}
	if scrapes < 2 {
		t.Errorf("only %d scrapes ran", scrapes)
	}
}

// promFamilyNames are every family of docs/observability.md's table; the full
// metric set must expose each of them.
var promFamilyNames = []string{
	"taskman_http_requests_total",
	"taskman_http_request_duration_seconds",
	"taskman_http_response_size_bytes",
	"taskman_active_connections",
	"taskman_errors_total",
	"taskman_mcp_requests_total",
	"taskman_mcp_tool_executions_total",
	"taskman_mcp_tool_execution_duration_seconds",
	"taskman_mcp_sessions_active",
	"taskman_backend_api_calls_total",
	"taskman_backend_api_call_duration_seconds",
	"taskman_backend_api_retries_total",
	"taskman_circuit_breaker_state",
	"taskman_circuit_breaker_transitions_total",
	"taskman_circuit_breaker_rejections_total",
	"taskman_cache_size",
	"taskman_cache_hits_total",
	"taskman_cache_misses_total",
	"taskman_cache_evictions_total",
	"taskman_cache_stale_served_total",
	"taskman_health_check_status",
	"taskman_memory_usage_bytes",
	"taskman_scheduler_latency_seconds",
	"taskman_build_info",
	"mcp_server_operation_duration_seconds",
	"mcp_server_session_duration_seconds",
	"go_goroutines",
	"go_threads",
	"go_gc_duration_seconds",
	"go_memstats_heap_alloc_bytes",
	"go_info",
}

// promProcessFamilyNames are the process_* families, exposed on Linux only.
var promProcessFamilyNames = []string{
	"process_cpu_seconds_total",
	"process_resident_memory_bytes",
	"process_virtual_memory_bytes",
	"process_open_fds",
	"process_max_fds",
	"process_start_time_seconds",
}

// TestMetricsFamilies checks that a full scrape has every family of the
// design, with the right type, the pre-created zero series and the scrape-
// time samples.
func TestMetricsFamilies(t *testing.T) {
	m := newMetrics(promTestOptions)
	var buf bytes.Buffer
	if err := m.writeTo(&buf); err != nil {
		t.Fatalf("writeTo: %v", err)
	}
	fams := promCheckExposition(t, buf.Bytes())
	want := slices.Clone(promFamilyNames)
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		want = append(want, promProcessFamilyNames...)
	}
	for _, name := range want {
		if fams[name] == nil {
			t.Errorf("family %s missing from the scrape", name)
		}
	}

	types := map[string]string{
		"taskman_http_request_duration_seconds": promTypeHistogram,
		"taskman_scheduler_latency_seconds":     promTypeSummary,
		"go_gc_duration_seconds":                promTypeSummary,
		"taskman_circuit_breaker_state":         promTypeGauge,
		"taskman_errors_total":                  promTypeCounter,
		"mcp_server_operation_duration_seconds": promTypeHistogram,
		"mcp_server_session_duration_seconds":   promTypeHistogram,
	}
	for name, typ := range types {
		if f := fams[name]; f != nil && f.typ != typ {
			t.Errorf("type of %s = %s, want %s", name, f.typ, typ)
		}
	}

	// Pre-created series read 0 from the first scrape; dynamic families
	// show only HELP and TYPE.
	counts := map[string]int{
		"taskman_errors_total":                     len(promErrorKinds),
		"taskman_circuit_breaker_state":            len(promTestOptions.Breakers),
		"taskman_circuit_breaker_rejections_total": len(promTestOptions.Breakers),
		"taskman_cache_hits_total":                 1,
		"taskman_build_info":                       1,
		"taskman_memory_usage_bytes":               4,
		"taskman_http_requests_total":              0,
		"taskman_mcp_tool_executions_total":        0,
		"taskman_backend_api_calls_total":          0,
		"taskman_http_request_duration_seconds":    0,
	}
	for name, n := range counts {
		if f := fams[name]; f != nil && len(f.samples) != n {
			t.Errorf("%s has %d samples, want %d", name, len(f.samples), n)
		}
	}
	if f := fams["taskman_build_info"]; f != nil && len(f.samples) == 1 {
		got := f.samples[0].labels
		if got["version"] != "1.2.3" || got["revision"] != "abc1234" || got["goversion"] == "" || f.samples[0].value != 1 {
			t.Errorf("taskman_build_info = %v %v, want version 1.2.3, revision abc1234, a goversion, value 1", got, f.samples[0].value)
		}
	}
	if f := fams["go_goroutines"]; f != nil && (len(f.samples) != 1 || f.samples[0].value < 1) {
		t.Errorf("go_goroutines samples = %v, want one value >= 1", f.samples)
	}
}

// TestMetricsDisabled checks that disabled metrics record nothing, never
// panic, and that /metrics answers 404 with a JSON hint.
func TestMetricsDisabled(t *testing.T) {
	m := newMetrics(metricsOptions{Enabled: false})
	// Every recording path must be a no-op, on the disabled set and on a
	// nil *metrics alike.
	for _, mm := range []*metrics{m, nil} {
		mm.observeHTTPRequest("GET", "/mcp", 200, time.Second, 10)
		mm.observeToolExecution("task_read", "success", time.Second)
		mm.observeBackendCall("GET", "/tasks", "200", time.Second)
	}
	m.activeConnections.inc()
	m.activeConnections.set(3)
	m.errorsTotal.with("panic").inc()
	m.breakerState.with("x").set(1)
	m.toolDuration.with("task_read").observe(1)
	m.cacheHits.add(2)
	if got := m.cacheHits.value(); got != 0 {
		t.Errorf("disabled cacheHits.value() = %v, want 0", got)
	}
	if got := m.errorsTotal.with("panic"); got != nil {
		t.Errorf("disabled errorsTotal.with(%q) = %p, want nil", "panic", got)
	}
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("disabled GET /metrics status = %d, want %d", rec.Code, http.StatusNotFound)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("disabled GET /metrics Content-Type = %q, want application/json", ct)
	}
	var body struct{ Error, Hint string }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("disabled body %q is not JSON: %v", rec.Body.String(), err)
	}
	if body.Error != "metrics are disabled" || body.Hint != "set METRICS_ENABLED=true" {
		t.Errorf("disabled body = %+v, want the error and the METRICS_ENABLED hint", body)
	}
}

// TestMetricsHandler drives /metrics over a real listener: GET serves the
// exposition, HEAD only the headers, other methods 405.
func TestMetricsHandler(t *testing.T) {
	m := newMetrics(promTestOptions)
	promRecordFixture(m)
	srv := httptest.NewServer(m.handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		method     string
		wantStatus int
		wantBody   bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
		{http.MethodDelete, http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+"/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := roundTrip(t, srv.Client(), req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s /metrics status = %d, want %d", tt.method, resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed {
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("%s /metrics Allow = %q, want %q", tt.method, got, "GET, HEAD")
				}
				return
			}
			if got := resp.Header.Get("Content-Type"); got != promContentType {
				t.Errorf("%s /metrics Content-Type = %q, want %q", tt.method, got, promContentType)
			}
			if tt.wantBody {
				fams := promCheckExposition(t, body)
				if f := fams["taskman_http_requests_total"]; f == nil || len(f.samples) == 0 {
					t.Errorf("GET /metrics has no taskman_http_requests_total samples")
				}
			} else if len(body) != 0 {
				t.Errorf("HEAD /metrics body has %d bytes, want 0", len(body))
			}
		})
	}
}

// TestMetricsPromtool runs `promtool check metrics` on a real scrape of the
// full metric set; any output is a failure.
func TestMetricsPromtool(t *testing.T) {
	path := deployPromtool(t)
	m := newMetrics(promTestOptions)
	promRecordFixture(m)
	var buf bytes.Buffer
	if err := m.writeTo(&buf); err != nil {
		t.Fatalf("writeTo: %v", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPromAppendFloat checks the sample value spelling.
func TestPromAppendFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1, "-1"},
		{42, "42"},
		{1048576, "1048576"},
		{1 << 52, "4503599627370496"},
		{1 << 60, "1.152921504606847e+18"},
		{0.1, "0.1"},
		{2.5, "2.5"},
		{1e-9, "1e-09"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := string(promAppendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("promAppendFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestStatusLabel checks the status table and that it does not allocate.
func TestStatusLabel(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{99, "other"}, {100, "100"}, {200, "200"}, {404, "404"}, {599, "599"}, {600, "other"}, {-1, "other"},
	}
	for _, tt := range tests {
		if got := statusLabel(tt.code); got != tt.want {
			t.Errorf("statusLabel(%d) = %q, want %q", tt.code, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = statusLabel(503) }); n != 0 {
		t.Errorf("statusLabel allocates %v times, want 0", n)
	}
}

// TestPromVecLabels checks folding of unknown values, missing and extra
// values, and the series cap.
func TestPromVecLabels(t *testing.T) {
	r := &promRegistry{}
	cv := r.newCounterVec("t_total", "t", promLabel{"tool", []string{"a", "b"}}, promLabel{name: "status"})
	tests := []struct {
		name   string
		values []string
		want   promKey
	}{
		{"allowed", []string{"a", "ok"}, promKey{"a", "ok"}},
		{"unknown folds", []string{"zzz", "ok"}, promKey{"other", "ok"}},
		{"missing is other", []string{"b"}, promKey{"b", "other"}},
		{"extra ignored", []string{"b", "ok", "extra"}, promKey{"b", "ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cv.with(tt.values...)
			if c2 := cv.with(tt.want[0], tt.want[1]); c != c2 {
				t.Errorf("with(%q) and with(%q) are different series", tt.values, tt.want[:2])
			}
		})
	}

	free := r.newCounterVec("free_total", "f", promLabel{name: "v"})
	for i := range promMaxSeries + 50 {
		free.with(strconv.Itoa(i)).inc()
	}
	free.vec.mu.RLock()
	n := len(free.vec.byKey)
	free.vec.mu.RUnlock()
	if n != promMaxSeries+1 {
		t.Errorf("series after %d distinct values = %d, want %d (cap plus the all-other series)", promMaxSeries+50, n, promMaxSeries+1)
	}
	if got := free.with("other").value(); got != 50 {
		t.Errorf("over-cap series other = %v, want 50", got)
	}
}

// TestMetricsRecordingDoesNotAllocate checks the hot path's contract:
// recording and looking up existing series never allocate.
func TestMetricsRecordingDoesNotAllocate(t *testing.T) {
	m := newMetrics(promTestOptions)
	promRecordFixture(m)
	h := m.httpDuration.with("POST", "/mcp")
	legacy := newSession("s-1")
	legacy.version = version20251125
	modernCall := &message{method: "tools/call", meta: rawObject{{name: []byte(metaProtocolVersion), value: json.RawMessage(`"` + versionModern + `"`)}}}
	call, read := &message{method: "tools/call"}, &requestInfo{tool: "task_read"}
	ok := &answer{result: &toolResult{}}
	failed := &answer{err: &rpcError{Code: codeInvalidParams}}
	tests := []struct {
		name string
		fn   func()
	}{
		{"counter inc", m.cacheHits.inc},
		{"counter add", func() { m.cacheHits.add(0.25) }},
		{"gauge add", func() { m.activeConnections.add(1) }},
		{"histogram observe", func() { h.observe(0.02) }},
		{"vec with", func() { m.httpRequests.with("POST", "/mcp", statusLabel(200)).inc() }},
		{"vec with folded", func() { m.toolExecutions.with("no_such_tool", "success").inc() }},
		{"observeHTTPRequest", func() { m.observeHTTPRequest("POST", "/mcp", 200, time.Millisecond, 100) }},
		{"observeMCPOperation", func() {
			m.observeMCPOperation("http", legacy, modernCall, read, ok, time.Millisecond)
		}},
		{"observeMCPOperation error", func() {
			m.observeMCPOperation("stdio", legacy, call, read, failed, time.Millisecond)
		}},
		{"observeMCPSession", func() { m.observeMCPSession("http", version20251125, time.Minute) }},
		{"disabled", func() { (*metrics)(nil).observeToolExecution("task_read", "success", time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn() // create any series first
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
			}
		})
	}
}

// TestPromHistogramQuantiles checks the runtime-histogram summary math.
func TestPromHistogramQuantiles(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name      string
		counts    []uint64
		buckets   []float64
		wantQ     []float64 // at 0.5, 0.9, 0.99
		wantSum   float64
		wantCount uint64
	}{
		{"empty", []uint64{0, 0}, []float64{0, 1, 2}, []float64{math.NaN(), math.NaN(), math.NaN()}, 0, 0},
		{"uniform", []uint64{5, 5}, []float64{0, 1, 2}, []float64{1, 1.8, 1.98}, 10, 10},
		{"infinite edges", []uint64{2, 0, 2}, []float64{math.Inf(-1), 1, 2, inf}, []float64{1, 2, 2}, 6, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, sum, count := promHistogramQuantiles(tt.counts, tt.buckets, promSchedulerRanks)
			for i := range q {
				if !promNearlyEqual(q[i], tt.wantQ[i]) {
					t.Errorf("quantile %v = %v, want %v", promSchedulerRanks[i], q[i], tt.wantQ[i])
				}
			}
			if sum != tt.wantSum || count != tt.wantCount {
				t.Errorf("sum, count = %v, %v, want %v, %v", sum, count, tt.wantSum, tt.wantCount)
			}
		})
	}
}

// promNearlyEqual compares floats to 1e-9, NaN equal to NaN.
func promNearlyEqual(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-9
}

// promSampleStat is a /proc/self/stat line of a process whose command name
// holds a space and a parenthesis.
const promSampleStat = "4242 (task man) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 " +
	"150 50 0 0 20 0 12 0 987654 1597620224 1676 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n"

// TestPromParseProcStat checks the /proc parsers on real and broken input.
func TestPromParseProcStat(t *testing.T) {
	st, err := promParseProcStat([]byte(promSampleStat))
	if err != nil {
		t.Fatalf("promParseProcStat(sample) error: %v", err)
	}
	want := promProcStat{utime: 150, stime: 50, starttime: 987654, vsize: 1597620224, rssPages: 1676}
	if st != want {
		t.Errorf("promParseProcStat(sample) = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "no parens", "1 (x) S 1 2", strings.Replace(promSampleStat, " 150 ", " abc ", 1)} {
		if _, err := promParseProcStat([]byte(bad)); !errors.Is(err, errPromProcStat) {
			t.Errorf("promParseProcStat(%q) error = %v, want %v", bad, err, errPromProcStat)
		}
	}

	boot, err := promParseBootTime([]byte("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n"))
	if err != nil || boot != 1700000000 {
		t.Errorf("promParseBootTime() = %v, %v, want 1700000000, nil", boot, err)
	}
	if _, err := promParseBootTime([]byte("cpu 1\n")); !errors.Is(err, errPromProcStat) {
		t.Errorf("promParseBootTime(no btime) error = %v, want %v", err, errPromProcStat)
	}

	limits := "Limit                     Soft Limit           Hard Limit           Units\n" +
		"Max cpu time              unlimited            unlimited            seconds\n" +
		"Max open files            1024                 1048576              files\n"
	tests := []struct {
		name string
		in   string
		want float64
	}{
		{"number", limits, 1024},
		{"unlimited", strings.Replace(limits, "1024 ", "unlimited ", 1), math.Inf(1)},
	}
	for _, tt := range tests {
		if got, err := promParseMaxFDs([]byte(tt.in)); err != nil || got != tt.want {
			t.Errorf("promParseMaxFDs(%s) = %v, %v, want %v, nil", tt.name, got, err, tt.want)
		}
	}
	if _, err := promParseMaxFDs([]byte("Max cpu time unlimited\n")); !errors.Is(err, errPromProcStat) {
		t.Errorf("promParseMaxFDs(no line) error = %v, want %v", err, errPromProcStat)
	}
}

// FuzzPromParseProcStat feeds arbitrary bytes to the /proc/self/stat
// parser: it must never panic, and a success must round-trip the fields.
func FuzzPromParseProcStat(f *testing.F) {
	f.Add([]byte(promSampleStat))
	f.Add([]byte("1 ()) R 0 0 0 0 0 0 0 0 0 0 1 2 0 0 0 0 0 0 3 4 5"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := promParseProcStat(data)
		if err != nil {
			if !errors.Is(err, errPromProcStat) {
				t.Errorf("promParseProcStat(%q) error %v does not wrap errPromProcStat", data, err)
			}
			return
		}
		if st.vsize > 0 && !bytes.Contains(data, []byte(strconv.FormatUint(st.vsize, 10))) {
			t.Errorf("promParseProcStat(%q) vsize %d not in the input", data, st.vsize)
		}
	})
}

// BenchmarkCounterInc measures the hot-path counter increment.
func BenchmarkCounterInc(b *testing.B) {
	c := (&promRegistry{}).newCounter("bench_total", "b")
	b.ReportAllocs()
	for b.Loop() {
		c.inc()
	}
}

// BenchmarkHistogramObserve measures an observation on a pre-resolved
// labelled series.
func BenchmarkHistogramObserve(b *testing.B) {
	m := newMetrics(promTestOptions)
	h := m.httpDuration.with("POST", "/mcp")
	b.ReportAllocs()
	for b.Loop() {
		h.observe(0.042)
	}
}

// BenchmarkVecWith measures the lookup of an existing three-label series.
func BenchmarkVecWith(b *testing.B) {
	m := newMetrics(promTestOptions)
	m.httpRequests.with("POST", "/mcp", "200").inc()
	b.ReportAllocs()
	for b.Loop() {
		m.httpRequests.with("POST", "/mcp", "200")
	}
}

// BenchmarkScrape measures a full scrape of the metric set after traffic
// spread over about 300 series.
func BenchmarkScrape(b *testing.B) {
	m := newMetrics(promTestOptions)
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	routes := []string{"/health", "/mcp", "/metrics", "/x"}
	codes := []int{200, 201, 404, 500, 503}
	for _, method := range methods {
		for _, route := range routes {
			for _, code := range codes {
				m.observeHTTPRequest(method, route, code, 5*time.Millisecond, 512)
			}
		}
		for _, ep := range promTestOptions.Endpoints {
			for _, code := range codes {
				m.observeBackendCall(method, ep, statusLabel(code), 20*time.Millisecond)
				m.backendRetries.with(method, ep, statusLabel(code)).inc()
			}
		}
	}
	for _, tool := range promTestOptions.Tools {
		for _, status := range promToolStatuses {
			m.observeToolExecution(tool, status, 100*time.Millisecond)
		}
	}
	for _, method := range promMCPMethods {
		m.mcpRequests.with(method, "ok").inc()
		m.mcpRequests.with(method, "error").inc()
	}
	var buf bytes.Buffer
	if err := m.writeTo(&buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.writeTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	// Report the size of what was measured: sample lines (all lines less
	// each family's HELP and TYPE) and series (histogram series count once).
	b.ReportMetric(float64(bytes.Count(buf.Bytes(), []byte("\n"))-2*len(m.reg.families)), "samples")
	b.ReportMetric(float64(bytes.Count(buf.Bytes(), []byte("\n"))-2*len(m.reg.families)-
		bytes.Count(buf.Bytes(), []byte("_bucket{"))-bytes.Count(buf.Bytes(), []byte("_sum{"))), "series")
}

// TestMCPSessionDurationRecorded checks that a legacy session's duration,
// from create to its end (DELETE, idle expiry, shutdown), lands in
// mcp_server_session_duration_seconds with its negotiated version.
func TestMCPSessionDurationRecorded(t *testing.T) {
	m := newMetrics(promTestOptions)
	clock := &fakeClock{t: time.Date(2026, 7, 28, 9, 0, 0, 0, time.UTC)}
	st := newSessionStore(10, time.Minute, m)
	st.now = clock.now
	deleted, err := st.create(nil, "address:a")
	if err != nil {
		t.Fatal(err)
	}
	deleted.version = version20251125
	expired, err := st.create(nil, "address:b")
	if err != nil {
		t.Fatal(err)
	}
	st.release(deleted)
	st.release(expired)
	clock.advance(90 * time.Second)
	st.remove(deleted.id) // DELETE after 90 s
	clock.advance(time.Hour)
	st.sweep() // idle expiry, never initialized
	st.closeAll()

	tests := []struct {
		version string
		le120   uint64 // observations at or below 120 s
		count   uint64
	}{
		{version20251125, 1, 1},
		{"", 0, 1}, // 3690 s: beyond the 300 s top bucket
	}
	for _, tt := range tests {
		h := m.mcpSession.with("tcp", tt.version)
		var le120, count uint64
		for i := range h.counts {
			n := h.counts[i].Load()
			count += n
			if i < len(h.upper) && h.upper[i] <= 120 {
				le120 += n
			}
		}
		if le120 != tt.le120 || count != tt.count {
			t.Errorf("mcp_server_session_duration_seconds{mcp_protocol_version=%q}: %d at or below 120 s of %d, want %d of %d",
				tt.version, le120, count, tt.le120, tt.count)
		}
	}
}

// BenchmarkObserveMCPOperation measures what the OpenTelemetry operation
// histogram adds to every MCP request.
func BenchmarkObserveMCPOperation(b *testing.B) {
	m := newMetrics(promTestOptions)
	sess := newSession("s-1")
	sess.version = version20251125
	call, read := &message{method: "tools/call"}, &requestInfo{tool: "task_read"}
	ok := &answer{result: &toolResult{}}
	for b.Loop() {
		m.observeMCPOperation("http", sess, call, read, ok, time.Millisecond)
	}
}

// writeTo writes the exposition to w, as GET /metrics answers it: the
// tests' way to read what is recorded. It needs enabled metrics.
func (m *metrics) writeTo(w io.Writer) error {
	if m == nil || m.reg == nil {
		return errors.New("writeTo: metrics are disabled (METRICS_ENABLED=false): nothing to write")
	}
	bp := m.render()
	defer m.release(bp)
	if _, err := w.Write(*bp); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
