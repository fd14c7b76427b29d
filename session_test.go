package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// newTestSessionStore returns a store of max sessions on a fake clock.
func newTestSessionStore(max int, idle time.Duration) (*sessionStore, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	st := newSessionStore(max, idle, nil)
	st.now = clk.now
	return st, clk
}

// mustCreate creates a session for client and ends its initialize request.
func mustCreate(t *testing.T, st *sessionStore, owner []byte, client string) *httpSession {
	t.Helper()
	hs, err := st.create(owner, client)
	if err != nil {
		t.Fatalf("create(%q) = %v", client, err)
	}
	st.release(hs)
	return hs
}

// alive reports whether hs has not been ended.
func alive(hs *httpSession) bool {
	select {
	case <-hs.ended:
		return false
	default:
		return true
	}
}

func TestSessionStoreOwnerAndIdle(t *testing.T) {
	st, clk := newTestSessionStore(8, time.Minute)
	alice, bob := []byte("alice-hash"), []byte("bob-hash")
	a := mustCreate(t, st, alice, "credential:alice")
	if hs, status := st.use(a.id, bob); hs != nil || status != http.StatusForbidden {
		t.Errorf("use with another credential = %v, %d; want 403", hs, status)
	}
	busy, _ := st.use(a.id, alice)
	b := mustCreate(t, st, alice, "credential:alice")
	st.release(mustUse(t, st, b.id, alice))
	clk.advance(2 * time.Minute)
	if hs, status := st.use(b.id, alice); hs != nil || status != http.StatusNotFound {
		t.Errorf("idle session = %v, %d; want 404", hs, status)
	}
	st.sweep()
	if !alive(a) {
		t.Error("a busy session expired")
	}
	st.release(busy)
	if alive(b) {
		t.Error("the expired session's done channel is open")
	}
}

// mustUse uses a session and fails the test when it cannot.
func mustUse(t *testing.T, st *sessionStore, id string, cred []byte) *httpSession {
	t.Helper()
	hs, status := st.use(id, cred)
	if hs == nil {
		t.Fatalf("use(%s) = %d", id, status)
	}
	return hs
}

// TestSessionStoreCannotBeStarved is issue 14's second finding: a flood of
// initialize calls filled TASKMAN_MAX_SESSIONS and every newcomer got 503
// for the idle timeout. Now a flooding client only recycles its own share,
// and a newcomer takes the place of an idle session.
func TestSessionStoreCannotBeStarved(t *testing.T) {
	st, _ := newTestSessionStore(8, time.Hour)
	var flood []*httpSession
	for range 1000 {
		flood = append(flood, mustCreate(t, st, nil, "address:10.0.0.66"))
	}
	live := 0
	for _, hs := range flood {
		if alive(hs) {
			live++
		}
	}
	if live != 2 {
		t.Errorf("after a flood of 1,000 sessions %d of them are open, want the client's share of 2", live)
	}
	var others []*httpSession
	for i := range 6 {
		others = append(others, mustCreate(t, st, nil, fmt.Sprintf("address:10.0.0.%d", i)))
	}
	for _, hs := range others {
		st.release(mustUse(t, st, hs.id, nil))
	}
	// At the cap: the newcomer takes the place of the flood's sessions
	// (never past initialize) before any session in use.
	mustCreate(t, st, nil, "address:10.0.0.99")
	mustCreate(t, st, nil, "address:10.0.0.98")
	for i, hs := range others {
		if !alive(hs) {
			t.Errorf("session %d, in use, was evicted while sessions never used were open", i)
		}
	}
}

func TestSessionStoreRefusesOnlyWhenAllBusy(t *testing.T) {
	st, _ := newTestSessionStore(4, time.Hour)
	for i := range 4 {
		if _, err := st.create(nil, fmt.Sprintf("address:%d", i)); err != nil { // kept busy
			t.Fatal(err)
		}
	}
	if _, err := st.create(nil, "address:new"); !errors.Is(err, errTooManySessions) {
		t.Fatalf("create with every session busy = %v, want errTooManySessions", err)
	}
}

func TestSessionStoreLeastRecentlyUsedFirst(t *testing.T) {
	st, clk := newTestSessionStore(4, time.Hour)
	var s []*httpSession
	for i := range 4 {
		hs := mustCreate(t, st, nil, fmt.Sprintf("address:%d", i))
		st.release(mustUse(t, st, hs.id, nil))
		s = append(s, hs)
		clk.advance(time.Second)
	}
	st.release(mustUse(t, st, s[0].id, nil)) // s[1] is now the least recently used
	mustCreate(t, st, nil, "address:new")
	for i, want := range []bool{true, false, true, true} {
		if alive(s[i]) != want {
			t.Errorf("session %d alive = %v, want %v", i, alive(s[i]), want)
		}
	}
}

func TestSessionStorePendingExpireSoon(t *testing.T) {
	st, clk := newTestSessionStore(8, time.Hour)
	pending := mustCreate(t, st, nil, "address:a")
	used := mustCreate(t, st, nil, "address:b")
	st.release(mustUse(t, st, used.id, nil))
	clk.advance(sessionPendingTimeout + time.Second)
	st.sweep()
	if alive(pending) {
		t.Error("a session that never got past initialize survived sessionPendingTimeout")
	}
	if !alive(used) {
		t.Error("a session in use expired after sessionPendingTimeout, before the idle timeout")
	}
}

// TestHTTPSessionFloodLetsNewcomersIn drives finding 2 over HTTP: more
// initialize calls than TASKMAN_MAX_SESSIONS, then one more client.
func TestHTTPSessionFloodLetsNewcomersIn(t *testing.T) {
	s := startHTTP(t, map[string]string{"TASKMAN_MAX_SESSIONS": "8"})
	for range 40 {
		s.initSession(t, nil)
	}
	s.initSession(t, nil) // fails the test on 503
}

// TestHTTPGetStreamDoesNotKeepSessionAlive checks that an open GET stream
// does not stop the session's idle clock: once idle past the timeout the
// session is gone and its stream ends.
func TestHTTPGetStreamDoesNotKeepSessionAlive(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := startHTTP(t, map[string]string{"TASKMAN_SESSION_IDLE_TIMEOUT_MS": fmt.Sprint(idle.Milliseconds())})
	sid := s.initSession(t, nil)
	if resp, body := s.post(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, map[string]string{"Mcp-Session-Id": sid}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized = %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, s.base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /mcp = %v, %v", resp, err)
	}
	defer resp.Body.Close()
	time.Sleep(2 * idle)
	if resp, body := s.post(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, map[string]string{"Mcp-Session-Id": sid}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ping after %s idle with a GET stream open = %d %s, want 404", 2*idle, resp.StatusCode, body)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(resp.Body).ReadString(0)
		ended <- err
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the GET stream of an expired session is still open")
	}
}
