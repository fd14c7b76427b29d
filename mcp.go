package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
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

// JSON-RPC and MCP error codes (mcp-spec-notes.md 1.7).
const (
	codeParseError         = -32700
	codeInvalidRequest     = -32600
	codeMethodNotFound     = -32601
	codeInvalidParams      = -32602
	codeInternalError      = -32603
	codeHeaderMismatch     = -32020
	codeUnsupportedVersion = -32022
)

// Feature checks by protocol version: output is shaped so that a client
// never receives a field its version does not know.
func hasAnnotations(v string) bool     { return v >= version20250326 }
func hasStructured(v string) bool      { return v >= version20250618 }
func argErrorsAsResults(v string) bool { return v >= version20251125 }

// message is any incoming JSON-RPC message. ID is kept raw so it is echoed
// byte for byte; a nil ID means the member was absent (a notification).
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// response is an outgoing JSON-RPC response.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// notification is an outgoing JSON-RPC notification.
type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

// rpcError is a JSON-RPC error object; it is also a Go error, so handlers
// return it like any other.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

// nullID is the id of a response to a message whose id could not be read.
var nullID = json.RawMessage("null")

// errorResponse returns a response carrying err for the request with id.
func errorResponse(id json.RawMessage, code int, msg string) *response {
	if id == nil {
		id = nullID
	}
	return &response{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

// notifier sends a notification related to the request being served:
// progress and log messages. Under stdio it writes a line; over HTTP it
// turns the answer into an event stream.
type notifier func(n *notification)

// server is the MCP server: it owns every dependency and dispatches
// JSON-RPC messages from any transport.
type server struct {
	cfg     *config
	logger  *slog.Logger
	version string
	backend *backendClient
	metrics *metrics // nil records nothing
	// breakers are the backend's circuit breakers, for reports; nil when
	// disabled.
	breakers *breakers
	tracing  *tracing // nil or off: a no-op tracer
	tools    []*tool
	byName   map[string]*tool

	// toolsPageSize is how many tools one tools/list page holds. It is
	// larger than the catalog, so clients that ignore nextCursor still see
	// every tool; tests lower it to exercise paging.
	toolsPageSize int
	// toolsJSON caches each version's rendering of every tool.
	toolsJSON map[string][]json.RawMessage
}

// defaultToolsPageSize is one page for the whole catalog (39 tools): some
// clients do not follow nextCursor.
const defaultToolsPageSize = 100

// serverDeps are what a server is built from. Config, Logger and Backend
// are required; the rest may be nil (off).
type serverDeps struct {
	Config   *config
	Logger   *slog.Logger
	Version  string
	Backend  *backendClient
	Metrics  *metrics
	Breakers *breakers
	Tracing  *tracing
}

// newServer returns a server built from d.
func newServer(d serverDeps) (*server, error) {
	if d.Config == nil || d.Logger == nil || d.Backend == nil {
		return nil, errors.New("new server: config, logger and backend are required")
	}
	s := &server{
		cfg:           d.Config,
		logger:        d.Logger,
		version:       d.Version,
		backend:       d.Backend,
		metrics:       d.Metrics,
		breakers:      d.Breakers,
		tracing:       d.Tracing,
		tools:         newToolTable(),
		byName:        make(map[string]*tool),
		toolsPageSize: defaultToolsPageSize,
		toolsJSON:     make(map[string][]json.RawMessage),
	}
	for _, t := range s.tools {
		if s.byName[t.name] != nil {
			return nil, fmt.Errorf("new server: tool %s defined twice", t.name)
		}
		s.byName[t.name] = t
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
		d["outputSchema"] = t.output
	}
	if hasAnnotations(v) {
		a := map[string]any{
			"readOnlyHint":    t.hints.readOnly,
			"destructiveHint": t.hints.destructive,
			"idempotentHint":  t.hints.idempotent,
			"openWorldHint":   false,
		}
		if !hasStructured(v) {
			a["title"] = t.title // 2025-03-26 carries the title here only
		}
		d["annotations"] = a
	}
	return d
}

// serverInfo is our Implementation object.
func (s *server) serverInfo(v string) map[string]any {
	info := map[string]any{"name": "taskman-mcp", "version": s.version}
	if hasStructured(v) {
		info["title"] = "TaskMan MCP"
	}
	return info
}

// instructions tell a model how to use the server.
const instructions = "Tools for a Task Manager: task_* for tasks, project_* for projects, " +
	"action_list_* for checklists. Call activate_taskman_server first to check the backend. " +
	"Ids are opaque strings such as T-1a2b3c4d; list and search tools return them."

// handle processes one incoming JSON text (a message or, in 2025-03-26, a
// batch) and returns the JSON to answer with, or nil when there is nothing
// to answer (notifications, responses, cancelled requests).
func (s *server) handle(ctx context.Context, sess *session, raw []byte, notify notifier) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		return s.handleBatch(ctx, sess, raw, notify)
	}
	resp := s.handleOne(ctx, sess, raw, notify)
	if resp == nil {
		return nil
	}
	return s.marshalResponse(resp)
}

