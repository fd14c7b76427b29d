package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// healthFixture is a health component behind a real HTTP server, with a
// fake backend, fake circuits, a fake clock and enabled metrics.
type healthFixture struct {
	h     *health
	srv   *httptest.Server
	clock *fakeClock
	m     *metrics
	calls atomic.Int64 // backend checks run

	mu      sync.Mutex    // guards err, delay, open, total, release
	err     error         // what the backend check returns
	delay   time.Duration // how far the backend check moves the fake clock
	open    int           // open circuits
	total   int           // circuits
	release chan struct{} // non-nil: the backend check blocks until it is closed
}

// healthNewFixture builds a fixture; edit may adjust the options and the
// fixture's fakes before the server starts. The runtime figures are pinned
// to healthy values so a noisy machine cannot make a test degraded.
func healthNewFixture(t *testing.T, edit func(*healthFixture, *healthOptions)) *healthFixture {
	t.Helper()
	f := &healthFixture{
		clock: &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)},
		m:     newMetrics(metricsOptions{Enabled: true}),
		total: 3,
	}
	opts := healthOptions{
		Version:     "1.2.3",
		GoVersion:   "go1.26",
		Transport:   "http",
		BackendMode: "embedded backend",
		Features:    map[string]bool{"metrics": true, "tracing": false, "circuit_breaker": true, "auth": true},
		Probe: newBackendProbe(func(ctx context.Context) error {
			f.calls.Add(1)
			f.mu.Lock()
			err, delay, release := f.err, f.delay, f.release
			f.mu.Unlock()
			if release != nil {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			f.clock.advance(delay)
			return err
		}, f.clock.now),
		Circuits: func() (int, int) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.open, f.total
		},
		Metrics: f.m,
		Now:     f.clock.now,
	}
	if edit != nil {
		edit(f, &opts)
	}
	f.h = newHealth(opts)
	f.h.memWarn, f.h.memFail = healthMemWarnDefault, healthMemFailDefault // whatever GOMEMLIMIT says
	f.h.sample = func() healthRuntime {
		return healthRuntime{heapInUse: 20 << 20, heapObjects: 15 << 20, sys: 40 << 20, schedP99: 200 * time.Microsecond}
	}
	// The probe routes of the route table alone, without the catch-all
	// 404, so that the mux's own 405 shows.
	mux := http.NewServeMux()
	tr := &httpTransport{health: f.h}
	for _, rt := range httpRoutes {
		if rt.health {
			mux.Handle(rt.pattern(), rt.handler(tr))
		}
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// set changes the fake backend and circuits under the lock.
func (f *healthFixture) set(fn func(f *healthFixture)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// healthAnswer is one decoded probe answer.
type healthAnswer struct {
	code   int
	header http.Header
	raw    []byte
	body   map[string]any
}

// check returns the named check of a readiness answer, or nil.
func (a healthAnswer) check(name string) map[string]any {
	checks, _ := a.body["checks"].(map[string]any)
	c, _ := checks[name].(map[string]any)
	return c
}

// healthDo sends method path to the fixture and decodes a JSON body.
func healthDo(t *testing.T, f *healthFixture, method, path string) healthAnswer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	resp, raw := roundTrip(t, f.srv.Client(), req)
	a := healthAnswer{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body %s: %v", method, path, raw, err)
		}
	}
	return a
}

// healthWant checks the code and status of an answer.
func healthWant(t *testing.T, a healthAnswer, path string, code int, status string) {
	t.Helper()
	if a.code != code || a.body["status"] != status {
		t.Errorf("GET %s = %d status %v, want %d %q; body %s", path, a.code, a.body["status"], code, status, a.raw)
	}
}

// TestHealthStartup checks that startup and readiness fail until
// markStarted, and liveness does not.
func TestHealthStartup(t *testing.T) {
	f := healthNewFixture(t, nil)
	healthWant(t, healthDo(t, f, "GET", "/health/startup"), "/health/startup", 503, healthDown)
	a := healthDo(t, f, "GET", "/health/ready")
	healthWant(t, a, "/health/ready", 503, healthDown)
	if got := a.check(healthNameLifecycle)["output"]; got != "starting" {
		t.Errorf("lifecycle output before start = %v, want %q", got, "starting")
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("backend checks before start = %d, want 0", n)
	}
	healthWant(t, healthDo(t, f, "GET", "/health/live"), "/health/live", 200, healthOK)

	f.h.markStarted()
	healthWant(t, healthDo(t, f, "GET", "/health/startup"), "/health/startup", 200, healthOK)
	healthWant(t, healthDo(t, f, "GET", "/health/ready"), "/health/ready", 200, healthOK)
	healthWant(t, healthDo(t, f, "GET", "/readyz"), "/readyz", 200, healthOK)
}

