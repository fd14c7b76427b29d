// Metrics: a small hand-written Prometheus instrumentation library (counter,
// gauge, histogram, summary, their labelled vectors and the text exposition
// format 0.0.4) and the project's metric set, as listed in
// docs/observability.md: the taskman_* families, and beside them the two
// histograms of the OpenTelemetry semantic conventions for MCP under the
// names other MCP servers export (mcp_server_operation_duration_seconds,
// mcp_server_session_duration_seconds), so generic MCP dashboards work.
//
// Contracts the rest of the server relies on:
//
//   - Recording never allocates and never takes a write lock once a series
//     exists. Callers on a hot path may keep the *counter, *gauge or
//     *histogram returned by a vector's with(...) ("pre-resolved") and use it
//     directly.
//   - Every recording method is safe on a nil receiver and then does nothing;
//     a nil vector's with(...) returns nil. With METRICS_ENABLED=false every
//     field of metrics is nil, so callers never test a flag.
//   - Label sets are bounded: a label built with an allow-list folds unknown
//     values into "other", and every vector stops growing at promMaxSeries
//     series, after which new label combinations fold into one series whose
//     values are all "other".
//   - Families are written sorted by name (as the Prometheus Go client does),
//     so a reader finds a family where expected whatever the order of
//     registration; series within a family are sorted by label values.
//   - Values that the process can only read (process_*, go_*, memory,
//     scheduler latency, build info) are computed while a scrape runs; there
//     is no background goroutine.

package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// promContentType is the media type of the text exposition format 0.0.4.
	promContentType = "text/plain; version=0.0.4; charset=utf-8"

	// promMaxLabels is the most labels a vector can have; the widest family
	// of the project is mcp_server_operation_duration_seconds, whose five
	// labels the OpenTelemetry MCP conventions fix, and a fixed-size key
	// lets a lookup build its map key on the stack.
	promMaxLabels = 5

	// promMaxSeries caps the series of one vector. The largest honest family
	// (8 methods × ~20 routes × a handful of statuses) stays well below it,
	// and at this cap a scrape is still only a few hundred kilobytes; past it
	// new label combinations fold into a single all-"other" series.
	promMaxSeries = 1000

	// promOther is the label value that unknown or over-cap values fold into.
	promOther = "other"

	// promPoolMaxBuffer is the largest scrape buffer returned to the pool:
	// a normal scrape is tens of kilobytes, and keeping a freak multi-megabyte
	// buffer alive forever would cost more than reallocating it.
	promPoolMaxBuffer = 1 << 20

	// promUserHZ is the kernel's USER_HZ, the unit of the CPU times in
	// /proc/self/stat; it is 100 on every Linux ABI Go supports (the
	// Prometheus Go client hard-codes the same value).
	promUserHZ = 100
)

