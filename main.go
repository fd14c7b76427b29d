// Command taskman-mcp is a Model Context Protocol (MCP) server that lets AI
// assistants manage the tasks, projects, sprints and action lists of a Task
// Manager REST API.
//
// # Running it
//
//	go run .                              # stdio, embedded backend
//	TASKMAN_MCP_TRANSPORT=http go run .   # Streamable HTTP on 127.0.0.1:3000/mcp
//	taskman-mcp --help | --version | --print-config
//
// Under stdio (the default) an MCP client starts the binary and speaks
// newline-delimited JSON-RPC on its stdin and stdout. With
// TASKMAN_MCP_TRANSPORT=http the same tools are served over MCP Streamable
// HTTP at /mcp, next to /health/* and /metrics.
//
// Without TASK_MANAGER_API_ENDPOINT the server uses its embedded backend:
// an in-process implementation of the Task Manager API, kept in memory or,
// with TASKMAN_DATA_FILE, in a JSON file written crash-safely after every
// write. With TASK_MANAGER_API_ENDPOINT (e.g. http://localhost:3001/api/v1)
// it talks to that API instead, in the dialect it speaks
// (TASKMAN_BACKEND_DIALECT, auto-detected by default): the legacy contract
// of docs/backend-api.md or the TaskMan-v2 Backend API (docs/dialects.md).
//
// # Configuration
//
// Everything is set by environment variables; a .env file in the working
// directory fills in what the environment leaves unset. --help prints the
// table (also in docs/config.md and .env.example); --print-config prints
// the effective values with secrets redacted. Invalid values are all
// reported at once, one line each, and the process exits with status 2.
// Unless GOGC or GOMEMLIMIT is set, the garbage collector runs at GOGC=400
// with a soft memory limit of 90% of the container's (README.md, "Garbage
// collector"). TASKMAN_TOOLSETS and TASKMAN_READ_ONLY choose the tools
// offered; a call to one left out is refused with the reason.
//
// # Protocol
//
// MCP versions 2024-11-05, 2025-03-26, 2025-06-18 and 2025-11-25 are
// negotiated by initialize; 2026-07-28 requests (per-request _meta, no
// handshake) are served statelessly, held to the _meta and header rules in
// docs/mcp.md. Methods: initialize, ping,
// server/discover, tools/list, tools/call, logging/setLevel,
// resources/list, resources/templates/list, resources/read,
// resources/subscribe, resources/unsubscribe, subscriptions/listen,
// prompts/list, prompts/get, completion/complete, and the
// notifications cancelled, initialized and (sent) progress and message.
//
// # HTTP endpoints (TASKMAN_MCP_TRANSPORT=http, on HOST:PORT)
//
//	/mcp                     MCP Streamable HTTP: POST, GET (legacy session stream), DELETE (end a session)
//	/health/live, /livez     liveness
//	/health/ready, /readyz   readiness: 503 while starting or shutting down; 200
//	                         "degraded" with the reason while the backend is
//	                         unreachable (503 with TASKMAN_READY_REQUIRES_BACKEND=true)
//	/health/startup          startup probe
//	/health, /health/info    readiness with identity; version, uptime, memory, features
//	/metrics                 Prometheus text format 0.0.4 (METRICS_ENABLED)
//
// Every route first checks the Host header (TASKMAN_ALLOWED_HOSTS) and any
// Origin (TASKMAN_ALLOWED_ORIGINS), answering 403 (allowed origins get CORS
// answers); at most TASKMAN_MAX_IN_FLIGHT MCP POSTs run at once (503 with
// Retry-After past it); /mcp requires "Authorization: Bearer" when
// TASKMAN_AUTH_TOKEN is set (401); serving a non-loopback HOST without it
// logs a warning at start. Under stdio,
// TASKMAN_OPS_ADDR serves /metrics and /health/* on a side listener.
//
// # Logs, metrics and traces
//
// Logs go to stderr only (stdout belongs to the stdio transport), as JSON
// or, with LOG_FORMAT=pretty, as text, at LOG_LEVEL. Every line logged while
// serving a request carries its request_id (sent to the backend as
// X-Request-ID) and, inside a traced span, trace_id and span_id. /metrics
// serves the taskman_* families and the OpenTelemetry MCP convention's
// mcp_server_operation_duration_seconds and
// mcp_server_session_duration_seconds (docs/observability.md). With
// TRACING_ENABLED, spans are exported over OTLP/HTTP to
// OTEL_EXPORTER_OTLP_ENDPOINT: one trace per tool call, from the HTTP
// request through the MCP method to each backend attempt.
//
// # Resilience
//
// Each backend operation has a circuit breaker (CIRCUIT_BREAKER_*); reads
// that fail, or whose circuit is open, are answered from a fallback cache
// of recent answers (FALLBACK_CACHE_*), marked stale with their age; writes
// fail fast while their circuit is open. Idempotent calls (GET, PUT,
// DELETE) are retried with backoff, jitter and Retry-After
// (BACKEND_MAX_RETRIES, BACKEND_RETRY_DELAY_MS); POST and PATCH never are.
//
// # Signals and exit codes
//
// SIGINT, SIGTERM, or EOF on stdin under stdio, start a graceful shutdown:
// no new requests are read, in-flight requests may finish and their
// answers are written; those still running near the end of
// GRACEFUL_SHUTDOWN_TIMEOUT_MS are cancelled and answered with an error;
// then resources are closed in reverse order and spans flushed, all within
// that one deadline. A second signal exits at
// once with status 1. Exit status 0 is a clean stop, 1 a runtime failure,
// 2 invalid configuration or usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// version is set at release build time with -ldflags "-X main.version=...";
// buildVersion falls back to the module version.
var version string

