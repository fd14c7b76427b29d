package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Protocol versions. Dates compare correctly as strings, which the feature
// checks below rely on.
const (
	version20241105 = "2024-11-05"
	version20250326 = "2025-03-26"
	version20250618 = "2025-06-18"
	version20251125 = "2025-11-25"
	versionModern   = "2026-07-28"
)

// legacyVersions are the versions negotiated by initialize, newest first.
var legacyVersions = []string{version20251125, version20250618, version20250326, version20241105}

// supportedVersions is every version we speak, for errors and headers.
var supportedVersions = []string{versionModern, version20251125, version20250618, version20250326, version20241105}

// Meta keys of the 2026-07-28 per-request protocol fields.
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaLogLevel           = "io.modelcontextprotocol/logLevel"
	metaServerInfo         = "io.modelcontextprotocol/serverInfo"
)

// JSON-RPC and MCP error codes: the JSON-RPC 2.0 specification's, and the
// MCP transport's for a header that contradicts the body and an unsupported
// version (docs/mcp.md).
const (
	codeParseError         = -32700
	codeInvalidRequest     = -32600
	codeMethodNotFound     = -32601
	codeInvalidParams      = -32602
	codeInternalError      = -32603
	codeHeaderMismatch     = -32020
	codeMissingCapability  = -32021
	codeUnsupportedVersion = -32022
)

// Feature checks by protocol version: output is shaped so that a client
// never receives a field its version does not know.
func hasAnnotations(v string) bool     { return v >= version20250326 }
func hasStructured(v string) bool      { return v >= version20250618 }
func argErrorsAsResults(v string) bool { return v >= version20251125 }

// notifier sends a notification related to the request being served:
// progress and log messages. Under stdio it writes a line; over HTTP it
// turns the answer into an event stream.
type notifier func(n *notification)

// server is the MCP server: it owns every dependency and dispatches
// JSON-RPC messages from any transport.
type server struct {
	logger  *slog.Logger
	version string
	// transport is TASKMAN_MCP_TRANSPORT, "stdio" or "http": the metrics'
	// transport label, and over HTTP a request without a session is not
	// tracked for cancellation (track).
	transport string
	offer     toolOffer // TASKMAN_TOOLSETS and TASKMAN_READ_ONLY
	// backend and status are what the tools see of the backend client
	// and of the backend status readiness shares (newToolCall).
	backend backendCaller
	status  statusReader
	metrics *metrics // nil records nothing
	tracing *tracing // nil or off: a no-op tracer
	// tools are the tools offered: the table less what TASKMAN_TOOLSETS
	// and TASKMAN_READ_ONLY leave out. byName holds the whole table, so
	// that a call to a tool left out is answered with the reason.
	tools  toolList
	byName map[string]*tool
	// methods is the method table; a copy of methodTable, so that tests
	// can add a row.
	methods map[string]*method

	// toolsPageSize is how many tools one tools/list page holds. It is
	// larger than the catalog, so clients that ignore nextCursor still see
	// every tool; tests lower it to exercise paging.
	toolsPageSize int
	// resourcesPageSize is the most resources one resources/list page
	// holds: the backend's largest page; tests lower it.
	resourcesPageSize int
	// subs are the resource subscriptions of every session and stream.
	subs *subscriptionHub
	// toolsJSON caches each version's rendering of every tool.
	toolsJSON map[string][]json.RawMessage
}

// defaultToolsPageSize is one page for the whole catalog, with room to
// grow: some clients do not follow nextCursor.
const defaultToolsPageSize = 100

// serverDeps are what a server is built from: of the configuration, only
// the values it reads. Logger, Backend and Status are required, Transport
// is "stdio" or "http", Toolsets names at least one toolset; the rest may
// be nil (off).
type serverDeps struct {
	Logger    *slog.Logger
	Version   string
	Transport string        // TASKMAN_MCP_TRANSPORT
	Toolsets  []string      // TASKMAN_TOOLSETS: the toolsets offered
	ReadOnly  bool          // TASKMAN_READ_ONLY: offer only the read-only tools
	Backend   backendCaller // the backend client
	Status    statusReader  // the backend status shared with readiness (backendStatus)
	Metrics   *metrics
	Tracing   *tracing
	Tools     []*tool // the tool table; nil: newToolTable()
}