// TestHealthReadyStates checks the readiness status each fault produces.
func TestHealthReadyStates(t *testing.T) {
	tests := []struct {
		name       string
		fault      func(f *healthFixture)
		wantCode   int
		wantStatus string
		check      string // the check that explains the status
		wantCheck  string
		wantOutput string // substring of the check's output
	}{
		{"ok", func(*healthFixture) {}, 200, healthOK, healthNameBackend, healthPass, "reachable"},
		{"backend failing", func(f *healthFixture) {
			f.set(func(f *healthFixture) { f.err = errors.New("dial tcp 10.0.0.1:80: connection refused") })
		}, 200, healthDegraded, healthNameBackend, healthFail, "connection refused"},
		{"backend slow", func(f *healthFixture) {
			f.set(func(f *healthFixture) { f.delay = 2 * time.Second })
		}, 200, healthDegraded, healthNameBackend, healthWarn, "slow"},
		{"backend too slow", func(f *healthFixture) {
			f.set(func(f *healthFixture) { f.delay = 6 * time.Second })
		}, 200, healthDegraded, healthNameBackend, healthFail, "over the 5s limit"},
		{"one circuit open", func(f *healthFixture) {
			f.set(func(f *healthFixture) { f.open = 1 })
		}, 200, healthDegraded, healthNameCircuits, healthWarn, "1 of 3 circuits open"},
		{"all circuits open", func(f *healthFixture) {
			f.set(func(f *healthFixture) { f.open = 3 })
		}, 200, healthDegraded, healthNameCircuits, healthFail, "all 3 circuits open"},
		{"breakers off", func(f *healthFixture) {
			f.set(func(f *healthFixture) { f.total = 0 })
		}, 200, healthOK, healthNameCircuits, healthPass, "disabled"},
		{"memory high", func(f *healthFixture) {
			f.h.sample = func() healthRuntime { return healthRuntime{heapInUse: 600 << 20, schedP99: -1} }
		}, 200, healthDegraded, healthNameMemory, healthWarn, "600 MiB"},
		{"memory critical stays up", func(f *healthFixture) {
			f.h.sample = func() healthRuntime { return healthRuntime{heapInUse: 2 << 30, schedP99: -1} }
		}, 200, healthDegraded, healthNameMemory, healthFail, "over the 1024 MiB limit"},
		{"scheduler lagging", func(f *healthFixture) {
			f.h.sample = func() healthRuntime { return healthRuntime{heapInUse: 1 << 20, schedP99: 80 * time.Millisecond} }
		}, 200, healthDegraded, healthNameScheduler, healthWarn, "80ms"},
		{"scheduler starved stays up", func(f *healthFixture) {
			f.h.sample = func() healthRuntime { return healthRuntime{heapInUse: 1 << 20, schedP99: time.Second} }
		}, 200, healthDegraded, healthNameScheduler, healthFail, "over the 500ms limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := healthNewFixture(t, nil)
			f.h.markStarted()
			tt.fault(f)
			a := healthDo(t, f, "GET", "/health/ready")
			healthWant(t, a, "/health/ready", tt.wantCode, tt.wantStatus)
			c := a.check(tt.check)
			if c["status"] != tt.wantCheck || !strings.Contains(c["output"].(string), tt.wantOutput) {
				t.Errorf("checks.%s = %v, want status %q and output containing %q", tt.check, c, tt.wantCheck, tt.wantOutput)
			}
			if tt.wantStatus != healthOK && !strings.Contains(a.body["output"].(string), tt.check) {
				t.Errorf("output = %q, want it to name %q", a.body["output"], tt.check)
			}
			healthWant(t, healthDo(t, f, "GET", "/health/live"), "/health/live", 200, healthOK)
		})
	}
}

