// Backend status: the one source of what the server knows about its
// backend's health, read by readiness and /health (health.go) and by the
// activate_* tools (tools.go). One probe (probeBackend) runs at most once
// per backendProbeTTL however many probers and tool calls ask, each
// bounded by backendProbeTimeout, so a status is never older than
// backendProbeTTL (docs/observability.md "Health", docs/tools.md).

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	// backendProbeTTL is how long a backend check result is reused, by
	// readiness and the activate_* tools alike (backendProbe). Each
	// kubelet probe, load balancer and dashboard polls on its own schedule
	// (kubelet's default period is 10 s); caching for 5 s caps the load on
	// the backend at one GET /health per 5 s per replica however many
	// probers and tool calls there are, while a state change still shows
	// within one default probe period, and an assistant checking the
	// connection is told about the backend of 5 s ago at worst. Failures
	// are cached too: a struggling backend is the one that must not be
	// hammered.
	backendProbeTTL = 5 * time.Second

	// backendProbeTimeout bounds one backend check (probeBackend), of
	// readiness and of the activate_* tools alike. It is
	// healthBackendFail: waiting longer could only confirm a fail. Probes
	// that wait for a check should have timeoutSeconds above it (kubelet's
	// default of 1 s turns a slow backend into a probe timeout, which
	// Kubernetes also counts as a failure, so the outcome is the same).
	backendProbeTimeout = healthBackendFail
)

// errProbePanicked is the result of a probe whose check panicked.
var errProbePanicked = errors.New("backend check panicked")

// probeBackend is the one probe of the backend's status: the dialect's
// health endpoint through the normal client (breaker, retries, metrics,
// spans). backendProbe runs it, bounded by backendProbeTimeout.
func probeBackend(ctx context.Context, b *backendClient) error {
	_, err := b.do(ctx, request{op: opHealth})
	return err
}

// backendProbe runs a backend check and shares its result: a result
// younger than backendProbeTTL is reused, and callers arriving while a
// check runs wait for it instead of starting their own. Failures are
// reused too: a struggling backend is the one that must not be hammered.
// Its methods are safe for concurrent use.
type backendProbe struct {
	check func(ctx context.Context) error // nil error: the backend is reachable
	now   func() time.Time

	mu     sync.Mutex   // guards last and flight
	last   *probeResult // the last completed check, nil before the first
	flight *probeFlight // the check running now, nil if none
}

// probeResult is one completed backend check.
type probeResult struct {
	err     error         // nil: the backend answered
	elapsed time.Duration // how long the check took
	at      time.Time     // when it completed, by the probe's clock
}

// probeFlight is one running check that concurrent callers share.
type probeFlight struct {
	done    chan struct{} // closed when result is set
	result  probeResult   // written before done is closed, read after
	waiters int           // callers that joined the leader (guarded by backendProbe.mu); tests read it
}

// newBackendProbe returns a probe running check, timed by now (nil:
// time.Now).
func newBackendProbe(check func(ctx context.Context) error, now func() time.Time) *backendProbe {
	if now == nil {
		now = time.Now
	}
	return &backendProbe{check: check, now: now}
}

// result returns the last check's result when it is younger than
// backendProbeTTL, else runs a check (or joins the one running). The
// error is not the backend's: it says ctx ended while waiting for another
// caller's check.
func (p *backendProbe) result(ctx context.Context) (probeResult, error) {
	p.mu.Lock()
	if p.last != nil && p.now().Sub(p.last.at) < backendProbeTTL {
		r := *p.last
		p.mu.Unlock()
		return r, nil
	}
	if f := p.flight; f != nil {
		f.waiters++
		p.mu.Unlock()
		select {
		case <-f.done:
			return f.result, nil
		case <-ctx.Done():
			return probeResult{}, fmt.Errorf("gave up waiting for the backend check: %w", ctx.Err())
		}
	}
	f := &probeFlight{done: make(chan struct{})}
	p.flight = f
	p.mu.Unlock()
	p.run(ctx, f)
	return f.result, nil
}