// invalid returns an error response for a message that never reached a
// method, and counts it.
func (s *server) invalid(id json.RawMessage, code int, msg string) *response {
	s.metrics.countError(errorKind(code))
	return errorResponse(id, code, msg)
}

// marshalResponse encodes resp; a result that cannot be encoded becomes an
// internal error rather than a broken line.
func (s *server) marshalResponse(resp *response) []byte {
	b, err := json.Marshal(resp)
	if err != nil {
		s.logger.Error("encode response", "err", err)
		b, _ = json.Marshal(errorResponse(resp.ID, codeInternalError, "internal error: the result could not be encoded"))
	}
	return b
}

// handleBatch processes a JSON-RPC batch, which only 2025-03-26 allows.
func (s *server) handleBatch(ctx context.Context, sess *session, raw []byte, notify notifier) []byte {
	if v := sess.negotiated(); v != version20250326 {
		if v == "" {
			v = "none (not initialized)"
		}
		return s.marshalResponse(s.invalid(nil, codeInvalidRequest,
			"JSON-RPC batches are only accepted in protocol version 2025-03-26; this session uses "+v))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return s.marshalResponse(s.invalid(nil, codeParseError, "parse error: "+err.Error()))
	}
	if len(items) == 0 {
		return s.marshalResponse(s.invalid(nil, codeInvalidRequest, "invalid request: empty batch"))
	}
	var out []*response
	for _, item := range items {
		if resp := s.handleOne(ctx, sess, item, notify); resp != nil {
			out = append(out, resp)
		}
	}
	if len(out) == 0 {
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return s.marshalResponse(s.invalid(nil, codeInternalError, "internal error: the batch result could not be encoded"))
	}
	return b
}

// handleOne processes one JSON-RPC message.
func (s *server) handleOne(ctx context.Context, sess *session, raw []byte, notify notifier) *response {
	var msg message
	if err := json.Unmarshal(raw, &msg); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || !json.Valid(raw) {
			return s.invalid(nil, codeParseError, "parse error: the message is not valid JSON")
		}
		return s.invalid(validID(msg.ID), codeInvalidRequest, "invalid request: "+err.Error())
	}
	if msg.JSONRPC != "2.0" {
		return s.invalid(validID(msg.ID), codeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
	}
	if msg.ID == nil {
		if msg.Method == "" {
			return s.invalid(nil, codeInvalidRequest, `invalid request: a message needs "method" or "id"`)
		}
		s.handleNotification(ctx, sess, &msg)
		return nil
	}
	if validID(msg.ID) == nil {
		return s.invalid(nil, codeInvalidRequest, "invalid request: id must be a string or an integer, not "+string(msg.ID))
	}
	if msg.Method == "" {
		if msg.Result != nil || msg.Error != nil {
			return nil // a response to a request we never send; ignore it
		}
		return s.invalid(msg.ID, codeInvalidRequest, `invalid request: "method" is required`)
	}
	return s.handleRequest(ctx, sess, &msg, notify)
}

// validID returns id when it is a valid request id (a string or a number),
// else nil.
func validID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nil
	}
	switch c := id[0]; {
	case c == '"', c == '-', '0' <= c && c <= '9':
		return id
	}
	return nil
}