// TestHealthReadinessDoesNotCascade checks that readiness answers for this
// process: a shared backend that is down (or every circuit open) keeps the
// replica in the Service as degraded, with the reason, while starting and
// shutting down take it out; TASKMAN_READY_REQUIRES_BACKEND (RequireBackend)
// brings back the strict answer.
func TestHealthReadinessDoesNotCascade(t *testing.T) {
	backendDown := func(f *healthFixture) {
		f.set(func(f *healthFixture) { f.err = errors.New("dial tcp 10.0.0.1:3001: connect: connection refused") })
	}
	allOpen := func(f *healthFixture) { f.set(func(f *healthFixture) { f.open = f.total }) }
	tests := []struct {
		name       string
		strict     bool
		started    bool
		shutdown   bool
		fault      func(f *healthFixture)
		wantCode   int
		wantStatus string
		wantOutput string // substring of the answer's output
	}{
		{"backend down", false, true, false, backendDown, 200, healthDegraded, "backend: backend unreachable"},
		{"all circuits open", false, true, false, allOpen, 200, healthDegraded, "circuits: all 3 circuits open"},
		{"backend down and all circuits open", false, true, false, func(f *healthFixture) { backendDown(f); allOpen(f) }, 200, healthDegraded, "connection refused"},
		{"starting", false, false, false, nil, 503, healthDown, "lifecycle: starting"},
		{"shutting down", false, true, true, nil, 503, healthDown, "lifecycle: shutting down"},
		{"shutting down with the backend down", false, true, true, backendDown, 503, healthDown, "lifecycle: shutting down"},
		{"strict: backend down", true, true, false, backendDown, 503, healthDown, "backend: backend unreachable"},
		{"strict: all circuits open", true, true, false, allOpen, 503, healthDown, "circuits: all 3 circuits open"},
		{"strict: one circuit open", true, true, false, func(f *healthFixture) { f.set(func(f *healthFixture) { f.open = 1 }) }, 200, healthDegraded, "1 of 3 circuits open"},
		{"strict: memory critical", true, true, false, func(f *healthFixture) {
			f.h.sample = func() healthRuntime { return healthRuntime{heapInUse: 2 << 30, schedP99: -1} }
		}, 200, healthDegraded, "memory: heap in use"},
		{"strict: backend up", true, true, false, nil, 200, healthOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := healthNewFixture(t, func(_ *healthFixture, o *healthOptions) { o.RequireBackend = tt.strict })
			if tt.started {
				f.h.markStarted()
			}
			if tt.shutdown {
				f.h.markShuttingDown()
			}
			if tt.fault != nil {
				tt.fault(f)
			}
			for _, path := range []string{"/health/ready", "/readyz"} {
				a := healthDo(t, f, "GET", path)
				healthWant(t, a, path, tt.wantCode, tt.wantStatus)
				if out, _ := a.body["output"].(string); !strings.Contains(out, tt.wantOutput) {
					t.Errorf("GET %s output = %q, want it to contain %q", path, out, tt.wantOutput)
				}
			}
			if a := healthDo(t, f, "GET", "/health"); a.code != tt.wantCode || a.body["ok"] != (tt.wantCode == 200) {
				t.Errorf("GET /health = %d ok %v, want %d ok %v", a.code, a.body["ok"], tt.wantCode, tt.wantCode == 200)
			}
			healthWant(t, healthDo(t, f, "GET", "/health/live"), "/health/live", 200, healthOK)
		})
	}
}

// TestHealthBackendRecovers checks that a failing backend result is cached
// for backendProbeTTL and readiness recovers once it expires.
func TestHealthBackendRecovers(t *testing.T) {
	f := healthNewFixture(t, nil)
	f.h.markStarted()
	f.set(func(f *healthFixture) { f.err = errors.New("connection refused") })
	healthWant(t, healthDo(t, f, "GET", "/health/ready"), "/health/ready", 200, healthDegraded)
	healthWant(t, healthDo(t, f, "GET", "/livez"), "/livez", 200, healthOK)

	f.set(func(f *healthFixture) { f.err = nil })
	f.clock.advance(backendProbeTTL - time.Second)
	healthWant(t, healthDo(t, f, "GET", "/health/ready"), "/health/ready (cached)", 200, healthDegraded)

	f.clock.advance(2 * time.Second)
	healthWant(t, healthDo(t, f, "GET", "/health/ready"), "/health/ready (expired)", 200, healthOK)
	if n := f.calls.Load(); n != 2 {
		t.Errorf("backend checks = %d, want 2", n)
	}
}

