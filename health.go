// Health: the Kubernetes-style probe endpoints of the HTTP transport
// (docs/observability.md "Health" and "Shutdown").
//
//	/health/live, /livez     the process is serving: always 200 while it answers
//	/health/ready, /readyz   this process can take traffic: 200 ok or degraded,
//	                         503 down only while starting or shutting down
//	/health/startup          initialisation complete: 200, else 503
//	/health                  the readiness answer plus ok, service and version
//	/health/info             version, Go version, uptime, memory, transport,
//	                         backend mode and feature flags: always 200
//
// A readiness answer is {"status", "output", "timestamp", "uptime",
// "checks"}, each check {"status": pass|warn|fail, "output",
// "observedValue", "observedUnit", "time"} in the shape of the IETF draft
// "Health Check Response Format for HTTP APIs". Every answer is JSON with
// Cache-Control: no-store (a cached probe answer is a wrong one), and every
// readiness-style answer sets taskman_health_check_status{check} for each
// check it computed.
//
// Readiness answers for this process only. A backend that is unreachable,
// or every circuit open, makes it "degraded" (200, with the reason), not
// "down": the backend is shared by every replica, so failing readiness on
// it would take all of them out of the Service at once, exactly when the
// fallback cache could still serve reads and every other call could still
// get a fast, clear error. TASKMAN_READY_REQUIRES_BACKEND=true restores the
// strict answer (503 while the backend check or the circuits fail) for a
// deployment that would rather have no replica than a degraded one.

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// healthService is the service name of the /health answer.
	healthService = "taskman-mcp"

	// healthBackendSlow is the latency above which the backend check
	// warns: GET /health does no work, so a second means the backend (or
	// the path to it) is overloaded and tool calls will feel it.
	healthBackendSlow = 1 * time.Second

	// healthBackendFail is the latency above which the backend check fails
	// even when the answer arrives: tool calls that slow are as good as
	// failed for an interactive MCP client.
	healthBackendFail = 5 * time.Second

	// healthMemWarnDefault and healthMemFailDefault bound the heap in use
	// when no GOMEMLIMIT is set. The server's heap is normally tens of MiB
	// (the fallback cache holds at most a few thousand small answers), and
	// containers for a service this size are usually given 512 MiB to
	// 1 GiB: 512 MiB is ten times normal, a leak worth a look, and 1 GiB
	// is at the limit of a typical container, where the OOM killer is due.
	healthMemWarnDefault = 512 << 20
	healthMemFailDefault = 1 << 30

	// healthMemWarnPercent and healthMemFailPercent bound the heap in use
	// as a share of GOMEMLIMIT when one is set (the operator's own statement
	// of the budget): near the limit the GC runs almost continuously, so
	// 80% leaves time to react and 95% means the GC death spiral is close.
	healthMemWarnPercent = 80
	healthMemFailPercent = 95

	// healthSchedWarn and healthSchedFail bound the p99 time a runnable
	// goroutine waits for a CPU. Go normally schedules within microseconds
	// to a millisecond; 50 ms at p99 means CPU starvation (typically CFS
	// throttling under a container CPU quota, whose period is 100 ms) that
	// every request feels, and 500 ms means the process is so starved that
	// probes themselves approach kubelet's default 1 s timeout.
	healthSchedWarn = 50 * time.Millisecond
	healthSchedFail = 500 * time.Millisecond
)

// Check and report status values of the health answers.
const (
	healthPass = "pass"
	healthWarn = "warn"
	healthFail = "fail"

	healthOK       = "ok"
	healthDegraded = "degraded"
	healthDown     = "down"
)

// Names of the checks, also the check label of taskman_health_check_status.
const (
	healthNameBackend   = "backend"
	healthNameCircuits  = "circuits"
	healthNameMemory    = "memory"
	healthNameScheduler = "scheduler"
	healthNameLifecycle = "lifecycle"
)

