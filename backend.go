package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Limits of the backend client.
const (
	// maxAnswerBytes bounds a backend answer read into memory: the largest
	// legitimate answer (a 500-task search page) is a few MiB.
	maxAnswerBytes = 16 << 20
	// maxBackoff caps one exponential backoff step, so a long retry chain
	// still answers the caller within a minute or so.
	maxBackoff = 10 * time.Second
	// maxRetryAfter caps how long a Retry-After header can make us wait; a
	// backend asking for more is treated as down rather than parking the
	// caller for minutes.
	maxRetryAfter = 30 * time.Second
	// errorSnippetBytes is how much of an unreadable answer an error quotes.
	errorSnippetBytes = 200
)

// backendClient is the only code that speaks HTTP to a Task Manager API,
// remote or embedded.
type backendClient struct {
	base     string // base URL without trailing slash
	spanBase string // base without credentials, for url.full in spans and mode
	host     string // the base URL's host name, for server.address in spans
	mode     string // "embedded" or the remote base URL without credentials, for reports
	// transport carries every exchange; it is called directly, without
	// an http.Client: redirects are not followed (a backend redirect is
	// a misconfiguration, and following one would turn a PUT into a GET)
	// and nothing else of the client's is used.
	transport http.RoundTripper
	// Header values every request carries, built once: the client's
	// User-Agent and, for a base URL with credentials, their Basic
	// Authorization (as an http.Client would send).
	userAgentValue, authValue []string
	timeout                   time.Duration // per attempt
	maxRetries                int
	retryDelay                time.Duration
	logger                    *slog.Logger
	metrics                   *metrics // nil records nothing
	tracing                   *tracing // nil: no spans
	// breakers holds one circuit breaker per operation, indexed by opID;
	// nil entries (breakers disabled) pass every call through.
	breakers [numOps]*breaker
	// senders are each operation's sendFunc, made once.
	senders [numOps]sendFunc
	// cache keeps the last good answer of each read for when the backend
	// fails; nil (disabled) misses everything.
	cache *cache
	// evictionsSeen is the cache eviction count already added to the
	// metric.
	evictionsSeen atomic.Uint64
	// sleep waits d or until ctx is done; tests replace it to record the
	// waits instead of sleeping.
	sleep func(ctx context.Context, d time.Duration) error
	// decided is the adapter of the backend's dialect, nil while auto
	// detection has not succeeded; detecting (capacity 1) makes concurrent
	// first calls share one detection, and a caller can stop waiting.
	decided   atomic.Pointer[adapter]
	detecting chan struct{}
	// defaultOwner is the owner of tasks created on TaskMan-v2 without one.
	defaultOwner string
}

// sleepContext waits d, or returns ctx's error if it ends first.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backendOptions configures newBackendClient.
type backendOptions struct {
	BaseURL    string       // remote base URL; "" with Embedded set
	Embedded   http.Handler // the in-process API, used when BaseURL is ""
	Timeout    time.Duration
	MaxRetries int
	RetryDelay time.Duration
	Version    string
	Logger     *slog.Logger
	Metrics    *metrics  // may be nil
	Breakers   *breakers // nil: no circuit breaking
	Cache      *cache    // nil: no fallback cache
	Tracing    *tracing  // nil: no spans
	// Dialect is the contract the backend speaks: legacy, taskman-v2, or
	// auto to detect it. "" is legacy; the embedded backend is always
	// legacy.
	Dialect dialect
	// DefaultOwner is the owner of tasks created on TaskMan-v2 without
	// one; "" is taskman-mcp.
	DefaultOwner string
}

