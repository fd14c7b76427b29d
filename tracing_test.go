package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiverMaxBody bounds a request body the test receiver reads, after
// decompression: far above a 512-span batch, small enough to fail fast on a
// runaway body.
const otlpReceiverMaxBody = 16 << 20

// otlpSpan is one span as an OTLP/HTTP collector received it, flattened for
// assertions. Ids are lower-case hex ("" for no parent); attribute values
// are formatted with fmt.
type otlpSpan struct {
	Name         string
	Kind         string // the proto enum name, e.g. SPAN_KIND_SERVER
	TraceID      string
	SpanID       string
	ParentSpanID string
	Scope        string            // instrumentation scope name
	Attributes   map[string]string // span attributes
	Resource     map[string]string // resource attributes of the batch
}

// otlpReceiver is an in-process OTLP/HTTP trace collector on 127.0.0.1. It
// accepts protobuf bodies (gzip or not) on any path, answers 200 with an
// empty ExportTraceServiceResponse, and records every request's path and
// headers and every span. Shutting the exporter down before reading makes
// the reads complete: the exporter's flush waits for the 200.
type otlpReceiver struct {
	tb  testing.TB
	srv *httptest.Server

	mu      sync.Mutex    // guards the fields below
	spanLog []otlpSpan    // every span received, in arrival order
	pathLog []string      // every request's URL path, in arrival order
	hdrLog  []http.Header // every request's headers, in arrival order
}

// otlpStartReceiver starts an otlpReceiver that is closed when tb ends.
func otlpStartReceiver(tb testing.TB) *otlpReceiver {
	tb.Helper()
	r := &otlpReceiver{tb: tb}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	tb.Cleanup(r.srv.Close)
	return r
}

// url returns the receiver's base URL, http://127.0.0.1:port with no path.
func (r *otlpReceiver) url() string { return r.srv.URL }

// spans returns a copy of the spans received so far.
func (r *otlpReceiver) spans() []otlpSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otlpSpan(nil), r.spanLog...)
}

// paths returns the URL path of every request received so far.
func (r *otlpReceiver) paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.pathLog...)
}

// headers returns the headers of every request received so far.
func (r *otlpReceiver) headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.hdrLog...)
}

// span returns the one received span called name, failing the test when
// there is none or more than one.
func (r *otlpReceiver) span(name string) otlpSpan {
	r.tb.Helper()
	var found []otlpSpan
	for _, s := range r.spans() {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		r.tb.Fatalf("received %d spans named %q, want 1 (all: %v)", len(found), name, r.spans())
	}
	return found[0]
}