// handleNotification processes a notification; none is answered.
func (s *server) handleNotification(ctx context.Context, sess *session, msg *message) {
	switch msg.Method {
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
			Reason    string          `json:"reason"`
		}
		if json.Unmarshal(msg.Params, &p) != nil || p.RequestID == nil {
			s.logger.DebugContext(ctx, "ignoring malformed cancellation")
			return
		}
		if sess.cancelRequest(p.RequestID) {
			s.logger.InfoContext(ctx, "request cancelled by client", "id", string(p.RequestID), "reason", p.Reason)
		}
	case "notifications/initialized":
		s.logger.DebugContext(ctx, "client initialized")
	default:
		s.logger.DebugContext(ctx, "ignoring notification", "method", msg.Method)
	}
}

// requestParams is what every request's params may carry.
type requestParams struct {
	Meta map[string]json.RawMessage `json:"_meta"`
}

// handleRequest runs one request: it gives it a request id and a span,
// tracks it for cancellation, recovers a panic into -32603, and suppresses
// the answer to a request the client cancelled.
func (s *server) handleRequest(ctx context.Context, sess *session, msg *message, notify notifier) (resp *response) {
	// Over HTTP the request already has an id (from X-Request-ID or made
	// for it); under stdio each JSON-RPC request gets a fresh one.
	ri := &requestInfo{id: requestIDFrom(ctx), session: sess.id}
	if ri.id == "" {
		ri.id = newRequestID()
	}
	ctx = withRequestInfo(ctx, ri)
	var p requestParams
	paramsErr := decodeParams(msg.Params, &p)
	ctx, span := s.startSpan(ctx, msg, p)
	defer span.End()
	ctx, f, done := sess.track(ctx, msg.ID)
	defer done()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.metrics.countError("panic")
			s.logger.ErrorContext(ctx, "panic while handling request", "method", msg.Method,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = errorResponse(msg.ID, codeInternalError, "internal error while handling "+msg.Method)
		}
		if f.cancelled.Load() {
			resp = nil // the client cancelled it: no response (spec, cancellation)
		}
		ok := resp == nil || resp.Error == nil
		s.metrics.countMCPRequest(msg.Method, ok)
		if !ok {
			s.metrics.countError(errorKind(resp.Error.Code))
		}
		endSpan(span, sess, msg, p, ri, resp)
		level := slog.LevelDebug
		if !ok {
			level = slog.LevelInfo
		}
		s.logger.Log(ctx, level, "request done", "method", msg.Method, "duration_ms", time.Since(start).Milliseconds(), "ok", ok)
	}()
	if paramsErr != nil {
		return &response{JSONRPC: "2.0", ID: msg.ID, Error: paramsErr}
	}
	result, err := s.dispatch(ctx, sess, ri, msg, p, notify)
	if err != nil {
		var rerr *rpcError
		if !errors.As(err, &rerr) {
			s.logger.ErrorContext(ctx, "request failed", "method", msg.Method, "err", err)
			rerr = &rpcError{Code: codeInternalError, Message: "internal error: " + err.Error()}
		}
		return &response{JSONRPC: "2.0", ID: msg.ID, Error: rerr}
	}
	return &response{JSONRPC: "2.0", ID: msg.ID, Result: result}
}

// decodeParams reads the _meta of a request's params; params that are
// present must be an object.
func decodeParams(raw json.RawMessage, p *requestParams) *rpcError {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if json.Unmarshal(raw, p) != nil {
		return &rpcError{Code: codeInvalidParams, Message: "invalid params: params must be an object"}
	}
	return nil
}

// startSpan starts the MCP span of a request: a child of the HTTP span
// (kind internal) or, under stdio, a server span; a traceparent in
// params._meta makes it a child of the client's trace.
func (s *server) startSpan(ctx context.Context, msg *message, p requestParams) (context.Context, trace.Span) {
	kind := spanKindServer
	if trace.SpanFromContext(ctx).SpanContext().IsValid() {
		kind = spanKindInternal
	}
	if tp, ok := p.Meta["traceparent"]; ok {
		carrier := map[string]any{"traceparent": rawString(tp)}
		for _, k := range []string{"tracestate", "baggage"} {
			if v, ok := p.Meta[k]; ok {
				carrier[k] = rawString(v)
			}
		}
		ctx = s.tracing.extractMeta(ctx, carrier)
	}
	return s.tracing.tracer().Start(ctx, msg.Method, kind...)
}

