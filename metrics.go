// Metrics: the project's metric set, as listed in docs/observability.md,
// built on the Prometheus library of prom.go: the taskman_* families, and
// beside them the two histograms of the OpenTelemetry semantic conventions
// for MCP under the names other MCP servers export
// (mcp_server_operation_duration_seconds,
// mcp_server_session_duration_seconds), so generic MCP dashboards work; and
// the /metrics handler that serves them.
//
// Contracts the rest of the server relies on (beside prom.go's):
//
//   - With METRICS_ENABLED=false every field of metrics is nil, so every
//     recording call is a no-op and callers never test a flag.
//   - Values that the process can only read (process_*, go_*, memory,
//     scheduler latency, build info) are computed while a scrape runs; there
//     is no background goroutine.

package main

import (
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

const (
	// promPoolMaxBuffer is the largest scrape buffer returned to the pool:
	// a normal scrape is tens of kilobytes, and keeping a freak multi-megabyte
	// buffer alive forever would cost more than reallocating it.
	promPoolMaxBuffer = 1 << 20

	// promUserHZ is the kernel's USER_HZ, the unit of the CPU times in
	// /proc/self/stat; it is 100 on every Linux ABI Go supports (the
	// Prometheus Go client hard-codes the same value).
	promUserHZ = 100
)

// promStatusCodes holds the decimal text of every HTTP status code from 100
// to 599, so statusLabel never formats (and so never allocates). It is
// computed once and never written again.
var promStatusCodes = promBuildStatusCodes()

// promBuildStatusCodes returns the table behind statusLabel.
func promBuildStatusCodes() []string {
	codes := make([]string, 500) // 100..599: every status code RFC 9110 allows
	for i := range codes {
		codes[i] = strconv.Itoa(100 + i)
	}
	return codes
}

// statusLabel returns the label value of an HTTP status code: its decimal
// text for 100..599 and "other" for anything else. It does not allocate.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return promOther
	}
	return promStatusCodes[code-100]
}

// Bounded vocabularies of the fixed-list labels. Each is a constant in spirit.
var (
	// promHTTPMethods are the methods counted by name; anything else is
	// "other" (a client can send any token as a method).
	promHTTPMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

	// promMCPMethods are the methods of the method table (mcp.go), the only
	// ones a request can be answered by; a client can send any string,
	// which folds into "other". Notifications are not requests and are
	// never counted.
	promMCPMethods = slices.Sorted(maps.Keys(methodTable))

	// promMCPStatuses are the outcomes of an MCP request.
	promMCPStatuses = []string{"error", "ok"}

	// promToolStatuses are the outcomes of a tool execution; stale means an
	// answer served from the fallback cache, cancelled a call its caller
	// cancelled (not an error).
	promToolStatuses = []string{"cancelled", "error", "stale", "success"}

	// promErrorKinds are the kinds of taskman_errors_total, pre-created at 0.
	promErrorKinds = []string{
		"jsonrpc_parse", "invalid_request", "method_not_found",
		"invalid_params", "internal", "tool_error", "backend", "panic",
	}

	// promBreakerStates are the states a breaker moves to; the gauge value
	// of each is its index (0 closed, 1 open, 2 half-open).
	promBreakerStates = []string{"closed", "open", "half-open"}

	// promNetworkTransports are the network_transport values of the MCP
	// convention families: pipe for stdio, tcp for Streamable HTTP.
	promNetworkTransports = []string{"pipe", "tcp"}

	// promMCPErrorTypes are the error_type values of
	// mcp_server_operation_duration_seconds: "" for success, the JSON-RPC
	// error code of an error answer (the codes of mcp.go, keyed here so
	// that labelling one never formats), tool_error for a tool result with
	// isError, and the convention's _OTHER for any other code.
	promMCPErrorTypes = map[int]string{
		codeParseError:         "-32700",
		codeInvalidRequest:     "-32600",
		codeMethodNotFound:     "-32601",
		codeInvalidParams:      "-32602",
		codeInternalError:      "-32603",
		codeHeaderMismatch:     "-32020",
		codeUnsupportedVersion: "-32022",
	}

	// promBackendOutcomes are the values of the backend status and retry
	// reason labels: an HTTP status code (statusLabel) or one of the
	// transport outcomes that have no status code.
	promBackendOutcomes = append(slices.Clone(promStatusCodes), "canceled", "error", "timeout", "connection_refused", "connection_reset")
)

