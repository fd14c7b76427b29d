package main

// A load and footprint report, written as a test so that it runs with the
// package's own helpers and needs no separate program. It is a measurement
// tool, not a correctness test: it asserts only that every call succeeded,
// and it is skipped unless TASKMAN_LOAD=1, because its figures take tens of
// seconds and depend on the machine. BENCHMARKS.md records one run.
//
//	TASKMAN_LOAD=1 go test -run '^TestLoadReport$' -v -timeout 30m .
//
// Settings: TASKMAN_LOAD_SECONDS (seconds per measured level, default 5),
// TASKMAN_LOAD_OUT (a file to write the Markdown report to).
//
// Measured: tools/call task_read throughput and p50/p99 latency over
// loopback HTTP with 2026-07-28 stateless requests, at 1, 16 and 64
// concurrent clients, against the embedded backend and against a backend
// in a separate process (this test binary re-executed as
// TestLoadBackendProcess); optional features all on versus all off at 16
// clients; and, for the release binary, its size, the time from start to
// /health/ready answering 200, idle RSS and RSS with 1,000 open sessions.

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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// lxDefaultSeconds is the measuring time per level: long enough for
	// p99 to rest on thousands of calls, short enough that the whole report
	// takes about a minute.
	lxDefaultSeconds = 5

	// lxMaxCallsPerLevel bounds the calls of one level whatever its
	// duration, and so the latency samples kept in memory (8 bytes each).
	lxMaxCallsPerLevel = 2_000_000

	// lxSessions is the number of legacy sessions held open for the RSS
	// measure: the default TASKMAN_MAX_SESSIONS cap (the server is started
	// with room for all of them to come from one client address).
	lxSessions = 1000

	// lxStarts is how many cold starts the start-to-ready median is taken
	// over: an odd number, so the median is one measured start.
	lxStarts = 5

	// lxReadyTimeout bounds the wait for a started process (the server or
	// the backend helper) to answer; both start in milliseconds.
	lxReadyTimeout = 10 * time.Second

	// lxReadyPoll is the pause between readiness probes: small next to a
	// start time of a few milliseconds, so it barely inflates the figure.
	lxReadyPoll = time.Millisecond

	// lxSettle is the pause before idle RSS is read, so that start-up
	// allocations are behind the process.
	lxSettle = 500 * time.Millisecond

	// lxStopTimeout bounds a child's graceful stop before it is killed.
	lxStopTimeout = 10 * time.Second

	// lxBackendMaxLife bounds the backend helper process if its parent
	// dies without killing it and its stdin somehow stays open.
	lxBackendMaxLife = 30 * time.Minute

	// lxSessionWorkers opens the lxSessions sessions concurrently, which
	// takes well under a second.
	lxSessionWorkers = 16
)

// lxClientCounts are the concurrency levels measured.
var lxClientCounts = []int{1, 16, 64}

// lxResult is one measured level.
type lxResult struct {
	label    string
	clients  int
	calls    int
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
}

// rate returns the successful calls per second.
func (r lxResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.calls) / r.elapsed.Seconds()
}