// endSpan names the MCP span after the tool called, sets its attributes and
// records how the request ended: error.type tool_error for an isError
// result, the JSON-RPC code for an error.
func endSpan(span trace.Span, sess *session, msg *message, p requestParams, ri *requestInfo, resp *response) {
	if !span.IsRecording() {
		return
	}
	a := newSpanAttrs()
	a.add(
		attribute.String("mcp.method.name", msg.Method),
		attribute.String("jsonrpc.request.id", rawString(msg.ID)),
		attribute.String("request_id", ri.id),
	)
	v := sess.negotiated()
	if pv, ok := p.Meta[metaProtocolVersion]; ok {
		v = rawString(pv)
	}
	if v != "" {
		a.add(attribute.String("mcp.protocol.version", v))
	}
	if sess.id != "" {
		a.add(attribute.String("mcp.session.id", sess.id))
	}
	if ri.tool != "" {
		span.SetName(msg.Method + " " + ri.tool)
		a.add(attribute.String("gen_ai.tool.name", ri.tool), attribute.String("gen_ai.operation.name", "execute_tool"))
	}
	switch {
	case resp == nil:
		a.add(attribute.Bool("mcp.request.cancelled", true))
	case resp.Error != nil:
		a.add(attribute.String("error.type", strconv.Itoa(resp.Error.Code)))
		span.SetStatus(codes.Error, resp.Error.Message)
	default:
		if res, ok := resp.Result.(map[string]any); ok && res["isError"] == true {
			a.add(attribute.String("error.type", "tool_error"))
			span.SetStatus(codes.Error, "tool returned an error result")
		}
	}
	a.setOn(span)
}

// dispatch routes a request to its method, in the era the request selects.
func (s *server) dispatch(ctx context.Context, sess *session, ri *requestInfo, msg *message, p requestParams, notify notifier) (any, error) {
	if pv, ok := p.Meta[metaProtocolVersion]; ok || msg.Method == "server/discover" {
		return s.dispatchModern(ctx, ri, msg, p, pv, notify)
	}
	return s.dispatchLegacy(ctx, sess, ri, msg, notify)
}

// dispatchLegacy serves a request of a session negotiated with initialize.
func (s *server) dispatchLegacy(ctx context.Context, sess *session, ri *requestInfo, msg *message, notify notifier) (any, error) {
	switch msg.Method {
	case "initialize":
		return s.initialize(sess, msg.Params)
	case "ping":
		return map[string]any{}, nil
	}
	v := sess.negotiated()
	if v == "" {
		return nil, &rpcError{Code: codeInvalidRequest, Message: "invalid request: the session is not initialized; send initialize first " +
			"(or send " + versionModern + " requests carrying _meta[\"" + metaProtocolVersion + "\"])"}
	}
	switch msg.Method {
	case "tools/list":
		return s.toolsList(v, msg.Params)
	case "tools/call":
		sess.mu.Lock()
		if sess.logLevel != nil {
			ri.clientLevel = *sess.logLevel
			ri.clientLog = s.clientLogger(v, notify)
		}
		sess.mu.Unlock()
		return s.toolsCall(ctx, v, ri, msg.Params, notify)
	case "logging/setLevel":
		var lp struct {
			Level string `json:"level"`
		}
		_ = json.Unmarshal(msg.Params, &lp)
		level, ok := mcpLogLevels[lp.Level]
		if !ok {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown log level %q", lp.Level)}
		}
		sess.mu.Lock()
		sess.logLevel = &level
		sess.mu.Unlock()
		return map[string]any{}, nil
	}
	return nil, &rpcError{Code: codeMethodNotFound, Message: "method not found: " + msg.Method}
}

// initialize negotiates the protocol version of a legacy session: the
// client's version when we support it, else our newest legacy version.
func (s *server) initialize(sess *session, params json.RawMessage) (any, error) {
	var p struct {
		ProtocolVersion string         `json:"protocolVersion"`
		ClientInfo      map[string]any `json:"clientInfo"`
	}
	if err := json.Unmarshal(params, &p); err != nil || p.ProtocolVersion == "" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: initialize needs params.protocolVersion"}
	}
	v := legacyVersions[0]
	for _, lv := range legacyVersions {
		if p.ProtocolVersion == lv {
			v = lv
		}
	}
	sess.mu.Lock()
	if sess.version != "" {
		sess.mu.Unlock()
		return nil, &rpcError{Code: codeInvalidRequest, Message: "invalid request: the session is already initialized"}
	}
	sess.version = v
	sess.mu.Unlock()
	s.logger.Info("session initialized", "session_id", sess.id, "protocol_version", v,
		"requested_version", p.ProtocolVersion, "client", p.ClientInfo["name"], "client_version", p.ClientInfo["version"])
	res := map[string]any{
		"protocolVersion": v,
		"capabilities":    s.capabilities(),
		"serverInfo":      s.serverInfo(v),
	}
	if v >= version20250326 {
		res["instructions"] = instructions
	}
	return res, nil
}