// newServer returns a server built from d.
func newServer(d serverDeps) (*server, error) {
	if d.Logger == nil || d.Backend == nil || d.Status == nil {
		return nil, errors.New("new server: logger, backend and status are required")
	}
	if d.Transport != "stdio" && d.Transport != "http" {
		return nil, fmt.Errorf("new server: transport %q, want stdio or http", d.Transport)
	}
	if len(d.Toolsets) == 0 {
		return nil, errors.New("new server: no toolset offered")
	}
	s := &server{
		logger:            d.Logger,
		version:           d.Version,
		transport:         d.Transport,
		offer:             toolOffer{toolsets: d.Toolsets, readOnly: d.ReadOnly},
		backend:           d.Backend,
		metrics:           d.Metrics,
		status:            d.Status,
		tracing:           d.Tracing,
		byName:            make(map[string]*tool),
		methods:           maps.Clone(methodTable),
		toolsPageSize:     defaultToolsPageSize,
		resourcesPageSize: maxPageSize,
		subs:              newSubscriptionHub(),
		toolsJSON:         make(map[string][]json.RawMessage),
	}
	table := d.Tools
	if table == nil {
		table = newToolTable()
	}
	for _, t := range table {
		if s.byName[t.name] != nil {
			return nil, fmt.Errorf("new server: tool %s defined twice", t.name)
		}
		s.byName[t.name] = t
		if s.offer.refusal(t) == "" {
			s.tools = append(s.tools, t)
		}
	}
	for _, v := range supportedVersions {
		for _, t := range s.tools {
			b, err := json.Marshal(t.describe(v))
			if err != nil {
				return nil, fmt.Errorf("new server: render tool %s: %w", t.name, err)
			}
			s.toolsJSON[v] = append(s.toolsJSON[v], b)
		}
	}
	return s, nil
}

// describe renders the tool for tools/list in protocol version v.
func (t *tool) describe(v string) map[string]any {
	d := map[string]any{
		"name":        t.name,
		"description": t.description,
		"inputSchema": t.input,
	}
	if hasStructured(v) {
		d["title"] = t.title
		d["outputSchema"] = t.output.published()
	}
	if hasAnnotations(v) {
		// A hint equal to the spec's default is left out (readOnlyHint
		// and idempotentHint default to false); destructiveHint and
		// openWorldHint default to true, so their false is always sent.
		// destructiveHint means nothing for a read-only tool.
		a := map[string]any{"openWorldHint": false}
		if t.hints.readOnly {
			a["readOnlyHint"] = true
		} else {
			a["destructiveHint"] = t.hints.destructive
		}
		if t.hints.idempotent {
			a["idempotentHint"] = true
		}
		if !hasStructured(v) {
			a["title"] = t.title // 2025-03-26 carries the title here only
		}
		d["annotations"] = a
	}
	return d
}

// serverInfo is our Implementation object in protocol version v.
func (s *server) serverInfo(v string) *implementation {
	info := &implementation{Name: "taskman-mcp", Version: s.version}
	if hasStructured(v) {
		info.Title = "TaskMan MCP"
	}
	return info
}

// instructions tell a model how to use the server.
const instructions = "Tools for a Task Manager: task_* for tasks, project_* for projects, " +
	"action_list_* for checklists. Call activate_taskman_server first to check the backend. " +
	"Ids are opaque strings such as T-1a2b3c4d; list and search tools return them. " +
	"Records are also resources (taskman://tasks/{id}, projects, sprints, action-lists), " +
	"and the prompts daily_standup, plan_sprint and triage start common workflows."

// method is a row of the method table: the eras that serve the method,
// the server capability it belongs to, the client capabilities it needs,
// and its handler. Legacy and modern dispatch read the same row; adding a
// method is adding a row.
type method struct {
	legacy bool // served in sessions negotiated with initialize
	modern bool // served statelessly in 2026-07-28
	// beforeInit lets a legacy session call the method before initialize.
	beforeInit bool
	// capability is the server capability that declares the method; ""
	// for the lifecycle methods every server has.
	capability string
	// clientCapabilities are the client capabilities the method relies
	// on; a 2026-07-28 request that does not declare one gets -32021.
	clientCapabilities []string
	// clientLog lets log lines about the request reach the client as
	// notifications/message, at the level it asked for.
	clientLog bool
	handle    func(s *server, ctx context.Context, c *invocation) (any, error)
}