// TestHealthShuttingDown checks that readiness fails at once on shutdown
// while liveness holds, and the backend is no longer asked.
func TestHealthShuttingDown(t *testing.T) {
	f := healthNewFixture(t, nil)
	f.h.markStarted()
	healthWant(t, healthDo(t, f, "GET", "/health/ready"), "/health/ready", 200, healthOK)
	calls := f.calls.Load()

	f.h.markShuttingDown()
	a := healthDo(t, f, "GET", "/health/ready")
	healthWant(t, a, "/health/ready", 503, healthDown)
	if got := a.check(healthNameLifecycle)["output"]; got != "shutting down" {
		t.Errorf("lifecycle output = %v, want %q", got, "shutting down")
	}
	if !strings.Contains(a.body["output"].(string), "shutting down") {
		t.Errorf("output = %q, want it to say shutting down", a.body["output"])
	}
	healthWant(t, healthDo(t, f, "GET", "/health/live"), "/health/live", 200, healthOK)
	if a := healthDo(t, f, "GET", "/health"); a.code != 503 || a.body["ok"] != false {
		t.Errorf("GET /health = %d ok %v, want 503 false", a.code, a.body["ok"])
	}
	f.clock.advance(time.Minute) // past the cache: still no backend call
	healthDo(t, f, "GET", "/health/ready")
	if n := f.calls.Load(); n != calls {
		t.Errorf("backend checks after shutdown = %d, want %d", n, calls)
	}
}

// TestHealthBackendCached checks that probes inside the cache window share
// one backend check and the next window runs a new one.
func TestHealthBackendCached(t *testing.T) {
	f := healthNewFixture(t, nil)
	f.h.markStarted()
	for i := range 10 {
		f.clock.advance(400 * time.Millisecond) // 10 probes within 4 s < backendProbeTTL
		healthWant(t, healthDo(t, f, "GET", "/health/ready"), fmt.Sprintf("/health/ready #%d", i), 200, healthOK)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("backend checks for 10 probes in the window = %d, want 1", n)
	}
	f.clock.advance(backendProbeTTL)
	healthDo(t, f, "GET", "/health")
	if n := f.calls.Load(); n != 2 {
		t.Errorf("backend checks after the window = %d, want 2", n)
	}
}