// Runtime metric names read by the memory and scheduler checks and by
// /health/info.
const (
	healthRTHeapObjects = "/memory/classes/heap/objects:bytes" // live and not yet swept objects (MemStats.HeapAlloc)
	healthRTHeapUnused  = "/memory/classes/heap/unused:bytes"  // in-use spans not holding objects; objects+unused = MemStats.HeapInuse
	healthRTTotal       = "/memory/classes/total:bytes"        // everything mapped by the runtime (MemStats.Sys)
	healthRTSchedLat    = "/sched/latencies:seconds"           // time runnable goroutines waited to run
)

// healthUserinfo matches the user:password@ part of a URL, which a backend
// mode such as "remote backend at http://user:pass@host" could carry.
var healthUserinfo = regexp.MustCompile(`//[^/@\s]*@`)

// healthOptions configures newHealth.
type healthOptions struct {
	Version     string
	GoVersion   string          // runtime.Version()
	Transport   string          // "stdio" or "http"
	BackendMode string          // "embedded backend" or "remote backend at http://..."; URL credentials are removed
	Features    map[string]bool // metrics, tracing, circuit_breaker, fallback_cache, auth, ...
	// RequireBackend (TASKMAN_READY_REQUIRES_BACKEND) makes a failing
	// backend or circuits check turn readiness down instead of degraded.
	RequireBackend bool
	// Dialect reports the backend's dialect (docs/dialects.md) for
	// /health/info; it may change once, when auto detection decides. nil:
	// not reported.
	Dialect func() string
	// Probe is the shared backend probe (backend_status.go), also read by
	// the activate_* tools. nil: no backend check is reported.
	Probe *backendProbe
	// Circuits reports how many circuit breakers are open and how many
	// exist (0, 0 when breakers are off). nil means breakers are off.
	Circuits func() (open, total int)
	Metrics  *metrics         // may be nil
	Now      func() time.Time // nil = time.Now (tests inject a fake clock)
	Logger   *slog.Logger     // nil discards
}

// health answers the probes. Its methods are safe for concurrent use.
type health struct {
	served bool // false for disabledHealth: the probe routes are not registered

	version, goVersion, transport, backendMode string
	features                                   map[string]bool // a private copy, never written after newHealth

	probe          *backendProbe // nil: no backend check
	circuits       func() (open, total int)
	requireBackend bool // a failing backend or circuits check makes readiness down
	metrics        *metrics
	now            func() time.Time
	logger         *slog.Logger
	start          time.Time // when newHealth ran; uptime counts from it
	dialect        func() string

	// memWarn and memFail are the heap-in-use thresholds in bytes, fixed at
	// construction (see healthMemWarnDefault and healthMemWarnPercent).
	memWarn, memFail uint64
	// sample reads the runtime figures of the memory and scheduler checks;
	// it is h.readRuntime, replaced by tests to pin the figures.
	sample func() healthRuntime

	started      atomic.Bool // markStarted was called
	shuttingDown atomic.Bool // markShuttingDown was called

	schedMu   sync.Mutex // guards schedPrev
	schedPrev []uint64   // scheduler-latency bucket counts at the previous sample

	statusMu   sync.Mutex // guards lastStatus
	lastStatus string     // the readiness status of the previous answer, for logging changes
}

// healthCheck is one entry of "checks".
type healthCheck struct {
	Status        string `json:"status"`
	Output        string `json:"output,omitempty"`
	ObservedValue any    `json:"observedValue,omitempty"`
	ObservedUnit  string `json:"observedUnit,omitempty"`
	Time          string `json:"time"`
}

// healthReport is the body of the readiness, startup and liveness answers.
type healthReport struct {
	Status    string                 `json:"status"`
	Output    string                 `json:"output,omitempty"` // why the status is not ok
	Timestamp string                 `json:"timestamp"`
	Uptime    float64                `json:"uptime"` // seconds
	Checks    map[string]healthCheck `json:"checks,omitempty"`
}

// healthSummary is the body of /health: the readiness report with the
// service's identity.
type healthSummary struct {
	OK      bool   `json:"ok"`
	Service string `json:"service"`
	Version string `json:"version"`
	healthReport
}