// Bucket bounds of the project's histograms.
var (
	// promHTTPDurationBuckets span a cached answer (1 ms) to a slow tool
	// call behind retries (10 s); docs/observability.md fixes them.
	promHTTPDurationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

	// promToolDurationBuckets reach 30 s because a tool may wait for
	// several backend retries with backoff; docs/observability.md fixes them.
	promToolDurationBuckets = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

	// promBackendDurationBuckets cover one backend call up to its timeout;
	// docs/observability.md fixes them.
	promBackendDurationBuckets = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10}

	// promResponseSizeBuckets grow by 4 from 64 B (a ping or an error
	// answer) to 4 MiB (TASKMAN_MAX_REQUEST_BYTES' default, the size of the
	// largest list answers we expect): nine buckets, each a factor 4 apart,
	// tell a tiny answer from a page of tasks from a runaway one.
	promResponseSizeBuckets = []float64{64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304}

	// promSchedulerRanks are the quantiles of the scheduler-latency summary.
	promSchedulerRanks = []float64{0.5, 0.9, 0.99}

	// promMCPDurationBuckets are the ExplicitBucketBoundaries the
	// OpenTelemetry MCP conventions give both mcp.server.operation.duration
	// and mcp.server.session.duration, from a ping (10 ms) to a long tool
	// call or a short session (5 min); the same bounds as other servers'
	// make the histograms aggregate with theirs.
	promMCPDurationBuckets = []float64{.01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30, 60, 120, 300}

	// promGCRanks are the quantiles of go_gc_duration_seconds, as the Go
	// client reports them (min, quartiles, max).
	promGCRanks = []float64{0, 0.25, 0.5, 0.75, 1}
)

// metricsOptions configures newMetrics.
type metricsOptions struct {
	Enabled           bool     // false: every recording method is a no-op and handler() answers 404
	Version, Revision string   // build info labels; "" is reported as "unknown"
	Tools             []string // allowed tool_name values; others (and all, if empty) fold into "other"
	Routes            []string // allowed HTTP route values; others fold into "other"
	Endpoints         []string // allowed backend endpoint templates like "/tasks/{id}"; others fold into "other"
	Breakers          []string // breaker names, e.g. "GET /tasks/{id}"; others fold into "other"
}

// metrics holds one field per recorded family of docs/observability.md; the
// scrape-time families (process_*, go_*, memory, scheduler latency, build
// info) live only in the registry. Every field is nil when metrics are
// disabled, which turns each recording call into a no-op.
type metrics struct {
	reg  *promRegistry // nil when disabled
	bufs sync.Pool     // *[]byte scrape buffers, reused between scrapes

	httpRequests       *counterVec   // taskman_http_requests_total{method,route,status}
	httpDuration       *histogramVec // taskman_http_request_duration_seconds{method,route}
	httpResponseSize   *histogramVec // taskman_http_response_size_bytes{route}
	activeConnections  *gauge        // taskman_active_connections
	errorsTotal        *counterVec   // taskman_errors_total{kind}, every kind pre-created at 0
	mcpRequests        *counterVec   // taskman_mcp_requests_total{method,status}
	toolExecutions     *counterVec   // taskman_mcp_tool_executions_total{tool_name,status}
	toolDuration       *histogramVec // taskman_mcp_tool_execution_duration_seconds{tool_name}
	sessionsActive     *gauge        // taskman_mcp_sessions_active
	backendCalls       *counterVec   // taskman_backend_api_calls_total{method,endpoint,status}
	backendDuration    *histogramVec // taskman_backend_api_call_duration_seconds{method,endpoint}
	backendRetries     *counterVec   // taskman_backend_api_retries_total{method,endpoint,reason}
	breakerState       *gaugeVec     // taskman_circuit_breaker_state{breaker}: 0 closed, 1 open, 2 half-open
	breakerTransitions *counterVec   // taskman_circuit_breaker_transitions_total{breaker,to}
	breakerRejections  *counterVec   // taskman_circuit_breaker_rejections_total{breaker}
	cacheSize          *gauge        // taskman_cache_size
	cacheHits          *counter      // taskman_cache_hits_total
	cacheMisses        *counter      // taskman_cache_misses_total
	cacheEvictions     *counter      // taskman_cache_evictions_total
	cacheStaleServed   *counter      // taskman_cache_stale_served_total
	healthCheckStatus  *gaugeVec     // taskman_health_check_status{check}: 1 pass, 0.5 warn, 0 fail
	mcpOperation       *histogramVec // mcp_server_operation_duration_seconds{mcp_method_name,gen_ai_tool_name,error_type,network_transport,mcp_protocol_version}
	mcpSession         *histogramVec // mcp_server_session_duration_seconds{network_transport,mcp_protocol_version}
}