// methodTable holds every MCP method the server answers (docs/mcp.md,
// "Methods").
var methodTable = map[string]*method{
	"initialize":               {legacy: true, beforeInit: true, handle: (*server).initialize},
	"ping":                     {legacy: true, beforeInit: true, handle: ping},
	"server/discover":          {modern: true, handle: (*server).discover},
	"tools/list":               {legacy: true, modern: true, capability: capabilityTools, handle: (*server).toolsList},
	"tools/call":               {legacy: true, modern: true, capability: capabilityTools, clientLog: true, handle: (*server).toolsCall},
	"completion/complete":      {legacy: true, modern: true, capability: capabilityCompletions, handle: (*server).completionComplete},
	"prompts/list":             {legacy: true, modern: true, capability: capabilityPrompts, handle: (*server).promptsList},
	"prompts/get":              {legacy: true, modern: true, capability: capabilityPrompts, handle: (*server).promptsGet},
	"resources/list":           {legacy: true, modern: true, capability: capabilityResources, handle: (*server).resourcesList},
	"resources/read":           {legacy: true, modern: true, capability: capabilityResources, handle: (*server).resourcesRead},
	"resources/subscribe":      {legacy: true, capability: capabilityResources, handle: (*server).resourcesSubscribe},
	"resources/unsubscribe":    {legacy: true, capability: capabilityResources, handle: (*server).resourcesUnsubscribe},
	"subscriptions/listen":     {modern: true, capability: capabilityResources, handle: (*server).subscriptionsListen},
	"resources/templates/list": {legacy: true, modern: true, capability: capabilityResources, handle: (*server).resourcesTemplatesList},
	"logging/setLevel":         {legacy: true, capability: capabilityLogging, handle: setLevel},
}

// invocation is one request on its way through its method's handler.
type invocation struct {
	req     *message
	sess    *session
	ri      *requestInfo
	version string // the negotiated legacy version, or versionModern
	notify  notifier
}

// incoming is a parsed line or POST body: one message, or the raw text of
// a batch (its items are parsed only once the session allows batches).
type incoming struct {
	single  *message // nil for a batch or for text that is not JSON
	batch   []byte
	invalid bool // the text is not JSON
}

// parseIncoming parses a line or body once.
func parseIncoming(raw []byte) *incoming {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		return &incoming{batch: raw}
	}
	req := parseMessage(raw)
	return &incoming{single: req, invalid: req == nil}
}

// serve answers a parsed message or batch. h holds the HTTP request's
// headers (nil under stdio), which 2026-07-28 requests must agree with.
func (s *server) serve(ctx context.Context, sess *session, in *incoming, h http.Header, notify notifier) *answer {
	switch {
	case in.invalid:
		return s.reject(nil, &rpcError{Code: codeParseError, Message: "parse error: the message is not valid JSON"})
	case in.batch != nil:
		return s.serveBatch(ctx, sess, in.batch, notify)
	}
	return s.serveOne(ctx, sess, in.single, h, notify)
}

// reject answers a message that never reached a method, and counts it.
func (s *server) reject(id json.RawMessage, err *rpcError) *answer {
	s.metrics.countError(errorKind(err.Code))
	return errorAnswer(id, err)
}

// serveBatch answers a JSON-RPC batch, which only 2025-03-26 allows.
func (s *server) serveBatch(ctx context.Context, sess *session, raw []byte, notify notifier) *answer {
	if v := sess.negotiated(); v != version20250326 {
		if v == "" {
			v = "none (not initialized)"
		}
		return s.reject(nil, &rpcError{Code: codeInvalidRequest,
			Message: "JSON-RPC batches are only accepted in protocol version 2025-03-26; this session uses " + v})
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return s.reject(nil, &rpcError{Code: codeParseError, Message: "parse error: " + err.Error()})
	}
	if len(items) == 0 {
		return s.reject(nil, &rpcError{Code: codeInvalidRequest, Message: "invalid request: empty batch"})
	}
	out := &answer{status: http.StatusOK}
	for _, item := range items {
		// Each item is valid JSON (it was decoded above), so it parses.
		if a := s.serveOne(ctx, sess, parseMessage(item), nil, notify); a != nil {
			out.batch = append(out.batch, a)
		}
	}
	if len(out.batch) == 0 {
		return nil
	}
	return out
}