// serveHTTP decodes one export request.
func (r *otlpReceiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			r.tb.Errorf("otlp receiver: gzip header: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	}
	raw, err := io.ReadAll(io.LimitReader(body, otlpReceiverMaxBody))
	if err != nil {
		r.tb.Errorf("otlp receiver: read body: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var export collectortracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &export); err != nil {
		r.tb.Errorf("otlp receiver: decode %d bytes: %v", len(raw), err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	var got []otlpSpan
	for _, rs := range export.GetResourceSpans() {
		res := otlpAttrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, otlpSpan{
					Name:         s.GetName(),
					Kind:         s.GetKind().String(),
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Scope:        ss.GetScope().GetName(),
					Attributes:   otlpAttrMap(s.GetAttributes()),
					Resource:     res,
				})
			}
		}
	}
	r.mu.Lock()
	r.spanLog = append(r.spanLog, got...)
	r.pathLog = append(r.pathLog, req.URL.Path)
	r.hdrLog = append(r.hdrLog, req.Header.Clone())
	r.mu.Unlock()

	resp, err := proto.Marshal(&collectortracepb.ExportTraceServiceResponse{})
	if err != nil {
		r.tb.Errorf("otlp receiver: encode response: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// otlpAttrMap flattens OTLP attributes to strings.
func otlpAttrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(v.GetIntValue())
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = fmt.Sprint(v.GetBoolValue())
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = fmt.Sprint(v.GetDoubleValue())
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// tracingLogBuffer collects log output from several goroutines.
type tracingLogBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p.
func (b *tracingLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns every JSON log line written so far, decoded.
func (b *tracingLogBuffer) lines(tb testing.TB) []map[string]any {
	tb.Helper()
	b.mu.Lock()
	text := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			tb.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// withMsg returns the decoded log lines whose msg is msg.
func (b *tracingLogBuffer) withMsg(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, l := range b.lines(tb) {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// tracingTestLogger returns a debug-level JSON logger writing to a buffer.
func tracingTestLogger() (*slog.Logger, *tracingLogBuffer) {
	buf := &tracingLogBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// tracingTestConfig returns tracing switched on towards endpoint, sampling
// every trace.
func tracingTestConfig(endpoint string) otelConfig {
	return otelConfig{
		Enabled:     true,
		Endpoint:    endpoint,
		ServiceName: "taskman-mcp",
		SampleRate:  1,
	}
}

// tracingStart builds tracing from cfg and shuts it down when tb ends (a
// no-op if the test already did).
func tracingStart(tb testing.TB, cfg otelConfig) (*tracing, *tracingLogBuffer) {
	tb.Helper()
	logger, buf := tracingTestLogger()
	tr, err := newTracing(context.Background(), cfg, "1.2.3", logger)
	if err != nil {
		tb.Fatalf("newTracing: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.shutdown(ctx)
	})
	return tr, buf
}

// tracingFlush shuts tr down, so that every ended span has reached the
// collector, failing the test on error.
func tracingFlush(tb testing.TB, tr *tracing) {
	tb.Helper()
	// 10 s: far more than a flush to a loopback receiver takes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.shutdown(ctx); err != nil {
		tb.Fatalf("shutdown: %v", err)
	}
}

func TestTracingExportsSpans(t *testing.T) {
	rcv := otlpStartReceiver(t)
	cfg := tracingTestConfig(rcv.url())
	cfg.ServiceName = "taskman-test"
	cfg.Headers = map[string]secret{"X-Api-Key": "s3cret"}
	cfg.ResourceAttributes = map[string]string{
		"deployment.environment.name": "test",
		"service.name":                "loses-to-OTEL_SERVICE_NAME",
	}
	tr, _ := tracingStart(t, cfg)

	ctx, server := tr.tracer().Start(context.Background(), "POST /mcp",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", "POST")))
	_, child := tr.tracer().Start(ctx, "tools/call task_read")
	child.End()
	server.End()
	tracingFlush(t, tr)
	if err := tr.shutdown(context.Background()); err != nil {
		t.Errorf("second shutdown() = %v, want nil", err)
	}

	parent := rcv.span("POST /mcp")
	kid := rcv.span("tools/call task_read")
	if parent.ParentSpanID != "" {
		t.Errorf("server span parent = %q, want none", parent.ParentSpanID)
	}
	if kid.ParentSpanID != parent.SpanID || kid.TraceID != parent.TraceID {
		t.Errorf("child trace/parent = %s/%s, want %s/%s", kid.TraceID, kid.ParentSpanID, parent.TraceID, parent.SpanID)
	}
	if parent.Kind != "SPAN_KIND_SERVER" {
		t.Errorf("server span kind = %s, want SPAN_KIND_SERVER", parent.Kind)
	}
	if got := parent.Attributes["http.request.method"]; got != "POST" {
		t.Errorf("http.request.method = %q, want POST", got)
	}
	if parent.Scope != tracingScope {
		t.Errorf("scope = %q, want %q", parent.Scope, tracingScope)
	}
	for k, want := range map[string]string{
		"service.name":                "taskman-test",
		"service.version":             "1.2.3",
		"deployment.environment.name": "test",
	} {
		if got := parent.Resource[k]; got != want {
			t.Errorf("resource[%q] = %q, want %q", k, got, want)
		}
	}
	hdrs := rcv.headers()
	if len(hdrs) == 0 {
		t.Fatal("no export request received")
	}
	for _, h := range hdrs {
		if got := h.Get("X-Api-Key"); got != "s3cret" {
			t.Errorf("X-Api-Key header = %q, want s3cret", got)
		}
		if got := h.Get("Content-Encoding"); got != "" {
			t.Errorf("Content-Encoding = %q, want none (the OTLP default)", got)
		}
	}
}

func TestTracingExtract(t *testing.T) {
	const (
		traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentID = "00f067aa0ba902b7"
		tp       = "00-" + traceID + "-" + parentID + "-01"
	)
	rcv := otlpStartReceiver(t)
	tr, _ := tracingStart(t, tracingTestConfig(rcv.url()))

	tests := []struct {
		name       string
		extract    func(context.Context) context.Context
		wantParent bool
	}{
		{"http traceparent", func(ctx context.Context) context.Context {
			return tr.extractHTTP(ctx, http.Header{"Traceparent": {tp}})
		}, true},
		{"meta traceparent", func(ctx context.Context) context.Context {
			return tr.extractMeta(ctx, map[string]any{"traceparent": tp, "progressToken": 7})
		}, true},
		{"meta traceparent not a string", func(ctx context.Context) context.Context {
			return tr.extractMeta(ctx, map[string]any{"traceparent": 42})
		}, false},
		{"http malformed traceparent", func(ctx context.Context) context.Context {
			return tr.extractHTTP(ctx, http.Header{"Traceparent": {"00-zz-" + parentID + "-01"}})
		}, false},
		{"no meta", func(ctx context.Context) context.Context {
			return tr.extractMeta(ctx, nil)
		}, false},
	}
	for _, tt := range tests {
		ctx := tt.extract(context.Background())
		_, span := tr.tracer().Start(ctx, tt.name, trace.WithSpanKind(trace.SpanKindServer))
		span.End()
	}
	tracingFlush(t, tr)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rcv.span(tt.name)
			if tt.wantParent {
				if got.TraceID != traceID || got.ParentSpanID != parentID {
					t.Errorf("trace/parent = %s/%s, want %s/%s", got.TraceID, got.ParentSpanID, traceID, parentID)
				}
				return
			}
			if got.TraceID == traceID || got.ParentSpanID != "" {
				t.Errorf("trace/parent = %s/%s, want a new root", got.TraceID, got.ParentSpanID)
			}
		})
	}
}

// TestTracingExtractsEitherHeader: a request carrying only baggage, or
// only a traceparent, still has it read (extractHTTP skips the propagators
// only when both headers are missing).
func TestTracingExtractsEitherHeader(t *testing.T) {
	tr, _ := tracingStart(t, tracingTestConfig("http://127.0.0.1:1"))
	ctx := tr.extractHTTP(context.Background(), http.Header{"Baggage": {"tenant=acme"}})
	if got := baggage.FromContext(ctx).Member("tenant").Value(); got != "acme" {
		t.Errorf("baggage alone: tenant = %q, want acme", got)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx = tr.extractHTTP(context.Background(), http.Header{"Traceparent": {tp}})
	if got := trace.SpanContextFromContext(ctx).TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("traceparent alone: trace id = %q", got)
	}
}

func TestTracingPropagationOnAndOff(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in := http.Header{"Traceparent": {tp}, "Baggage": {"tenant=acme"}}
	tests := []struct {
		name string
		tr   *tracing
		want bool // whether context crosses from in to out
	}{
		{"on", func() *tracing { tr, _ := tracingStart(t, tracingTestConfig("http://127.0.0.1:1")); return tr }(), true},
		{"off", func() *tracing { tr, _ := tracingStart(t, otelConfig{}); return tr }(), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.tr.extractHTTP(context.Background(), in)
			if got := baggage.FromContext(ctx).Member("tenant").Value(); (got == "acme") != tt.want {
				t.Errorf("baggage tenant = %q, want propagated %v", got, tt.want)
			}
			ctx, span := tt.tr.tracer().Start(ctx, "GET")
			defer span.End()
			out := http.Header{}
			tt.tr.injectHTTP(ctx, out)
			got := out.Get("Traceparent")
			if !tt.want {
				if got != "" {
					t.Errorf("injected traceparent = %q, want none", got)
				}
				return
			}
			sc := span.SpanContext()
			if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; got != want {
				t.Errorf("injected traceparent = %q, want %q", got, want)
			}
			if !strings.Contains(got, "4bf92f3577b34da6a3ce929d0e0e4736") {
				t.Errorf("injected traceparent = %q, want the incoming trace id", got)
			}
		})
	}
}

func TestTracingSampling(t *testing.T) {
	tests := []struct {
		name      string
		sampler   string
		arg       string
		rate      float64
		wantSpans int
	}{
		{"default ratio 1", "", "", 1, 1},
		{"default ratio 0", "", "", 0, 0},
		{"always_off", "always_off", "", 1, 0},
		{"always_on beats rate 0", "always_on", "", 0, 1},
		{"traceidratio arg 1 beats rate 0", "traceidratio", "1", 0, 1},
		{"parentbased_traceidratio arg 0", "parentbased_traceidratio", "0", 1, 0},
		{"invalid arg falls back to rate 0", "parentbased_traceidratio", "lots", 0, 0},
		{"out of range arg falls back to rate 1", "traceidratio", "1.5", 1, 1},
		{"parentbased_always_off", "parentbased_always_off", "", 1, 0},
		{"parentbased_always_on", "parentbased_always_on", "", 0, 1},
		{"unknown sampler uses rate 1", "xray", "", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := otlpStartReceiver(t)
			cfg := tracingTestConfig(rcv.url())
			cfg.Sampler, cfg.SamplerArg, cfg.SampleRate = tt.sampler, tt.arg, tt.rate
			tr, _ := tracingStart(t, cfg)
			_, span := tr.tracer().Start(context.Background(), "root")
			span.End()
			tracingFlush(t, tr)
			if got := len(rcv.spans()); got != tt.wantSpans {
				t.Errorf("sampler %q arg %q rate %v: exported %d spans, want %d", tt.sampler, tt.arg, tt.rate, got, tt.wantSpans)
			}
		})
	}
}

// TestTracingUnsampledChildren checks what tracing.start relies on to skip
// the SDK under an unsampled parent: for every sampler on offer, the child
// the SDK would start of a local unsampled span is unsampled as well; that
// start then hands back the parent and its context unchanged; and a
// sampled remote parent over it (a traceparent in params._meta) still gets
// a recording span.
func TestTracingUnsampledChildren(t *testing.T) {
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	for _, tt := range []struct{ sampler, arg string }{
		{"", ""}, // parent-based ratio, the default
		{"traceidratio", "0.5"},
		{"parentbased_traceidratio", "0.5"},
		{"parentbased_always_off", ""},
		{"always_off", ""},
	} {
		t.Run("sampler="+tt.sampler, func(t *testing.T) {
			cfg := tracingTestConfig("http://127.0.0.1:1")
			cfg.Sampler, cfg.SamplerArg, cfg.SampleRate = tt.sampler, tt.arg, 0.5
			tr, _ := tracingStart(t, cfg)
			unsampled := 0
			for range 64 { // at ratio 0.5, all 64 sampled has odds of 2^-64
				ctx, root := tr.start(context.Background(), "POST /mcp", spanKindServer...)
				defer root.End()
				if root.SpanContext().IsSampled() {
					continue
				}
				unsampled++
				_, sdkChild := tr.tracer().Start(ctx, "tools/call", spanKindInternal...)
				if sdkChild.SpanContext().IsSampled() || sdkChild.IsRecording() {
					t.Fatalf("the SDK sampled a child of an unsampled local span")
				}
				childCtx, child := tr.start(ctx, "tools/call", spanKindInternal...)
				if childCtx != ctx || !child.SpanContext().Equal(root.SpanContext()) {
					t.Fatalf("start under an unsampled parent made span %s, want the parent %s", child.SpanContext().SpanID(), root.SpanContext().SpanID())
				}
				if cfg.Sampler != "" {
					continue // only the parent-based default samples a remote parent by its flag
				}
				_, fromMeta := tr.start(trace.ContextWithRemoteSpanContext(ctx, remote), "tools/call", spanKindServer...)
				if !fromMeta.IsRecording() || fromMeta.SpanContext().TraceID() != remote.TraceID() {
					t.Fatalf("start under a sampled remote parent: recording=%v trace %v, want a recording span in trace %v",
						fromMeta.IsRecording(), fromMeta.SpanContext().TraceID(), remote.TraceID())
				}
				fromMeta.End()
			}
			if unsampled == 0 {
				t.Fatal("no root span went unsampled; the test checked nothing")
			}
		})
	}
}

func TestTracingOff(t *testing.T) {
	rcv := otlpStartReceiver(t)
	cfg := tracingTestConfig(rcv.url())
	cfg.Enabled = false
	tr, _ := tracingStart(t, cfg)
	for _, tc := range []struct {
		name string
		tr   *tracing
	}{{"disabled", tr}, {"nil", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, span := tc.tr.tracer().Start(context.Background(), "POST /mcp")
			span.End()
			if span.SpanContext().IsValid() || span.IsRecording() {
				t.Errorf("span valid=%v recording=%v, want a no-op span", span.SpanContext().IsValid(), span.IsRecording())
			}
			if _, _, ok := traceIDs(ctx); ok {
				t.Error("traceIDs(no-op span) ok = true, want false")
			}
			if err := tc.tr.shutdown(context.Background()); err != nil {
				t.Errorf("shutdown() = %v, want nil", err)
			}
		})
	}
	if got := rcv.paths(); len(got) != 0 {
		t.Errorf("receiver got requests %v, want none", got)
	}
}

func TestOTLPTracesURL(t *testing.T) {
	tests := []struct {
		name, endpoint, traces, want string
	}{
		{"old default used as is", "http://localhost:4318/v1/traces", "", "http://localhost:4318/v1/traces"},
		{"base URL", "http://collector:4318", "", "http://collector:4318/v1/traces"},
		{"base URL trailing slash", "http://collector:4318/", "", "http://collector:4318/v1/traces"},
		{"base URL with path", "https://gw.example/otlp", "", "https://gw.example/otlp/v1/traces"},
		{"signal URL trailing slash", "http://c:4318/v1/traces/", "", "http://c:4318/v1/traces"},
		{"traces endpoint wins as is", "http://c:4318", "https://t.example/custom", "https://t.example/custom"},
		{"traces endpoint without path", "http://c:4318", "http://t:4318", "http://t:4318"},
		{"nothing set", "", "", tracingDefaultEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := otlpTracesURL(otelConfig{Endpoint: tt.endpoint, TracesEndpoint: tt.traces})
			if got != tt.want {
				t.Errorf("otlpTracesURL(%q, %q) = %q, want %q", tt.endpoint, tt.traces, got, tt.want)
			}
		})
	}
}

func TestTracingEndpointPath(t *testing.T) {
	tests := []struct {
		name           string
		endpoint       string // appended to the receiver's base URL; "-" for unset
		tracesEndpoint string // likewise
		wantPath       string
	}{
		{"base URL", "", "-", "/v1/traces"},
		{"base URL trailing slash", "/", "-", "/v1/traces"},
		{"base URL with path", "/otlp", "-", "/otlp/v1/traces"},
		{"URL ending in /v1/traces", "/v1/traces", "-", "/v1/traces"},
		{"traces endpoint wins", "/ignored", "/custom/spans", "/custom/spans"},
		{"traces endpoint without path", "/ignored", "", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := otlpStartReceiver(t)
			cfg := tracingTestConfig(rcv.url() + tt.endpoint)
			if tt.tracesEndpoint != "-" {
				cfg.TracesEndpoint = rcv.url() + tt.tracesEndpoint
			}
			tr, _ := tracingStart(t, cfg)
			_, span := tr.tracer().Start(context.Background(), "root")
			span.End()
			tracingFlush(t, tr)
			if got := rcv.paths(); len(got) != 1 || got[0] != tt.wantPath {
				t.Errorf("endpoint %q traces endpoint %q: paths %v, want [%s]", cfg.Endpoint, cfg.TracesEndpoint, got, tt.wantPath)
			}
		})
	}
}

// TestTracingLogHidesURLUser checks that the "tracing on" line names the
// collector without the user part of its URL, which often holds a token.
func TestTracingLogHidesURLUser(t *testing.T) {
	rcv := otlpStartReceiver(t)
	u := strings.Replace(rcv.url(), "://", "://hunter2@", 1)
	_, logs := tracingStart(t, tracingTestConfig(u))
	started := logs.withMsg(t, "tracing on")
	if len(started) != 1 {
		t.Fatalf("%d start lines in the logs, want 1: %v", len(started), logs.lines(t))
	}
	if ep, _ := started[0]["endpoint"].(string); ep == "" || strings.Contains(ep, "hunter2") {
		t.Errorf("start line endpoint = %q, want the URL without its user part", ep)
	}
}

func TestNewTracingErrors(t *testing.T) {
	logger, _ := tracingTestLogger()
	tests := []struct {
		name     string
		endpoint string
		logger   *slog.Logger
	}{
		{"nil logger", "http://127.0.0.1:4318", nil},
		{"not a URL", "http://[::1", logger},
		{"wrong scheme", "ftp://127.0.0.1/v1/traces", logger},
		{"no host", "http://user:hunter2@/v1/traces", logger},
		{"wrong scheme, token as user", "ftp://hunter2@127.0.0.1/v1/traces", logger},
		{"no scheme", "127.0.0.1:4318", logger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := newTracing(context.Background(), otelConfig{Enabled: true, TracesEndpoint: tt.endpoint}, "v", tt.logger)
			if err == nil {
				_ = tr.shutdown(context.Background())
				t.Fatalf("newTracing(%q) error = nil, want one", tt.endpoint)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("newTracing(%q) error %q reveals the password", tt.endpoint, err)
			}
		})
	}
}