// newMetrics returns the project's metric set. Disabled, it returns a value
// whose recording fields are all nil and whose handler answers 404.
func newMetrics(opts metricsOptions) *metrics {
	if !opts.Enabled {
		return &metrics{}
	}
	m := metricsBuild(opts)
	m.registerRuntime(opts)
	return m
}

// metricsBuild returns the recorded families only (no scrape-time ones), so
// tests can golden-check a deterministic exposition.
func metricsBuild(opts metricsOptions) *metrics {
	r := &promRegistry{}
	m := &metrics{reg: r}
	method := promLabel{"method", promHTTPMethods}
	route := promLabel{"route", opts.Routes}
	tool := promLabel{"tool_name", opts.Tools}
	endpoint := promLabel{"endpoint", opts.Endpoints}
	breaker := promLabel{"breaker", opts.Breakers}
	for _, l := range []*promLabel{&route, &tool, &endpoint, &breaker} {
		if l.allow == nil {
			l.allow = []string{} // an unset list still bounds the label
		}
	}

	m.httpRequests = r.newCounterVec("taskman_http_requests_total",
		"HTTP requests served, by method, route and status code.",
		method, route, promLabel{"status", promStatusCodes})
	m.httpDuration = r.newHistogramVec("taskman_http_request_duration_seconds",
		"Time to serve an HTTP request, by method and route.",
		promHTTPDurationBuckets, method, route)
	m.httpResponseSize = r.newHistogramVec("taskman_http_response_size_bytes",
		"Size of HTTP response bodies, by route.",
		promResponseSizeBuckets, route)
	m.activeConnections = r.newGauge("taskman_active_connections",
		"HTTP connections currently open.")
	m.errorsTotal = r.newCounterVec("taskman_errors_total",
		"Errors by kind.", promLabel{"kind", promErrorKinds})
	m.mcpRequests = r.newCounterVec("taskman_mcp_requests_total",
		"MCP JSON-RPC requests handled, by method and outcome.",
		promLabel{"method", promMCPMethods}, promLabel{"status", promMCPStatuses})
	m.toolExecutions = r.newCounterVec("taskman_mcp_tool_executions_total",
		"Tool calls, by tool and outcome (stale: served from the fallback cache).",
		tool, promLabel{"status", promToolStatuses})
	m.toolDuration = r.newHistogramVec("taskman_mcp_tool_execution_duration_seconds",
		"Time to execute a tool call, by tool.",
		promToolDurationBuckets, tool)
	m.sessionsActive = r.newGauge("taskman_mcp_sessions_active",
		"MCP sessions currently open.")
	m.backendCalls = r.newCounterVec("taskman_backend_api_calls_total",
		"Task Manager API calls (one per attempt), by method, endpoint template and status.",
		method, endpoint, promLabel{"status", promBackendOutcomes})
	m.backendDuration = r.newHistogramVec("taskman_backend_api_call_duration_seconds",
		"Time of one Task Manager API attempt, by method and endpoint template.",
		promBackendDurationBuckets, method, endpoint)
	m.backendRetries = r.newCounterVec("taskman_backend_api_retries_total",
		"Task Manager API retries, by method, endpoint template and the status or transport error that caused them.",
		method, endpoint, promLabel{"reason", promBackendOutcomes})
	m.breakerState = r.newGaugeVec("taskman_circuit_breaker_state",
		"Circuit breaker state: 0 closed, 1 open, 2 half-open.", breaker)
	m.breakerTransitions = r.newCounterVec("taskman_circuit_breaker_transitions_total",
		"Circuit breaker state changes, by breaker and new state.",
		breaker, promLabel{"to", promBreakerStates})
	m.breakerRejections = r.newCounterVec("taskman_circuit_breaker_rejections_total",
		"Calls rejected by an open circuit breaker.", breaker)
	m.cacheSize = r.newGauge("taskman_cache_size",
		"Entries in the fallback cache.")
	m.cacheHits = r.newCounter("taskman_cache_hits_total",
		"Fallback cache lookups (made only when the backend failed) that found an entry younger than the TTL.")
	m.cacheMisses = r.newCounter("taskman_cache_misses_total",
		"Fallback cache lookups that found nothing usable.")
	m.cacheEvictions = r.newCounter("taskman_cache_evictions_total",
		"Fallback cache entries evicted to stay within FALLBACK_CACHE_MAX_SIZE.")
	m.cacheStaleServed = r.newCounter("taskman_cache_stale_served_total",
		"Stale fallback cache entries served because the backend failed.")
	m.healthCheckStatus = r.newGaugeVec("taskman_health_check_status",
		"Result of the last health check: 1 pass, 0.5 warn, 0 fail.",
		promLabel{name: "check"})

	// The OpenTelemetry MCP conventions' families: "" is the value of a
	// label that does not apply (no tool, no error, no version known).
	transport := promLabel{"network_transport", promNetworkTransports}
	version := promLabel{"mcp_protocol_version", append(slices.Clone(supportedVersions), "")}
	errorTypes := []string{"", "tool_error", "_OTHER"}
	for _, t := range promMCPErrorTypes {
		errorTypes = append(errorTypes, t)
	}
	m.mcpOperation = r.newHistogramVec("mcp_server_operation_duration_seconds",
		"MCP request duration as observed on the server, from receipt until the result is sent (OpenTelemetry mcp.server.operation.duration).",
		promMCPDurationBuckets,
		promLabel{"mcp_method_name", promMCPMethods}, promLabel{"gen_ai_tool_name", append(slices.Clone(tool.allow), "")},
		promLabel{"error_type", errorTypes}, transport, version)
	m.mcpSession = r.newHistogramVec("mcp_server_session_duration_seconds",
		"Duration of the MCP sessions that ended, as observed on the server (OpenTelemetry mcp.server.session.duration).",
		promMCPDurationBuckets, transport, version)

	// Series that must read 0 before anything happens, so rate() and
	// alerts see them from the first scrape.
	for _, k := range promErrorKinds {
		m.errorsTotal.with(k)
	}
	for _, b := range opts.Breakers {
		m.breakerState.with(b).set(0)
		m.breakerRejections.with(b)
	}
	return m
}