// serveOne answers one parsed message; nil means no answer.
func (s *server) serveOne(ctx context.Context, sess *session, req *message, h http.Header, notify notifier) *answer {
	if req.invalid != nil {
		a := s.reject(req.id, req.invalid)
		if h != nil && req.modern(h, true) {
			a.status = http.StatusBadRequest // a modern client's malformed request
		}
		return a
	}
	if req.response {
		return nil // a response to a request we never send; ignore it
	}
	if req.id == nil {
		if req.modern(h, sess.negotiated() != "") {
			if err := req.checkModern(h); err != nil {
				return s.reject(nil, err)
			}
		}
		s.handleNotification(ctx, sess, req)
		return nil
	}
	return s.handleRequest(ctx, sess, req, h, notify)
}

// handleNotification processes a notification; none is answered.
func (s *server) handleNotification(ctx context.Context, sess *session, req *message) {
	switch req.method {
	case "notifications/cancelled":
		var id json.RawMessage
		var reason string
		if req.paramsErr != nil || req.param("requestId", &id) != nil || id == nil || req.param("reason", &reason) != nil {
			s.logger.DebugContext(ctx, "ignoring malformed cancellation")
			return
		}
		if sess.cancelRequest(wireSafe(id)) {
			s.logger.InfoContext(ctx, "request cancelled by client", "id", string(id), "reason", reason)
		}
	case "notifications/initialized":
		s.logger.DebugContext(ctx, "client initialized")
	default:
		s.logger.DebugContext(ctx, "ignoring notification", "method", req.method)
	}
}

// handleRequest runs one request: it gives it a request id and a span,
// tracks it for cancellation, recovers a panic into -32603, and suppresses
// the answer to a request the client cancelled. Its deferred function is
// the one place where a request's outcome is recorded (metrics, span, log).
func (s *server) handleRequest(ctx context.Context, sess *session, req *message, h http.Header, notify notifier) (a *answer) {
	// Over HTTP the request already has an id (from X-Request-ID or made
	// for it); under stdio each JSON-RPC request gets a fresh one.
	ri := &requestInfo{id: requestIDFrom(ctx), session: sess.id}
	if ri.id == "" {
		ri.id = newRequestID()
	}
	ctx = withRequestInfo(ctx, ri)
	ctx, span := s.startSpan(ctx, req)
	defer span.End()
	ctx, f, done := s.track(ctx, sess, req)
	defer done()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.metrics.countError("panic")
			s.logger.ErrorContext(ctx, "panic while handling request", "method", req.method,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			a = errorAnswer(req.id, &rpcError{Code: codeInternalError, Message: "internal error while handling " + req.method})
		}
		if f != nil && f.cancelled.Load() {
			a = nil // the client cancelled it: no response (spec, cancellation)
		}
		ok := a == nil || a.err == nil
		s.metrics.countMCPRequest(req.method, ok)
		s.metrics.observeMCPOperation(s.transport, sess, req, ri, a, time.Since(start))
		if !ok {
			s.metrics.countError(errorKind(a.err.Code))
		}
		endSpan(span, sess, req, ri, a)
		level := slog.LevelDebug
		if !ok {
			level = slog.LevelInfo
		}
		if s.logger.Enabled(ctx, level) { // checked first: the attributes cost allocations
			s.logger.LogAttrs(ctx, level, "request done", slog.String("method", req.method),
				slog.Int64("duration_ms", time.Since(start).Milliseconds()), slog.Bool("ok", ok))
		}
	}()
	result, err := s.dispatch(ctx, &invocation{req: req, sess: sess, ri: ri, notify: notify}, h)
	if err != nil {
		var rerr *rpcError
		if !errors.As(err, &rerr) {
			s.logger.ErrorContext(ctx, "request failed", "method", req.method, "err", err)
			rerr = &rpcError{Code: codeInternalError, Message: "internal error: " + err.Error()}
		}
		return errorAnswer(req.id, rerr)
	}
	return resultAnswer(req.id, result)
}