// tracingHangingCollector returns the URL of a collector that accepts
// requests and never answers until tb ends.
func tracingHangingCollector(tb testing.TB) string {
	tb.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	}))
	tb.Cleanup(func() { close(stop); srv.Close() })
	return srv.URL
}

// tracingClosedPort returns the URL of a 127.0.0.1 port nothing listens on.
func tracingClosedPort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close listener: %v", err)
	}
	return "http://" + addr
}

func TestTracingCollectorDown(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(testing.TB) string
		// okErr reports whether shutdown's error is acceptable.
		okErr func(error) bool
	}{
		// A refused connection fails fast or is retried, so shutdown
		// either finishes (the failure is logged, not returned) or meets
		// the deadline.
		{"closed port", tracingClosedPort, func(err error) bool {
			return err == nil || errors.Is(err, context.DeadlineExceeded)
		}},
		// A collector that never answers holds the export past the 2 s
		// deadline, which shutdown must honour.
		{"never answers", tracingHangingCollector, func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, logs := tracingStart(t, tracingTestConfig(tt.endpoint(t)))
			// 200 spans: a few batches' worth, well under the queue size,
			// so every one is queued rather than dropped.
			for i := range 200 {
				_, span := tr.tracer().Start(context.Background(), "work", trace.WithAttributes(attribute.Int("i", i)))
				span.End()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := tr.shutdown(ctx)
			if !tt.okErr(err) {
				t.Fatalf("shutdown() = %v, want nil or the context deadline", err)
			}
			t.Logf("shutdown() = %v", err)
			if err == nil && len(logs.withMsg(t, "otlp trace export failed, spans dropped")) != 1 {
				t.Errorf("export failure lines = %v, want 1", logs.lines(t))
			}
		})
	}
}