// observeHTTPRequest records one served HTTP request: its count, duration
// and response size. It is a no-op on nil or disabled metrics.
func (m *metrics) observeHTTPRequest(method, route string, code int, d time.Duration, size int64) {
	if m == nil {
		return
	}
	m.httpRequests.with(method, route, statusLabel(code)).inc()
	m.httpDuration.with(method, route).observeDuration(d)
	m.httpResponseSize.with(route).observe(float64(size))
}

// observeToolExecution records one tool call with status success, error,
// stale or cancelled. It is a no-op on nil or disabled metrics.
func (m *metrics) observeToolExecution(tool, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.toolExecutions.with(tool, status).inc()
	m.toolDuration.with(tool).observeDuration(d)
}

// observeBackendCall records one backend attempt; status is
// statusLabel(code) or, when there was no response, outcomeLabel's
// "canceled", "timeout", "connection_refused", "connection_reset" or
// "error". It is a no-op on nil or disabled metrics.
func (m *metrics) observeBackendCall(method, endpoint, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.backendCalls.with(method, endpoint, status).inc()
	m.backendDuration.with(method, endpoint).observeDuration(d)
}

// countError counts one error of a kind of taskman_errors_total. It is a
// no-op on nil or disabled metrics.
func (m *metrics) countError(kind string) {
	if m == nil {
		return
	}
	m.errorsTotal.with(kind).inc()
}

// countMCPRequest counts one MCP request by method and outcome. It is a
// no-op on nil or disabled metrics.
func (m *metrics) countMCPRequest(method string, ok bool) {
	if m == nil {
		return
	}
	status := "ok"
	if !ok {
		status = "error"
	}
	m.mcpRequests.with(method, status).inc()
}

