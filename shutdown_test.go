package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

func TestShutdownClockOneDeadline(t *testing.T) {
	const timeout = 10 * time.Second
	began := 0
	c := &shutdownClock{timeout: timeout, onBegin: func() { began++ }}
	before := time.Now()
	dctx, cancel := c.drain()
	defer cancel()
	fctx, cancel2 := c.final()
	defer cancel2()
	c.begin()
	drain, _ := dctx.Deadline()
	final, _ := fctx.Deadline()
	if began != 1 {
		t.Errorf("onBegin called %d times, want once", began)
	}
	if final.Before(before.Add(timeout)) || final.After(time.Now().Add(timeout)) {
		t.Errorf("final deadline %v, want the start of the shutdown + %v", final, timeout)
	}
	if got := final.Sub(drain); got != shutdownCutReserve(timeout) {
		t.Errorf("drain deadline is %v before the final one, want %v", got, shutdownCutReserve(timeout))
	}
	// Asked again later, the deadlines do not move: the span flush at the
	// end of run gets what is left, not a second timeout.
	fctx2, cancel3 := c.final()
	defer cancel3()
	if again, _ := fctx2.Deadline(); !again.Equal(final) {
		t.Errorf("final deadline asked again = %v, want %v", again, final)
	}
}

// postAsync sends an MCP POST of body with headers on s with ctx, from a
// goroutine of its own, and returns the channel its status and body ("200
// OK {…}") or its error ("error: …") arrive on.
func postAsync(ctx context.Context, s *httpServer, headers map[string]string, body string) <-chan string {
	got := make(chan string, 1)
	go func() {
		req := newMCPPost(ctx, s.base, body, headers)
		resp, err := postClient.Do(req)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- resp.Status + " " + string(b)
	}()
	return got
}

// slowEnv is the environment of a server on the hanging backend b.
func slowEnv(b *hangingBackend, extra ...string) map[string]string {
	env := map[string]string{
		"TASK_MANAGER_API_ENDPOINT": b.url, "TASKMAN_BACKEND_DIALECT": "legacy", "BACKEND_MAX_RETRIES": "0", "BACKEND_TIMEOUT_MS": "600000",
		"CIRCUIT_BREAKER_ENABLED": "false", "FALLBACK_CACHE_ENABLED": "false", "GRACEFUL_SHUTDOWN_TIMEOUT_MS": "1000",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

var readCall = modern(1, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-1"}}, nil)
var readHeaders = modernCallHeaders("task_read")

// TestHTTPShutdownCutAnswersAreErrors is part of issue 14's sixth finding:
// a request still running at the drain deadline got a closed connection.
// It now gets a complete answer saying it was cancelled.
func TestHTTPShutdownCutAnswersAreErrors(t *testing.T) {
	b := newHangingBackend(t)
	s := startHTTP(t, slowEnv(b))
	got := postAsync(context.Background(), s, readHeaders, readCall)
	b.waitArrivals(t, 1)
	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var answer string
	select {
	case answer = <-got:
	case <-time.After(stdioGuard):
		t.Fatal("no answer after the shutdown")
	}
	status, body, _ := strings.Cut(answer, " ")
	if status != "200" {
		t.Fatalf("request cut by the shutdown deadline = %s, want a 200 answer", answer)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(body, "OK ")), &r); err != nil || get(r, "result", "isError") != true ||
		!strings.Contains(mustJSON(get(r, "result", "content")), "cancelled") {
		t.Errorf("answer = %s, want a tool error saying the call was cancelled", body)
	}
}

// TestHTTPGoneClientCancelsWork is part of issue 14's seventh finding: a
// legacy request whose client had gone kept running and calling the
// backend for nobody.
func TestHTTPGoneClientCancelsWork(t *testing.T) {
	b := newHangingBackend(t)
	s := startHTTP(t, slowEnv(b))
	sid := s.initSession(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	got := postAsync(ctx, s, map[string]string{"Mcp-Session-Id": sid},
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-1"}}}`)
	b.waitArrivals(t, 1)
	cancel() // the client goes away
	<-got
	deadline := time.Now().Add(stdioGuard)
	for b.cancelled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the backend call of a request whose client went away was not cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancellationIsNotAnError is the rest of issue 14's seventh finding:
// client cancellations were counted as backend and tool errors and logged
// at warn.
func TestCancellationIsNotAnError(t *testing.T) {
	b := newHangingBackend(t)
	s := startHTTP(t, slowEnv(b, "LOG_LEVEL", "info"))
	sid := s.initSession(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	got := postAsync(ctx, s, map[string]string{"Mcp-Session-Id": sid},
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-1"}}}`)
	b.waitArrivals(t, 1)
	cancel()
	<-got
	deadline := time.Now().Add(stdioGuard)
	var metrics string
	for !strings.Contains(metrics, `taskman_mcp_tool_executions_total{tool_name="task_read",status="cancelled"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("no cancelled task_read in /metrics:\n%s", grepLines([]byte(metrics), "task_read"))
		}
		time.Sleep(10 * time.Millisecond)
		_, body := getBody(t, s.base+"/metrics")
		metrics = string(body)
	}
	if strings.Contains(metrics, `taskman_mcp_tool_executions_total{tool_name="task_read",status="error"} 1`) {
		t.Errorf("a cancellation counted as a tool error:\n%s", grepLines([]byte(metrics), "task_read"))
	}
	if !strings.Contains(metrics, `taskman_errors_total{kind="backend"} 0`) {
		t.Errorf("a cancellation counted in taskman_errors_total:\n%s", grepLines([]byte(metrics), "errors_total"))
	}
	if logs := s.stderr.String(); strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("a cancellation was logged at warn:\n%s", grepLines([]byte(logs), "WARN"))
	}
}
