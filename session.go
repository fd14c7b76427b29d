package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	inflight map[string]*inflight // requests being served, by canonical id (nil before the first); guarded by mu
	// ended is closed when an HTTP session ends (nil under stdio), so that
	// what is kept for the session (its subscriptions) can be let go.
	ended chan struct{}
}

// inflight is a request being served.
type inflight struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool // the client cancelled it: send no response
}

// newSession returns a session with no version negotiated yet.
func newSession(id string) *session {
	return &session{id: id}
}

// negotiated returns the session's protocol version, "" before initialize.
func (s *session) negotiated() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// canonicalID returns the key of a request id: its JSON text, which the
// parser hands over as the member's value without surrounding space, so
// the same scalar id in a request and in its notifications/cancelled has
// the same key (a json.Compact would change nothing).
func canonicalID(raw json.RawMessage) string {
	return string(raw)
}

// track registers a request as in flight and returns its context.
func (s *session) track(ctx context.Context, id json.RawMessage) (context.Context, *inflight, func()) {
	ctx, cancel := context.WithCancel(ctx)
	f := &inflight{cancel: cancel}
	key := canonicalID(id)
	s.mu.Lock()
	if s.inflight == nil {
		s.inflight = make(map[string]*inflight)
	}
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
	owner  []byte      // sha256 of the creating credential; nil without auth
	client string      // whose share of the cap it counts against (sessionClient)
	stream atomic.Bool // a GET stream is open

	created  time.Time // when create made it; read-only afterwards
	lastUsed time.Time // last request begun or ended; guarded by sessionStore.mu
	active   int       // requests in progress (not GET streams); guarded by sessionStore.mu
	used     bool      // a request came after initialize; guarded by sessionStore.mu
}

// errTooManySessions is returned when no session can be made room for.
var errTooManySessions = errors.New("too many sessions")

// sessionPendingTimeout is how long a session that has seen nothing but
// its initialize may sit idle: a client sends notifications/initialized
// right after the initialize answer, so thirty seconds covers a slow one,
// while sessions opened and abandoned (a flood of initialize calls) are
// gone long before the idle timeout.
const sessionPendingTimeout = 30 * time.Second

// sessionClientShare is the fraction of TASKMAN_MAX_SESSIONS one client
// (one credential, or without a token one client address) may hold: a
// client past it recycles its own least recently used idle session, so
// one client cannot fill the cap and lock everybody else out, while a
// quarter still leaves hundreds of sessions to a proxy that all clients
// share.
const sessionClientShare = 4

// sessionStore holds the legacy sessions, bounded in count and idle time.
// When the cap (or a client's share of it) is reached, a new session takes
// the place of the least recently used idle one, sessions that never got
// past initialize first, so sessions nobody uses cannot lock clients out;
// only when every session is busy is a newcomer refused.
type sessionStore struct {
	max     int
	share   int // sessions one client may hold
	idle    time.Duration
	pending time.Duration // idle limit of a session that never got past initialize
	metrics *metrics
	now     func() time.Time

	mu       sync.Mutex
	byID     map[string]*httpSession // guarded by mu
	byClient map[string]int          // sessions per client; guarded by mu
}

// newSessionStore returns an empty store.
func newSessionStore(limit int, idle time.Duration, m *metrics) *sessionStore {
	return &sessionStore{
		max: limit, share: max(1, limit/sessionClientShare), idle: idle, pending: min(idle, sessionPendingTimeout),
		metrics: m, now: time.Now, byID: make(map[string]*httpSession), byClient: make(map[string]int),
	}
}

// sessionClient returns whose share of the session cap a request counts
// against: its credential when there is one, else its client address.
func sessionClient(r *http.Request, cred []byte) string {
	if cred != nil {
		return "credential:" + string(cred)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "address:" + host
}

// create starts a session owned by the credential and counted against
// client's share, making room as the type's comment says.
func (st *sessionStore) create(owner []byte, client string) (*httpSession, error) {
	var b [16]byte // 128 random bits
	rand.Read(b[:])
	hs := &httpSession{session: newSession(hex.EncodeToString(b[:])), owner: owner, client: client}
	hs.ended = make(chan struct{})
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byClient[client] >= st.share {
		if !st.evictLocked(func(o *httpSession) bool { return o.client == client }) {
			return nil, fmt.Errorf("%w: this client's %d sessions (a 1/%d share of TASKMAN_MAX_SESSIONS) are all busy; close unused sessions or try again later", errTooManySessions, st.share, sessionClientShare)
		}
	}
	if len(st.byID) >= st.max {
		st.sweepLocked()
	}
	if len(st.byID) >= st.max && !st.evictLocked(func(*httpSession) bool { return true }) {
		return nil, fmt.Errorf("%w: all %d sessions (TASKMAN_MAX_SESSIONS) are busy; try again later", errTooManySessions, st.max)
	}
	hs.created = st.now()
	hs.lastUsed = hs.created
	hs.active = 1
	st.byID[hs.id] = hs
	st.byClient[client]++
	st.gaugeLocked()
	return hs, nil
}

// evictLocked ends the idle session among those match accepts that best
// deserves it: one that never got past initialize, else the least
// recently used. It reports false when every such session is busy.
func (st *sessionStore) evictLocked(match func(*httpSession) bool) bool {
	var victim *httpSession
	for _, hs := range st.byID {
		if hs.active > 0 || !match(hs) {
			continue
		}
		if victim == nil || (!hs.used && victim.used) ||
			(hs.used == victim.used && hs.lastUsed.Before(victim.lastUsed)) {
			victim = hs
		}
	}
	if victim == nil {
		return false
	}
	st.removeLocked(victim.id)
	return true
}

// expiredLocked reports whether hs has been idle past its limit.
func (st *sessionStore) expiredLocked(hs *httpSession, now time.Time) bool {
	limit := st.idle
	if !hs.used {
		limit = st.pending
	}
	return hs.active == 0 && now.Sub(hs.lastUsed) > limit
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
	if st.expiredLocked(hs, st.now()) {
		st.removeLocked(id)
		return nil, http.StatusNotFound
	}
	if hs.owner != nil && subtle.ConstantTimeCompare(hs.owner, cred) != 1 {
		return nil, http.StatusForbidden
	}
	hs.active++
	hs.used = true
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
	if st.byClient[hs.client]--; st.byClient[hs.client] <= 0 {
		delete(st.byClient, hs.client)
	}
	hs.cancelAll()
	close(hs.ended)
	st.metrics.observeMCPSession("http", hs.negotiated(), st.now().Sub(hs.created))
	st.gaugeLocked()
}

// gaugeLocked publishes the number of sessions.
func (st *sessionStore) gaugeLocked() {
	if st.metrics != nil {
		st.metrics.sessionsActive.set(float64(len(st.byID)))
	}
}

// sweepLocked ends every session idle past its limit.
func (st *sessionStore) sweepLocked() {
	now := st.now()
	for id, hs := range st.byID {
		if st.expiredLocked(hs, now) {
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