func TestTraceIDs(t *testing.T) {
	rcv := otlpStartReceiver(t)
	tr, _ := tracingStart(t, tracingTestConfig(rcv.url()))
	ctx, span := tr.tracer().Start(context.Background(), "sampled")
	traceID, spanID, ok := traceIDs(ctx)
	span.End()
	if _, _, ok := traceIDs(ctx); ok {
		t.Error("traceIDs(ended span) ok = true, want false")
	}
	if _, _, ok := traceIDs(context.Background()); ok {
		t.Error("traceIDs(no span) ok = true, want false")
	}
	tracingFlush(t, tr)

	got := rcv.span("sampled")
	if !ok || traceID != got.TraceID || spanID != got.SpanID {
		t.Errorf("traceIDs() = %q, %q, %v, want %q, %q, true", traceID, spanID, ok, got.TraceID, got.SpanID)
	}

	unsampled := tracingTestConfig(rcv.url())
	unsampled.SampleRate = 0
	tr0, _ := tracingStart(t, unsampled)
	ctx, span = tr0.tracer().Start(context.Background(), "unsampled")
	defer span.End()
	if _, _, ok := traceIDs(ctx); ok {
		t.Error("traceIDs(unsampled span) ok = true, want false")
	}
}

// tracingFailingExporter is a SpanExporter whose exports all fail.
type tracingFailingExporter struct{}