// track registers req with its session for cancellation by id
// (notifications/cancelled), except over HTTP without a session: the
// session of a 2026-07-28 request is made for it alone, so no other
// message can name it, and closing its stream is what cancels it; the
// *inflight is nil then.
func (s *server) track(ctx context.Context, sess *session, req *message) (context.Context, *inflight, func()) {
	if s.transport == "http" && sess.id == "" {
		return ctx, nil, func() {}
	}
	return sess.track(ctx, req.id)
}

// startSpan starts the MCP span of a request: a child of the HTTP span
// (kind internal) or, under stdio, a server span; a traceparent in
// params._meta makes it a child of the client's trace.
func (s *server) startSpan(ctx context.Context, req *message) (context.Context, trace.Span) {
	kind := spanKindServer
	if trace.SpanFromContext(ctx).SpanContext().IsValid() {
		kind = spanKindInternal
	}
	if tp := req.meta.get("traceparent"); tp != nil {
		carrier := map[string]any{"traceparent": rawString(tp)}
		for _, k := range []string{"tracestate", "baggage"} {
			if v := req.meta.get(k); v != nil {
				carrier[k] = rawString(v)
			}
		}
		ctx = s.tracing.extractMeta(ctx, carrier)
	}
	return s.tracing.start(ctx, req.method, kind...)
}

// endSpan names the MCP span after the tool called, sets its attributes and
// records how the request ended: error.type tool_error for an isError
// result, the JSON-RPC code for an error.
func endSpan(span trace.Span, sess *session, req *message, ri *requestInfo, a *answer) {
	if !span.IsRecording() {
		return
	}
	attrs := newSpanAttrs()
	attrs.add(
		attribute.String("mcp.method.name", req.method),
		attribute.String("jsonrpc.request.id", rawString(req.id)),
		attribute.String("request_id", ri.id),
	)
	v := sess.negotiated()
	if pv := req.meta.get(metaProtocolVersion); pv != nil {
		v = rawString(pv)
	}
	if v != "" {
		attrs.add(attribute.String("mcp.protocol.version", v))
	}
	if sess.id != "" {
		attrs.add(attribute.String("mcp.session.id", sess.id))
	}
	if ri.tool != "" {
		span.SetName(req.method + " " + ri.tool)
		attrs.add(attribute.String("gen_ai.tool.name", ri.tool), attribute.String("gen_ai.operation.name", "execute_tool"))
	}
	switch {
	case a == nil:
		attrs.add(attribute.Bool("mcp.request.cancelled", true))
	case a.err != nil:
		attrs.add(attribute.String("error.type", strconv.Itoa(a.err.Code)))
		span.SetStatus(codes.Error, a.err.Message)
	default:
		if res, ok := a.result.(*toolResult); ok && res.IsError {
			attrs.add(attribute.String("error.type", "tool_error"))
			span.SetStatus(codes.Error, "tool returned an error result")
		}
	}
	attrs.setOn(span)
}

// dispatch routes a request to its method table row, in the era the
// request selects: a 2026-07-28 request after every _meta and header rule,
// a legacy one within its negotiated session.
func (s *server) dispatch(ctx context.Context, c *invocation, h http.Header) (any, error) {
	req := c.req
	if req.paramsErr != nil {
		return nil, req.paramsErr
	}
	m := s.methods[req.method]
	if !req.modern(h, c.sess.negotiated() != "") {
		return s.dispatchLegacy(ctx, m, c)
	}
	if err := req.checkModern(h); err != nil {
		return nil, err
	}
	if raw := req.meta.get(metaLogLevel); raw != nil {
		var name string
		_ = json.Unmarshal(raw, &name)
		level, ok := mcpLogLevels[name]
		if !ok {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown log level %q", name)}
		}
		if m != nil && m.clientLog {
			c.ri.clientLevel = level
			c.ri.clientLog = s.clientLogger(versionModern, c.notify)
		}
	}
	if m == nil || !m.modern {
		return nil, &rpcError{Code: codeMethodNotFound, status: http.StatusNotFound,
			Message: "method not found: " + req.method + " (not part of " + versionModern + ")"}
	}
	if missing := missingCapabilities(req.meta.get(metaClientCapabilities), m.clientCapabilities); missing != nil {
		return nil, &rpcError{Code: codeMissingCapability, status: http.StatusBadRequest,
			Message: "missing required client capability: " + req.method + " needs " + strings.Join(slices.Sorted(maps.Keys(missing)), ", "),
			Data:    map[string]any{"requiredCapabilities": missing}}
	}
	c.version = versionModern
	res, err := m.handle(s, ctx, c)
	if err != nil {
		return nil, err
	}
	mr, ok := res.(modernResult)
	if !ok {
		return nil, fmt.Errorf("%s returned a %T, which cannot carry the %s result fields", req.method, res, versionModern)
	}
	mr.stamp(s.serverInfo(versionModern))
	return res, nil
}

