// Routes: the one table of the HTTP endpoints. The mux of the HTTP
// transport and of the stdio ops listener, the route label of the metrics,
// spans and access logs, and the tests all read httpRoutes, so a route is
// added or changed in this one place (docs/observability.md).

package main

import "net/http"

// routeAuth says who may call a route, beyond the Host and Origin checks
// every route shares.
type routeAuth int

const (
	authNone    routeAuth = iota // anyone (the probes)
	authToken                    // the bearer token, when TASKMAN_AUTH_TOKEN is set
	authMetrics                  // the bearer token, when TASKMAN_AUTH_METRICS is also set
)

// httpRoute is one HTTP endpoint.
type httpRoute struct {
	// method is "" for every method (the handler answers 405 itself) or
	// GET, which the mux also matches for HEAD, answering 405 to others.
	method string
	// path is matched exactly; it is also the route's label.
	path    string
	auth    routeAuth
	ops     bool // served by the stdio ops listener (TASKMAN_OPS_ADDR) too
	health  bool // served only with HEALTH_CHECK_ENABLED
	handler func(t *httpTransport) http.Handler
}

// pattern returns the route's ServeMux pattern.
func (rt httpRoute) pattern() string {
	if rt.method == "" {
		return rt.path
	}
	return rt.method + " " + rt.path
}

// httpRoutes are the HTTP endpoints, in the order of their metric labels.
var httpRoutes = []httpRoute{
	// The token is checked before admission, so that requests without it
	// cannot take the in-flight slots of those with it.
	{path: "/mcp", auth: authToken, handler: func(t *httpTransport) http.Handler {
		return t.admission.wrap(http.HandlerFunc(t.handleMCP))
	}},
	{path: "/metrics", auth: authMetrics, ops: true, handler: func(t *httpTransport) http.Handler { return t.metrics.handler() }},
	{method: "GET", path: "/health", ops: true, health: true, handler: healthRoute((*health).handleHealth)},
	{method: "GET", path: "/health/live", ops: true, health: true, handler: healthRoute((*health).handleLive)},
	{method: "GET", path: "/health/ready", ops: true, health: true, handler: healthRoute((*health).handleReady)},
	{method: "GET", path: "/health/startup", ops: true, health: true, handler: healthRoute((*health).handleStartup)},
	{method: "GET", path: "/health/info", ops: true, health: true, handler: healthRoute((*health).handleInfo)},
	{method: "GET", path: "/livez", ops: true, health: true, handler: healthRoute((*health).handleLive)},
	{method: "GET", path: "/readyz", ops: true, health: true, handler: healthRoute((*health).handleReady)},
}

// routeOther is the label of every path no route serves.
const routeOther = "other"

// healthRoute returns the handler maker of a probe route served by one of
// health's methods.
func healthRoute(serve func(*health, http.ResponseWriter, *http.Request)) func(*httpTransport) http.Handler {
	return func(t *httpTransport) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(t.health, w, r) })
	}
}

// routeLabels maps each route's path to its label.
var routeLabels = func() map[string]string {
	m := make(map[string]string, len(httpRoutes))
	for _, rt := range httpRoutes {
		m[rt.path] = rt.path
	}
	return m
}()

// routeLabel folds a request path into the fixed set of route labels: a
// route's path, or routeOther. It goes by the path, not the mux's
// r.Pattern, so that requests refused before the mux (Host, Origin, CORS)
// or by it (405) still count under their route.
func routeLabel(path string) string {
	if l, ok := routeLabels[path]; ok {
		return l
	}
	return routeOther
}

// routeLabelValues returns the route labels, for the metrics allow-list.
func routeLabelValues() []string {
	ls := make([]string, len(httpRoutes))
	for i, rt := range httpRoutes {
		ls[i] = rt.path
	}
	return ls
}

// mux returns the mux of t's routes: all of them, or with opsOnly those of
// the stdio ops listener. Health routes are left out when health is off,
// and every other path answers 404 with a hint.
func (t *httpTransport) mux(opsOnly bool) *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range httpRoutes {
		if (opsOnly && !rt.ops) || (rt.health && !t.health.served) {
			continue
		}
		mux.Handle(rt.pattern(), t.authorize(rt.auth, rt.handler(t)))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found", "hint": "MCP is served at /mcp; health at /health/*; metrics at /metrics"})
	})
	return mux
}

// authorize wraps next in the token check its auth rule asks for.
func (t *httpTransport) authorize(auth routeAuth, next http.Handler) http.Handler {
	if auth == authToken || (auth == authMetrics && t.authMetrics) {
		return t.requireToken(next)
	}
	return next
}

// routes returns the handler of the HTTP transport: every route, wrapped
// in the checks every route shares.
func (t *httpTransport) routes() http.Handler {
	return t.observe(t.guard(t.allowedHosts, t.cors(t.mux(false))))
}

// opsHandler is the handler of the stdio side listener: health and
// metrics only, behind the same checks as the HTTP transport, with the
// Host allow-list of the listener's own bind (allowedHostsFor).
func (t *httpTransport) opsHandler(allowedHosts []string) http.Handler {
	return t.observe(t.guard(allowedHosts, t.mux(true)))
}