// ExportSpans fails.
func (tracingFailingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector unreachable")
}

// Shutdown succeeds.
func (tracingFailingExporter) Shutdown(context.Context) error { return nil }

func TestTracingExporterRateLimit(t *testing.T) {
	logger, logs := tracingTestLogger()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	e := &tracingExporter{next: tracingFailingExporter{}, logger: logger, debug: true, now: func() time.Time { return now }}

	// Failures at these offsets: logged, two counted, logged with the count
	// of two, one counted and reported at shutdown.
	for _, at := range []time.Duration{0, time.Second, 29 * time.Second, 30 * time.Second, 31 * time.Second} {
		now = start.Add(at)
		if err := e.ExportSpans(context.Background(), make([]sdktrace.ReadOnlySpan, 3)); err != nil {
			t.Fatalf("ExportSpans() = %v, want nil (failures are logged, not returned)", err)
		}
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}

	warns := logs.withMsg(t, "otlp trace export failed, spans dropped")
	if len(warns) != 2 {
		t.Fatalf("failure lines = %d, want 2: %v", len(warns), warns)
	}
	for i, want := range []float64{0, 2} {
		if got := warns[i]["suppressed_errors"]; got != want {
			t.Errorf("line %d suppressed_errors = %v, want %v", i, got, want)
		}
		if got := warns[i]["level"]; got != "WARN" {
			t.Errorf("line %d level = %v, want WARN", i, got)
		}
	}
	final := logs.withMsg(t, "otlp trace export failures not logged before shutdown")
	if len(final) != 1 || final[0]["suppressed_errors"] != float64(1) {
		t.Errorf("shutdown lines = %v, want one with suppressed_errors 1", final)
	}
	debug := logs.withMsg(t, "otlp export")
	if len(debug) != 5 || debug[0]["spans"] != float64(3) {
		t.Errorf("debug lines = %v, want 5 with spans 3", debug)
	}
}