// dispatchLegacy serves a request of a session negotiated with initialize.
func (s *server) dispatchLegacy(ctx context.Context, m *method, c *invocation) (any, error) {
	v := c.sess.negotiated()
	if v == "" && (m == nil || !m.beforeInit) {
		return nil, &rpcError{Code: codeInvalidRequest, Message: "invalid request: the session is not initialized; send initialize first " +
			"(or send " + versionModern + " requests carrying _meta[\"" + metaProtocolVersion + "\"])"}
	}
	if m == nil || !m.legacy {
		return nil, &rpcError{Code: codeMethodNotFound, Message: "method not found: " + c.req.method}
	}
	c.version = v
	if m.clientLog {
		c.sess.mu.Lock()
		if c.sess.logLevel != nil {
			c.ri.clientLevel = *c.sess.logLevel
			c.ri.clientLog = s.clientLogger(v, c.notify)
		}
		c.sess.mu.Unlock()
	}
	return m.handle(s, ctx, c)
}

// missingCapabilities returns the capabilities of need that the client's
// declared capabilities (raw JSON object) lack, as a ClientCapabilities
// object ({"sampling": {}}); nil when none is missing.
func missingCapabilities(declared json.RawMessage, need []string) map[string]any {
	if len(need) == 0 {
		return nil
	}
	var have map[string]json.RawMessage
	_ = json.Unmarshal(declared, &have)
	var missing map[string]any
	for _, c := range need {
		if _, ok := have[c]; !ok {
			if missing == nil {
				missing = map[string]any{}
			}
			missing[c] = map[string]any{}
		}
	}
	return missing
}

// ping answers ping.
func ping(*server, context.Context, *invocation) (any, error) { return emptyResult{}, nil }

// setLevel sets the minimum level of the log lines a legacy session's
// tool calls send it as notifications/message.
func setLevel(_ *server, _ context.Context, c *invocation) (any, error) {
	var name string
	_ = c.req.param("level", &name)
	level, ok := mcpLogLevels[name]
	if !ok {
		return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown log level %q", name)}
	}
	c.sess.mu.Lock()
	c.sess.logLevel = &level
	c.sess.mu.Unlock()
	return emptyResult{}, nil
}

// initialize negotiates the protocol version of a legacy session: the
// client's version when we support it, else our newest legacy version.
func (s *server) initialize(_ context.Context, c *invocation) (any, error) {
	var requested string
	var client struct {
		Name    any `json:"name"`
		Version any `json:"version"`
	}
	if c.req.param("protocolVersion", &requested) != nil || requested == "" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: initialize needs params.protocolVersion"}
	}
	_ = c.req.param("clientInfo", &client)
	v := legacyVersions[0]
	for _, lv := range legacyVersions {
		if requested == lv {
			v = lv
		}
	}
	sess := c.sess
	sess.mu.Lock()
	if sess.version != "" {
		sess.mu.Unlock()
		return nil, &rpcError{Code: codeInvalidRequest, Message: "invalid request: the session is already initialized"}
	}
	sess.version = v
	sess.mu.Unlock()
	s.watchListLegacy(sess, c.notify)
	s.logger.Info("session initialized", "session_id", sess.id, "protocol_version", v,
		"requested_version", requested, "client", client.Name, "client_version", client.Version)
	res := &initializeResult{Capabilities: capabilities, ProtocolVersion: v, ServerInfo: s.serverInfo(v)}
	if v >= version20250326 {
		res.Instructions = instructions
	}
	return res, nil
}

