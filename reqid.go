package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
)

// Log levels beyond slog's four, named as LOG_LEVEL names them and
// matching the old server's pino levels: trace sits one slog step (4)
// below debug, fatal one step above error.
const (
	levelTrace = slog.LevelDebug - 4
	levelFatal = slog.LevelError + 4
)

// maxRequestIDLen bounds an accepted X-Request-ID; longer ones are replaced,
// so a client cannot make every log line and backend header arbitrarily big.
const maxRequestIDLen = 128

// newRequestID returns a fresh random request id: 16 random bytes in hex,
// enough that two requests never share one.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// validRequestID reports whether id may be used as given: it matches
// ^[A-Za-z0-9._~+/=:-]{1,128}$, so it is safe in a header and a log line.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("._~+/=:-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// requestInfo is what the context knows about the request being served. It
// is stored once per request, as one context value, and read by the log
// handler and the backend client.
type requestInfo struct {
	id      string // request id, sent to the backend as X-Request-ID
	session string // MCP session id, "" under stdio
	tool    string // tool name for tools/call, else ""

	// clientLog, when non-nil, receives log records at or above
	// clientLevel so they can be sent to the MCP client as
	// notifications/message.
	clientLog   func(level slog.Level, msg string, attrs map[string]any)
	clientLevel slog.Level
}

// requestInfoKey is the context key for *requestInfo.
type requestInfoKey struct{}

// withRequestInfo returns ctx carrying ri.
func withRequestInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// requestInfoFrom returns the request information in ctx, or nil.
func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// requestIDFrom returns the request id in ctx, or "".
func requestIDFrom(ctx context.Context) string {
	if ri := requestInfoFrom(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// contextHandler is a slog.Handler that adds what the context knows to every
// record: request_id, session_id, tool, and trace_id/span_id when a span is
// recording. It also copies records a client asked for (logging/setLevel or
// the per-request logLevel) to that client.
type contextHandler struct {
	next slog.Handler
	// traceIDs returns the hex trace and span ids of the recording span in
	// ctx; nil when tracing is not wired.
	traceIDs func(ctx context.Context) (traceID, spanID string, ok bool)
}

// Enabled reports whether the record would be written to stderr or sent to
// the client of the request in ctx.
func (h *contextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	if h.next.Enabled(ctx, level) {
		return true
	}
	ri := requestInfoFrom(ctx)
	return ri != nil && ri.clientLog != nil && level >= ri.clientLevel
}

// Handle adds the context attributes and passes the record on.
func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	ri := requestInfoFrom(ctx)
	if ri != nil {
		if ri.id != "" {
			r.AddAttrs(slog.String("request_id", ri.id))
		}
		if ri.session != "" {
			r.AddAttrs(slog.String("session_id", ri.session))
		}
		if ri.tool != "" {
			r.AddAttrs(slog.String("tool", ri.tool))
		}
	}
	if h.traceIDs != nil {
		if tid, sid, ok := h.traceIDs(ctx); ok {
			r.AddAttrs(slog.String("trace_id", tid), slog.String("span_id", sid))
		}
	}
	if ri != nil && ri.clientLog != nil && r.Level >= ri.clientLevel {
		attrs := make(map[string]any, r.NumAttrs())
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.Resolve().Any()
			return true
		})
		ri.clientLog(r.Level, r.Message, attrs)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs.
func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &contextHandler{next: h.next.WithAttrs(attrs), traceIDs: h.traceIDs}
}

// WithGroup returns a handler that nests later attributes under name.
func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{next: h.next.WithGroup(name), traceIDs: h.traceIDs}
}

// newLogger returns the process logger: JSON or text on w (always stderr in
// production, because stdout belongs to the stdio transport), at level,
// with context attributes added by contextHandler.
func newLogger(w io.Writer, level slog.Leveler, format string,
	traceIDs func(context.Context) (string, string, bool)) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceLevelName}
	var next slog.Handler
	if format == "pretty" {
		next = slog.NewTextHandler(w, opts)
	} else {
		next = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&contextHandler{next: next, traceIDs: traceIDs})
}

// replaceLevelName spells the trace and fatal levels by name instead of
// slog's "DEBUG-4" and "ERROR+4".
func replaceLevelName(groups []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey || len(groups) > 0 {
		return a
	}
	switch a.Value.Any() {
	case levelTrace:
		return slog.String(slog.LevelKey, "TRACE")
	case levelFatal:
		return slog.String(slog.LevelKey, "FATAL")
	}
	return a
}

// mcpLogLevels maps the MCP (RFC 5424) log level names to slog levels.
var mcpLogLevels = map[string]slog.Level{
	"debug":     slog.LevelDebug,
	"info":      slog.LevelInfo,
	"notice":    slog.LevelInfo + 2,
	"warning":   slog.LevelWarn,
	"error":     slog.LevelError,
	"critical":  slog.LevelError + 2,
	"alert":     slog.LevelError + 3,
	"emergency": levelFatal,
}

// mcpLevelName returns the MCP log level name for a slog level.
func mcpLevelName(l slog.Level) string {
	switch {
	case l >= levelFatal:
		return "emergency"
	case l >= slog.LevelError+3:
		return "alert"
	case l >= slog.LevelError+2:
		return "critical"
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	case l >= slog.LevelInfo+2:
		return "notice"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}
