package main

import (
	"net/http"
	"strings"
)

// CORS headers of the MCP endpoint, so that a browser page from an allowed
// origin can call /mcp: the request headers the transports read, and the
// answer headers a client must see (the session id above all).
var (
	corsAllowHeaders  = strings.Join([]string{"Authorization", "Content-Type", "Accept", headerSessionID, headerProtocolVersion, headerMethod, headerName, "Last-Event-ID", "X-Request-ID", "traceparent", "tracestate"}, ", ")
	corsExposeHeaders = strings.Join([]string{headerSessionID, headerProtocolVersion, "X-Request-Id", "WWW-Authenticate", "Retry-After"}, ", ")
)

// corsMaxAge lets a browser reuse a preflight for ten minutes: long enough
// to spare a round trip per call, short enough that a changed allow-list
// takes effect soon.
const corsMaxAge = "600"

// cors answers CORS for origins the guard let through (loopback and
// TASKMAN_ALLOWED_ORIGINS; others were refused with 403 already): a
// preflight (OPTIONS with Access-Control-Request-Method) gets 204 with the
// allowed methods and headers, before authentication since browsers send
// preflights without credentials; other requests get the origin allowed
// and the MCP headers exposed. Requests without Origin get nothing.
func (t *httpTransport) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}