// discover answers server/discover.
func (s *server) discover(context.Context, *invocation) (any, error) {
	return &discoverResult{
		Capabilities:      capabilities,
		SupportedVersions: supportedVersions,
		Instructions:      instructions,
		TTLMS:             3_600_000, // the catalog changes only with a new release
		CacheScope:        "public",
	}, nil
}

// rawString returns the string in raw, or raw itself when it is not one
// (a number id, say).
func rawString(raw json.RawMessage) string {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && plainJSONString(raw[1:n-1]) {
		return string(raw[1 : n-1]) // the common case, without the decoder
	}
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// plainJSONString reports whether b, the inside of a JSON string, decodes
// to itself: printable ASCII without quotes or escapes.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// toolsList returns one page of the catalog. The cursor is opaque to the
// client: base64 of the offset.
func (s *server) toolsList(_ context.Context, c *invocation) (any, error) {
	var cursor *string
	_ = c.req.param("cursor", &cursor)
	start := 0
	if cursor != nil {
		n, err := decodeCursor(*cursor)
		if err != nil || n > len(s.tools) {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown cursor %q", *cursor)}
		}
		start = n
	}
	end := min(start+s.toolsPageSize, len(s.tools))
	res := &toolsListResult{Tools: s.toolsJSON[c.version][start:end]}
	if end < len(s.tools) {
		res.NextCursor = encodeCursor(end)
	}
	if c.version == versionModern {
		res.TTLMS = 300_000 // five minutes: a restart with a new release is picked up soon
		res.CacheScope = "public"
	}
	return res, nil
}

// encodeCursor and decodeCursor turn a list offset into an opaque cursor
// and back.
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("tools:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	rest, ok := bytes.CutPrefix(b, []byte("tools:"))
	if !ok {
		return 0, errors.New("not a tools cursor")
	}
	n, err := strconv.Atoi(string(rest))
	if err != nil || n < 0 {
		return 0, errors.New("bad offset")
	}
	return n, nil
}

// toolsCall runs a tool and shapes its result for the call's protocol
// version.
func (s *server) toolsCall(ctx context.Context, c *invocation) (any, error) {
	v, ri := c.version, c.ri
	if raw := c.req.params.get("name"); raw == nil || string(raw) == "null" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: tools/call needs params.name"}
	}
	var name string
	if err := c.req.param("name", &name); err != nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	t := s.byName[name]
	if t == nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("Unknown tool: %s", name)}
	}
	ri.tool = t.name
	if why := s.offer.refusal(t); why != "" {
		s.metrics.observeToolExecution(t.name, "error", 0)
		return errorToolResult(t.name + ": " + why), nil
	}
	args, err := decodeArguments(c.req.params.get("arguments"))
	if err == nil {
		err = t.input.validate("", args)
	}
	if err != nil {
		s.metrics.observeToolExecution(t.name, "error", 0)
		return s.argumentError(v, t, err)
	}
	tc := s.newToolCall()
	if tok := c.req.meta.get("progressToken"); tok != nil && validID(tok) != nil {
		tc.progress = progressReporter(v, wireSafe(tok), c.notify)
	}
	start := time.Now()
	payload, err := t.call(ctx, tc, args.(map[string]any))
	elapsed := time.Since(start)
	var aerr *argError
	if errors.As(err, &aerr) {
		s.metrics.observeToolExecution(t.name, "error", elapsed)
		return s.argumentError(v, t, err)
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// Cancelled by the client, a client gone, or the shutdown
		// deadline: not the tool's failure, so neither an error in the
		// metrics nor a warning in the log.
		s.metrics.observeToolExecution(t.name, "cancelled", elapsed)
		s.logger.DebugContext(ctx, "tool call cancelled", "duration_ms", elapsed.Milliseconds(), "err", err)
		return errorToolResult(t.name + ": cancelled: " + err.Error()), nil
	}
	if err != nil {
		s.metrics.observeToolExecution(t.name, "error", elapsed)
		kind := toolErrorKind(err)
		s.metrics.countError(kind)
		level := slog.LevelWarn
		if kind == "tool_error" {
			level = slog.LevelInfo // the caller's mistake or the backend's limit, not the operator's problem
		}
		s.logger.Log(ctx, level, "tool call failed", "duration_ms", elapsed.Milliseconds(), "err", err)
		return errorToolResult(t.name + ": " + err.Error()), nil
	}
	res := newToolResult(v, payload)
	tc.notes.annotate(res)
	if tc.stale != nil {
		s.metrics.observeToolExecution(t.name, "stale", elapsed)
		markStale(res, tc.stale)
		s.logger.InfoContext(ctx, "tool call answered from the fallback cache", "duration_ms", elapsed.Milliseconds(), "age_ms", tc.stale.age.Milliseconds())
		return res, nil
	}
	if !t.hints.readOnly {
		if s.subs.watched() { // working out the URIs decodes records: only for a listener
			s.subs.publish(changedURIs(args.(map[string]any), payload))
		}
		if changesList(t) {
			s.subs.listChanged()
		}
	}
	s.metrics.observeToolExecution(t.name, "success", elapsed)
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		s.logger.LogAttrs(ctx, slog.LevelDebug, "tool call done", slog.Int64("duration_ms", elapsed.Milliseconds()))
	}
	return res, nil
}

