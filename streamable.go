package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Limits and timeouts of the HTTP transport.
const (
	// readHeaderTimeout bounds how long a client may take to send its
	// headers, so slow-loris connections cannot pile up.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds reading a whole request, body included: a 4 MiB
	// body needs well under a minute even on a slow link.
	readTimeout = 60 * time.Second
	// idleTimeout closes keep-alive connections nobody uses, below the
	// 120 s+ idle timeouts of common load balancers so they never reuse a
	// connection we are closing.
	idleTimeout = 90 * time.Second
	// maxHeaderBytes: MCP needs a handful of short headers; 64 KiB leaves
	// room for large tokens and cookies without Go's 1 MiB default.
	maxHeaderBytes = 64 << 10
	// streamHeartbeat keeps an idle GET stream alive through proxies that
	// cut silent connections after 30-60 s.
	streamHeartbeat = 25 * time.Second
	// streamWriteTimeout bounds one write to an event stream: a client
	// that stops reading is dropped instead of holding a goroutine.
	streamWriteTimeout = 10 * time.Second
	// sessionSweepEvery is how often idle sessions are looked for.
	sessionSweepEvery = 30 * time.Second
)

// Header names (canonical forms; header lookup is case-insensitive).
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerMethod          = "Mcp-Method"
	headerName            = "Mcp-Name"
	headerRequestID       = "X-Request-Id"
)

// httpTransport serves the dispatcher over MCP Streamable HTTP at /mcp,
// next to the health and metrics endpoints.
type httpTransport struct {
	srv       *server
	logger    *slog.Logger
	metrics   *metrics
	health    *health // disabledHealth when HEALTH_CHECK_ENABLED=false
	sessions  *sessionStore
	admission *admission

	allowedHosts []string // nil: any Host
	origins      []string // extra allowed origins
	tokenHash    []byte   // sha256 of the bearer token; nil: no auth
	authMetrics  bool

	// stop is cancelled when the shutdown deadline passes: requests still
	// running then are cancelled.
	stop context.Context
	// streamsDone is closed when shutdown begins: event streams end.
	streamsDone chan struct{}
	closeOnce   sync.Once
}

// newHTTPTransport returns the transport for srv with cfg's security
// settings; h is disabledHealth() when the probe routes are off.
func newHTTPTransport(srv *server, cfg *config, h *health, m *metrics, stop context.Context) *httpTransport {
	t := &httpTransport{
		srv:         srv,
		logger:      srv.logger,
		metrics:     m,
		health:      h,
		sessions:    newSessionStore(cfg.MaxSessions, cfg.SessionIdleTimeout, m),
		admission:   newAdmission(cfg.MaxInFlight, cfg.MaxRequestBytes),
		origins:     cfg.AllowedOrigins,
		authMetrics: cfg.AuthMetrics,
		stop:        stop,
		streamsDone: make(chan struct{}),
	}
	t.allowedHosts = allowedHostsFor(cfg.AllowedHosts, cfg.Host)
	if tok := cfg.AuthToken.reveal(); tok != "" {
		h := sha256.Sum256([]byte(tok))
		t.tokenHash = h[:]
	}
	return t
}

// allowedHostsFor returns the Host allow-list of a listener bound to
// bindHost: the configured list when there is one, else loopback names for
// a loopback bind and nil (any Host) for others, whose clients and probes
// arrive with names the server cannot know.
func allowedHostsFor(configured []string, bindHost string) []string {
	if configured == nil && isLoopbackHost(bindHost) {
		return []string{"localhost", "127.0.0.1", "[::1]", "::1"}
	}
	return configured
}