// TestHealthConcurrentProbesShareCheck checks that probes arriving while a
// backend check runs wait for it instead of starting their own.
func TestHealthConcurrentProbesShareCheck(t *testing.T) {
	const probes = 50
	release := make(chan struct{})
	f := healthNewFixture(t, nil)
	f.set(func(f *healthFixture) { f.release = release })
	f.h.markStarted()

	codes := make(chan int, probes)
	var wg sync.WaitGroup
	for range probes {
		wg.Go(func() {
			req, err := http.NewRequest("GET", f.srv.URL+"/health/ready", nil)
			if err != nil {
				codes <- -1
				return
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	// Wait (bounded) until every other probe has joined the leader's check.
	deadline := time.Now().Add(10 * time.Second)
	for waiters := 0; waiters < probes-1; {
		if time.Now().After(deadline) {
			close(release)
			wg.Wait()
			t.Fatalf("probes waiting on the shared check = %d after 10s, want %d (calls %d)", waiters, probes-1, f.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
		f.h.probe.mu.Lock()
		if fl := f.h.probe.flight; fl != nil {
			waiters = fl.waiters
		}
		f.h.probe.mu.Unlock()
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("concurrent probe = %d, want 200", code)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("backend checks for %d concurrent probes = %d, want 1", probes, n)
	}
}

// TestHealthBackendPanic checks that a panicking backend check still
// completes the shared check as a fail, so later probes do not hang.
func TestHealthBackendPanic(t *testing.T) {
	f := healthNewFixture(t, func(fx *healthFixture, o *healthOptions) {
		o.Probe = newBackendProbe(func(context.Context) error { panic("boom") }, fx.clock.now)
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("backendCheck with a panicking check did not panic")
			}
		}()
		f.h.backendCheck(context.Background())
	}()
	c := f.h.backendCheck(context.Background()) // cached; must not block
	if c.Status != healthFail || !strings.Contains(c.Output, "panicked") {
		t.Errorf("backendCheck after a panic = %+v, want a fail saying panicked", c)
	}
}

// TestHealthSummary checks /health: the readiness body plus ok, service and
// version, with readiness's status code.
func TestHealthSummary(t *testing.T) {
	f := healthNewFixture(t, nil)
	f.h.markStarted()
	a := healthDo(t, f, "GET", "/health")
	healthWant(t, a, "/health", 200, healthOK)
	for k, want := range map[string]any{"ok": true, "service": "taskman-mcp", "version": "1.2.3"} {
		if a.body[k] != want {
			t.Errorf("GET /health %s = %v, want %v", k, a.body[k], want)
		}
	}
	if a.check(healthNameBackend) == nil {
		t.Errorf("GET /health has no checks.backend: %s", a.raw)
	}
}

// healthSecretKey matches JSON keys that look like they hold a secret.
var healthSecretKey = regexp.MustCompile(`(?i)secret|token|passw|credential|api_?key|authorization|cookie|bearer`)

// healthKeys returns every object key in v, recursively.
func healthKeys(v any) []string {
	var keys []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			keys = append(keys, k)
			keys = append(keys, healthKeys(e)...)
		}
	case []any:
		for _, e := range v {
			keys = append(keys, healthKeys(e)...)
		}
	}
	return keys
}

// TestHealthInfo checks /health/info: identity, runtime figures, no
// secret-looking keys and no URL credentials.
func TestHealthInfo(t *testing.T) {
	f := healthNewFixture(t, func(_ *healthFixture, o *healthOptions) {
		o.BackendMode = "remote backend at http://alice:s3cr3t@api.example:8080/v1"
	})
	f.h.sample = f.h.readRuntime // the real figures
	a := healthDo(t, f, "GET", "/health/info")
	if a.code != 200 {
		t.Fatalf("GET /health/info = %d, want 200; body %s", a.code, a.raw)
	}
	for k, want := range map[string]any{
		"service":     "taskman-mcp",
		"version":     "1.2.3",
		"goVersion":   "go1.26",
		"transport":   "http",
		"backendMode": "remote backend at http://api.example:8080/v1",
	} {
		if a.body[k] != want {
			t.Errorf("GET /health/info %s = %v, want %q", k, a.body[k], want)
		}
	}
	if bytes.Contains(a.raw, []byte("s3cr3t")) || bytes.Contains(a.raw, []byte("alice")) {
		t.Errorf("GET /health/info leaks URL credentials: %s", a.raw)
	}
	for _, k := range healthKeys(a.body) {
		if healthSecretKey.MatchString(k) {
			t.Errorf("GET /health/info has secret-looking key %q", k)
		}
	}
	if feats, _ := a.body["features"].(map[string]any); feats["metrics"] != true || feats["tracing"] != false {
		t.Errorf("GET /health/info features = %v, want metrics true, tracing false", a.body["features"])
	}
	mem, _ := a.body["memory"].(map[string]any)
	if heap, _ := mem["heapInUseBytes"].(float64); heap <= 0 {
		t.Errorf("GET /health/info memory.heapInUseBytes = %v, want > 0", mem["heapInUseBytes"])
	}
	if _, ok := a.body["uptime"].(float64); !ok {
		t.Errorf("GET /health/info uptime = %v, want a number", a.body["uptime"])
	}
}

// TestHealthShape checks the headers of every probe and the JSON shape of
// the readiness answers.
func TestHealthShape(t *testing.T) {
	f := healthNewFixture(t, nil)
	f.h.markStarted()
	f.clock.advance(90 * time.Second)
	paths := []string{"/health", "/health/live", "/livez", "/health/ready", "/readyz", "/health/startup", "/health/info"}
	for _, p := range paths {
		a := healthDo(t, f, "GET", p)
		if got := a.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s Cache-Control = %q, want no-store", p, got)
		}
		if got := a.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("GET %s Content-Type = %q, want application/json", p, got)
		}
		if _, err := time.Parse(time.RFC3339, a.body["timestamp"].(string)); err != nil {
			t.Errorf("GET %s timestamp = %v, want RFC 3339: %v", p, a.body["timestamp"], err)
		}
		if got := a.body["uptime"]; got != 90.0 {
			t.Errorf("GET %s uptime = %v, want 90", p, got)
		}
	}
	for _, p := range []string{"/health", "/health/ready", "/health/startup"} {
		a := healthDo(t, f, "GET", p)
		checks, _ := a.body["checks"].(map[string]any)
		if len(checks) == 0 {
			t.Errorf("GET %s has no checks: %s", p, a.raw)
		}
		for name, c := range checks {
			c, _ := c.(map[string]any)
			if s := c["status"]; s != healthPass && s != healthWarn && s != healthFail {
				t.Errorf("GET %s checks.%s.status = %v, want pass, warn or fail", p, name, s)
			}
			if ts, _ := c["time"].(string); ts == "" {
				t.Errorf("GET %s checks.%s has no time", p, name)
			} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("GET %s checks.%s.time = %q, want RFC 3339: %v", p, name, ts, err)
			}
		}
	}
	a := healthDo(t, f, "GET", "/health/ready")
	for _, name := range []string{healthNameBackend, healthNameCircuits, healthNameMemory, healthNameScheduler, healthNameLifecycle} {
		if a.check(name) == nil {
			t.Errorf("GET /health/ready has no checks.%s: %s", name, a.raw)
		}
	}
	if got := a.check(healthNameBackend)["observedUnit"]; got != "ms" {
		t.Errorf("checks.backend.observedUnit = %v, want ms", got)
	}
}