// The type names of the exposition format's "# TYPE" line.
const (
	promTypeCounter   = "counter"
	promTypeGauge     = "gauge"
	promTypeHistogram = "histogram"
	promTypeSummary   = "summary"
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

	// promMCPMethods are the JSON-RPC methods the server knows or may grow
	// (docs/mcp.md "Methods"); a client can send any string, which folds into
	// "other".
	promMCPMethods = []string{
		"completion/complete", "initialize", "logging/setLevel",
		"notifications/cancelled", "notifications/initialized",
		"notifications/progress", "ping", "prompts/get", "prompts/list",
		"resources/list", "resources/read", "resources/templates/list",
		"server/discover", "tools/call", "tools/list",
	}

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

// promAddFloat adds v to the float64 whose bits u holds, lock-free.
func promAddFloat(u *atomic.Uint64, v float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// counter is a value that only goes up. Whole increments (inc, integral add)
// are a single atomic add; fractional adds go to a separate float.
type counter struct {
	n atomic.Uint64 // sum of the integral increments
	f atomic.Uint64 // float64 bits of the sum of the fractional increments
}

// inc adds one. It is a no-op on a nil counter.
func (c *counter) inc() {
	if c == nil {
		return
	}
	c.n.Add(1)
}

// add adds v. Negative, zero and NaN values are ignored: a counter never
// goes down. It is a no-op on a nil counter.
func (c *counter) add(v float64) {
	if c == nil || !(v > 0) {
		return
	}
	if v == math.Trunc(v) && v < 1<<63 { // integral and fits the uint64 part
		c.n.Add(uint64(v))
		return
	}
	promAddFloat(&c.f, v)
}

// value returns the current total (0 on a nil counter).
func (c *counter) value() float64 {
	if c == nil {
		return 0
	}
	return float64(c.n.Load()) + math.Float64frombits(c.f.Load())
}

// gauge is a value that goes up and down, stored as float64 bits.
type gauge struct {
	bits atomic.Uint64 // float64 bits of the value
}

// set sets the gauge to v. It is a no-op on a nil gauge.
func (g *gauge) set(v float64) {
	if g == nil {
		return
	}
	g.bits.Store(math.Float64bits(v))
}

// add adds v (which may be negative). It is a no-op on a nil gauge.
func (g *gauge) add(v float64) {
	if g == nil {
		return
	}
	promAddFloat(&g.bits, v)
}

// inc adds one. It is a no-op on a nil gauge.
func (g *gauge) inc() { g.add(1) }

// dec subtracts one. It is a no-op on a nil gauge.
func (g *gauge) dec() { g.add(-1) }

// value returns the current value (0 on a nil gauge).
func (g *gauge) value() float64 {
	if g == nil {
		return 0
	}
	return math.Float64frombits(g.bits.Load())
}

// histogram counts observations into buckets with fixed upper bounds.
// Counts are stored per bucket (not cumulated) so an observation touches one
// counter; the exposition cumulates them and derives _count from the counts
// it read, so +Inf always equals _count in a scrape.
type histogram struct {
	upper  []float64       // sorted upper bounds, shared by a vector's series; read-only
	counts []atomic.Uint64 // len(upper)+1 per-bucket counts; the last is the +Inf bucket
	sum    atomic.Uint64   // float64 bits of the sum of observations
}

// promInitHistogram makes the zero histogram h an empty histogram over the
// sorted bounds upper.
func promInitHistogram(h *histogram, upper []float64) {
	h.upper = upper
	h.counts = make([]atomic.Uint64, len(upper)+1)
}

// observe records v. NaN lands in the +Inf bucket (and makes the sum NaN),
// as in the Go client. It is a no-op on a nil histogram.
func (h *histogram) observe(v float64) {
	if h == nil {
		return
	}
	i := 0
	// A linear scan beats a binary search for the dozen bounds we use.
	for i < len(h.upper) && !(v <= h.upper[i]) {
		i++
	}
	h.counts[i].Add(1)
	promAddFloat(&h.sum, v)
}

// observeDuration records d in seconds. It is a no-op on a nil histogram.
func (h *histogram) observeDuration(d time.Duration) {
	if h == nil {
		return
	}
	h.observe(d.Seconds())
}

// appendSamples appends the _bucket, _sum and _count lines of h; les are the
// rendered le="..." pairs of h.upper followed by le="+Inf".
func (h *histogram) appendSamples(b []byte, name, pairs string, les []string) []byte {
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		b = promAppendSample(b, name, "_bucket", pairs, les[i], float64(cum))
	}
	b = promAppendSample(b, name, "_sum", pairs, "", math.Float64frombits(h.sum.Load()))
	return promAppendSample(b, name, "_count", pairs, "", float64(cum))
}

// promLes renders the le="..." pairs of the bucket bounds, +Inf last.
func promLes(upper []float64) []string {
	les := make([]string, 0, len(upper)+1)
	for _, u := range upper {
		les = append(les, `le="`+string(promAppendFloat(nil, u))+`"`)
	}
	return append(les, `le="+Inf"`)
}

// summary reports quantiles computed by source when scraped. It serves the
// families whose data the runtime already keeps (GC pauses, scheduler
// latency), so it holds no state of its own.
type summary struct {
	pairs []string // rendered quantile="..." pairs of the ranks, e.g. 0.5 0.9 0.99
	// source computes the quantiles (values[i] at ranks[i]), sum and count
	// at scrape time; ok false means "no samples this scrape".
	source func(s *promScrape) (values []float64, sum float64, count uint64, ok bool)
}

// appendSamples appends the quantile, _sum and _count lines; nothing if the
// source has no data.
func (s *summary) appendSamples(b []byte, name string, sc *promScrape) []byte {
	values, sum, count, ok := s.source(sc)
	if !ok {
		return b
	}
	for i, p := range s.pairs {
		v := math.NaN()
		if i < len(values) {
			v = values[i]
		}
		b = promAppendSample(b, name, "", "", p, v)
	}
	b = promAppendSample(b, name, "_sum", "", "", sum)
	return promAppendSample(b, name, "_count", "", "", float64(count))
}

// promLabel names one label of a vector and, when allow is non-nil, the
// only values it may take; others fold into "other".
type promLabel struct {
	name  string
	allow []string // nil: any value (the caller bounds it); empty: everything is "other"
}

// promKey identifies a series by its label values; unused slots are "".
// A fixed-size array lets a lookup build it on the stack.
type promKey [promMaxLabels]string

// promSeries is one labelled series of a vector.
type promSeries[T any] struct {
	key   promKey
	pairs string // rendered, escaped label pairs without braces
	val   T
}

// promVec is the label handling shared by counterVec, gaugeVec and
// histogramVec: value folding, lookup, creation and sorted iteration.
type promVec[T any] struct {
	labels []string            // label names, at most promMaxLabels
	allow  []map[string]string // per label: nil (free) or value → canonical value
	init   func(*T)            // prepares a new series' value (histogram buckets)

	mu     sync.RWMutex // guards byKey and sorted; lookups take the read lock only
	byKey  map[promKey]*promSeries[T]
	sorted []*promSeries[T] // by label values, for a stable exposition order
}

// promNewVec returns an empty vector. More than promMaxLabels labels is a
// programming error in the fixed metric set and panics at construction.
func promNewVec[T any](labels []promLabel, init func(*T)) *promVec[T] {
	if len(labels) > promMaxLabels {
		panic(fmt.Sprintf("metrics: %d labels, at most %d", len(labels), promMaxLabels))
	}
	v := &promVec[T]{init: init, byKey: make(map[promKey]*promSeries[T])}
	for _, l := range labels {
		v.labels = append(v.labels, l.name)
		var allow map[string]string
		if l.allow != nil {
			allow = make(map[string]string, len(l.allow))
			for _, a := range l.allow {
				allow[a] = a
			}
		}
		v.allow = append(v.allow, allow)
	}
	return v
}

// with returns the series for values, creating it on first use. A missing
// value counts as "other" and extra values are ignored, so a caller's slip
// never panics on a request path. It does not allocate when the series
// exists.
func (v *promVec[T]) with(values []string) *T {
	var key promKey
	for i, allow := range v.allow {
		val := promOther
		if i < len(values) {
			val = values[i]
		}
		if allow != nil {
			c, ok := allow[val]
			if !ok {
				c = promOther
			}
			val = c
		}
		key[i] = val
	}
	v.mu.RLock()
	s := v.byKey[key]
	v.mu.RUnlock()
	if s != nil {
		return &s.val
	}
	return v.create(key)
}

// create adds the series for key (or the all-"other" series when the
// vector is full) under the write lock.
func (v *promVec[T]) create(key promKey) *T {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s := v.byKey[key]; s != nil {
		return &s.val
	}
	if len(v.byKey) >= promMaxSeries {
		for i := range v.labels {
			key[i] = promOther
		}
		if s := v.byKey[key]; s != nil {
			return &s.val
		}
	}
	s := &promSeries[T]{}
	var pairs []string
	for i, name := range v.labels {
		// Clone free values: the caller's string may share memory with a
		// large request body that the series would otherwise keep alive.
		key[i] = strings.Clone(key[i])
		pairs = append(pairs, promPair(name, key[i]))
	}
	s.key = key
	s.pairs = strings.Join(pairs, ",")
	if v.init != nil {
		v.init(&s.val)
	}
	v.byKey[key] = s
	i, _ := slices.BinarySearchFunc(v.sorted, key, func(e *promSeries[T], k promKey) int {
		return slices.Compare(e.key[:], k[:])
	})
	v.sorted = slices.Insert(v.sorted, i, s)
	return &s.val
}

// each calls fn for every series in label order under the read lock, which
// is held only while the family's lines are appended to a buffer.
func (v *promVec[T]) each(fn func(pairs string, val *T)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, s := range v.sorted {
		fn(s.pairs, &s.val)
	}
}

// counterVec is a family of counters distinguished by label values.
type counterVec struct{ vec *promVec[counter] }

// with returns the counter for the label values (in label order), creating
// it on first use; nil on a nil vector. Existing series cost no allocation.
func (cv *counterVec) with(values ...string) *counter {
	if cv == nil {
		return nil
	}
	return cv.vec.with(values)
}

// gaugeVec is a family of gauges distinguished by label values.
type gaugeVec struct{ vec *promVec[gauge] }

// with returns the gauge for the label values (in label order), creating it
// on first use; nil on a nil vector. Existing series cost no allocation.
func (gv *gaugeVec) with(values ...string) *gauge {
	if gv == nil {
		return nil
	}
	return gv.vec.with(values)
}

// histogramVec is a family of histograms with shared buckets distinguished
// by label values.
type histogramVec struct {
	vec *promVec[histogram]
	les []string // rendered le pairs of the shared bounds
}

// with returns the histogram for the label values (in label order),
// creating it on first use; nil on a nil vector. Existing series cost no
// allocation.
func (hv *histogramVec) with(values ...string) *histogram {
	if hv == nil {
		return nil
	}
	return hv.vec.with(values)
}

// promFamily is one metric family of a registry.
type promFamily struct {
	name, help, typ string
	// appendSamples appends the family's sample lines (possibly none).
	appendSamples func(b []byte, s *promScrape) []byte
}

// promRegistry is an ordered set of families. It is filled by its owner's
// constructor and read-only afterwards, so a scrape walks it without a lock.
type promRegistry struct {
	families []promFamily // sorted by name
}

// add registers a family. A duplicate name is a programming error in the
// fixed metric set (every test would catch it), so it panics like
// http.ServeMux does on a duplicate pattern.
func (r *promRegistry) add(name, help, typ string, appendSamples func([]byte, *promScrape) []byte) {
	i, found := slices.BinarySearchFunc(r.families, name, func(f promFamily, n string) int {
		return cmp.Compare(f.name, n)
	})
	if found {
		panic("metrics: duplicate family " + name)
	}
	r.families = slices.Insert(r.families, i, promFamily{name: name, help: help, typ: typ, appendSamples: appendSamples})
}

// newCounter registers and returns an unlabelled counter.
func (r *promRegistry) newCounter(name, help string) *counter {
	c := &counter{}
	r.add(name, help, promTypeCounter, func(b []byte, _ *promScrape) []byte {
		return promAppendSample(b, name, "", "", "", c.value())
	})
	return c
}

// newGauge registers and returns an unlabelled gauge.
func (r *promRegistry) newGauge(name, help string) *gauge {
	g := &gauge{}
	r.add(name, help, promTypeGauge, func(b []byte, _ *promScrape) []byte {
		return promAppendSample(b, name, "", "", "", g.value())
	})
	return g
}

// newHistogram registers and returns an unlabelled histogram over the
// sorted bounds upper.
func (r *promRegistry) newHistogram(name, help string, upper []float64) *histogram {
	h := &histogram{}
	promInitHistogram(h, upper)
	les := promLes(upper)
	r.add(name, help, promTypeHistogram, func(b []byte, _ *promScrape) []byte {
		return h.appendSamples(b, name, "", les)
	})
	return h
}

// newCounterVec registers and returns a labelled counter family.
func (r *promRegistry) newCounterVec(name, help string, labels ...promLabel) *counterVec {
	cv := &counterVec{vec: promNewVec[counter](labels, nil)}
	r.add(name, help, promTypeCounter, func(b []byte, _ *promScrape) []byte {
		cv.vec.each(func(pairs string, c *counter) {
			b = promAppendSample(b, name, "", pairs, "", c.value())
		})
		return b
	})
	return cv
}

// newGaugeVec registers and returns a labelled gauge family.
func (r *promRegistry) newGaugeVec(name, help string, labels ...promLabel) *gaugeVec {
	gv := &gaugeVec{vec: promNewVec[gauge](labels, nil)}
	r.add(name, help, promTypeGauge, func(b []byte, _ *promScrape) []byte {
		gv.vec.each(func(pairs string, g *gauge) {
			b = promAppendSample(b, name, "", pairs, "", g.value())
		})
		return b
	})
	return gv
}

// newHistogramVec registers and returns a labelled histogram family whose
// series share the sorted bounds upper.
func (r *promRegistry) newHistogramVec(name, help string, upper []float64, labels ...promLabel) *histogramVec {
	hv := &histogramVec{
		vec: promNewVec(labels, func(h *histogram) { promInitHistogram(h, upper) }),
		les: promLes(upper),
	}
	r.add(name, help, promTypeHistogram, func(b []byte, _ *promScrape) []byte {
		hv.vec.each(func(pairs string, h *histogram) {
			b = h.appendSamples(b, name, pairs, hv.les)
		})
		return b
	})
	return hv
}

// newSummary registers a summary whose quantiles at ranks, sum and count
// come from source at scrape time.
func (r *promRegistry) newSummary(name, help string, ranks []float64, source func(*promScrape) ([]float64, float64, uint64, bool)) {
	s := &summary{source: source}
	for _, q := range ranks {
		s.pairs = append(s.pairs, `quantile="`+string(promAppendFloat(nil, q))+`"`)
	}
	r.add(name, help, promTypeSummary, func(b []byte, sc *promScrape) []byte {
		return s.appendSamples(b, name, sc)
	})
}

// newFunc registers an unlabelled counter or gauge whose value value
// computes at scrape time; false means "no sample this scrape".
func (r *promRegistry) newFunc(name, help, typ string, value func(s *promScrape) (float64, bool)) {
	r.add(name, help, typ, func(b []byte, s *promScrape) []byte {
		if v, ok := value(s); ok {
			b = promAppendSample(b, name, "", "", "", v)
		}
		return b
	})
}

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

// observeToolExecution records one tool call with status success, error or
// stale. It is a no-op on nil or disabled metrics.
func (m *metrics) observeToolExecution(tool, status string, d time.Duration) {
	if m == nil {
		return
	}
	m.toolExecutions.with(tool, status).inc()
	m.toolDuration.with(tool).observeDuration(d)
}

// observeBackendCall records one backend attempt; status is
// statusLabel(code) or "error", "timeout" or "canceled" when there was no
// response. It is a no-op on nil or disabled metrics.
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