// healthInfo is the body of /health/info. It holds no configuration
// values, only what newHealth was given, so it cannot leak a secret.
type healthInfo struct {
	Service     string           `json:"service"`
	Version     string           `json:"version"`
	GoVersion   string           `json:"goVersion"`
	Timestamp   string           `json:"timestamp"`
	Uptime      float64          `json:"uptime"` // seconds
	Transport   string           `json:"transport"`
	BackendMode string           `json:"backendMode"`
	Features    map[string]bool  `json:"features"`
	Memory      healthMemoryInfo `json:"memory"`
	Goroutines  int              `json:"goroutines"`
	Started     bool             `json:"started"`
	Shutdown    bool             `json:"shuttingDown"`

	// BackendDialect is legacy, taskman-v2 or "auto (undecided)".
	BackendDialect string `json:"backendDialect,omitempty"`
}

// healthMemoryInfo is the memory part of /health/info, in bytes.
type healthMemoryInfo struct {
	HeapInUse   uint64 `json:"heapInUseBytes"`   // MemStats.HeapInuse
	HeapObjects uint64 `json:"heapObjectsBytes"` // MemStats.HeapAlloc
	Sys         uint64 `json:"sysBytes"`         // MemStats.Sys
	Limit       uint64 `json:"limitBytes,omitempty"`
}

// healthRuntime holds the runtime figures the memory and scheduler checks
// judge.
type healthRuntime struct {
	heapInUse   uint64        // bytes
	heapObjects uint64        // bytes
	sys         uint64        // bytes
	schedP99    time.Duration // p99 scheduling latency over the window; negative: no samples
}

