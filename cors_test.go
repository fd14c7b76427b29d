package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestHTTPCORS is part of issue 14's eighth finding: a browser page from
// an allowed origin could not call /mcp. A preflight now gets 204 with the
// methods and headers, an answer exposes Mcp-Session-Id, and a request
// without Origin gets no CORS headers (a disallowed Origin stays 403).
func TestHTTPCORS(t *testing.T) {
	const origin = "https://app.example"
	s := startHTTP(t, map[string]string{"TASKMAN_ALLOWED_ORIGINS": origin, "TASKMAN_AUTH_TOKEN": "tok"})

	req, _ := http.NewRequest(http.MethodOptions, s.base+"/mcp", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-session-id")
	resp, _ := roundTrip(t, getClient, req)
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Mcp-Session-Id") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight = %d %v, want 204 allowing POST, Authorization and Mcp-Session-Id for %s", resp.StatusCode, h, origin)
	}

	auth := map[string]string{"Origin": origin, "Authorization": "Bearer tok"}
	resp, body := s.post(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, auth)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Mcp-Session-Id") {
		t.Errorf("initialize from %s = %d %v %s, want 200 with the origin allowed and Mcp-Session-Id exposed", origin, resp.StatusCode, resp.Header, body)
	}

	resp, _ = s.post(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, map[string]string{"Authorization": "Bearer tok"})
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("answer without Origin has Access-Control-Allow-Origin %q, want none", got)
	}
	resp, _ = s.post(t, `{}`, map[string]string{"Origin": "https://evil.example"})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from a disallowed origin = %d %v, want 403 without CORS headers", resp.StatusCode, resp.Header)
	}
}
