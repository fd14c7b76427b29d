package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stdioGuard bounds every wait of the stdio tests: it only trips on a hang.
const stdioGuard = 20 * time.Second

// hangingBackend is a Task Manager API whose every call blocks until the
// caller gives up; it reports each arrival and counts the calls whose
// context was cancelled.
type hangingBackend struct {
	url       string
	arrived   chan struct{}
	cancelled atomic.Int64
}

func newHangingBackend(t *testing.T) *hangingBackend {
	b := &hangingBackend{arrived: make(chan struct{}, 1000)}
	quit := make(chan struct{}) // ends the calls still hanging when the test ends
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			b.cancelled.Add(1)
		case <-quit:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(quit) }) // runs first
	b.url = srv.URL + "/api/v1"
	return b
}

// waitArrivals waits until n more calls reached the backend.
func (b *hangingBackend) waitArrivals(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-b.arrived:
		case <-time.After(stdioGuard):
			t.Fatalf("only %d of %d backend calls arrived", i, n)
		}
	}
}

// stdioPipes runs the server over stdio with env and returns its stdin,
// its answers by id, the cancel func of its context (the signal) and the
// channel run's result arrives on.
func stdioPipes(t *testing.T, env map[string]string) (io.WriteCloser, <-chan map[string]any, context.CancelFunc, <-chan error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stderr := &syncBuffer{}
	go func() {
		err := run(ctx, []string{"taskman-mcp"}, testEnv(env), inR, outW, stderr)
		outW.Close()
		done <- err
	}()
	answers := make(chan map[string]any, 1000)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				answers <- m
			}
		}
		close(answers)
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		if t.Failed() {
			t.Logf("server stderr:\n%s", stderr.String())
		}
	})
	return inW, answers, cancel, done
}

// nextAnswer returns the next answer with an id, skipping notifications.
func nextAnswer(t *testing.T, answers <-chan map[string]any, what string) map[string]any {
	t.Helper()
	timeout := time.After(stdioGuard)
	for {
		select {
		case m, ok := <-answers:
			if !ok {
				t.Fatalf("%s: stdout ended", what)
			}
			if _, hasID := m["id"]; hasID {
				return m
			}
		case <-timeout:
			t.Fatalf("%s: no answer", what)
		}
	}
}

