package main

// The bare-proxy baseline: what the server's HTTP tool-call path costs
// against the least any server could do for the same call, measured in one
// run so the ratio does not depend on the machine's mood.

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"testing"
)

// baselineRounds is how many alternating proxy/taskman rounds
// BenchmarkBareProxyBaseline runs; the median of the per-round ratios is
// reported, so one noisy round cannot move it.
const baselineRounds = 5

// newBareProxy returns a loopback server that answers every POST by doing
// only the backend GET of taskURL and copying its body: no JSON-RPC, no
// sessions, no metrics. It is the floor a tools/call task_read could cost
// over HTTP against the same backend.
func newBareProxy(tb testing.TB, taskURL string) *httptest.Server {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	tb.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		resp, err := client.Get(taskURL)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// BenchmarkBareProxyBaseline drives the server (tools/call task_read over
// loopback HTTP, tracing off) and a bare proxy with the same load code, 16
// clients, both reading the same task from one embedded backend served over
// loopback HTTP, in alternating rounds of b.N calls each. It reports the
// medians of the per-round ratios taskman/proxy for throughput
// (throughput-ratio, higher is better) and CPU per call (cpu-ratio, lower
// is better), and allocations per call of each (the whole process: load
// generator and backend included, the same work on both sides). Each round
// then drives the server tracing off, at sample ratio 1.0 and at 0.1 in
// short alternating chunks (tracedBaseline) and reports the medians against
// tracing off as tracing-1.0-ratio, tracing-0.1-ratio and their cpu
// ratios. Its ns/op covers every round of all of them and means nothing on
// its own.
func BenchmarkBareProxyBaseline(b *testing.B) {
	b.StopTimer()
	emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	backend := httptest.NewServer(emb)
	defer backend.Close()

	env := map[string]string{"TASK_MANAGER_API_ENDPOINT": backend.URL, "TASKMAN_BACKEND_DIALECT": "legacy", "TRACING_ENABLED": "false"}
	s := startHTTP(b, env)
	id, body := benchTask(b, s)
	proxy := newBareProxy(b, backend.URL+"/tasks/"+id)
	traced := startTracedBaseline(b, s, env)

	const clients = 16
	var rate, cpu []float64
	var allocs, proxyAllocs float64
	for range baselineRounds {
		p := driveHTTPLoad(b, proxy.URL+"/mcp", body, clients, b.N)
		t := driveHTTPLoad(b, s.base+"/mcp", body, clients, b.N)
		if p.calls == 0 || t.calls == 0 {
			return // driveHTTPLoad has failed b
		}
		rate = append(rate, t.rate()/p.rate())
		if t.cpu > 0 && p.cpu > 0 {
			cpu = append(cpu, t.cpuPerCall()/p.cpuPerCall())
		}
		allocs += float64(t.mallocs) / float64(t.calls) / baselineRounds
		proxyAllocs += float64(p.mallocs) / float64(p.calls) / baselineRounds
		if !traced.round(b, body, clients, b.N) {
			return
		}
	}
	traced.report(b)
	b.ReportMetric(median(rate), "throughput-ratio")
	if len(cpu) > 0 {
		b.ReportMetric(median(cpu), "cpu-ratio")
	}
	b.ReportMetric(allocs, "allocs/call")
	b.ReportMetric(proxyAllocs, "proxy-allocs/call")
	b.Logf("per-round throughput ratios %s, CPU ratios %s", formatRatios(rate), formatRatios(cpu))
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// formatRatios formats xs to three decimals for a log line.
func formatRatios(xs []float64) string {
	out := make([]byte, 0, 8*len(xs))
	for i, x := range xs {
		if i > 0 {
			out = append(out, ' ')
		}
		out = strconv.AppendFloat(out, x, 'f', 3, 64)
	}
	return string(out)
}