// tracingHexID matches a W3C trace id (32 hex digits) or span id (16).
var tracingHexID = regexp.MustCompile(`^[0-9a-f]{32}$|^[0-9a-f]{16}$`)

// FuzzTracingExtractMeta feeds untrusted _meta and header values to the
// propagator: it must not panic, the HTTP and _meta paths must agree, and
// an accepted parent has well-formed ids.
func FuzzTracingExtractMeta(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE", "tenant=acme")
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", "")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b,c=d", "k=v;p=1,bad")
	f.Add("", "", strings.Repeat("k=v,", 300))
	tr, _ := tracingStart(f, tracingTestConfig("http://127.0.0.1:1"))
	f.Fuzz(func(t *testing.T, traceparent, tracestate, bag string) {
		fromMeta := tr.extractMeta(context.Background(), map[string]any{
			"traceparent": traceparent, "tracestate": tracestate, "baggage": bag,
		})
		h := http.Header{}
		h.Set("Traceparent", traceparent)
		h.Set("Tracestate", tracestate)
		h.Set("Baggage", bag)
		fromHTTP := tr.extractHTTP(context.Background(), h)

		sc := trace.SpanContextFromContext(fromMeta)
		if !sc.Equal(trace.SpanContextFromContext(fromHTTP)) {
			t.Fatalf("extractMeta and extractHTTP disagree on traceparent %q", traceparent)
		}
		if !sc.IsValid() {
			return
		}
		if !sc.IsRemote() || !tracingHexID.MatchString(sc.TraceID().String()) || !tracingHexID.MatchString(sc.SpanID().String()) {
			t.Fatalf("traceparent %q gave span context %v", traceparent, sc)
		}
		if !strings.Contains(strings.ToLower(traceparent), sc.TraceID().String()) {
			t.Fatalf("traceparent %q gave trace id %s", traceparent, sc.TraceID())
		}
	})
}

