package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// session is the protocol state of one stdio process or one legacy HTTP
// session.
type session struct {
	id string // "" under stdio

	mu       sync.Mutex
	version  string               // negotiated legacy version; "" before initialize; guarded by mu
	logLevel *slog.Level          // minimum level sent as notifications/message; nil until logging/setLevel; guarded by mu
	inflight map[string]*inflight // requests being served, by canonical id; guarded by mu
	// ended is closed when an HTTP session ends (nil under stdio), so that
	// what is kept for the session (its subscriptions) can be let go.
	ended <-chan struct{}
}

// inflight is a request being served.
type inflight struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool // the client cancelled it: send no response
}

// newSession returns a session with no version negotiated yet.
func newSession(id string) *session {
	return &session{id: id, inflight: make(map[string]*inflight)}
}

// negotiated returns the session's protocol version, "" before initialize.
func (s *session) negotiated() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// canonicalID returns a key for a request id that does not depend on the
// JSON spelling of the same value.
func canonicalID(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// track registers a request as in flight and returns its context.
func (s *session) track(ctx context.Context, id json.RawMessage) (context.Context, *inflight, func()) {
	ctx, cancel := context.WithCancel(ctx)
	f := &inflight{cancel: cancel}
	key := canonicalID(id)
	s.mu.Lock()
	s.inflight[key] = f
	s.mu.Unlock()
	return ctx, f, func() {
		s.mu.Lock()
		if s.inflight[key] == f {
			delete(s.inflight, key)
		}
		s.mu.Unlock()
		cancel()
	}
}

// cancelRequest cancels the in-flight request with id, if any; unknown or
// finished ids are ignored, as the specification allows.
func (s *session) cancelRequest(id json.RawMessage) bool {
	s.mu.Lock()
	f := s.inflight[canonicalID(id)]
	s.mu.Unlock()
	if f == nil {
		return false
	}
	f.cancelled.Store(true)
	f.cancel()
	return true
}

// cancelAll cancels every in-flight request (shutdown past its deadline,
// or a closed session).
func (s *session) cancelAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.inflight {
		f.cancel()
	}
}

// httpSession is a legacy MCP session of the HTTP transport.
type httpSession struct {
	*session
	owner  []byte        // sha256 of the creating credential; nil without auth
	done   chan struct{} // closed when the session ends
	stream atomic.Bool   // a GET stream is open

	created  time.Time // when create made it; read-only afterwards
	lastUsed time.Time // guarded by sessionStore.mu
	active   int       // requests in progress; guarded by sessionStore.mu
}

// errTooManySessions is returned when TASKMAN_MAX_SESSIONS are open.
var errTooManySessions = errors.New("too many sessions")

// sessionStore holds the legacy sessions, bounded in count and idle time.
type sessionStore struct {
	max     int
	idle    time.Duration
	metrics *metrics
	now     func() time.Time

	mu   sync.Mutex
	byID map[string]*httpSession // guarded by mu
}

// newSessionStore returns an empty store.
func newSessionStore(max int, idle time.Duration, m *metrics) *sessionStore {
	return &sessionStore{max: max, idle: idle, metrics: m, now: time.Now, byID: make(map[string]*httpSession)}
}

// create starts a session owned by the credential.
func (st *sessionStore) create(owner []byte) (*httpSession, error) {
	var b [16]byte // 128 random bits
	rand.Read(b[:])
	hs := &httpSession{session: newSession(hex.EncodeToString(b[:])), owner: owner, done: make(chan struct{})}
	hs.session.ended = hs.done
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.byID) >= st.max {
		st.sweepLocked()
	}
	if len(st.byID) >= st.max {
		return nil, fmt.Errorf("%w: all %d sessions (TASKMAN_MAX_SESSIONS) are in use; close unused sessions or try again later", errTooManySessions, st.max)
	}
	hs.created = st.now()
	hs.lastUsed = hs.created
	hs.active = 1
	st.byID[hs.id] = hs
	if st.metrics != nil {
		st.metrics.sessionsActive.set(float64(len(st.byID)))
	}
	return hs, nil
}

// use looks a session up for a request by the given credential and marks
// it busy. It returns the HTTP status to answer with when it cannot be
// used: 404 unknown or expired, 403 another credential's.
func (st *sessionStore) use(id string, cred []byte) (*httpSession, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	hs := st.byID[id]
	if hs == nil {
		return nil, http.StatusNotFound
	}
	if hs.active == 0 && st.now().Sub(hs.lastUsed) > st.idle {
		st.removeLocked(id)
		return nil, http.StatusNotFound
	}
	if hs.owner != nil && subtle.ConstantTimeCompare(hs.owner, cred) != 1 {
		return nil, http.StatusForbidden
	}
	hs.active++
	hs.lastUsed = st.now()
	return hs, 0
}

// release marks a request of the session as finished.
func (st *sessionStore) release(hs *httpSession) {
	st.mu.Lock()
	defer st.mu.Unlock()
	hs.active--
	hs.lastUsed = st.now()
}

// touch records activity on a session.
func (st *sessionStore) touch(hs *httpSession) {
	st.mu.Lock()
	hs.lastUsed = st.now()
	st.mu.Unlock()
}

// remove ends a session: its requests are cancelled and its stream ends.
func (st *sessionStore) remove(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.removeLocked(id)
}

func (st *sessionStore) removeLocked(id string) {
	hs := st.byID[id]
	if hs == nil {
		return
	}
	delete(st.byID, id)
	hs.cancelAll()
	close(hs.done)
	st.metrics.observeMCPSession("http", hs.negotiated(), st.now().Sub(hs.created))
	if st.metrics != nil {
		st.metrics.sessionsActive.set(float64(len(st.byID)))
	}
}

// sweepLocked ends every idle session.
func (st *sessionStore) sweepLocked() {
	now := st.now()
	for id, hs := range st.byID {
		if hs.active == 0 && now.Sub(hs.lastUsed) > st.idle {
			st.removeLocked(id)
		}
	}
}

// sweep ends idle sessions; the transport calls it periodically.
func (st *sessionStore) sweep() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweepLocked()
}

// closeAll ends every session (shutdown).
func (st *sessionStore) closeAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for id := range st.byID {
		st.removeLocked(id)
	}
}
