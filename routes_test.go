package main

import (
	"net/http"
	"strings"
	"testing"
)

// routeGet sends a GET to url, with the bearer token unless it is "", and
// returns the status and body.
func routeGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, b := roundTrip(t, getClient, req)
	return resp.StatusCode, string(b)
}

// TestRouteTable walks httpRoutes against a running HTTP transport with a
// token that also guards /metrics: each route is served (not the 404 of
// unknown paths), refuses a request without the token exactly when its
// auth rule asks for one, and is counted under its own route label; an
// unknown path is counted as "other".
func TestRouteTable(t *testing.T) {
	const token = "route-table-token"
	s := startHTTP(t, map[string]string{"TASKMAN_AUTH_TOKEN": token, "TASKMAN_AUTH_METRICS": "true"})
	for _, rt := range httpRoutes {
		if code, _ := routeGet(t, s.base+rt.path, ""); (code == http.StatusUnauthorized) != (rt.auth != authNone) {
			t.Errorf("GET %s without the token: %d; want 401 only for a route with an auth rule (it has %d)", rt.path, code, rt.auth)
		}
		if code, body := routeGet(t, s.base+rt.path, token); code == http.StatusNotFound && strings.Contains(body, `"not found"`) {
			t.Errorf("GET %s: the unknown-path 404 (%s), want the route's own answer", rt.path, body)
		}
	}
	if code, _ := routeGet(t, s.base+"/no-such-route", token); code != http.StatusNotFound {
		t.Errorf("GET /no-such-route: %d, want 404", code)
	}
	_, scrape := routeGet(t, s.base+"/metrics", token)
	for _, label := range append(routeLabelValues(), routeOther) {
		if !strings.Contains(scrape, `taskman_http_requests_total{method="GET",route="`+label+`"`) {
			t.Errorf("no taskman_http_requests_total series for route %q in the scrape", label)
		}
	}
}

// TestRouteTableHealthOff: with HEALTH_CHECK_ENABLED=false the probe
// routes answer the unknown-path 404 and the others are still served; the
// server starts and stops with its no-op health (the cleanup checks run's
// error).
func TestRouteTableHealthOff(t *testing.T) {
	s := startHTTP(t, map[string]string{"HEALTH_CHECK_ENABLED": "false"})
	for _, rt := range httpRoutes {
		code, body := routeGet(t, s.base+rt.path, "")
		unknown := code == http.StatusNotFound && strings.Contains(body, `"not found"`)
		if unknown != rt.health {
			t.Errorf("GET %s with health off: %d %s; want the unknown-path 404 only for a probe route", rt.path, code, body)
		}
	}
}
