package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRouteTable walks httpRoutes against a running HTTP transport with a
// token that also guards /metrics: each route is served (not the 404 of
// unknown paths), refuses a request without the token exactly when its
// auth rule asks for one, and is counted under its own route label; an
// unknown path is counted as "other".
func TestRouteTable(t *testing.T) {
	const token = "route-table-token"
	s := startHTTP(t, map[string]string{"TASKMAN_AUTH_TOKEN": token, "TASKMAN_AUTH_METRICS": "true"})
	get := func(path string, withToken bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, rt := range httpRoutes {
		code, _ := get(rt.path, false)
		if wantAuth := rt.auth != authNone; (code == http.StatusUnauthorized) != wantAuth {
			t.Errorf("GET %s without the token: %d; want 401: %v", rt.path, code, wantAuth)
		}
		if code, body := get(rt.path, true); code == http.StatusNotFound && strings.Contains(body, `"not found"`) {
			t.Errorf("GET %s: the unknown-path 404 (%s), want the route's own answer", rt.path, body)
		}
	}
	if code, _ := get("/no-such-route", true); code != http.StatusNotFound {
		t.Errorf("GET /no-such-route: %d, want 404", code)
	}
	_, scrape := get("/metrics", true)
	for _, label := range append(routeLabelValues(), routeOther) {
		if !strings.Contains(scrape, `taskman_http_requests_total{method="GET",route="`+label+`"`) {
			t.Errorf("no taskman_http_requests_total series for route %q in the scrape", label)
		}
	}
}