// run runs the check of flight f and publishes its result to the cache
// and to f's waiters. The check is detached from ctx's cancellation (the
// waiters depend on it, not only this caller) but keeps its values (the
// request id, the span), and has its own timeout; so the caller that
// runs it waits for it, at most backendProbeTimeout. If the check
// panics, the waiters still get a failure and the panic goes on to the
// caller (the HTTP server logs it; tools/call answers -32603).
func (p *backendProbe) run(ctx context.Context, f *probeFlight) {
	f.result = probeResult{err: errProbePanicked, at: p.now()}
	defer func() {
		p.mu.Lock()
		p.last = &f.result
		p.flight = nil
		p.mu.Unlock()
		close(f.done)
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backendProbeTimeout)
	defer cancel()
	begin := p.now()
	err := p.check(ctx)
	end := p.now()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("check timed out after %s: %w", backendProbeTimeout, err)
	}
	f.result = probeResult{err: err, elapsed: end.Sub(begin), at: end}
}

// backendStatus is what the server reports about its backend: the shared
// probe's result, the backend's mode and dialect, the circuit breakers
// and the fallback cache. Readiness reads its probe and circuits, the
// activate_* tools its serverStatus.
type backendStatus struct {
	probe    *backendProbe
	backend  *backendClient
	breakers *breakers // nil when circuit breakers are off
}

// newBackendStatus returns the status of b, probed with probeBackend on
// the real clock; br may be nil (breakers off).
func newBackendStatus(b *backendClient, br *breakers) *backendStatus {
	check := func(ctx context.Context) error { return probeBackend(ctx, b) }
	return &backendStatus{probe: newBackendProbe(check, nil), backend: b, breakers: br}
}

// serverStatus is the serverStatus object of the activate_* answers
// (docs/tools.md): the shared probe's result with its age, and the
// breakers and cache as they are now. The error is ctx's, when it ended
// while waiting for a check another caller runs.
func (st *backendStatus) serverStatus(ctx context.Context) (map[string]any, error) {
	r, err := st.probe.result(ctx)
	if err != nil {
		return nil, err
	}
	latency := r.elapsed.Milliseconds()
	status := map[string]any{
		"serverOnline": r.err == nil,
		"apiEndpoint":  st.backend.mode,
		"backendMode":  st.mode(),
		"dialect":      st.backend.dialectName(),
		"latencyMs":    latency,
		"ageMs":        max(st.probe.now().Sub(r.at), 0).Milliseconds(),
	}
	if r.err != nil {
		status["message"] = "the Task Manager backend is not answering: " + r.err.Error()
	} else {
		status["message"] = fmt.Sprintf("connected to the %s in %d ms", st.mode(), latency)
	}
	var open []any
	for _, snap := range st.breakers.snapshots() {
		if snap.State != breakerClosed {
			open = append(open, fmt.Sprintf("%s (%s since %s)", snap.Name, snap.State, snap.Since.UTC().Format(time.RFC3339)))
		}
	}
	status["circuitBreakers"] = map[string]any{"enabled": st.breakers != nil, "open": open}
	if open != nil {
		status["message"] = fmt.Sprintf("%s; %d circuit(s) open: writes to those endpoints fail fast and reads may be served stale", status["message"], len(open))
	}
	if c := st.backend.cache; c != nil {
		cs := c.stats()
		status["fallbackCache"] = map[string]any{"enabled": true, "size": cs.Size, "hits": cs.Hits, "misses": cs.Misses, "evictions": cs.Evictions}
	} else {
		status["fallbackCache"] = map[string]any{"enabled": false}
	}
	return status, nil
}

// circuits reports how many circuit breakers are open (or half-open) and
// how many there are, for readiness.
func (st *backendStatus) circuits() (open, total int) {
	for _, snap := range st.breakers.snapshots() {
		total++
		if snap.State != breakerClosed {
			open++
		}
	}
	return open, total
}

// mode describes the backend for reports.
func (st *backendStatus) mode() string {
	if st.backend.mode == "embedded" {
		return "embedded backend"
	}
	return "remote backend at " + st.backend.mode
}
