// Prometheus: a small hand-written instrumentation library — counter, gauge,
// histogram, summary, their labelled vectors, the registry of families and
// the text exposition format 0.0.4. The project's metric set built on it
// lives in metrics.go.
//
// Contracts the metric set relies on:
//
//   - Recording never allocates and never takes a write lock once a series
//     exists. Callers on a hot path may keep the *counter, *gauge or
//     *histogram returned by a vector's with(...) ("pre-resolved") and use it
//     directly.
//   - Every recording method is safe on a nil receiver and then does nothing;
//     a nil vector's with(...) returns nil.
//   - Label sets are bounded: a label built with an allow-list folds unknown
//     values into "other", and every vector stops growing at promMaxSeries
//     series, after which new label combinations fold into one series whose
//     values are all "other".
//   - Families are written sorted by name (as the Prometheus Go client does),
//     so a reader finds a family where expected whatever the order of
//     registration; series within a family are sorted by label values.

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
)

// The type names of the exposition format's "# TYPE" line.
const (
	promTypeCounter   = "counter"
	promTypeGauge     = "gauge"
	promTypeHistogram = "histogram"
	promTypeSummary   = "summary"
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
	r.add(name, help, promTypeCounter, promValueSamples(cv.vec, name, (*counter).value))
	return cv
}

// newGaugeVec registers and returns a labelled gauge family.
func (r *promRegistry) newGaugeVec(name, help string, labels ...promLabel) *gaugeVec {
	gv := &gaugeVec{vec: promNewVec[gauge](labels, nil)}
	r.add(name, help, promTypeGauge, promValueSamples(gv.vec, name, (*gauge).value))
	return gv
}

// promValueSamples returns the sample appender of a counter or gauge
// family: a line a series, holding value of the series.
func promValueSamples[T any](v *promVec[T], name string, value func(*T) float64) func([]byte, *promScrape) []byte {
	return func(b []byte, _ *promScrape) []byte {
		v.each(func(pairs string, s *T) {
			b = promAppendSample(b, name, "", pairs, "", value(s))
		})
		return b
	}
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

// promAppendFloat appends v the way Prometheus spells sample values: NaN,
// +Inf and -Inf by name, integers that a float64 holds exactly without an
// exponent, anything else in the shortest form that parses back to v.
func promAppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53: // 2^53: floats are exact integers below it
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// promAppendHelp appends help text escaped for a "# HELP" line: backslash
// and newline.
func promAppendHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// promAppendLabelValue appends a label value escaped for the inside of
// double quotes: backslash, double quote and newline. Invalid UTF-8 is
// replaced by U+FFFD because Prometheus rejects it.
func promAppendLabelValue(b []byte, s string) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// promPair renders one escaped label pair, name="value".
func promPair(name, value string) string {
	b := append([]byte(name), '=', '"')
	b = promAppendLabelValue(b, value)
	return string(append(b, '"'))
}

// promAppendSample appends one sample line: name+suffix, the label pairs
// (series labels, then extra such as le or quantile) and the value.
func promAppendSample(b []byte, name, suffix, pairs, extra string, v float64) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if pairs != "" || extra != "" {
		b = append(b, '{')
		b = append(b, pairs...)
		if pairs != "" && extra != "" {
			b = append(b, ',')
		}
		b = append(b, extra...)
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = promAppendFloat(b, v)
	return append(b, '\n')
}

// appendTo appends the whole exposition. Each family takes at most its own
// read lock, and only while it is appended, so a scrape never blocks
// recording on another family (and never blocks it at all on an existing
// series).
func (r *promRegistry) appendTo(b []byte) []byte {
	var s promScrape
	for _, f := range r.families {
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = promAppendHelp(b, f.help)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.typ...)
		b = append(b, '\n')
		b = f.appendSamples(b, &s)
	}
	return b
}