// TestStdioAlwaysListens is issue 14's fourth finding: with every worker
// busy on a slow backend the reader used to stop, so pings, cancellations,
// EOF and signals went unread. Now the reader keeps reading: excess work is
// refused with a JSON-RPC error, a ping is answered, a cancellation reaches
// the backend call, and EOF or the signal ends the server within the
// shutdown deadline.
func TestStdioAlwaysListens(t *testing.T) {
	for _, end := range []string{"EOF", "signal"} {
		t.Run(end, func(t *testing.T) {
			b := newHangingBackend(t)
			in, answers, signal, done := stdioPipes(t, map[string]string{
				"TASK_MANAGER_API_ENDPOINT": b.url, "TASKMAN_BACKEND_DIALECT": "legacy", "BACKEND_MAX_RETRIES": "0", "BACKEND_TIMEOUT_MS": "600000",
				"CIRCUIT_BREAKER_ENABLED": "false", "FALLBACK_CACHE_ENABLED": "false", "GRACEFUL_SHUTDOWN_TIMEOUT_MS": "500",
			})
			send := func(msg string) {
				t.Helper()
				written := make(chan error, 1)
				go func() { _, err := io.WriteString(in, msg+"\n"); written <- err }()
				select {
				case err := <-written:
					if err != nil {
						t.Fatalf("write %s: %v", msg, err)
					}
				case <-time.After(stdioGuard):
					t.Fatalf("the server stopped reading stdin; unread: %s", msg)
				}
			}
			read := func(id int) string {
				return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-%d"}}}`, id, id)
			}
			send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
			nextAnswer(t, answers, "initialize")
			send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

			id := 1
			for ; id <= maxStdioInFlight; id++ {
				send(read(id))
			}
			b.waitArrivals(t, maxStdioInFlight) // every worker is now stuck
			for range stdioQueueLen {
				send(read(id))
				id++
			}
			const excess = 5
			for range excess {
				send(read(id))
				id++
			}
			for i := range excess {
				m := nextAnswer(t, answers, fmt.Sprintf("refusal %d", i))
				code := get(m, "error", "code")
				if code != float64(codeOverloaded) || !strings.Contains(fmt.Sprint(get(m, "error", "message")), "server busy") {
					t.Fatalf("answer with every worker busy and the queue full = %v, want error %d (server busy)", m, codeOverloaded)
				}
				if got := m["id"]; got.(float64) <= float64(maxStdioInFlight+stdioQueueLen) {
					t.Errorf("refused request %v, want only the ones past the queue", got)
				}
			}

			send(`{"jsonrpc":"2.0","id":"ping-1","method":"ping"}`)
			if m := nextAnswer(t, answers, "ping with every worker busy"); m["id"] != "ping-1" || m["result"] == nil {
				t.Fatalf("answer to ping = %v, want its empty result", m)
			}
			send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"test"}}`)
			deadline := time.Now().Add(stdioGuard)
			for b.cancelled.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the cancelled request's backend call was not cancelled")
				}
				time.Sleep(10 * time.Millisecond)
			}

			if end == "EOF" {
				in.Close()
			} else {
				signal()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run after %s = %v, want nil", end, err)
				}
			case <-time.After(stdioGuard):
				t.Fatalf("server still running %s after %s with requests in flight", stdioGuard, end)
			}
		})
	}
}

// TestStdioRefusesComplexJSON checks that a line nested past jsonMaxDepth
// is refused before it is decoded, and that the server keeps serving.
func TestStdioRefusesComplexJSON(t *testing.T) {
	in, answers, _, _ := stdioPipes(t, nil)
	deep := strings.Repeat("[", jsonMaxDepth+1) + strings.Repeat("]", jsonMaxDepth+1)
	io.WriteString(in, deep+"\n")
	m := nextAnswer(t, answers, "deep line")
	if get(m, "error", "code") != float64(codeInvalidRequest) || !strings.Contains(fmt.Sprint(get(m, "error", "message")), "JSON too complex") {
		t.Errorf("answer to a line %d levels deep = %v, want -32600 JSON too complex", jsonMaxDepth+1, m)
	}
	io.WriteString(in, `{"jsonrpc":"2.0","id":"after","method":"ping"}`+"\n")
	if m := nextAnswer(t, answers, "ping"); m["id"] != "after" || m["result"] == nil {
		t.Errorf("ping after the deep line = %v, want its result", m)
	}
}

// TestStdioInitializeBeforeNextRequest checks that a request written right
// behind initialize, in the same write, is served after initialize is done:
// the reading loop handles initialize itself, so the next request cannot
// race it to a worker and be told the session is not initialized.
func TestStdioInitializeBeforeNextRequest(t *testing.T) {
	for i := range 20 {
		inW, outR, done := pipeStdio(newTestServer(t))
		go io.WriteString(inW, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`+"\n"+
			`{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"+
			`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`+"\n")
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 16<<20)
		answers := map[string]map[string]any{}
		for len(answers) < 2 && sc.Scan() {
			var a map[string]any
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatalf("run %d: answer %q: %v", i, sc.Bytes(), err)
			}
			answers[fmt.Sprint(a["id"])] = a
		}
		if a := answers["2"]; a == nil || a["error"] != nil || a["result"] == nil {
			t.Fatalf("run %d: tools/list right after initialize = %v, want a result", i, a)
		}
		inW.Close()
		select {
		case <-done:
		case <-time.After(stdioGuard):
			t.Fatal("serveStdio did not stop at EOF")
		}
	}
}