// TestHealthHead checks that HEAD answers the GET status without a body,
// and other methods are refused.
func TestHealthHead(t *testing.T) {
	f := healthNewFixture(t, nil)
	for _, started := range []bool{false, true} {
		if started {
			f.h.markStarted()
		}
		for _, p := range []string{"/health", "/livez", "/readyz", "/health/startup", "/health/info"} {
			get := healthDo(t, f, "GET", p)
			head := healthDo(t, f, "HEAD", p)
			if head.code != get.code || len(head.raw) != 0 {
				t.Errorf("HEAD %s (started %v) = %d with %d body bytes, want %d and none", p, started, head.code, len(head.raw), get.code)
			}
			if got := head.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("HEAD %s Cache-Control = %q, want no-store", p, got)
			}
		}
	}
	if a := healthDo(t, f, "POST", "/health/ready"); a.code != http.StatusMethodNotAllowed {
		t.Errorf("POST /health/ready = %d, want 405", a.code)
	}
}

// TestHealthMetrics checks taskman_health_check_status after a failing and
// a passing check.
func TestHealthMetrics(t *testing.T) {
	f := healthNewFixture(t, nil)
	f.h.markStarted()
	scrape := func() string {
		t.Helper()
		var b bytes.Buffer
		if err := f.m.writeTo(&b); err != nil {
			t.Fatalf("writeTo: %v", err)
		}
		return b.String()
	}
	f.set(func(f *healthFixture) { f.err = errors.New("connection refused"); f.open = 1 })
	healthDo(t, f, "GET", "/health/ready")
	text := scrape()
	for _, want := range []string{
		`taskman_health_check_status{check="backend"} 0` + "\n",
		`taskman_health_check_status{check="circuits"} 0.5` + "\n",
		`taskman_health_check_status{check="lifecycle"} 1` + "\n",
		`taskman_health_check_status{check="memory"} 1` + "\n",
		`taskman_health_check_status{check="scheduler"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("after a failing check, metrics lack %q", want)
		}
	}
	f.set(func(f *healthFixture) { f.err = nil; f.open = 0 })
	f.clock.advance(backendProbeTTL)
	healthDo(t, f, "GET", "/health/ready")
	text = scrape()
	for _, want := range []string{
		`taskman_health_check_status{check="backend"} 1` + "\n",
		`taskman_health_check_status{check="circuits"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("after a passing check, metrics lack %q", want)
		}
	}
}

// TestHealthMinimalOptions checks that zero options work: no backend
// check, breakers off, no metrics, the real clock and runtime.
func TestHealthMinimalOptions(t *testing.T) {
	h := newHealth(healthOptions{})
	h.markStarted()
	rep := h.ready(context.Background())
	if rep.Status == healthDown {
		t.Errorf("ready() with zero options = %q (%s), want ok or degraded", rep.Status, rep.Output)
	}
	if _, ok := rep.Checks[healthNameBackend]; ok {
		t.Errorf("ready() with no Probe reports a backend check: %+v", rep.Checks)
	}
	if got := rep.Checks[healthNameCircuits].Output; got != "circuit breakers disabled" {
		t.Errorf("circuits output with no Circuits = %q, want %q", got, "circuit breakers disabled")
	}
}