// tracingBenchAttrs are the five attributes each benchmarked span carries,
// like an MCP tool-call span.
var tracingBenchAttrs = []attribute.KeyValue{
	attribute.String("mcp.method.name", "tools/call"),
	attribute.String("gen_ai.tool.name", "task_read"),
	attribute.String("gen_ai.operation.name", "execute_tool"),
	attribute.Int("jsonrpc.request.id", 42),
	attribute.String("request_id", "req-0123456789"),
}

// tracingBenchSpans times a span with five attributes from its start to
// its export: it flushes once per batch, so that every span's share of
// the OTLP conversion, marshalling and request is counted (and the queue
// never fills and drops the rest). It reports the process CPU per span,
// which counts the export goroutine and the receiver too.
func tracingBenchSpans(b *testing.B, tr *tracing) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	n := 0
	for b.Loop() {
		_, span := tr.tracer().Start(ctx, "tools/call task_read", trace.WithAttributes(tracingBenchAttrs...))
		span.End()
		if n++; n%tracingBatchSize == 0 && tr.provider != nil {
			tr.provider.ForceFlush(ctx)
		}
	}
	if tr.provider != nil {
		tr.provider.ForceFlush(ctx)
	}
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkSpanOff(b *testing.B) {
	tr, _ := tracingStart(b, otelConfig{})
	tracingBenchSpans(b, tr)
}

// BenchmarkSpanOn exports to a sink that discards what it gets, as a
// collector in another process costs this one nothing to decode.
func BenchmarkSpanOn(b *testing.B) {
	sink := newLoopbackServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	tr, _ := tracingStart(b, tracingTestConfig(sink))
	tracingBenchSpans(b, tr)
}

// batcherExporter records the size of every batch it is given. While gate
// is open (non-nil and not closed) each export waits for it to close.
type batcherExporter struct {
	mu      sync.Mutex
	batches []int
	gate    chan struct{}
	entered chan struct{} // receives once per export, if non-nil
}

func (e *batcherExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.entered != nil {
		e.entered <- struct{}{}
	}
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches = append(e.batches, len(spans))
	return nil
}

func (e *batcherExporter) Shutdown(context.Context) error { return nil }

// sizes returns the batch sizes exported so far.
func (e *batcherExporter) sizes() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.batches...)
}

// batcherProvider returns a tracer whose spans go to a spanBatcher with the
// given limits and a delay long enough never to fire in a test, so exports
// happen only for a full batch, a flush or shutdown.
func batcherProvider(t *testing.T, e sdktrace.SpanExporter, queue, batch int) (*spanBatcher, trace.Tracer, *tracingLogBuffer) {
	t.Helper()
	logger, logs := tracingTestLogger()
	b := newSpanBatcher(&tracingExporter{next: e, logger: logger, now: time.Now}, queue, batch, time.Hour)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tp.Shutdown(ctx)
	})
	return b, tp.Tracer("test"), logs
}

// endSpans starts and ends n spans, failing the test if that takes more
// than a few seconds: ending a span must never wait on an export.
func endSpans(t *testing.T, tr trace.Tracer, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range n {
			_, span := tr.Start(context.Background(), "work")
			span.End()
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("ending %d spans blocked", n)
	}
}