// newBackendClient returns a client for the remote API at opts.BaseURL or,
// when that is empty, for opts.Embedded through an in-process transport, so
// both take the same path through retries, metrics and logs.
func newBackendClient(opts backendOptions) (*backendClient, error) {
	c := &backendClient{
		timeout:        opts.Timeout,
		maxRetries:     opts.MaxRetries,
		retryDelay:     opts.RetryDelay,
		userAgentValue: []string{"taskman-mcp/" + opts.Version},
		logger:         opts.Logger,
		metrics:        opts.Metrics,
		tracing:        opts.Tracing,
		cache:          opts.Cache,
		sleep:          sleepContext,
		detecting:      make(chan struct{}, 1),
	}
	for op := range numOps {
		c.breakers[op] = opts.Breakers.get(op.String())
		c.senders[op] = c.sender(op)
	}
	switch {
	case opts.BaseURL != "":
		c.base = strings.TrimRight(opts.BaseURL, "/")
		c.transport = newBackendTransport()
	case opts.Embedded != nil:
		c.base = "http://embedded"
		c.mode = "embedded"
		c.transport = handlerTransport{opts.Embedded}
	default:
		return nil, errors.New("backend client: no base URL and no embedded backend")
	}
	c.defaultOwner = cmp.Or(opts.DefaultOwner, "taskman-mcp")
	switch {
	case opts.BaseURL == "":
		c.decided.Store(embeddedAdapter)
	case opts.Dialect == "" || opts.Dialect == dialectLegacy || opts.Dialect == dialectTaskmanV2:
		c.decided.Store(adapterFor(opts.Dialect, c.defaultOwner)) // "" is legacy
	case opts.Dialect != dialectAuto:
		return nil, fmt.Errorf("backend client: unknown dialect %q (want one of %s)", opts.Dialect, strings.Join(dialectNames, ", "))
	}
	u, err := url.Parse(c.base)
	if err != nil {
		// Not wrapped: the error quotes the URL, credentials and all.
		return nil, errors.New("backend client: the base URL does not parse")
	}
	c.host = u.Hostname()
	if u.User != nil {
		pw, _ := u.User.Password()
		c.authValue = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))}
	}
	u.User = nil // credentials never go into spans or reports
	c.spanBase = u.String()
	if c.mode == "" {
		c.mode = c.spanBase
	}
	return c, nil
}

// newBackendTransport returns the pooled transport for a remote backend.
func newBackendTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,  // a backend that takes longer to accept is down
			KeepAlive: 30 * time.Second, // detect dead peers on idle pooled connections
		}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,              // all hosts together; we talk to one
		MaxIdleConnsPerHost:    64,               // matches the concurrency we expect per instance
		MaxConnsPerHost:        256,              // bounds sockets if the backend slows down
		IdleConnTimeout:        90 * time.Second, // below typical load-balancer idle timeouts of 120 s+
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20, // 1 MiB of headers is already hostile
	}
}