// capabilities declares what is implemented, and nothing else.
func (s *server) capabilities() map[string]any {
	return map[string]any{
		"tools":   map[string]any{"listChanged": false},
		"logging": map[string]any{},
	}
}

// dispatchModern serves a stateless 2026-07-28 request.
func (s *server) dispatchModern(ctx context.Context, ri *requestInfo, msg *message, p requestParams, pv json.RawMessage, notify notifier) (any, error) {
	if msg.Method != "server/discover" || pv != nil {
		var v string
		if json.Unmarshal(pv, &v) != nil || v != versionModern {
			return nil, &rpcError{Code: codeUnsupportedVersion, Message: "unsupported protocol version",
				Data: map[string]any{"supported": []string{versionModern}, "requested": rawString(pv)}}
		}
		if _, ok := p.Meta[metaClientCapabilities]; !ok {
			return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: _meta[\"" + metaClientCapabilities + "\"] is required"}
		}
	}
	if raw, ok := p.Meta[metaLogLevel]; ok {
		var name string
		_ = json.Unmarshal(raw, &name)
		level, ok := mcpLogLevels[name]
		if !ok {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown log level %q", name)}
		}
		ri.clientLevel = level
		ri.clientLog = s.clientLogger(versionModern, notify)
	}
	var res map[string]any
	var err error
	switch msg.Method {
	case "server/discover":
		res = map[string]any{
			"supportedVersions": supportedVersions,
			"capabilities":      s.capabilities(),
			"instructions":      instructions,
			"ttlMs":             3_600_000, // the catalog changes only with a new release
			"cacheScope":        "public",
		}
	case "tools/list":
		res, err = s.toolsList(versionModern, msg.Params)
		if res != nil {
			res["ttlMs"] = 300_000 // five minutes: a restart with a new release is picked up soon
			res["cacheScope"] = "public"
		}
	case "tools/call":
		res, err = s.toolsCall(ctx, versionModern, ri, msg.Params, notify)
	default:
		return nil, &rpcError{Code: codeMethodNotFound, Message: "method not found: " + msg.Method + " (not part of " + versionModern + ")"}
	}
	if err != nil {
		return nil, err
	}
	res["resultType"] = "complete"
	meta, _ := res["_meta"].(map[string]any) // a stale marker may be there
	if meta == nil {
		meta = map[string]any{}
		res["_meta"] = meta
	}
	meta[metaServerInfo] = s.serverInfo(versionModern)
	return res, nil
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
func (s *server) toolsList(v string, params json.RawMessage) (map[string]any, error) {
	var p struct {
		Cursor *string `json:"cursor"`
	}
	_ = json.Unmarshal(params, &p)
	start := 0
	if p.Cursor != nil {
		n, err := decodeCursor(*p.Cursor)
		if err != nil || n > len(s.tools) {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown cursor %q", *p.Cursor)}
		}
		start = n
	}
	end := min(start+s.toolsPageSize, len(s.tools))
	page := s.toolsJSON[v][start:end]
	res := map[string]any{"tools": page}
	if end < len(s.tools) {
		res["nextCursor"] = encodeCursor(end)
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

// callParams are the params of tools/call.
type callParams struct {
	Name      *string         `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Meta      struct {
		ProgressToken json.RawMessage `json:"progressToken"`
	} `json:"_meta"`
}

// toolsCall runs a tool and shapes its result for protocol version v.
func (s *server) toolsCall(ctx context.Context, v string, ri *requestInfo, params json.RawMessage, notify notifier) (map[string]any, error) {
	var p callParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	if p.Name == nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: tools/call needs params.name"}
	}
	t := s.byName[*p.Name]
	if t == nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("Unknown tool: %s", *p.Name)}
	}
	ri.tool = t.name
	args, err := decodeArguments(p.Arguments)
	if err == nil {
		err = t.input.validate("", args)
	}
	if err != nil {
		s.metrics.observeToolExecution(t.name, "error", 0)
		return s.argumentError(v, t, err)
	}
	tc := &toolCall{srv: s, progress: func(float64, float64, string) {}}
	if p.Meta.ProgressToken != nil && validID(p.Meta.ProgressToken) != nil {
		tc.progress = progressReporter(v, p.Meta.ProgressToken, notify)
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
		return toolResult(v, nil, t.name+": cancelled: "+err.Error(), true), nil
	}
	if err != nil {
		s.metrics.observeToolExecution(t.name, "error", elapsed)
		s.metrics.countError(toolErrorKind(err))
		level := slog.LevelWarn
		var berr *backendError
		if errors.As(err, &berr) && berr.status >= 400 && berr.status < 500 {
			level = slog.LevelInfo // the caller's mistake, not the operator's problem
		}
		s.logger.Log(ctx, level, "tool call failed", "duration_ms", elapsed.Milliseconds(), "err", err)
		return toolResult(v, nil, t.name+": "+err.Error(), true), nil
	}
	res := toolResult(v, payload, "", false)
	if tc.stale != nil {
		s.metrics.observeToolExecution(t.name, "stale", elapsed)
		markStale(res, tc.stale)
		s.logger.InfoContext(ctx, "tool call answered from the fallback cache", "duration_ms", elapsed.Milliseconds(), "age_ms", tc.stale.age.Milliseconds())
		return res, nil
	}
	s.metrics.observeToolExecution(t.name, "success", elapsed)
	s.logger.DebugContext(ctx, "tool call done", "duration_ms", elapsed.Milliseconds())
	return res, nil
}

// markStale tells the client that a result came from the fallback cache:
// _meta["io.taskman/stale"] for programs, a second text block for people.
// The payload itself is unchanged.
func markStale(res map[string]any, st *staleness) {
	res["_meta"] = map[string]any{"io.taskman/stale": map[string]any{
		"age_ms": st.age.Milliseconds(),
		"reason": st.cause.Error(),
	}}
	res["content"] = append(res["content"].([]any), map[string]any{
		"type": "text",
		"text": fmt.Sprintf("Stale: the backend is unavailable (%s); this copy is %s old.", st.cause, st.age.Round(time.Second)),
	})
}

// toolErrorKind classifies a failed tool call for taskman_errors_total:
// backend when the backend could not be reached or failed, tool_error when
// it refused the request.
func toolErrorKind(err error) string {
	var berr *backendError
	if errors.As(err, &berr) && berr.status >= 400 && berr.status < 500 {
		return "tool_error"
	}
	return "backend"
}

// decodeArguments decodes tools/call arguments, keeping numbers exact;
// absent arguments are an empty object.
func decodeArguments(raw json.RawMessage) (any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return map[string]any{}, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, &argError{"", "arguments must be valid JSON"}
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, &argError{"", "arguments must be an object"}
	}
	return v, nil
}

// argumentError reports invalid arguments: as a tool result with isError
// from 2025-11-25 on (so the model can correct itself), as -32602 before.
func (s *server) argumentError(v string, t *tool, err error) (map[string]any, error) {
	msg := "invalid arguments for " + t.name + ": " + err.Error()
	if argErrorsAsResults(v) {
		s.metrics.countError("invalid_params")
		return toolResult(v, nil, msg, true), nil
	}
	return nil, &rpcError{Code: codeInvalidParams, Message: msg}
}

// toolResult shapes a tools/call result: content always; structuredContent
// from 2025-06-18 on. An error result carries its text only.
func toolResult(v string, payload map[string]any, errText string, isError bool) map[string]any {
	if isError {
		return map[string]any{
			"content": []any{map[string]any{"type": "text", "text": errText}},
			"isError": true,
		}
	}
	text, err := json.Marshal(payload)
	if err != nil {
		return toolResult(v, nil, "the result could not be encoded: "+err.Error(), true)
	}
	res := map[string]any{
		"content": []any{map[string]any{"type": "text", "text": string(text)}},
		"isError": false,
	}
	if hasStructured(v) {
		res["structuredContent"] = json.RawMessage(text)
	}
	return res
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
