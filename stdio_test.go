package main

import (
	"fmt"
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
			c := startStdio(t, slowEnv(b, "GRACEFUL_SHUTDOWN_TIMEOUT_MS", "500"))
			// read sends a task_read with id and returns where its answer arrives.
			read := func(id int) chan map[string]any {
				ch := c.expect(fmt.Sprint(id))
				c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-%d"}}}`, id, id))
				return ch
			}
			c.initialize(version20251125)

			var waiting []chan map[string]any // the calls that take a worker or a queue slot
			id := 1
			for ; id <= maxStdioInFlight; id++ {
				waiting = append(waiting, read(id))
			}
			b.waitArrivals(t, maxStdioInFlight) // every worker is now stuck
			for range stdioQueueLen {
				waiting = append(waiting, read(id))
				id++
			}
			const excess = 5
			for i := range excess {
				m := c.wait(read(id), fmt.Sprintf("refusal %d", i))
				id++
				code := get(m, "error", "code")
				if code != float64(codeOverloaded) || !strings.Contains(fmt.Sprint(get(m, "error", "message")), "server busy") {
					t.Fatalf("answer with every worker busy and the queue full = %v, want error %d (server busy)", m, codeOverloaded)
				}
			}
			for i, ch := range waiting {
				select {
				case m, ok := <-ch:
					t.Errorf("request %d answered %v (stdout open: %v), want no answer while it waits", i+1, m, ok)
				default:
				}
			}

			if m := c.raw(`"ping-1"`, `{"jsonrpc":"2.0","id":"ping-1","method":"ping"}`); m["result"] == nil {
				t.Fatalf("answer to ping with every worker busy = %v, want its empty result", m)
			}
			c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"test"}}`)
			deadline := time.Now().Add(stdioGuard)
			for b.cancelled.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the cancelled request's backend call was not cancelled")
				}
				time.Sleep(10 * time.Millisecond)
			}

			if end == "EOF" {
				c.in.Close()
			} else {
				c.signal()
			}
			if err := c.exited(); err != nil {
				t.Errorf("run after %s with requests in flight = %v, want nil", end, err)
			}
		})
	}
}

// TestStdioRefusesComplexJSON checks that a line nested past jsonMaxDepth
// is refused before it is decoded, and that the server keeps serving.
func TestStdioRefusesComplexJSON(t *testing.T) {
	c := startStdio(t, nil)
	deep := strings.Repeat("[", jsonMaxDepth+1) + strings.Repeat("]", jsonMaxDepth+1)
	c.send(deep)
	m := c.wait(c.orphans, "deep line")
	if get(m, "error", "code") != float64(codeInvalidRequest) || !strings.Contains(fmt.Sprint(get(m, "error", "message")), "JSON too complex") {
		t.Errorf("answer to a line %d levels deep = %v, want -32600 JSON too complex", jsonMaxDepth+1, m)
	}
	if m := c.raw(`"after"`, `{"jsonrpc":"2.0","id":"after","method":"ping"}`); m["result"] == nil {
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
		// readLoop routes the answers (failing the test on a line that is
		// not JSON) and wait bounds each by stdioGuard.
		c := newStdioClient(t, inW, &syncBuffer{}, nil)
		go c.readLoop(outR)
		initialized, listed := c.expect("1"), c.expect("2")
		// One write: the three lines arrive in the same burst.
		c.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n" +
			`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n" +
			`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		c.wait(initialized, fmt.Sprintf("run %d: initialize", i))
		if a := c.wait(listed, fmt.Sprintf("run %d: tools/list", i)); a["error"] != nil || a["result"] == nil {
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