// close releases idle connections.
func (c *backendClient) close() {
	if t, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// backendError is an answer from the backend that is not a success. Its
// text is meant for a person: the status and the backend's own message.
type backendError struct {
	op      opID
	status  int    // HTTP status; 0 for an envelope {"success": false}
	message string // the backend's message, already made readable
}

func (e *backendError) Error() string {
	if e.status == 0 {
		return "backend refused: " + e.message
	}
	s := fmt.Sprintf("backend returned %d %s", e.status, http.StatusText(e.status))
	if e.message == "" {
		return s + " with an empty body"
	}
	return s + ": " + e.message
}

// unreachableError is a failure to get any answer from the backend:
// refused, reset, timed out, or a broken answer.
type unreachableError struct {
	op   opID
	err  error
	hint string // what the reader can do about it; may be empty
}

func (e *unreachableError) Error() string {
	msg := fmt.Sprintf("backend unreachable (%s): %v", e.op, e.err)
	if e.hint != "" {
		msg += " (" + e.hint + ")"
	}
	return msg
}

func (e *unreachableError) Unwrap() error { return e.err }

// shapeMismatchError is a 2xx answer we cannot read: not JSON, or not the
// shape the operation answers with. The backend is up, so it does not
// count against the breaker; the usual cause is a base URL pointing at
// something else, or a backend speaking another dialect.
type shapeMismatchError struct {
	op     opID
	detail string
}

func (e *shapeMismatchError) Error() string {
	return fmt.Sprintf("backend answered %s with %s; check TASK_MANAGER_API_ENDPOINT, and TASKMAN_BACKEND_DIALECT if the backend speaks another contract", e.op, e.detail)
}

// do sends req and returns the decoded answer with any success envelope
// removed (a 204 or empty body is nil). A read the backend could not serve
// may be answered from the fallback cache; do reports that as an error
// (callers that can show stale data use call).
func (c *backendClient) do(ctx context.Context, req request) (any, error) {
	v, stale, err := c.call(ctx, req)
	if err == nil && stale != nil {
		return nil, stale.cause
	}
	return v, err
}

// staleness describes an answer served from the fallback cache.
type staleness struct {
	age   time.Duration
	cause error // why the backend could not answer
}

// call sends req through its operation's circuit breaker, retrying
// idempotent operations inside the breaker's single call. A read that
// fails in a way the breaker counts (or is rejected by an open circuit) is
// answered from the fallback cache when a copy younger than its TTL
// exists, and the answer is marked stale. A successful write invalidates
// every cached read it could have changed.
func (c *backendClient) call(ctx context.Context, req request) (any, *staleness, error) {
	if err := req.checkArgs(); err != nil {
		return nil, nil, err
	}
	ad := c.adapter(ctx)
	if err := ad.check(req.op); err != nil {
		return nil, nil, err
	}
	read := req.op.cacheable()
	var key string
	if read && c.cache != nil {
		key = req.cacheKey()
	}
	b := c.breakers[req.op]
	ticket, err := b.allow()
	if err != nil {
		c.metrics.breakerRejected(req.op.String())
		trace.SpanFromContext(ctx).AddEvent("circuit_breaker.rejected", trace.WithAttributes(attribute.String("breaker", req.op.String())))
		if !read {
			return nil, nil, fmt.Errorf("%w; the write was not sent, try again once the backend recovers", err)
		}
		return c.fallback(ctx, req.op, key, err)
	}
	v, err := ad.perform(ctx, c.senders[req.op], req)
	b.record(ticket, breakerOutcomeOf(ctx, err))
	if err != nil {
		if read && countsAsFailure(err) && ctx.Err() == nil {
			return c.fallback(ctx, req.op, key, err)
		}
		return nil, nil, err
	}
	if key != "" {
		raw, isText := v.(json.RawMessage)
		if !isText {
			raw, err = json.Marshal(v)
		}
		if err == nil {
			c.cache.put(key, raw)
		}
		c.cacheStats()
	} else if !read {
		for _, prefix := range req.invalidates() {
			c.cache.invalidatePrefix(prefix)
		}
		c.cacheStats()
	}
	return v, nil, nil
}

// fallback answers a failed read from the cache, or explains that there
// is no copy.
func (c *backendClient) fallback(ctx context.Context, op opID, key string, cause error) (any, *staleness, error) {
	raw, age, ok := c.cache.get(key)
	if !ok {
		if key != "" {
			c.metrics.cacheLookup(false)
			return nil, nil, fmt.Errorf("%w; no cached copy", cause)
		}
		return nil, nil, cause
	}
	c.metrics.cacheLookup(true)
	trace.SpanFromContext(ctx).AddEvent("fallback_cache.stale_served", trace.WithAttributes(
		attribute.String("backend.operation", op.String()), attribute.Int64("age_ms", age.Milliseconds())))
	c.logger.WarnContext(ctx, "serving a stale copy", "age_ms", age.Milliseconds(), "cause", cause)
	v, err := decodeJSON(raw) // the answer as the tools read it, stored after decoding
	if err != nil {
		return nil, nil, cause
	}
	return v, &staleness{age: age, cause: cause}, nil
}

// cacheStats copies the cache's size and evictions into the metrics.
func (c *backendClient) cacheStats() {
	if c.cache == nil || c.metrics == nil {
		return
	}
	st := c.cache.stats()
	c.metrics.cacheSize.set(float64(st.Size))
	for {
		seen := c.evictionsSeen.Load()
		if st.Evictions <= seen || c.evictionsSeen.CompareAndSwap(seen, st.Evictions) {
			if st.Evictions > seen {
				c.metrics.cacheEvictions.add(float64(st.Evictions - seen))
			}
			return
		}
	}
}

// countsAsFailure reports whether err means the backend is not working:
// no answer (refused, reset, timed out, unreadable), a 5xx or a 429. A 4xx
// is the backend working and saying no.
func countsAsFailure(err error) bool {
	var berr *backendError
	if errors.As(err, &berr) {
		return berr.status >= 500 || berr.status == http.StatusTooManyRequests
	}
	var uerr *unreachableError
	return errors.As(err, &uerr)
}

// breakerOutcomeOf classifies a call for its breaker: the caller's own
// cancellation says nothing about the backend and is ignored.
func breakerOutcomeOf(ctx context.Context, err error) breakerOutcome {
	switch {
	case err == nil:
		return breakerSuccess
	case ctx.Err() != nil:
		return breakerIgnored
	case countsAsFailure(err):
		return breakerFailure
	}
	return breakerSuccess
}

// sender returns the function that sends the calls of logical operation op.
func (c *backendClient) sender(op opID) sendFunc {
	return func(ctx context.Context, wc wireCall) (any, error) {
		var body []byte
		if wc.body != nil {
			var err error
			if body, err = json.Marshal(wc.body); err != nil {
				return nil, fmt.Errorf("%s: encode body: %w", op, err)
			}
		}
		raw, err := c.send(ctx, op, wc, body)
		if err != nil {
			return nil, err
		}
		if wc.record {
			if text, ok := recordText(raw); ok {
				return text, nil
			}
		}
		return decodeAnswer(op, raw)
	}
}

// send performs the attempts of one call and returns the body of a 2xx
// answer. Retries follow the call's own method; metrics and logs name the
// logical operation op.
func (c *backendClient) send(ctx context.Context, op opID, wc wireCall, body []byte) ([]byte, error) {
	target := c.base + wc.path
	if wc.atOrigin {
		target = originOf(c.base) + wc.path
	}
	if len(wc.query) > 0 {
		target += "?" + wc.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		raw, wait, reason, err := c.attempt(ctx, op, wc.method, target, body, attempt)
		if err == nil {
			return raw, nil
		}
		if reason == "" || attempt >= c.maxRetries || !idempotentMethod(wc.method) {
			return nil, err
		}
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		c.metrics.countRetry(operations[op].method, operations[op].path, reason)
		trace.SpanFromContext(ctx).AddEvent("backend.retry", trace.WithAttributes(
			attribute.String("backend.operation", op.String()), attribute.Int("attempt", attempt+1), attribute.String("reason", reason)))
		c.logger.DebugContext(ctx, "retrying backend call",
			"op", op.String(), "attempt", attempt+1, "reason", reason,
			"wait_ms", wait.Milliseconds(), "err", err)
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%s: %w (after %d attempts: %v)", op, serr, attempt+1, err)
		}
	}
}