func TestSpanBatcherExportsFullBatches(t *testing.T) {
	e := &batcherExporter{entered: make(chan struct{}, 10)}
	b, tr, _ := batcherProvider(t, e, 100, 4)
	endSpans(t, tr, 4) // a full batch: exported without waiting for the delay
	select {
	case <-e.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("a full batch was not exported")
	}
	endSpans(t, tr, 3) // part of a batch waits for the delay, a flush or shutdown
	if err := b.ForceFlush(context.Background()); err != nil {
		t.Fatalf("ForceFlush() = %v", err)
	}
	if got := e.sizes(); !slices.Equal(got, []int{4, 3}) {
		t.Errorf("batches = %v, want [4 3]", got)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	endSpans(t, tr, 2) // after shutdown: ignored
	if err := b.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown() = %v, want nil", err)
	}
	if got := e.sizes(); !slices.Equal(got, []int{4, 3}) {
		t.Errorf("batches after shutdown = %v, want [4 3]", got)
	}
}

func TestSpanBatcherDropsWhenFull(t *testing.T) {
	e := &batcherExporter{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	b, tr, logs := batcherProvider(t, e, 10, 4)
	endSpans(t, tr, 4) // the first batch goes out and waits on the gate
	<-e.entered
	endSpans(t, tr, 10+7) // fills the queue; 7 are dropped, none waited for
	close(e.gate)
	// The queue reached a full batch while the exporter waited, so the
	// batcher goes round again at once: 10 spans in batches of 4, and the
	// drop count reported.
	deadline := time.Now().Add(10 * time.Second)
	for sum(e.sizes()) < 14 {
		if time.Now().After(deadline) {
			t.Fatalf("batches = %v, want 14 spans exported", e.sizes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if got := e.sizes(); !slices.Equal(got, []int{4, 4, 4, 2}) {
		t.Errorf("batches = %v, want [4 4 4 2]", got)
	}
	full := logs.withMsg(t, "span queue full, spans dropped")
	if len(full) != 1 || full[0]["spans"] != float64(7) {
		t.Errorf("queue-full lines = %v, want one with spans 7", full)
	}
}

func TestSpanBatcherIgnoresUnsampled(t *testing.T) {
	e := &batcherExporter{}
	logger, _ := tracingTestLogger()
	b := newSpanBatcher(&tracingExporter{next: e, logger: logger, now: time.Now}, 10, 4, time.Hour)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b), sdktrace.WithSampler(sdktrace.NeverSample()))
	endSpans(t, tp.Tracer("test"), 20)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if got := e.sizes(); len(got) != 0 {
		t.Errorf("batches = %v, want none", got)
	}
}

func TestSpanBatcherShutdownDeadline(t *testing.T) {
	e := &batcherExporter{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	defer close(e.gate)
	b, tr, _ := batcherProvider(t, e, 10, 4)
	endSpans(t, tr, 4)
	<-e.entered // an export hangs, as with a collector that never answers
	endSpans(t, tr, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown() = %v, want the context deadline", err)
	}
}

// sum adds up xs.
func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestHeaderCarrier(t *testing.T) {
	h := http.Header{}
	c := headerCarrier(h)
	c.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	c.Set("baggage", "k=v")
	c.Set("x-other", "1")
	for key, want := range map[string]string{
		"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Baggage":     "k=v",
		"X-Other":     "1",
	} {
		if got := h.Get(key); got != want {
			t.Errorf("header %s = %q, want %q", key, got, want)
		}
	}
	if got := c.Get("traceparent"); got != h.Get("Traceparent") {
		t.Errorf("Get(traceparent) = %q", got)
	}
	if got := c.Get("x-other"); got != "1" {
		t.Errorf("Get(x-other) = %q, want 1", got)
	}
	keys := c.Keys()
	slices.Sort(keys)
	if want := []string{"Baggage", "Traceparent", "X-Other"}; !slices.Equal(keys, want) {
		t.Errorf("Keys() = %v, want %v", keys, want)
	}
	// Extracting through the carrier allocates nothing when there is no
	// trace header, as on most requests.
	tr, _ := tracingStart(t, tracingTestConfig("http://127.0.0.1:1"))
	empty := http.Header{"Content-Type": {"application/json"}}
	if n := testing.AllocsPerRun(100, func() { tr.extractHTTP(context.Background(), empty) }); n != 0 {
		t.Errorf("extractHTTP of a request without trace headers: %v allocations, want 0", n)
	}
}

// tracer returns the tracer of t, as start uses it. It is OTel's
// no-op tracer when tracing is off or t is nil.
func (t *tracing) tracer() trace.Tracer {
	if t == nil {
		return noop.Tracer{}
	}
	return t.tr
}