// toolErrorKind classifies a failed tool call for taskman_errors_total:
// backend when the backend could not be reached or failed, tool_error when
// it refused the request.
func toolErrorKind(err error) string {
	var berr *backendError
	var uerr *unsupportedError // the backend's dialect has no way to serve the tool
	if errors.As(err, &berr) && berr.status >= 400 && berr.status < 500 || errors.As(err, &uerr) {
		return "tool_error"
	}
	return "backend"
}

// decodeArguments decodes tools/call arguments, keeping numbers exact;
// absent arguments are an empty object. raw is a member of a message
// objectMembers has validated, so it is valid JSON without surrounding
// space and is not scanned again.
func decodeArguments(raw json.RawMessage) (any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]any{}, nil
	}
	if raw[0] != '{' {
		return nil, &argError{"", "arguments must be an object"}
	}
	v, _ := decodeValid(raw, 0)
	return v, nil
}

// argumentError reports invalid arguments: as a tool result with isError
// from 2025-11-25 on (so the model can correct itself), as -32602 before.
func (s *server) argumentError(v string, t *tool, err error) (any, error) {
	msg := "invalid arguments for " + t.name + ": " + err.Error()
	if argErrorsAsResults(v) {
		s.metrics.countError("invalid_params")
		return errorToolResult(msg), nil
	}
	return nil, &rpcError{Code: codeInvalidParams, Message: msg}
}

// progressReporter returns a function that sends notifications/progress
// with the client's token, its JSON type unchanged.
func progressReporter(v string, token json.RawMessage, notify notifier) func(done, total float64, message string) {
	return func(done, total float64, message string) {
		p := map[string]any{"progressToken": token, "progress": done, "total": total}
		if v >= version20250326 && message != "" {
			p["message"] = message
		}
		notify(&notification{JSONRPC: "2.0", Method: "notifications/progress", Params: p})
	}
}

// clientLogger returns the function the log handler calls to copy a record
// to the client as notifications/message.
func (s *server) clientLogger(v string, notify notifier) func(slog.Level, string, map[string]any) {
	return func(level slog.Level, msg string, attrs map[string]any) {
		data := map[string]any{"message": msg}
		for k, val := range attrs {
			if k == "session_id" || k == "request_id" {
				continue
			}
			if err, ok := val.(error); ok {
				val = err.Error()
			}
			data[k] = val
		}
		notify(&notification{JSONRPC: "2.0", Method: "notifications/message", Params: map[string]any{
			"level": mcpLevelName(level), "logger": "taskman-mcp", "data": data,
		}})
	}
}

// isRequest reports whether the text is one request, which must be
// answered (or was cancelled).
func (in *incoming) isRequest() bool {
	return in.single != nil && in.single.id != nil && !in.single.response
}