// isLoopbackHost reports whether a bind address is a loopback one.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// statusRecorder remembers the status and size of an answer, and unwraps
// to the real writer so http.ResponseController can flush through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// observe gives each request its request id (a valid X-Request-ID, else a
// fresh one), echoes it, and writes one access log line and the HTTP
// metrics when the request ends.
func (t *httpTransport) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(headerRequestID)
		if !validRequestID(id) {
			if id != "" {
				t.logger.Info("replacing invalid X-Request-ID", "given_length", len(id))
			}
			id = newRequestID()
		}
		w.Header().Set(headerRequestID, id)
		ctx := withRequestInfo(r.Context(), &requestInfo{id: id})
		route := routeLabel(r.URL.Path)
		// Only MCP traffic is traced: probes and scrapes every few seconds
		// would bury the traces that matter.
		span := trace.SpanFromContext(ctx)
		if route == "/mcp" {
			ctx = t.srv.tracing.extractHTTP(ctx, r.Header)
			ctx, span = t.srv.tracing.start(ctx, httpSpanName(r.Method), spanKindServer...)
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if span.IsRecording() {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			a := newSpanAttrs()
			a.add(
				attribute.String("http.request.method", r.Method),
				attribute.String("http.route", route),
				attribute.String("url.path", r.URL.Path),
				attribute.String("client.address", host),
				attribute.Int("http.response.status_code", rec.status),
			)
			a.setOn(span)
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
		}
		d := time.Since(start)
		t.metrics.observeHTTPRequest(r.Method, route, rec.status, d, rec.bytes)
		// Logged before the span ends, so that the line carries its
		// trace_id and span_id: it is the one line a successful call
		// writes at info.
		t.logger.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes), slog.Int64("duration_ms", d.Milliseconds()))
		span.End()
	})
}

// httpSpanName returns the name of the HTTP server span of a request to
// /mcp, {method} {route}; the methods /mcp serves have constant names.
func httpSpanName(method string) string {
	switch method {
	case http.MethodPost:
		return "POST /mcp"
	case http.MethodGet:
		return "GET /mcp"
	case http.MethodDelete:
		return "DELETE /mcp"
	}
	return method + " /mcp"
}