// backoff returns the wait before retry number attempt+1: full jitter over
// an exponential step from retryDelay, capped at maxBackoff.
func (c *backendClient) backoff(attempt int) time.Duration {
	step := c.retryDelay << min(attempt, 20)
	if step <= 0 || step > maxBackoff {
		step = maxBackoff
	}
	if c.retryDelay <= 0 {
		return 0
	}
	return rand.N(step) + 1
}

// spanURL returns target, a URL under c.base, as it may appear in a span:
// without the base URL's credentials, if it has any.
func (c *backendClient) spanURL(target string) string {
	if c.spanBase == c.base {
		return target
	}
	return c.spanBase + strings.TrimPrefix(target, c.base)
}

// attempt makes one HTTP exchange. On failure it returns a non-empty retry
// reason when the failure is one worth retrying, and the wait the backend
// asked for with Retry-After (0 when it did not say).
func (c *backendClient) attempt(ctx context.Context, op opID, method, target string, body []byte, attempt int) (raw []byte, wait time.Duration, reason string, err error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	o := operations[op] // metrics name the logical operation, spans the real call
	actx, span := c.tracing.start(actx, method, spanKindClient...)
	status := 0 // the answer's status code, once there is one
	defer func() {
		if span.IsRecording() {
			a := newSpanAttrs()
			a.add(
				attribute.String("http.request.method", method),
				attribute.String("url.full", c.spanURL(target)),
				attribute.String("server.address", c.host),
				// The logical operation, the same whichever dialect sends
				// it (docs/dialects.md), as breakers and metrics name it.
				attribute.String("backend.operation", op.String()),
			)
			if attempt > 0 { // set on retries only (HTTP semantic conventions)
				a.add(attribute.Int("http.request.resend_count", attempt))
			}
			if status != 0 {
				a.add(attribute.Int("http.response.status_code", status))
			}
			if err != nil && reason != "" {
				a.add(attribute.String("error.type", reason))
			}
			a.setOn(span)
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	hreq, err := c.newRequest(actx, method, target, body)
	if err != nil {
		return nil, 0, "", fmt.Errorf("%s: %w", op, err)
	}
	c.tracing.injectHTTP(actx, hreq.Header)
	start := time.Now()
	resp, err := c.transport.RoundTrip(hreq)
	if err != nil {
		reason = c.transportRetryReason(ctx, err)
		c.metrics.observeBackendCall(o.method, o.path, outcomeLabel(ctx, reason), time.Since(start))
		return nil, 0, reason, c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	raw, err = readAnswer(resp)
	if err != nil {
		reason = c.transportRetryReason(ctx, err)
		c.metrics.observeBackendCall(o.method, o.path, outcomeLabel(ctx, reason), time.Since(start))
		return nil, 0, reason, c.transportError(ctx, op, fmt.Errorf("read answer: %w", err))
	}
	c.metrics.observeBackendCall(o.method, o.path, statusLabel(resp.StatusCode), time.Since(start))
	status = resp.StatusCode
	if len(raw) > maxAnswerBytes {
		return nil, 0, "", &unreachableError{op: op, err: fmt.Errorf("answer larger than %d MiB", maxAnswerBytes>>20)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return raw, 0, "", nil
	}
	berr := &backendError{op: op, status: resp.StatusCode, message: errorMessage(raw)}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		reason = statusLabelText(resp.StatusCode)
	case http.StatusInternalServerError:
		// A 500 on a read is often transient; on a write it may have
		// half-happened, so only GET retries it.
		if method == http.MethodGet {
			reason = statusLabelText(resp.StatusCode)
		}
	}
	if reason != "" {
		wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return nil, wait, reason, berr
}

// mediaTypeJSON is the Accept and Content-Type value shared by every
// backend request and MCP answer that carries it (never modified, only
// replaced).
var mediaTypeJSON = []string{"application/json"}

// newRequest builds one exchange with the headers every call carries:
// Accept, User-Agent, the base URL's credentials, the request id of ctx
// as X-Request-ID, and Content-Type when there is a body.
func (c *backendClient) newRequest(ctx context.Context, method, target string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	h := hreq.Header // canonical keys set directly: no canonicalising, no value slices
	h["Accept"] = mediaTypeJSON
	h["User-Agent"] = c.userAgentValue
	if body != nil {
		h["Content-Type"] = mediaTypeJSON
	}
	if c.authValue != nil {
		h["Authorization"] = c.authValue
	}
	if id := requestIDFrom(ctx); id != "" {
		h["X-Request-Id"] = []string{id}
	}
	return hreq, nil
}

// readAnswer reads an answer body of up to maxAnswerBytes+1 bytes (one
// more than allowed, so the caller can tell it was too large).
func readAnswer(resp *http.Response) ([]byte, error) {
	return readBody(io.LimitReader(resp.Body, maxAnswerBytes+1), resp.ContentLength, maxAnswerBytes)
}

// readBody reads r to its end, in one buffer of the announced length when
// a Content-Length of at most limit bytes announced it (length < 0: none),
// else as io.ReadAll does. r enforces any limit itself.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length < 0 || length > limit {
		return io.ReadAll(r)
	}
	b := make([]byte, length)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// statusLabelText returns a status code as retry reason text, e.g. "503".
func statusLabelText(code int) string { return strconv.Itoa(code) }

// transportRetryReason classifies a transport failure: the caller's own
// cancellation is never retried; refused, reset, broken answers and
// per-attempt timeouts are.
func (c *backendClient) transportRetryReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ""
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_reset"
	}
	return "network"
}

// outcomeLabel names a failed attempt for the backend call metric: the
// caller's cancellation, or the retry reason of a transport failure.
func outcomeLabel(ctx context.Context, reason string) string {
	switch {
	case ctx.Err() != nil:
		return "canceled"
	case reason == "network" || reason == "":
		return "error"
	}
	return reason
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transportError turns a transport failure into the error the caller sees:
// the caller's cancellation as itself, a per-attempt timeout with its limit,
// anything else as unreachable.
func (c *backendClient) transportError(ctx context.Context, op opID, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return &unreachableError{op: op, err: fmt.Errorf("no answer within %v: %w", c.timeout, context.DeadlineExceeded)}
	}
	return &unreachableError{op: op, err: err, hint: c.refusedHint(err)}
}

// refusedHint is the hint for a refused connection to a remote backend:
// nothing listens at the configured address, which for a newcomer is most
// often a copied TASK_MANAGER_API_ENDPOINT with no backend behind it.
func (c *backendClient) refusedHint(err error) string {
	if c.mode == "embedded" || !errors.Is(err, syscall.ECONNREFUSED) {
		return ""
	}
	return "nothing is listening at " + c.mode + "; start the Task Manager API there, or unset TASK_MANAGER_API_ENDPOINT to use the embedded backend"
}

// retryAfter parses a Retry-After header (delay-seconds or an HTTP date)
// into a wait, capped at maxRetryAfter; 0 when absent or unparsable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// decodeAnswer decodes a 2xx answer and removes a success envelope:
// {"success": true, "data": X} is X; {"success": false, ...} is an error
// carrying the backend's message. An empty body (204) is nil.
func decodeAnswer(op opID, raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, &shapeMismatchError{op, "an answer that is not JSON: " + snippet(raw)}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return v, nil
	}
	success, ok := obj["success"].(bool)
	if !ok {
		return v, nil
	}
	if !success {
		msg := errorMessage(raw)
		if msg == "" {
			msg = "the backend reported failure without a message"
		}
		return nil, &backendError{op: op, message: msg}
	}
	if data, ok := obj["data"]; ok {
		// Search answers carry query and count next to data; keep the
		// whole object so the caller sees them.
		if _, isList := data.([]any); isList && (obj["count"] != nil || obj["query"] != nil) {
			return obj, nil
		}
		return data, nil
	}
	return obj, nil
}