// buildVersion returns the version to report.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// errUsage reports bad command-line flags; main exits with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal starts the graceful shutdown, a second
		// one exits at once.
		<-ctx.Done()
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		<-again
		fmt.Fprintln(os.Stderr, "taskman-mcp: second signal, exiting now")
		os.Exit(1)
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	var cerr *configError
	switch {
	case errors.As(err, &cerr):
		for _, p := range cerr.Problems() {
			fmt.Fprintln(os.Stderr, "taskman-mcp: config:", p)
		}
		os.Exit(2)
	case errors.Is(err, errUsage):
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "taskman-mcp:", err)
	os.Exit(1)
}

// run is the whole program: it parses flags and configuration, builds
// every component (build), serves until ctx is cancelled or stdin ends,
// and shuts down in reverse order of construction.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runListening(ctx, net.Listen, args, getenv, stdin, stdout, stderr)
}

// listenFunc opens a listener, as net.Listen does.
type listenFunc func(network, address string) (net.Listener, error)

// runListening is run with the function that opens the HTTP and ops
// listeners. Tests that run the server in their own process pass one that
// hands over a listener they opened on 127.0.0.1:0 first, so they neither
// race another process for a pre-picked port nor poll for the server.
func runListening(ctx context.Context, listen listenFunc, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	name := "taskman-mcp"
	if len(args) > 0 {
		args = args[1:]
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	help := fs.Bool("help", false, "print the configuration reference and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	fs.Usage = func() { fmt.Fprintf(stderr, "Usage: %s [--help] [--version] [--print-config]\n", name) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return writeConfigHelp(stdout, name)
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	switch {
	case *help:
		return writeConfigHelp(stdout, name)
	case *showVersion:
		_, err := fmt.Fprintln(stdout, name, buildVersion())
		return err
	}

	cfg, err := loadConfig(getenv, ".env")
	if err != nil {
		return err
	}
	if *printConfig {
		return cfg.writeTo(stdout)
	}

	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	logger := newLogger(stderr, level, cfg.LogFormat, traceIDs)
	logger.Info("starting taskman-mcp", "version", buildVersion(), "transport", cfg.Transport)
	if gc := applyGCPolicy(os.LookupEnv, readCgroupMemoryLimit); gc != "" {
		logger.Info("garbage collector tuned (set GOGC or GOMEMLIMIT to choose yourself)", "gc", gc)
	}

	p := &program{logger: logger, clock: &shutdownClock{timeout: cfg.ShutdownTimeout}, listen: listen}
	defer p.close()
	if err := p.build(ctx, cfg, stdin, stdout); err != nil {
		return err
	}
	p.health.markStarted()
	err = p.transport.serve(ctx)
	logger.Info("stopped", "err", err)
	return err
}

// program is every component of a run, each built once by build. A
// disabled feature is a no-op value (metrics, tracing, health), so serving
// needs no checks for what is off.
type program struct {
	logger    *slog.Logger
	clock     *shutdownClock
	health    *health
	transport transport
	listen    listenFunc // opens the HTTP and ops listeners
	closers   []func()   // what build opened, in order; close runs them in reverse
}

// transport serves MCP in one mode (TASKMAN_MCP_TRANSPORT) until ctx is
// cancelled or its input ends, then drains within the shutdown clock,
// whose start marks readiness down.
type transport interface {
	serve(ctx context.Context) error
}

// onClose registers f to run when the program closes, before everything
// opened earlier.
func (p *program) onClose(f func()) { p.closers = append(p.closers, f) }

// close releases what build opened, in reverse order of construction.
func (p *program) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// build constructs every component in dependency order: tracing, the tool
// table, metrics, breakers, the backend (embedded or remote), the backend
// status (one probe for readiness and the activate_* tools), the server,
// health and the transport of cfg.Transport. What it opened is released
// by close, also when it fails midway.
func (p *program) build(ctx context.Context, cfg *config, stdin io.Reader, stdout io.Writer) error {
	logger, clock := p.logger, p.clock
	tr, err := newTracing(ctx, cfg.OTel, buildVersion(), logger)
	if err != nil {
		return err
	}
	p.onClose(func() {
		// Spans are flushed last, after every request has ended, within
		// what is left of the one shutdown deadline: a hung collector
		// cannot stretch the shutdown past it.
		fctx, cancel := clock.final()
		defer cancel()
		if err := tr.shutdown(fctx); err != nil {
			logger.Warn("flushing spans at exit failed", "err", err)
		}
	})

	tools := newToolTable()
	toolNames := make([]string, len(tools))
	for i, t := range tools {
		toolNames[i] = t.name
	}
	m := newMetrics(metricsOptions{
		Enabled:   cfg.MetricsEnabled,
		Version:   buildVersion(),
		Revision:  buildRevision(),
		Tools:     toolNames,
		Routes:    routeLabelValues(),
		Endpoints: endpointTemplates(),
		Breakers:  operationNames(),
	})

	breakerSet := newBreakers(operationNames(), cfg.Breaker, time.Now, func(name string, from, to breakerState) {
		logger.Warn("circuit breaker state changed", "breaker", name, "from", from.String(), "to", to.String())
		m.breakerChanged(name, to)
	})
	backend, err := p.buildBackend(ctx, cfg, backendOptions{
		BaseURL:      cfg.BackendURL,
		Timeout:      cfg.BackendTimeout,
		MaxRetries:   cfg.BackendMaxRetries,
		RetryDelay:   cfg.BackendRetryDelay,
		Version:      buildVersion(),
		Logger:       logger,
		Metrics:      m,
		Breakers:     breakerSet,
		Cache:        newCache(cfg.Cache, time.Now),
		Tracing:      tr,
		Dialect:      cfg.BackendDialect,
		DefaultOwner: cfg.DefaultOwner,
	})
	if err != nil {
		return err
	}

	status := newBackendStatus(backend, breakerSet)
	srv, err := newServer(serverDeps{Logger: logger, Version: buildVersion(),
		Transport: cfg.Transport, Toolsets: cfg.Toolsets, ReadOnly: cfg.ReadOnly,
		Backend: backend, Status: status, Metrics: m, Tracing: tr, Tools: tools})
	if err != nil {
		return err
	}
	if !cfg.HealthEnabled {
		p.health = disabledHealth()
	} else {
		p.health = newHealth(healthOptions{
			Version:     buildVersion(),
			GoVersion:   runtime.Version(),
			Transport:   cfg.Transport,
			BackendMode: status.mode(),
			Features: map[string]bool{
				"metrics":         cfg.MetricsEnabled,
				"tracing":         cfg.OTel.Enabled,
				"circuit_breaker": cfg.Breaker.Enabled,
				"fallback_cache":  cfg.Cache.Enabled,
				"auth":            cfg.AuthToken.reveal() != "",
			},
			Dialect:        backend.dialectName,
			Probe:          status.probe,
			Circuits:       status.circuits,
			RequireBackend: cfg.ReadyNeedsBackend,
			Metrics:        m,
			Logger:         logger,
		})
	}
	clock.onBegin = p.health.markShuttingDown

	// Requests run on stop, a context the signal does not cancel: they get
	// until the shutdown deadline to finish, then stop is cancelled.
	stop, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	p.onClose(cancelRequests)
	if cfg.Transport == "http" {
		p.transport, err = listenHTTP(p.listen, cfg, newHTTPTransport(srv, cfg, p.health, m, stop), clock, cancelRequests)
		return err
	}
	st := &stdioServing{srv: srv, in: stdin, out: stdout, maxLine: cfg.MaxRequestBytes, clock: clock}
	if cfg.OpsAddr != "" {
		st.ops, err = listenOps(p.listen, cfg, newHTTPTransport(srv, cfg, p.health, m, stop), clock, logger)
	}
	p.transport = st
	return err
}

// buildBackend opens the embedded backend when no remote one is
// configured, and the backend client over it or the remote API. Dialect
// detection (TASKMAN_BACKEND_DIALECT=auto) starts beside the start, never
// delaying or failing it; a call that comes first waits for it.
func (p *program) buildBackend(ctx context.Context, cfg *config, opts backendOptions) (*backendClient, error) {
	if cfg.embedded() {
		emb, err := newEmbedded(cfg.DataFile, p.logger)
		if err != nil {
			return nil, err
		}
		p.onClose(func() {
			if err := emb.close(); err != nil {
				p.logger.Warn("closing the embedded backend's data file at exit failed", "err", err)
			}
		})
		opts.Embedded = emb
		p.logger.Info("using the embedded backend (set TASK_MANAGER_API_ENDPOINT for a remote one)", "backend", emb.describe())
	} else {
		p.logger.Info("using the remote backend", "endpoint", configRedactURL(cfg.BackendURL), "dialect", string(cfg.BackendDialect))
	}
	backend, err := newBackendClient(opts)
	if err != nil {
		return nil, err
	}
	p.onClose(backend.close)
	go backend.adapter(ctx)
	return backend, nil
}

// httpServing is the transport of TASKMAN_MCP_TRANSPORT=http: the HTTP
// transport on its listener.
type httpServing struct {
	t              *httpTransport
	ln             net.Listener
	clock          *shutdownClock
	cancelRequests context.CancelFunc
}

// listenHTTP listens on HOST:PORT for t.
func listenHTTP(listen listenFunc, cfg *config, t *httpTransport, clock *shutdownClock, cancelRequests context.CancelFunc) (*httpServing, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	warnUnauthenticatedBind(t.logger, cfg)
	return &httpServing{t: t, ln: ln, clock: clock, cancelRequests: cancelRequests}, nil
}

func (h *httpServing) serve(ctx context.Context) error {
	return h.t.serveHTTP(ctx, h.ln, h.clock, h.cancelRequests)
}

// stdioServing is the transport of TASKMAN_MCP_TRANSPORT=stdio: the
// server on stdin and stdout, with the ops listener beside it.
type stdioServing struct {
	srv     *server
	in      io.Reader
	out     io.Writer
	maxLine int64 // TASKMAN_MAX_REQUEST_BYTES
	clock   *shutdownClock
	ops     opsListener // the zero value when TASKMAN_OPS_ADDR is unset
}

func (s *stdioServing) serve(ctx context.Context) error {
	stopOps := s.ops.start()
	defer stopOps()
	return s.srv.serveStdio(ctx, s.in, s.out, s.maxLine, s.clock)
}

// warnUnauthenticatedBind warns when HTTP is served on an address other
// machines can reach and TASKMAN_AUTH_TOKEN is unset: every tool, the
// destructive ones included, is then open to whoever reaches the port.
// It is a warning, not an error, because a container (HOST=0.0.0.0) behind
// an authenticating proxy or a private network is a legitimate setup.
func warnUnauthenticatedBind(logger *slog.Logger, cfg *config) {
	if cfg.AuthToken.reveal() != "" || isLoopbackHost(cfg.Host) {
		return
	}
	logger.Warn("serving MCP over HTTP on a non-loopback address without TASKMAN_AUTH_TOKEN: anyone who can reach it can call every tool; "+
		"set TASKMAN_AUTH_TOKEN (and TASKMAN_ALLOWED_HOSTS), or HOST=127.0.0.1 to serve this machine only",
		"host", cfg.Host, "port", cfg.Port)
}

// gcPercentDefault is the GOGC the server runs with when the operator sets
// neither GOGC nor GOMEMLIMIT. The server's live heap is small (the tool
// table, the sessions, the fallback cache: a few MiB) while every call
// allocates tens of KiB, so at Go's default of 100 a collection runs every
// few dozen calls and takes a large share of the CPU per call. At 400 the
// heap may grow to five times the live heap before a collection, a few MiB
// more, and the collector runs several times less often (BENCHMARKS.md has
// the measurement).
const gcPercentDefault = 400

// gcCgroupShare is the share of a container's memory limit given to the
// runtime as its soft limit (GOMEMLIMIT) under the default policy, so a
// larger GOGC never carries the heap into the OOM killer: near the limit
// the collector runs as often as needed instead. The rest is left for what
// the Go heap does not count (goroutine stacks, the binary, page cache).
const gcCgroupShare = 0.9

// applyGCPolicy sets the default GC policy unless GOGC or GOMEMLIMIT is set
// in the environment (lookup), which the runtime has then already applied:
// GOGC=gcPercentDefault, and a soft memory limit of gcCgroupShare of the
// container's memory limit when cgroupLimit reports one. It returns a
// description of what it set, or "" when the operator's settings stand.
func applyGCPolicy(lookup func(string) (string, bool), cgroupLimit func() (int64, bool)) string {
	if _, ok := lookup("GOGC"); ok {
		return ""
	}
	if _, ok := lookup("GOMEMLIMIT"); ok {
		return ""
	}
	debug.SetGCPercent(gcPercentDefault)
	desc := "GOGC=" + strconv.Itoa(gcPercentDefault)
	if limit, ok := cgroupLimit(); ok {
		soft := int64(float64(limit) * gcCgroupShare)
		debug.SetMemoryLimit(soft)
		desc += fmt.Sprintf(" GOMEMLIMIT=%dMiB (90%% of the container's %dMiB)", soft>>20, limit>>20)
	}
	return desc
}

// readCgroupMemoryLimit returns the memory limit of the process's cgroup,
// from cgroup v2's memory.max or cgroup v1's memory.limit_in_bytes, and
// false when there is none (no file, "max", or v1's "unlimited" value,
// which is near the largest int64).
func readCgroupMemoryLimit() (int64, bool) {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		return parseCgroupMemoryLimit(string(b))
	}
	return 0, false
}

// parseCgroupMemoryLimit parses the contents of a cgroup memory limit file.
// A value of 1 PiB or more stands for "no limit" (cgroup v1 writes the
// largest page-aligned int64).
func parseCgroupMemoryLimit(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<50 {
		return 0, false
	}
	return n, true
}

// shutdownClock is the one GRACEFUL_SHUTDOWN_TIMEOUT_MS a shutdown gets,
// from the signal or EOF to the last flushed span. Requests may finish
// until the drain deadline; then those still running are cancelled, and
// their error answers, the ops listener's stop and the span flush share
// the rest, up to the final deadline.
type shutdownClock struct {
	timeout time.Duration
	onBegin func() // called once when the shutdown begins (readiness turns false); may be nil

	mu       sync.Mutex
	deadline time.Time // the final deadline; zero before the shutdown began; guarded by mu
}

// shutdownCutReserve is the part of the shutdown kept after the drain
// deadline, at most a second: cancelled requests write their error answers
// in milliseconds, and a healthy collector takes a batch as fast.
func shutdownCutReserve(timeout time.Duration) time.Duration {
	return min(timeout/10, time.Second)
}

// begin starts the shutdown's clock if it has not started yet, and
// returns the final deadline.
func (c *shutdownClock) begin() time.Time {
	c.mu.Lock()
	started := !c.deadline.IsZero()
	if !started {
		c.deadline = time.Now().Add(c.timeout)
	}
	deadline := c.deadline
	c.mu.Unlock()
	if !started && c.onBegin != nil {
		c.onBegin()
	}
	return deadline
}

// final returns a context that ends at the final deadline (starting the
// clock if need be).
func (c *shutdownClock) final() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), c.begin())
}

// drain returns a context that ends at the drain deadline, when requests
// still running are cancelled (starting the clock if need be).
func (c *shutdownClock) drain() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), c.begin().Add(-shutdownCutReserve(c.timeout)))
}

// buildRevision returns the VCS revision the binary was built from, or "".
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}