// TestHealthMemoryLimit checks that GOMEMLIMIT sets the memory thresholds.
func TestHealthMemoryLimit(t *testing.T) {
	const limit = 1 << 30
	old := debug.SetMemoryLimit(limit)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	h := newHealth(healthOptions{})
	if want := uint64(limit / 100 * 80); h.memWarn != want {
		t.Errorf("memWarn with GOMEMLIMIT=1GiB = %d, want %d", h.memWarn, want)
	}
	if want := uint64(limit / 100 * 95); h.memFail != want {
		t.Errorf("memFail with GOMEMLIMIT=1GiB = %d, want %d", h.memFail, want)
	}
}

// TestHealthReadRuntime checks that the runtime figures are read at all
// (a renamed runtime metric would read as zero).
func TestHealthReadRuntime(t *testing.T) {
	h := newHealth(healthOptions{})
	for i := range 2 { // the second read uses the window since the first
		rt := h.readRuntime()
		if rt.heapInUse == 0 || rt.heapObjects == 0 || rt.sys < rt.heapInUse {
			t.Errorf("readRuntime() #%d = %+v, want heap > 0 and sys >= heap in use", i, rt)
		}
	}
}

// TestHealthThresholds checks the memory and scheduler judgements, status
// and words, at their edges.
func TestHealthThresholds(t *testing.T) {
	now := time.Unix(0, 0)
	mem := []struct {
		heap         uint64
		want, output string
	}{
		{0, healthPass, "heap in use 0 MiB"},
		{512 << 20, healthPass, "heap in use 512 MiB"},
		{512<<20 + 1, healthWarn, "heap in use 512 MiB, over 512 MiB"},
		{1 << 30, healthWarn, "heap in use 1024 MiB, over 512 MiB"},
		{1<<30 + 1, healthFail, "heap in use 1024 MiB, over the 1024 MiB limit"},
	}
	for _, tt := range mem {
		if c := healthMemoryCheck(tt.heap, 512<<20, 1<<30, now); c.Status != tt.want || c.Output != tt.output {
			t.Errorf("healthMemoryCheck(%d) = %q %q, want %q %q", tt.heap, c.Status, c.Output, tt.want, tt.output)
		}
	}
	sched := []struct {
		p99          time.Duration
		want, output string
	}{
		{-1, healthPass, "no scheduling latency samples"},
		{0, healthPass, "p99 scheduling latency 0s"},
		{1234567 * time.Nanosecond, healthPass, "p99 scheduling latency 1.235ms"},
		{50 * time.Millisecond, healthPass, "p99 scheduling latency 50ms"},
		{51 * time.Millisecond, healthWarn, "p99 scheduling latency 51ms, over 50ms"},
		{500 * time.Millisecond, healthWarn, "p99 scheduling latency 500ms, over 50ms"},
		{501500 * time.Microsecond, healthFail, "p99 scheduling latency 501.5ms, over the 500ms limit"},
	}
	for _, tt := range sched {
		if c := healthSchedulerCheck(tt.p99, now); c.Status != tt.want || c.Output != tt.output {
			t.Errorf("healthSchedulerCheck(%v) = %q %q, want %q %q", tt.p99, c.Status, c.Output, tt.want, tt.output)
		}
	}
	backend := []struct {
		err     error
		elapsed time.Duration
		want    string
	}{{nil, time.Second, healthPass}, {nil, time.Second + 1, healthWarn}, {nil, 5 * time.Second, healthWarn}, {nil, 5*time.Second + 1, healthFail}, {errors.New("x"), 0, healthFail}}
	for _, tt := range backend {
		if got := healthBackendResult(tt.err, tt.elapsed, now).Status; got != tt.want {
			t.Errorf("healthBackendResult(%v, %v) = %q, want %q", tt.err, tt.elapsed, got, tt.want)
		}
	}
}

// BenchmarkHealthReady measures a readiness answer served from the backend
// cache, the common case for a probe.
func BenchmarkHealthReady(b *testing.B) {
	h := newHealth(healthOptions{
		Probe:    newBackendProbe(func(context.Context) error { return nil }, nil),
		Circuits: func() (int, int) { return 0, 4 },
		Metrics:  newMetrics(metricsOptions{Enabled: true}),
	})
	h.markStarted()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h.ready(ctx)
	}
}