// guard refuses, before any work, requests whose Host is not allowed or
// whose Origin is neither loopback nor listed (DNS-rebinding protection).
func (t *httpTransport) guard(allowedHosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(allowedHosts, r.Host) {
			writeRPCError(w, http.StatusForbidden, nil, codeInvalidRequest, "Forbidden: Host "+strconv.Quote(r.Host)+" is not allowed (see TASKMAN_ALLOWED_HOSTS)")
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !t.originAllowed(origin) {
			writeRPCError(w, http.StatusForbidden, nil, codeInvalidRequest, "Forbidden: Origin "+strconv.Quote(origin)+" is not allowed (see TASKMAN_ALLOWED_ORIGINS)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed checks a Host header against an allow-list (nil: any): an
// entry with a port must match exactly, one without matches any port.
func hostAllowed(allowedHosts []string, host string) bool {
	if allowedHosts == nil {
		return true
	}
	host = strings.ToLower(host)
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
		if strings.Contains(h, ":") {
			name = "[" + h + "]"
		}
	}
	for _, a := range allowedHosts {
		a = strings.ToLower(a)
		if a == host || a == name || "["+a+"]" == name {
			return true
		}
	}
	return false
}

// originAllowed accepts loopback origins (any port) and listed ones.
func (t *httpTransport) originAllowed(origin string) bool {
	if slices.Contains(t.origins, strings.TrimRight(origin, "/")) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// credential returns the sha256 of the request's bearer token, or nil.
func credential(r *http.Request) []byte {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return h[:]
}

// authorized reports whether r carries the configured bearer token,
// compared in constant time (on hashes, so the length does not leak).
func (t *httpTransport) authorized(r *http.Request) bool {
	if t.tokenHash == nil {
		return true
	}
	c := credential(r)
	return c != nil && subtle.ConstantTimeCompare(c, t.tokenHash) == 1
}

// requireToken answers 401 to requests without the bearer token.
func (t *httpTransport) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="taskman-mcp"`)
			writeRPCError(w, http.StatusUnauthorized, nil, codeInvalidRequest, "Unauthorized: send Authorization: Bearer <TASKMAN_AUTH_TOKEN>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes v as a JSON answer with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeRPCError writes a JSON-RPC error answer with an HTTP status, for
// the transport's own refusals (before any message reaches the
// dispatcher).
func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	writeJSON(w, status, errorResponse(id, code, msg))
}

// handleMCP is the MCP endpoint, reached through the token check and the
// admission (routes).
func (t *httpTransport) handleMCP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		t.handlePost(w, r)
	case http.MethodGet:
		t.handleGet(w, r)
	case http.MethodDelete:
		t.handleDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeRPCError(w, http.StatusMethodNotAllowed, nil, codeInvalidRequest, "Method Not Allowed: use POST, GET or DELETE")
	}
}

// accepts reports whether an Accept header allows the media type.
func accepts(accept, mediaType string) bool {
	major, _, _ := strings.Cut(mediaType, "/")
	for part := range strings.SplitSeq(accept, ",") {
		part = strings.TrimSpace(part)
		var mt string
		if !strings.Contains(part, ";") {
			// The common case, a bare type: compared as ParseMediaType
			// would leave it; only a valid type can equal the ones we want.
			mt = strings.ToLower(part)
		} else {
			var params map[string]string
			var err error
			if mt, params, err = mime.ParseMediaType(part); err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
		}
		if mt == "*/*" || mt == mediaType || strings.HasSuffix(mt, "/*") && mt[:len(mt)-2] == major {
			return true
		}
	}
	return false
}

// isJSONContentType reports whether a Content-Type names application/json,
// with or without parameters.
func isJSONContentType(ct string) bool {
	if ct == "application/json" {
		return true // the common case, without parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// handlePost serves one POSTed JSON-RPC message (or a 2025-03-26 batch).
// The body is parsed once; the era the message selects decides whether it
// needs a session.
func (t *httpTransport) handlePost(w http.ResponseWriter, r *http.Request) {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		writeRPCError(w, http.StatusUnsupportedMediaType, nil, codeInvalidRequest, "Unsupported Media Type: Content-Type must be application/json")
		return
	}
	accept := r.Header.Get("Accept")
	if !accepts(accept, "application/json") || !accepts(accept, "text/event-stream") {
		writeRPCError(w, http.StatusNotAcceptable, nil, codeInvalidRequest, "Not Acceptable: Accept must allow application/json and text/event-stream")
		return
	}
	body, err := requestBody(w, r, t.admission.maxBody)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeRPCError(w, http.StatusRequestEntityTooLarge, nil, codeInvalidRequest,
				fmt.Sprintf("Request Entity Too Large: the body exceeds TASKMAN_MAX_REQUEST_BYTES (%d bytes)", t.admission.maxBody))
			return
		}
		writeRPCError(w, http.StatusBadRequest, nil, codeInvalidRequest, "Bad Request: reading the body failed")
		return
	}
	in := parseIncoming(body)
	if in.invalid {
		writeRPCError(w, http.StatusBadRequest, nil, codeParseError, "Parse error: the body is not valid JSON")
		return
	}
	if in.single != nil && in.single.modern(r.Header, false) {
		// No session; closing the stream cancels a modern request, so
		// its context is the HTTP request's own (which the server's
		// base context, t.stop, also cancels at the shutdown deadline).
		t.dispatch(w, r, newSession(""), in)
		return
	}
	t.postLegacy(w, r, in)
}

// postLegacy serves a message of a legacy session, or the initialize
// request that creates one.
func (t *httpTransport) postLegacy(w http.ResponseWriter, r *http.Request, in *incoming) {
	if v := r.Header.Get(headerProtocolVersion); v != "" && !slices.Contains(supportedVersions, v) {
		writeRPCError(w, http.StatusBadRequest, nil, codeInvalidRequest,
			fmt.Sprintf("Bad Request: unsupported %s %q (supported: %s)", headerProtocolVersion, v, strings.Join(supportedVersions, ", ")))
		return
	}
	isInit := in.single != nil && in.single.method == "initialize" && in.single.id != nil && in.single.invalid == nil
	var hs *httpSession
	if isInit {
		id := validID(in.single.id)
		if r.Header.Get(headerSessionID) != "" {
			writeRPCError(w, http.StatusBadRequest, id, codeInvalidRequest, "Bad Request: initialize must not carry an Mcp-Session-Id; this session is already initialized")
			return
		}
		var err error
		cred := credential(r)
		if hs, err = t.sessions.create(cred, sessionClient(r, cred)); err != nil {
			w.Header().Set("Retry-After", "60")
			writeRPCError(w, http.StatusServiceUnavailable, id, codeInternalError, "Service Unavailable: "+err.Error())
			return
		}
		w.Header().Set(headerSessionID, hs.id)
	} else if hs = t.sessionFor(w, r); hs == nil {
		return
	}
	defer t.sessions.release(hs)
	// A client gone cancels its request's work: the 2025-11-25 transport
	// says a disconnection is not a cancellation because a client may
	// resume the stream, but this server keeps no events to resume
	// from, so nobody could ever receive the answer.
	a := t.dispatch(w, r, hs.session, in)
	if isInit && (a == nil || !a.ok()) {
		t.sessions.remove(hs.id) // initialize failed: the session never began
	}
}

// dispatch runs a parsed body through the dispatcher and writes its
// answer: 202 when there is none to give, JSON with the answer's status,
// or an event stream once a notification has to go out before the result.
// The request's context ends the work (the shutdown deadline, and the
// client closing the stream). It returns the answer written, if any.
func (t *httpTransport) dispatch(w http.ResponseWriter, r *http.Request, sess *session, in *incoming) *answer {
	ctx := r.Context()
	// The HTTP request's one request info (see observe) learns the
	// session: the dispatcher's log lines and the access line carry it.
	if ri := requestInfoFrom(ctx); ri != nil {
		ri.session = sess.id
	}

	sse := &sseWriter{w: w, prime: primes(sess.negotiated())}
	notify := func(n *notification) {
		b, err := json.Marshal(n)
		if err == nil {
			sse.send(b)
		}
	}
	a := t.srv.serve(ctx, sess, in, r.Header, notify)
	sse.finish()
	switch {
	case a == nil && !in.isRequest():
		if !sse.started {
			w.WriteHeader(http.StatusAccepted)
		}
	case a == nil:
		// The request was cancelled: there is nothing to answer with.
		if !sse.started {
			w.WriteHeader(http.StatusNoContent)
		}
	case sse.started:
		sse.sendFinal(t.srv.encode(a))
	default:
		w.Header()["Content-Type"] = mediaTypeJSON // canonical key, shared value: nothing to allocate
		w.WriteHeader(a.status)
		w.Write(t.srv.encode(a))
		w.Write([]byte("\n"))
	}
	return a
}

// SSE stream settings (2025-11-25 transports: the priming event and the
// retry field).
const (
	// sseRetry is the reconnection delay streams announce: a stream that
	// ends early (shutdown) is retried after a second, soon enough for the
	// next replica to answer and slow enough not to hammer one that is
	// restarting.
	sseRetry = time.Second
)

// primes reports whether event streams of a session negotiated at version
// v start with the priming event: the version that defines it and later
// legacy ones. Modern streams are not resumable, so an event id would
// only invite a reconnection nobody serves.
func primes(v string) bool { return v >= version20251125 && v != versionModern }

// sseWriter turns an answer into an event stream when the first
// notification has to be sent; it is safe for concurrent use.
type sseWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController // made when the stream starts; guarded by mu
	prime bool                     // start the stream with the priming event

	mu       sync.Mutex
	started  bool // headers sent as text/event-stream; guarded by mu
	finished bool // the handler returned: late notifications are dropped; guarded by mu
}

// send writes one notification as an event, starting the stream if needed.
func (s *sseWriter) send(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return
	}
	if !s.started {
		s.rc = http.NewResponseController(s.w)
		startEventStream(s.w)
		s.started = true
		if s.prime {
			writePrimingEvent(s.w, s.rc)
		}
	}
	s.writeEvent(data)
}

// startEventStream sends the headers of an event stream.
func startEventStream(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the stream
	w.WriteHeader(http.StatusOK)
}

// writePrimingEvent writes the event that primes a client to reconnect:
// an event id and empty data, with the retry delay to wait first.
func writePrimingEvent(w io.Writer, rc *http.ResponseController) error {
	rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := fmt.Fprintf(w, "id: %s\nretry: %d\ndata: \n\n", rand.Text(), sseRetry.Milliseconds()); err != nil {
		return err
	}
	return rc.Flush()
}

// writeEvent writes one SSE event and flushes it, bounded in time.
func (s *sseWriter) writeEvent(data []byte) { writeMessageEvent(s.w, s.rc, data) }

// writeMessageEvent writes data as one SSE message event and flushes it,
// bounded in time.
func writeMessageEvent(w io.Writer, rc *http.ResponseController, data []byte) error {
	rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", data); err != nil {
		return err
	}
	return rc.Flush()
}

// finish marks the handler as returned.
func (s *sseWriter) finish() {
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
}

// sendFinal writes the response as the stream's last event.
func (s *sseWriter) sendFinal(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeEvent(data)
}

// handleGet opens a legacy session's server-to-client event stream: it
// carries the session's resource updates (resources/subscribe), and
// heartbeats, until the session or the server ends.
func (t *httpTransport) handleGet(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(headerProtocolVersion) == versionModern {
		w.Header().Set("Allow", "POST")
		writeRPCError(w, http.StatusMethodNotAllowed, nil, codeInvalidRequest, "Method Not Allowed: "+versionModern+" has no GET stream")
		return
	}
	if !accepts(r.Header.Get("Accept"), "text/event-stream") {
		writeRPCError(w, http.StatusNotAcceptable, nil, codeInvalidRequest, "Not Acceptable: Accept must allow text/event-stream")
		return
	}
	hs := t.sessionFor(w, r)
	if hs == nil {
		return
	}
	// A stream is not a request: the session's idle clock runs while it
	// is open, and the session's end (idle, evicted, deleted) ends it.
	t.sessions.release(hs)
	if !hs.stream.CompareAndSwap(false, true) {
		writeRPCError(w, http.StatusConflict, nil, codeInvalidRequest, "Conflict: this session already has an open GET stream")
		return
	}
	defer hs.stream.Store(false)
	startEventStream(w)
	rc := http.NewResponseController(w)
	if primes(hs.negotiated()) {
		if writePrimingEvent(w, rc) != nil {
			return
		}
	} else {
		rc.Flush()
	}
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	updates := t.srv.subs.queue(hs.session)
	for {
		select {
		case n := <-updates:
			b, err := json.Marshal(n)
			if err != nil {
				continue
			}
			if writeMessageEvent(w, rc, b) != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-hs.ended:
			return
		case <-t.streamsDone:
			return
		case <-tick.C:
			rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// handleDelete ends a legacy session.
func (t *httpTransport) handleDelete(w http.ResponseWriter, r *http.Request) {
	hs := t.sessionFor(w, r)
	if hs == nil {
		return
	}
	t.sessions.release(hs)
	t.sessions.remove(hs.id)
	w.WriteHeader(http.StatusNoContent)
}

// sessionFor returns the session named by the request's Mcp-Session-Id,
// marked busy (release it when done), or answers why there is none: 400
// without the header, 404 for an unknown, ended or expired session, 403 for
// another credential's session.
func (t *httpTransport) sessionFor(w http.ResponseWriter, r *http.Request) *httpSession {
	sid := r.Header.Get(headerSessionID)
	if sid == "" {
		writeRPCError(w, http.StatusBadRequest, nil, -32000, "Bad Request: Mcp-Session-Id header is required (send initialize first)")
		return nil
	}
	hs, status := t.sessions.use(sid, credential(r))
	switch {
	case hs != nil:
		return hs
	case status == http.StatusForbidden:
		writeRPCError(w, status, nil, codeInvalidRequest, "Forbidden: the session belongs to another credential")
	default:
		writeRPCError(w, http.StatusNotFound, nil, -32001, "Session not found: it ended or expired; send initialize to start a new one")
	}
	return nil
}

// endStreams ends every open event stream (shutdown).
func (t *httpTransport) endStreams() {
	t.closeOnce.Do(func() { close(t.streamsDone) })
	t.srv.subs.close()
}

// newHTTPServer returns the http.Server for the transport, with every
// timeout set on purpose.
func newHTTPServer(addr string, h http.Handler, base context.Context, m *metrics, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		// No WriteTimeout: event streams live as long as their request;
		// each stream write sets its own deadline instead.
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		BaseContext:    func(net.Listener) context.Context { return base },
		ConnState: func(_ net.Conn, state http.ConnState) {
			if m == nil {
				return
			}
			switch state {
			case http.StateNew:
				m.activeConnections.inc()
			case http.StateClosed, http.StateHijacked:
				m.activeConnections.dec()
			}
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveHTTP serves the transport on ln until ctx is cancelled, then shuts
// down gracefully: readiness fails at once (onShutdown), the listener
// closes, in-flight requests get until the deadline, event streams end and
// sessions close.
func (t *httpTransport) serveHTTP(ctx context.Context, ln net.Listener, clock *shutdownClock, cancelRequests context.CancelFunc) error {
	hs := newHTTPServer(ln.Addr().String(), t.routes(), t.stop, t.metrics, t.logger)
	hs.RegisterOnShutdown(t.endStreams)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	sweep := time.NewTicker(sessionSweepEvery)
	defer sweep.Stop()
	t.logger.Info("serving MCP over HTTP", "addr", "http://"+ln.Addr().String()+"/mcp")
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case <-sweep.C:
			t.sessions.sweep()
			continue
		case <-ctx.Done():
		}
		break
	}
	dctx, cancelDrain := clock.drain()
	defer cancelDrain()
	t.logger.Info("shutting down: draining in-flight requests", "deadline", clock.timeout)
	if err := hs.Shutdown(dctx); err != nil {
		// Cancelled requests still answer (with an error) before their
		// connections close, rather than being cut off mid-answer.
		t.logger.Warn("shutdown deadline reached; cancelling requests still in flight", "err", err)
		cancelRequests()
		fctx, cancelFinal := clock.final()
		defer cancelFinal()
		if hs.Shutdown(fctx) != nil {
			hs.Close()
		}
	}
	t.sessions.closeAll()
	<-errc // Serve has returned http.ErrServerClosed
	return nil
}

// opsListener serves /metrics and /health/* on TASKMAN_OPS_ADDR for a
// stdio deployment. Its zero value serves nothing.
type opsListener struct {
	hs     *http.Server
	ln     net.Listener
	clock  *shutdownClock
	logger *slog.Logger
}

// listenOps listens on TASKMAN_OPS_ADDR for t's ops routes.
func listenOps(listen listenFunc, cfg *config, t *httpTransport, clock *shutdownClock, logger *slog.Logger) (opsListener, error) {
	addr := cfg.OpsAddr
	ln, err := listen("tcp", addr)
	if err != nil {
		return opsListener{}, fmt.Errorf("listen on TASKMAN_OPS_ADDR %s: %w", addr, err)
	}
	bindHost, _, _ := net.SplitHostPort(addr) // valid: config checked it
	hs := newHTTPServer(addr, t.opsHandler(allowedHostsFor(cfg.AllowedHosts, bindHost)), context.Background(), nil, logger)
	return opsListener{hs: hs, ln: ln, clock: clock, logger: logger}, nil
}

// start serves the listener and returns the function that stops it
// within the shutdown clock's final deadline.
func (o opsListener) start() (stop func()) {
	if o.ln == nil {
		return func() {}
	}
	go o.hs.Serve(o.ln)
	o.logger.Info("serving metrics and health on the ops listener", "addr", "http://"+o.ln.Addr().String())
	return func() {
		ctx, cancel := o.clock.final()
		defer cancel()
		o.hs.Shutdown(ctx)
	}
}
