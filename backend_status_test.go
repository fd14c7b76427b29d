package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackendStatusShared checks that readiness and the activate_* tools
// read one backend probe: a check made for either is reused by the other
// while it is younger than backendProbeTTL, the tools report its age,
// and an expired result is replaced by a new check whose failure both
// report.
func TestBackendStatusShared(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	var calls atomic.Int64
	var mu sync.Mutex // guards checkErr
	var checkErr error
	probe := newBackendProbe(func(context.Context) error {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return checkErr
	}, clock.now)
	s := newTestServer(t)
	s.status.(*backendStatus).probe = probe
	h := newHealth(healthOptions{Probe: probe, Now: clock.now})
	h.markStarted()
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	activate := func() map[string]any {
		t.Helper()
		res := call(t, s, sess, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"activate_task_tools","arguments":{}}}`)
		return structured(t, "activate_task_tools", get(res, "result").(map[string]any))
	}

	if c := h.ready(context.Background()).Checks[healthNameBackend]; c.Status != healthPass {
		t.Fatalf("readiness backend check = %+v, want pass", c)
	}
	clock.advance(2 * time.Second)
	res := activate()
	want(t, "activated", res["activated"], true)
	want(t, "ageMs", get(res, "serverStatus", "ageMs"), 2000)
	if n := calls.Load(); n != 1 {
		t.Errorf("backend checks after readiness and a tool within the TTL = %d, want 1", n)
	}

	mu.Lock()
	checkErr = errors.New("connection refused")
	mu.Unlock()
	clock.advance(backendProbeTTL)
	res = activate()
	want(t, "activated after expiry", res["activated"], false)
	want(t, "ageMs of a new check", get(res, "serverStatus", "ageMs"), 0)
	if msg, _ := get(res, "serverStatus", "message").(string); !strings.Contains(msg, "connection refused") {
		t.Errorf("message = %q, want the check's error", msg)
	}
	if c := h.ready(context.Background()).Checks[healthNameBackend]; c.Status != healthFail || !strings.Contains(c.Output, "connection refused") {
		t.Errorf("readiness backend check after the tool's check = %+v, want its fail", c)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("backend checks after the TTL = %d, want 2", n)
	}
}

// TestBackendStatusWaiterGivesUp checks that a caller whose context ends
// while another caller's check runs gets ctx's error, not a backend
// failure, and the check's result still reaches the cache.
func TestBackendStatusWaiterGivesUp(t *testing.T) {
	release := make(chan struct{})
	probe := newBackendProbe(func(context.Context) error { <-release; return nil }, nil)
	leader := make(chan probeResult)
	go func() {
		r, _ := probe.result(context.Background())
		leader <- r
	}()
	// Wait (bounded) for the leader's check to start.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		probe.mu.Lock()
		running := probe.flight != nil
		probe.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the leader's check did not start within 10s")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := probe.result(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("result(cancelled ctx) while a check runs: err = %v, want context.Canceled", err)
	}
	close(release)
	if r := <-leader; r.err != nil {
		t.Errorf("leader's result = %v, want nil", r.err)
	}
	if r, err := probe.result(context.Background()); err != nil || r.err != nil {
		t.Errorf("cached result = %v, %v, want a pass", r.err, err)
	}
}
