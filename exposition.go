package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

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

// errMetricsDisabled is returned by writeTo when METRICS_ENABLED=false.
var errMetricsDisabled = errors.New("metrics are disabled")

// writeTo writes the exposition to w. The families are first rendered into
// a pooled buffer, so no metric lock is held while w (a slow client) is
// written.
func (m *metrics) writeTo(w io.Writer) error {
	if m == nil || m.reg == nil {
		return errMetricsDisabled
	}
	bp := m.render()
	defer m.release(bp)
	if _, err := w.Write(*bp); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
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