// lxSeconds returns the measuring time per level from TASKMAN_LOAD_SECONDS.
func lxSeconds(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("TASKMAN_LOAD_SECONDS")
	if v == "" {
		return lxDefaultSeconds * time.Second
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 600 {
		t.Fatalf("TASKMAN_LOAD_SECONDS = %q, want seconds in (0, 600]", v)
	}
	return time.Duration(f * float64(time.Second))
}

// lxModernRead returns the body and headers of a 2026-07-28 task_read of
// id.
func lxModernRead(id string) ([]byte, http.Header) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json, text/event-stream")
	h.Set("MCP-Protocol-Version", versionModern)
	h.Set("Mcp-Method", "tools/call")
	h.Set("Mcp-Name", "task_read")
	return []byte(modern(1, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": id}}, nil)), h
}

// lxCreateTask creates the task the load reads, through the server under
// test, and returns its id.
func lxCreateTask(t *testing.T, s *httpServer) string {
	t.Helper()
	_, body := s.post(t, modern(1, "tools/call", map[string]any{"name": "task_create", "arguments": map[string]any{"task": map[string]any{"title": "load", "project_id": s.project(t), "description": strings.Repeat("a realistic description ", 10)}}}, nil), modernCallHeaders("task_create"))
	var msg map[string]any
	json.Unmarshal(body, &msg)
	id, _ := get(msg, "result", "structuredContent", "task", "id").(string)
	if id == "" {
		t.Fatalf("task_create: %s", body)
	}
	return id
}

// lxLoad runs clients concurrent callers of task_read id against base for
// dur (or lxMaxCallsPerLevel calls) and returns what it measured. A call
// counts as successful only when it answers 200 with an isError false
// result; failures are counted and reported by the caller.
func lxLoad(base, id, label string, clients int, dur time.Duration) lxResult {
	body, hdr := lxModernRead(id)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second} // one call never takes seconds; this only catches a hang
	var (
		mu       sync.Mutex
		lat      []time.Duration // guarded by mu
		failures atomic.Int64
		budget   atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for range clients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, 1024)
			for time.Now().Before(deadline) && budget.Add(1) <= lxMaxCallsPerLevel {
				req, _ := http.NewRequest(http.MethodPost, base+"/mcp", bytes.NewReader(body))
				req.Header = hdr.Clone()
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"isError":false`)) {
					failures.Add(1)
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := lxResult{label: label, clients: clients, calls: len(lat), errors: int(failures.Load()), elapsed: time.Since(start)}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
	}
	return r
}

// lxMeasure runs a short warm-up and then every level of lxClientCounts
// against s, failing the test if any call failed.
func lxMeasure(t *testing.T, s *httpServer, label string, dur time.Duration) []lxResult {
	t.Helper()
	id := lxCreateTask(t, s)
	lxLoad(s.base, id, "warm-up", 16, min(dur/5, time.Second))
	var out []lxResult
	for _, n := range lxClientCounts {
		r := lxLoad(s.base, id, label, n, dur)
		if r.errors > 0 || r.calls == 0 {
			t.Errorf("%s, %d clients: %d calls succeeded, %d failed", label, n, r.calls, r.errors)
		}
		t.Logf("%s, %d clients: %.0f calls/s, p50 %s, p99 %s", label, n, r.rate(), r.p50, r.p99)
		out = append(out, r)
	}
	return out
}

// lxStartBackend re-executes this test binary as TestLoadBackendProcess,
// serving the embedded backend on a free loopback port, and returns its
// base URL. The process is killed when the test ends.
func lxStartBackend(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	// A pre-picked port: the backend is another process, told its address
	// by TASKMAN_LOAD_BACKEND_ADDR.
	addr := net.JoinHostPort("127.0.0.1", freePort(t))
	cmd := exec.Command(exe, "-test.run=^TestLoadBackendProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TASKMAN_LOAD_BACKEND_ADDR="+addr)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = lxStopTimeout
	// The helper also exits when this pipe closes, so it does not outlive a
	// parent that died without running cleanups.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start backend helper: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("backend helper output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	if err := waitOK(base+"/health", lxReadyTimeout, lxReadyPoll, nil); err != nil {
		t.Fatalf("backend helper on %s: %v\n%s", addr, err, out.String())
	}
	return base
}

// TestLoadBackendProcess is not a test: it is the separate backend process
// of TestLoadReport, which re-executes the test binary with
// TASKMAN_LOAD_BACKEND_ADDR set. It serves the embedded backend (in memory)
// over HTTP on that loopback address until it is killed, its stdin ends,
// or lxBackendMaxLife passes.
func TestLoadBackendProcess(t *testing.T) {
	addr := os.Getenv("TASKMAN_LOAD_BACKEND_ADDR")
	if addr == "" {
		t.Skip("helper process for TestLoadReport; runs only when TASKMAN_LOAD_BACKEND_ADDR is set")
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Fatalf("TASKMAN_LOAD_BACKEND_ADDR = %q, want a loopback host:port", addr)
	}
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: emb, ReadHeaderTimeout: 5 * time.Second} // loopback clients send headers at once
	go srv.Serve(ln)
	defer srv.Close()
	stdinDone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinDone)
	}()
	select {
	case <-stdinDone:
	case <-time.After(lxBackendMaxLife):
	}
}

// lxReleaseBinary builds the release binary as the README's release
// command does and returns its path.
func lxReleaseBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "taskman-mcp")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a cold build takes seconds
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release build: %v\n%s", err, out)
	}
	return bin
}

// lxProc is the release binary running in HTTP mode.
type lxProc struct {
	cmd    *exec.Cmd
	base   string
	logs   *syncBuffer
	exited chan struct{} // closed when the process has exited
}

// lxStartProc starts bin with the Streamable HTTP transport on a free
// loopback port, in an empty directory and with a minimal environment, and
// returns once /health/ready answers 200, with the time that took.
func lxStartProc(t *testing.T, bin string) (*lxProc, time.Duration) {
	t.Helper()
	// A pre-picked port: the server is another process, told its port by
	// PORT.
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"TASKMAN_MCP_TRANSPORT=http", "HOST=127.0.0.1", "PORT=" + port,
		"LOG_LEVEL=warn", "TRACING_ENABLED=false", "TASKMAN_MAX_SESSIONS=" + strconv.Itoa(lxSessions*sessionClientShare),
	}
	p := &lxProc{cmd: cmd, base: "http://127.0.0.1:" + port, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.WaitDelay = lxStopTimeout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	if err := waitOK(p.base+"/health/ready", lxReadyTimeout, lxReadyPoll, p.exited); err != nil {
		t.Fatalf("server: %v\n%s", err, p.logs.String())
	}
	return p, time.Since(start)
}

// stop interrupts the process and kills it if it has not exited within
// lxStopTimeout.
func (p *lxProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(lxStopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// rssKiB returns the resident set size of the process from
// /proc/PID/status, in KiB.
func (p *lxProc) rssKiB() (int, error) { return p.statusKiB("VmRSS") }

// statusKiB returns a size field of /proc/PID/status (VmRSS, VmHWM: the
// peak RSS, ...), in KiB.
func (p *lxProc) statusKiB(field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", field, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, rest, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("read %s: no such line", field)
}

// lxOpenSessions opens n legacy sessions on base and leaves them open.
func lxOpenSessions(t *testing.T, base string, n int) {
	t.Helper()
	const body = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}`
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range lxSessionWorkers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				// Not the test's goroutine: Do, not roundTrip.
				resp, err := postClient.Do(newMCPPost(context.Background(), base, body, nil))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") == "" {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("opening %d sessions: %d failed", n, f)
	}
}

// lxCPUModel returns the CPU model name from /proc/cpuinfo, or "unknown".
func lxCPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// lxMs formats a duration in milliseconds with two decimals.
func lxMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// lxMiB formats KiB as MiB with one decimal.
func lxMiB(kib int) string {
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

// TestLoadReport measures throughput, latency and footprint and prints a
// Markdown report; see the file comment. It is skipped unless
// TASKMAN_LOAD=1.
func TestLoadReport(t *testing.T) {
	if os.Getenv("TASKMAN_LOAD") != "1" {
		t.Skip("load report: a measurement tool, not a correctness test; run with TASKMAN_LOAD=1 (TASKMAN_LOAD_SECONDS per level, TASKMAN_LOAD_OUT for a file)")
	}
	dur := lxSeconds(t)
	var rep strings.Builder
	fmt.Fprintf(&rep, "Machine: %d CPUs (%s), %s/%s, %s. Measured %s per level, one run.\n\n",
		runtime.NumCPU(), lxCPUModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(), dur)

	// Throughput: the in-process server against both backends.
	// Room for every client at once, so the levels measure serving, not
	// TASKMAN_MAX_IN_FLIGHT refusals.
	inFlight := strconv.Itoa(slices.Max(lxClientCounts))
	embedded := lxMeasure(t, startHTTP(t, map[string]string{"TASKMAN_MAX_IN_FLIGHT": inFlight}), "embedded", dur)
	remote := lxMeasure(t, startHTTP(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": lxStartBackend(t), "TASKMAN_MAX_IN_FLIGHT": inFlight}), "separate process", dur)
	rep.WriteString("### tools/call task_read, 2026-07-28 stateless requests over loopback HTTP\n\n")
	rep.WriteString("| backend | clients | calls | calls/s | p50 | p99 |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range slices.Concat(embedded, remote) {
		fmt.Fprintf(&rep, "| %s | %d | %d | %.0f | %s | %s |\n", r.label, r.clients, r.calls, r.rate(), lxMs(r.p50), lxMs(r.p99))
	}

	// Features on versus off, alternated in halves so that drift in the
	// machine's load hits both alike.
	flags := []string{"METRICS_ENABLED", "CIRCUIT_BREAKER_ENABLED", "FALLBACK_CACHE_ENABLED"}
	env := func(on bool) map[string]string {
		m := map[string]string{"TRACING_ENABLED": "false"} // no collector to export to
		for _, f := range flags {
			m[f] = strconv.FormatBool(on)
		}
		return m
	}
	const featureClients = 16
	servers := map[bool]*httpServer{true: startHTTP(t, env(true)), false: startHTTP(t, env(false))}
	ids := map[bool]string{true: lxCreateTask(t, servers[true]), false: lxCreateTask(t, servers[false])}
	for _, on := range []bool{true, false} {
		lxLoad(servers[on].base, ids[on], "warm-up", featureClients, min(dur/5, time.Second))
	}
	sum := map[bool]*lxResult{true: {label: "all on"}, false: {label: "all off"}}
	p50s, p99s := map[bool][]time.Duration{}, map[bool][]time.Duration{}
	for _, on := range []bool{true, false, true, false} {
		r := lxLoad(servers[on].base, ids[on], "", featureClients, dur/2)
		if r.errors > 0 || r.calls == 0 {
			t.Errorf("features on=%v: %d calls succeeded, %d failed", on, r.calls, r.errors)
		}
		sum[on].calls += r.calls
		sum[on].elapsed += r.elapsed
		p50s[on] = append(p50s[on], r.p50)
		p99s[on] = append(p99s[on], r.p99)
	}
	rep.WriteString("\n### Optional features all on vs all off (embedded backend, 16 clients)\n\n")
	fmt.Fprintf(&rep, "On: %s all true; off: all false. TRACING_ENABLED=false in both (no collector to export to). Measured in alternating halves (on, off, on, off) of %s each.\n\n", strings.Join(flags, ", "), dur/2)
	rep.WriteString("| features | calls | calls/s | p50 (each half) | p99 (each half) |\n|---|---:|---:|---|---|\n")
	for _, on := range []bool{true, false} {
		r := sum[on]
		fmt.Fprintf(&rep, "| %s | %d | %.0f | %s / %s | %s / %s |\n", r.label, r.calls, r.rate(), lxMs(p50s[on][0]), lxMs(p50s[on][1]), lxMs(p99s[on][0]), lxMs(p99s[on][1]))
	}
	ratio := 0.0
	if sum[false].rate() > 0 {
		ratio = sum[true].rate() / sum[false].rate()
	}
	fmt.Fprintf(&rep, "\nThroughput ratio on/off: %.3f.\n", ratio)

	// Footprint of the release binary.
	bin := lxReleaseBinary(t)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	var starts []time.Duration
	for range lxStarts {
		p, d := lxStartProc(t, bin)
		starts = append(starts, d)
		p.stop()
	}
	slices.Sort(starts)
	p, _ := lxStartProc(t, bin)
	time.Sleep(lxSettle)
	idle, err := p.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	lxOpenSessions(t, p.base, lxSessions)
	time.Sleep(lxSettle)
	withSessions, err := p.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	rep.WriteString("\n### Release binary (CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\"), HTTP mode, embedded backend in memory\n\n")
	rep.WriteString("| measure | value |\n|---|---:|\n")
	fmt.Fprintf(&rep, "| binary size | %s (%d bytes) |\n", lxMiB(int(fi.Size()/1024)), fi.Size())
	startList := make([]string, len(starts))
	for i, d := range starts {
		startList[i] = lxMs(d)
	}
	fmt.Fprintf(&rep, "| start to /health/ready 200, median of %d | %s (sorted: %s) |\n", lxStarts, lxMs(starts[len(starts)/2]), strings.Join(startList, ", "))
	fmt.Fprintf(&rep, "| idle RSS (VmRSS after ready + %s) | %s |\n", lxSettle, lxMiB(idle))
	fmt.Fprintf(&rep, "| RSS with %d open legacy sessions | %s (+%.1f KiB per session) |\n", lxSessions, lxMiB(withSessions), float64(withSessions-idle)/lxSessions)

	// RSS under load: a fresh process of the release binary (default GC
	// policy, embedded backend) and its peak over the 16-client load.
	lp, _ := lxStartProc(t, bin)
	lr := lxLoad(lp.base, lxCreateTask(t, &httpServer{httpClient: httpClient{base: lp.base}}), "release binary", featureClients, dur)
	if lr.errors > 0 || lr.calls == 0 {
		t.Errorf("release binary, %d clients: %d calls succeeded, %d failed", featureClients, lr.calls, lr.errors)
	}
	peak, err := lp.statusKiB("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&rep, "| peak RSS (VmHWM) over %s of %d clients' task_read | %s (%.0f calls/s, p50 %s, p99 %s) |\n",
		dur, featureClients, lxMiB(peak), lr.rate(), lxMs(lr.p50), lxMs(lr.p99))

	t.Logf("load report:\n%s", rep.String())
	if out := os.Getenv("TASKMAN_LOAD_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(rep.String()), 0o644); err != nil {
			t.Errorf("write TASKMAN_LOAD_OUT: %v", err)
		}
	}
}