// newHealth returns the probe component; it reports not started until
// markStarted.
func newHealth(opts healthOptions) *health {
	h := &health{
		served:         true,
		version:        opts.Version,
		goVersion:      opts.GoVersion,
		transport:      opts.Transport,
		backendMode:    healthUserinfo.ReplaceAllString(opts.BackendMode, "//"),
		features:       maps.Clone(opts.Features),
		dialect:        opts.Dialect,
		probe:          opts.Probe,
		circuits:       opts.Circuits,
		requireBackend: opts.RequireBackend,
		metrics:        opts.Metrics,
		now:            opts.Now,
		logger:         opts.Logger,
		memWarn:        healthMemWarnDefault,
		memFail:        healthMemFailDefault,
	}
	if h.features == nil {
		h.features = map[string]bool{}
	}
	if h.goVersion == "" {
		h.goVersion = runtime.Version()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 { // MaxInt64: no GOMEMLIMIT
		h.memWarn = uint64(limit) / 100 * healthMemWarnPercent
		h.memFail = uint64(limit) / 100 * healthMemFailPercent
	}
	h.sample = h.readRuntime
	h.start = h.now()
	return h
}

// disabledHealth returns the health of HEALTH_CHECK_ENABLED=false: its
// lifecycle marks are kept silently and no route serves it (httpRoute.health).
func disabledHealth() *health {
	h := newHealth(healthOptions{})
	h.served = false
	return h
}

// markStarted records that startup is complete: /health/startup answers
// 200 and readiness may pass.
func (h *health) markStarted() {
	if !h.started.Swap(true) {
		h.logger.Info("health: startup complete, readiness may pass")
	}
}

// markShuttingDown makes readiness answer 503 "shutting down" from this
// moment on, so load balancers stop sending traffic while in-flight
// requests drain; liveness stays 200 so nothing kills the draining process.
func (h *health) markShuttingDown() {
	if !h.shuttingDown.Swap(true) {
		h.logger.Info("health: shutting down, readiness now fails")
	}
}

// handleLive answers /health/live and /livez. Answering at all is the
// proof of life: there is no wedge detector (a deadlocked process does not
// answer, which the kubelet's probe timeout already treats as a failure),
// so it never answers 503. It depends on nothing outside the process, so
// a backend outage never gets the server restarted.
func (h *health) handleLive(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	h.write(w, r, http.StatusOK, healthReport{
		Status:    healthOK,
		Timestamp: healthTime(now),
		Uptime:    h.uptime(now),
	})
}

// handleReady answers /health/ready and /readyz.
func (h *health) handleReady(w http.ResponseWriter, r *http.Request) {
	rep := h.ready(r.Context())
	h.write(w, r, healthCode(rep.Status), rep)
}

// handleHealth answers /health: readiness plus ok, service and version.
func (h *health) handleHealth(w http.ResponseWriter, r *http.Request) {
	rep := h.ready(r.Context())
	h.write(w, r, healthCode(rep.Status), healthSummary{
		OK:           rep.Status != healthDown,
		Service:      healthService,
		Version:      h.version,
		healthReport: rep,
	})
}

// handleStartup answers /health/startup from the lifecycle alone: startup
// does not wait for the backend, which readiness covers.
func (h *health) handleStartup(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	rep := healthReport{Status: healthOK, Timestamp: healthTime(now), Uptime: h.uptime(now)}
	c := healthCheck{Status: healthPass, Output: "startup complete", Time: healthTime(now)}
	if !h.started.Load() {
		rep.Status, rep.Output = healthDown, "starting"
		c.Status, c.Output = healthFail, "starting"
	}
	rep.Checks = map[string]healthCheck{healthNameLifecycle: c}
	h.record(rep.Checks)
	h.write(w, r, healthCode(rep.Status), rep)
}

// handleInfo answers /health/info.
func (h *health) handleInfo(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	rt := h.sample()
	info := healthInfo{
		Service:     healthService,
		Version:     h.version,
		GoVersion:   h.goVersion,
		Timestamp:   healthTime(now),
		Uptime:      h.uptime(now),
		Transport:   h.transport,
		BackendMode: h.backendMode,
		Features:    h.features,
		Memory:      healthMemoryInfo{HeapInUse: rt.heapInUse, HeapObjects: rt.heapObjects, Sys: rt.sys},
		Goroutines:  runtime.NumGoroutine(),
		Started:     h.started.Load(),
		Shutdown:    h.shuttingDown.Load(),
	}
	if h.dialect != nil {
		info.BackendDialect = h.dialect()
	}
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 { // MaxInt64: no GOMEMLIMIT
		info.Memory.Limit = uint64(limit)
	}
	h.write(w, r, http.StatusOK, info)
}

// ready computes the readiness report: down while starting or shutting
// down (and, with requireBackend, while the backend or circuits check
// fails); degraded when any other check warns or fails; ok otherwise.
// Memory and scheduler never make it down either: a hot heap or a starved
// CPU still serves, and taking every replica out of rotation during a
// fleet-wide spike would turn slowness into an outage; every fail still
// shows in its check and its metric for alerting.
func (h *health) ready(ctx context.Context) healthReport {
	now := h.now()
	checks := make(map[string]healthCheck, 5) // five checks at most
	var down, degraded []string               // names of the checks behind the status

	life := healthCheck{Status: healthPass, Output: "started", Time: healthTime(now)}
	switch {
	case h.shuttingDown.Load():
		life.Status, life.Output = healthFail, "shutting down"
	case !h.started.Load():
		life.Status, life.Output = healthFail, "starting"
	}
	checks[healthNameLifecycle] = life

	// The backend is not asked while starting or shutting down: the answer
	// is down anyway, and the backend client may not be open yet (or any
	// more).
	if h.probe != nil && life.Status == healthPass {
		checks[healthNameBackend] = h.backendCheck(ctx)
	}
	checks[healthNameCircuits] = h.circuitsCheck(now)
	rt := h.sample()
	checks[healthNameMemory] = healthMemoryCheck(rt.heapInUse, h.memWarn, h.memFail, now)
	checks[healthNameScheduler] = healthSchedulerCheck(rt.schedP99, now)

	for _, name := range slices.Sorted(maps.Keys(checks)) {
		c := checks[name]
		switch {
		case c.Status == healthFail && h.failMakesDown(name):
			down = append(down, name+": "+c.Output)
		case c.Status == healthFail || c.Status == healthWarn:
			degraded = append(degraded, name+": "+c.Output)
		}
	}
	rep := healthReport{Status: healthOK, Timestamp: healthTime(now), Uptime: h.uptime(now), Checks: checks}
	switch {
	case len(down) > 0:
		rep.Status, rep.Output = healthDown, strings.Join(down, "; ")
	case len(degraded) > 0:
		rep.Status, rep.Output = healthDegraded, strings.Join(degraded, "; ")
	}
	if ctx.Err() == nil { // a prober that went away leaves a partial answer; keep it out of the gauge and log
		h.record(checks)
		h.logChange(rep)
	}
	return rep
}

// failMakesDown reports whether a failing check of that name means this
// process cannot serve: the lifecycle always, the backend and circuits only
// with requireBackend.
func (h *health) failMakesDown(name string) bool {
	switch name {
	case healthNameLifecycle:
		return true
	case healthNameBackend, healthNameCircuits:
		return h.requireBackend
	}
	return false
}

// backendCheck returns the backend check from the shared probe's result
// (a check younger than backendProbeTTL, or the one running now).
func (h *health) backendCheck(ctx context.Context) healthCheck {
	r, err := h.probe.result(ctx)
	if err != nil {
		// The prober gave up; its answer goes nowhere, but say why.
		return healthCheck{Status: healthFail, Output: "probe ended before the backend check: " + ctx.Err().Error(), Time: healthTime(h.now())}
	}
	return healthBackendResult(r.err, r.elapsed, r.at)
}

// healthBackendResult judges one backend check that took elapsed and
// ended at end.
func healthBackendResult(err error, elapsed time.Duration, end time.Time) healthCheck {
	ms := float64(elapsed.Microseconds()) / 1000 // ms with µs precision
	c := healthCheck{Status: healthPass, ObservedValue: ms, ObservedUnit: "ms", Time: healthTime(end)}
	switch {
	case err != nil:
		c.Status = healthFail
		c.Output = "backend unreachable: " + err.Error()
	case elapsed > healthBackendFail:
		c.Status = healthFail
		c.Output = fmt.Sprintf("backend answered in %s, over the %s limit", elapsed.Round(time.Millisecond), healthBackendFail)
	case elapsed > healthBackendSlow:
		c.Status = healthWarn
		c.Output = fmt.Sprintf("backend slow: answered in %s, over %s", elapsed.Round(time.Millisecond), healthBackendSlow)
	default:
		c.Output = "backend reachable"
	}
	return c
}

// circuitsCheck reports the open circuit breakers: warn when some are
// open (those endpoints fail fast or serve stale answers), fail when all
// are (nothing can reach the backend).
func (h *health) circuitsCheck(now time.Time) healthCheck {
	var open, total int
	if h.circuits != nil {
		open, total = h.circuits()
	}
	c := healthCheck{Status: healthPass, ObservedValue: open, ObservedUnit: "open circuits", Time: healthTime(now)}
	switch {
	case total == 0:
		c.Output = "circuit breakers disabled"
	case open == 0:
		c.Output = fmt.Sprintf("all %d circuits closed", total)
	case open >= total:
		c.Status = healthFail
		c.Output = fmt.Sprintf("all %d circuits open", total)
	default:
		c.Status = healthWarn
		c.Output = fmt.Sprintf("%d of %d circuits open", open, total)
	}
	return c
}

// healthMemoryCheck judges the heap in use against the thresholds.
func healthMemoryCheck(heap, warn, fail uint64, now time.Time) healthCheck {
	c := healthCheck{ObservedValue: heap, ObservedUnit: "bytes", Time: healthTime(now)}
	c.Status, c.Output = healthGrade("heap in use", heap, warn, fail, func(b uint64) string {
		return fmt.Sprintf("%d MiB", b>>20)
	})
	return c
}

// healthSchedulerCheck judges the p99 scheduling latency; a negative p99
// means the runtime had no samples.
func healthSchedulerCheck(p99 time.Duration, now time.Time) healthCheck {
	c := healthCheck{Status: healthPass, Time: healthTime(now)}
	if p99 < 0 {
		c.Output = "no scheduling latency samples"
		return c
	}
	c.ObservedValue, c.ObservedUnit = float64(p99.Microseconds())/1000, "ms" // ms with µs precision
	c.Status, c.Output = healthGrade("p99 scheduling latency", p99, healthSchedWarn, healthSchedFail, func(d time.Duration) string {
		return d.Round(time.Microsecond).String()
	})
	return c
}

// healthGrade grades a measured value v against its warn and fail limits
// and words the verdict, each figure shown by show: over fail fails
// ("<label> <v>, over the <fail> limit"), over warn warns ("<label> <v>,
// over <warn>"), anything else passes ("<label> <v>").
func healthGrade[T cmp.Ordered](label string, v, warn, fail T, show func(T) string) (status, output string) {
	measured := label + " " + show(v)
	switch {
	case v > fail:
		return healthFail, measured + ", over the " + show(fail) + " limit"
	case v > warn:
		return healthWarn, measured + ", over " + show(warn)
	}
	return healthPass, measured
}

// readRuntime reads the memory figures and the p99 scheduling latency. The
// latency is taken over the window since the previous read (the runtime's
// histogram counts since start, where an old stall would linger forever
// and a new one drown), falling back to the whole history when the window
// has no samples. runtime/metrics reads do not stop the world, unlike
// runtime.ReadMemStats.
func (h *health) readRuntime() healthRuntime {
	samples := []rtmetrics.Sample{
		{Name: healthRTHeapObjects}, {Name: healthRTHeapUnused}, {Name: healthRTTotal}, {Name: healthRTSchedLat},
	}
	rtmetrics.Read(samples)
	u := func(i int) uint64 {
		if samples[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0 // unknown to this Go version
		}
		return samples[i].Value.Uint64()
	}
	rt := healthRuntime{heapObjects: u(0), sys: u(2), schedP99: -1}
	rt.heapInUse = rt.heapObjects + u(1)
	if samples[3].Value.Kind() != rtmetrics.KindFloat64Histogram {
		return rt
	}
	hist := samples[3].Value.Float64Histogram()
	h.schedMu.Lock()
	window := slices.Clone(hist.Counts)
	if len(h.schedPrev) == len(window) {
		for i := range window {
			window[i] -= min(window[i], h.schedPrev[i]) // counts only grow; min guards a runtime surprise
		}
	}
	h.schedPrev = slices.Clone(hist.Counts)
	h.schedMu.Unlock()
	if !slices.ContainsFunc(window, func(n uint64) bool { return n > 0 }) {
		window = hist.Counts
	}
	q, _, count := promHistogramQuantiles(window, hist.Buckets, []float64{0.99})
	if count > 0 && !math.IsNaN(q[0]) {
		rt.schedP99 = time.Duration(q[0] * float64(time.Second))
	}
	return rt
}

// record sets taskman_health_check_status for each check: 1 pass, 0.5
// warn, 0 fail.
func (h *health) record(checks map[string]healthCheck) {
	if h.metrics == nil {
		return
	}
	for name, c := range checks {
		v := 0.0
		switch c.Status {
		case healthPass:
			v = 1
		case healthWarn:
			v = 0.5
		}
		h.metrics.healthCheckStatus.with(name).set(v)
	}
}

// logChange logs the readiness status when it differs from the previous
// answer's, so the log shows transitions rather than every probe.
func (h *health) logChange(rep healthReport) {
	h.statusMu.Lock()
	prev := h.lastStatus
	h.lastStatus = rep.Status
	h.statusMu.Unlock()
	if prev == rep.Status {
		return
	}
	level := slog.LevelWarn
	if rep.Status == healthOK {
		level = slog.LevelInfo
	}
	h.logger.Log(context.Background(), level, "health: readiness changed",
		"from", prev, "to", rep.Status, "reason", rep.Output)
}

// write sends body as JSON with status code, marked uncacheable; HEAD gets
// the headers and status only.
func (h *health) write(w http.ResponseWriter, r *http.Request, code int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// Only a programming error (an unencodable observedValue) gets here.
		h.logger.Error("health: encode answer", "path", r.URL.Path, "err", err)
		code, data = http.StatusInternalServerError, []byte(`{"status":"down","output":"cannot encode health answer"}`)
	}
	data = append(data, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data) // an error means the prober went away; nothing to do
}

// uptime returns the seconds since newHealth, to the millisecond.
func (h *health) uptime(now time.Time) float64 {
	return float64(now.Sub(h.start).Milliseconds()) / 1000
}

// healthCode maps a report status to its HTTP status code.
func healthCode(status string) int {
	if status == healthDown {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// healthTime formats t for the answers: RFC 3339 in UTC.
func healthTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