// recordText returns the compact text of a 2xx answer that can reach a
// tool result without being decoded: a JSON object in valid UTF-8 with no
// success envelope. ok is false when the answer needs decodeAnswer (an
// envelope, another shape, broken JSON, invalid UTF-8).
func recordText(raw []byte) (text json.RawMessage, ok bool) {
	text = bytes.Trim(raw, " \t\r\n") // JSON whitespace, such as an encoder's trailing newline
	if !validJSON(text) || text[0] != '{' || !utf8.Valid(text) {
		return nil, false
	}
	if bytes.Contains(text, []byte("success")) || bytes.IndexByte(text, '\\') >= 0 {
		// A member may be named success, perhaps escaped.
		envelope := false
		eachMember(text, func(key []byte, _ json.RawMessage) {
			envelope = envelope || string(key) == `"success"` || bytes.IndexByte(key, '\\') >= 0 && decodeString(key) == "success"
		})
		if envelope {
			return nil, false
		}
	}
	if !isCompact(text) {
		var buf bytes.Buffer
		buf.Grow(len(text))
		_ = json.Compact(&buf, text) // valid, so it compacts
		text = buf.Bytes()
	}
	return text, true
}

// isCompact reports whether text, valid JSON, is already what json.Compact
// makes of it: no whitespace outside its strings.
func isCompact(text []byte) bool {
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '"':
			i = stringEnd(text, i) - 1
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// decodeJSON decodes one JSON value, keeping numbers exact: the values
// encoding/json's Decoder with UseNumber gives, built by decodeValid after
// one validity scan (validJSON).
func decodeJSON(raw []byte) (any, error) {
	if !validJSON(raw) {
		return nil, errors.New("invalid JSON")
	}
	v, _ := decodeValid(raw, skipSpace(raw, 0))
	return v, nil
}

// decodeValid decodes the JSON value that starts at text[i], in text
// already known to be valid JSON, and returns it with the index just past
// it: objects as map[string]any (the last of a repeated name wins), arrays
// as []any, numbers as json.Number, strings as json.Unmarshal decodes
// them.
func decodeValid(text []byte, i int) (any, int) {
	switch text[i] {
	case '{':
		obj := map[string]any{}
		for i = skipSpace(text, i+1); text[i] != '}'; i = skipSpace(text, i) {
			if text[i] == ',' {
				i = skipSpace(text, i+1)
			}
			keyEnd := stringEnd(text, i)
			key := decodeString(text[i:keyEnd])
			var v any
			v, i = decodeValid(text, skipSpace(text, skipSpace(text, keyEnd)+1))
			obj[key] = v
		}
		return obj, i + 1
	case '[':
		arr := []any{}
		for i = skipSpace(text, i+1); text[i] != ']'; i = skipSpace(text, i) {
			if text[i] == ',' {
				i = skipSpace(text, i+1)
			}
			var v any
			v, i = decodeValid(text, i)
			arr = append(arr, v)
		}
		return arr, i + 1
	case '"':
		end := stringEnd(text, i)
		return decodeString(text[i:end]), end
	}
	end := jsonValueEnd(text, i)
	switch text[i] {
	case 't':
		return true, end
	case 'f':
		return false, end
	case 'n':
		return nil, end
	}
	return json.Number(text[i:end]), end
}

// decodeString decodes a valid quoted JSON string: in place when it holds
// no escape and is valid UTF-8, else by json.Unmarshal (escapes, and
// U+FFFD for each invalid byte).
func decodeString(quoted []byte) string {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}

// errorMessage extracts a readable message from an error body in any of the
// four shapes backends use: an envelope's error or message; FastAPI's detail
// string or detail list (each "loc: msg"); RFC 9457 problem+json (title,
// detail). Anything else is quoted, shortened.
func errorMessage(raw []byte) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "" // the status alone says it; quoting "" says nothing
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return snippet(raw)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return snippet(raw)
	}
	switch d := obj["detail"].(type) {
	case string:
		// problem+json: the title adds something only when it is not
		// just the status text, which the caller already shows.
		t, _ := obj["title"].(string)
		if status, ok := obj["status"].(json.Number); ok {
			if n, err := status.Int64(); err == nil && http.StatusText(int(n)) == t {
				t = ""
			}
		}
		if t != "" && !strings.Contains(d, t) {
			return t + ": " + d
		}
		return d
	case []any:
		var parts []string
		for _, item := range d {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			msg, _ := m["msg"].(string)
			if loc := locString(m["loc"]); loc != "" {
				msg = loc + ": " + msg
			}
			parts = append(parts, msg)
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	for _, key := range []string{"error", "message", "title"} {
		switch e := obj[key].(type) {
		case string:
			if e != "" {
				return e
			}
		case map[string]any: // {"error": {"message": "..."}}
			if m, ok := e["message"].(string); ok && m != "" {
				return m
			}
		}
	}
	return snippet(raw)
}

// locString renders a FastAPI error location, dropping the "body"/"query"
// prefix a person does not need: ["body", "task", "title"] → "task.title".
func locString(v any) string {
	parts, ok := v.([]any)
	if !ok {
		return ""
	}
	var out []string
	for i, p := range parts {
		s := fmt.Sprint(p)
		if i == 0 && (s == "body" || s == "query" || s == "path") && len(parts) > 1 {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// snippet quotes at most errorSnippetBytes of raw for an error message.
func snippet(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if len(s) > errorSnippetBytes {
		s = s[:errorSnippetBytes] + "…"
	}
	return strconv.Quote(s)
}

// asRecord returns v as a JSON object, or an error naming the operation.
func asRecord(op opID, v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	return nil, shapeError(op, v)
}

// shapeError reports an answer whose shape is not one we can read.
func shapeError(op opID, v any) error {
	b, _ := json.Marshal(v)
	return &shapeMismatchError{op, "an unexpected answer shape: " + snippet(b)}
}

// listAnswer is a list read tolerantly from any of the shapes backends use.
type listAnswer struct {
	items      []any
	nextCursor string // "" when the backend gave none
	total      any    // the backend's total, nil when it gave none
	hasMore    *bool  // the backend's has_more, nil when it gave none
}

// asList reads a list answer: a bare array; or an object holding the list
// under one of keys, "data" or "items", with next_cursor, total and
// has_more when present. An object with an id is a record, not a list,
// even when it has items (an action list does).
func asList(op opID, v any, keys ...string) (listAnswer, error) {
	switch t := v.(type) {
	case []any:
		return listAnswer{items: t}, nil
	case map[string]any:
		if _, isRecord := t["id"]; isRecord {
			break
		}
		for _, k := range append(keys, "data", "items") {
			val, present := t[k]
			items, ok := val.([]any)
			if !ok && !(present && val == nil) { // an empty list is sometimes sent as null
				continue
			}
			la := listAnswer{items: items, total: t["total"]}
			if la.items == nil {
				la.items = []any{}
			}
			if nc, ok := t["next_cursor"].(string); ok {
				la.nextCursor = nc
			}
			if hm, ok := t["has_more"].(bool); ok {
				la.hasMore = &hm
			}
			return la, nil
		}
	case nil:
		return listAnswer{items: []any{}}, nil
	}
	return listAnswer{}, shapeError(op, v)
}

// handlerTransport is an http.RoundTripper that serves requests with an
// in-process http.Handler, so the embedded backend is reached through the
// same RoundTrip path as a remote one.
type handlerTransport struct {
	h http.Handler
}

// RoundTrip serves req with the handler and returns its answer.
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "in-process"
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	w := &memResponseWriter{header: make(http.Header)}
	t.h.ServeHTTP(w, sreq)
	if req.Body != nil {
		req.Body.Close()
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// memResponseWriter collects a handler's answer in memory.
type memResponseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *memResponseWriter) Header() http.Header { return w.header }

func (w *memResponseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *memResponseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}