// observeMCPOperation records one MCP request that took d in
// mcp_server_operation_duration_seconds. transport is the configured one
// ("stdio" or "http"); the protocol version is the request's own
// (2026-07-28 _meta) or its session's; the tool is the one tools/call ran;
// error_type is the JSON-RPC code of an error answer, tool_error for an
// isError result, "" for success or a cancelled request (a nil), as the
// request's span records it. It is a no-op on nil or disabled metrics.
func (m *metrics) observeMCPOperation(transport string, sess *session, req *message, ri *requestInfo, a *answer, d time.Duration) {
	if m == nil || m.mcpOperation == nil {
		return
	}
	version := sess.negotiated()
	if pv := req.meta.get(metaProtocolVersion); pv != nil {
		version = promMetaVersion(pv)
	}
	errorType := ""
	switch {
	case a == nil:
	case a.err != nil:
		errorType = promMCPErrorTypes[a.err.Code]
		if errorType == "" {
			errorType = "_OTHER"
		}
	default:
		if res, ok := a.result.(*toolResult); ok && res.IsError {
			errorType = "tool_error"
		}
	}
	m.mcpOperation.with(req.method, ri.tool, errorType, promTransport(transport), version).observeDuration(d)
}

// observeMCPSession records, in mcp_server_session_duration_seconds, an MCP
// session of the given transport ("stdio" or "http") and negotiated version
// that ended after d. It is a no-op on nil or disabled metrics.
func (m *metrics) observeMCPSession(transport, version string, d time.Duration) {
	if m == nil {
		return
	}
	m.mcpSession.with(promTransport(transport), version).observeDuration(d)
}

// promMetaVersion returns the supported protocol version that raw, a JSON
// string from a request's _meta, names, or "other", without decoding it (and
// so without allocating): a version with escapes in it is no version we
// speak.
func promMetaVersion(raw []byte) string {
	for _, v := range supportedVersions {
		if len(raw) == len(v)+2 && raw[0] == '"' && raw[len(raw)-1] == '"' && string(raw[1:len(raw)-1]) == v {
			return v
		}
	}
	return promOther
}

// promTransport is the network_transport value of a configured transport:
// the conventions call stdio "pipe" and HTTP "tcp".
func promTransport(transport string) string {
	if transport == "http" {
		return "tcp"
	}
	return "pipe"
}

// countRetry counts one backend retry. It is a no-op on nil or disabled
// metrics.
func (m *metrics) countRetry(method, endpoint, reason string) {
	if m == nil {
		return
	}
	m.backendRetries.with(method, endpoint, reason).inc()
}

// errorKind names the taskman_errors_total kind of a JSON-RPC error code.
func errorKind(code int) string {
	switch code {
	case codeParseError:
		return "jsonrpc_parse"
	case codeMethodNotFound:
		return "method_not_found"
	case codeInvalidParams:
		return "invalid_params"
	case codeInternalError:
		return "internal"
	}
	return "invalid_request"
}

// breakerRejected counts a call an open circuit refused. It is a no-op on
// nil or disabled metrics.
func (m *metrics) breakerRejected(name string) {
	if m == nil {
		return
	}
	m.breakerRejections.with(name).inc()
}

// breakerChanged records a breaker's new state. It is a no-op on nil or
// disabled metrics.
func (m *metrics) breakerChanged(name string, to breakerState) {
	if m == nil {
		return
	}
	m.breakerState.with(name).set(float64(to))
	m.breakerTransitions.with(name, to.String()).inc()
}

// cacheLookup counts a fallback lookup: a hit serves a stale copy. It is a
// no-op on nil or disabled metrics.
func (m *metrics) cacheLookup(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHits.inc()
		m.cacheStaleServed.inc()
		return
	}
	m.cacheMisses.inc()
}

// render returns a pooled buffer holding the exposition; give it back with
// release.
func (m *metrics) render() *[]byte {
	bp, _ := m.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = m.reg.appendTo((*bp)[:0])
	return bp
}

// release returns a scrape buffer to the pool unless it grew too large.
func (m *metrics) release(bp *[]byte) {
	if cap(*bp) <= promPoolMaxBuffer {
		m.bufs.Put(bp)
	}
}

// handler serves the exposition on GET and HEAD (405 otherwise). Disabled,
// it answers 404 with a JSON hint.
func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(m.serveMetrics)
}

// promDisabledBody is the JSON answer of /metrics when metrics are disabled.
const promDisabledBody = `{"error":"metrics are disabled","hint":"set METRICS_ENABLED=true"}` + "\n"

// serveMetrics is the handler behind handler.
func (m *metrics) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if m == nil || m.reg == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, promDisabledBody) // an error means the client went away; nothing to do
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	bp := m.render()
	defer m.release(bp)
	w.Header().Set("Content-Type", promContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(*bp)))
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(*bp) // an error means the client went away; nothing to do
}
