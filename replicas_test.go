package main

// Two replicas of the server behind a load balancer, as README and
// docs/backend-api.md describe a scaled deployment: one shared Task
// Manager API, two taskman-mcp processes (here in-process servers), and a
// reverse proxy in front. 2026-07-28 requests are stateless and may land on
// any replica; a legacy session lives in one replica's memory, so it needs
// session affinity at the proxy, and without it the other replica answers
// 404 as the Streamable HTTP transport requires for an unknown session.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rxProxy is a reverse proxy over a fixed set of replicas that records
// which replica served each request. Requests go round robin; with
// affinity, a request carrying an Mcp-Session-Id goes to the replica whose
// initialize answer issued that id.
type rxProxy struct {
	targets  []*url.URL
	affinity bool

	mu       sync.Mutex
	next     int            // round-robin position; guarded by mu
	served   []int          // replica index per proxied request, in order; guarded by mu
	sessions map[string]int // session id -> replica that issued it; guarded by mu
}

// rxNewProxy serves a proxy over the replicas' base URLs on 127.0.0.1 and
// returns it with its base URL.
func rxNewProxy(t *testing.T, affinity bool, bases ...string) (*rxProxy, string) {
	t.Helper()
	p := &rxProxy{affinity: affinity, sessions: map[string]int{}}
	for _, b := range bases {
		u, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		p.targets = append(p.targets, u)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := p.pick(pr.In.Header.Get("Mcp-Session-Id"))
			pr.SetURL(p.targets[i])
		},
		ModifyResponse: p.observe,
		FlushInterval:  -1, // pass SSE answers through as they are written
	}
	return p, newLoopbackServer(t, rp)
}

// pick chooses the replica for a request carrying session id sid ("" for
// none) and records the choice.
func (p *rxProxy) pick(sid string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.sessions[sid]
	if !p.affinity || sid == "" || !ok {
		i = p.next
		p.next = (p.next + 1) % len(p.targets)
	}
	p.served = append(p.served, i)
	return i
}

// observe remembers, for affinity, which replica issued each session id.
func (p *rxProxy) observe(resp *http.Response) error {
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, u := range p.targets {
		if u.Host == resp.Request.URL.Host {
			p.sessions[sid] = i
		}
	}
	return nil
}

// history returns the replica index of every request proxied so far and
// forgets them.
func (p *rxProxy) history() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.served
	p.served = nil
	return h
}

// rxReplicas starts one shared backend and two replicas using it, and
// returns the replicas' base URLs.
func rxReplicas(t *testing.T) []string {
	t.Helper()
	backend := envelopeBackend(t)
	env := map[string]string{"TASK_MANAGER_API_ENDPOINT": backend.URL + "/api/v1"}
	return []string{startHTTP(t, env).base, startHTTP(t, env).base}
}

// TestTwoReplicasBehindRoundRobin runs two replicas over one backend
// behind a round-robin proxy, and an affinity proxy.
func TestTwoReplicasBehindRoundRobin(t *testing.T) {
	replicas := rxReplicas(t)

	t.Run("modern requests alternate and all succeed", func(t *testing.T) {
		p, base := rxNewProxy(t, false, replicas...)
		c := httpClient{base}
		const n = 6 // creates, then as many reads: each replica reads what the other created
		titles := map[string]string{}
		var ids []string
		pid := httpClient{replicas[0]}.project(t) // beside the proxy, so its history holds only the calls below
		for i := range n {
			status, msg := c.modernTool(t, i, "task_create", map[string]any{"task": map[string]any{"title": fmt.Sprintf("replicated %d", i), "project_id": pid}})
			task, _ := checkTool(t, "task_create", status, msg)["task"].(map[string]any)
			id, _ := task["id"].(string)
			if id == "" {
				t.Fatalf("task_create %d: no task id in %v", i, msg)
			}
			ids = append(ids, id)
			titles[id] = fmt.Sprintf("replicated %d", i)
		}
		// Reading in reverse order with an even n sends every read to the
		// replica that did not create the task.
		for i, id := range slices.Backward(ids) {
			status, msg := c.modernTool(t, n+i, "task_read", map[string]any{"taskId": id})
			sc := checkTool(t, "task_read "+id, status, msg)
			want(t, fmt.Sprintf("task_read(%q) title", id), get(sc, "task", "title"), titles[id])
		}
		h := p.history()
		for i, r := range h {
			if r != i%2 {
				t.Fatalf("replicas served %v, want strict alternation 0,1,0,1...", h)
			}
		}
		if len(h) != 2*n {
			t.Errorf("proxied %d requests, want %d", len(h), 2*n)
		}
	})

	t.Run("legacy session on the other replica is 404", func(t *testing.T) {
		p, base := rxNewProxy(t, false, replicas...)
		c := httpClient{base}
		sid := c.initSession(t, nil)
		status, msg := c.sessionTool(t, sid, 1, "task_list", map[string]any{})
		if status != http.StatusNotFound {
			t.Errorf("session request routed to the other replica = %d %v, want 404", status, msg)
		}
		if got := errorCode(msg); got != -32001 {
			t.Errorf("JSON-RPC error code = %d, want -32001 (session not found)", got)
		}
		want(t, "replicas served", p.history(), []int{0, 1})
	})

	t.Run("affinity keeps legacy sessions working", func(t *testing.T) {
		p, base := rxNewProxy(t, true, replicas...)
		c := httpClient{base}
		pid := httpClient{replicas[0]}.project(t)                      // beside the proxy, as above
		sids := []string{c.initSession(t, nil), c.initSession(t, nil)} // one per replica
		want(t, "initialize served by", p.history(), []int{0, 1})
		const calls = 4 // per session, interleaved
		var served []int
		for i := range calls {
			for s, sid := range sids {
				status, msg := c.sessionTool(t, sid, i+1, "task_create", map[string]any{"task": map[string]any{"title": fmt.Sprintf("sticky %d/%d", s, i), "project_id": pid}})
				task, _ := checkTool(t, fmt.Sprintf("session %d call %d", s, i), status, msg)["task"].(map[string]any)
				status, msg = c.sessionTool(t, sid, 100+i, "task_read", map[string]any{"taskId": task["id"]})
				want(t, "task_read title", get(checkTool(t, "task_read", status, msg), "task", "title"), task["title"])
				served = append(served, s, s)
			}
		}
		want(t, "replicas served", p.history(), served)
	})
}

// TestTwoReplicasSurviveBackendOutage kills the shared backend under two
// replicas: both stay ready (200 "degraded", so the Service keeps them),
// both serve the reads they cached as stale copies, and both record the
// failures as connection_refused, the status TaskmanBackendErrorRate counts
// (TestAlertMatchesBackendFailures, testdata/alerts.test.yaml).
func TestTwoReplicasSurviveBackendOutage(t *testing.T) {
	f := newFaultBackend(t)
	env := map[string]string{"TASK_MANAGER_API_ENDPOINT": "http://" + f.addr, "BACKEND_TIMEOUT_MS": "300", "BACKEND_MAX_RETRIES": "0"}
	replicas := []*httpServer{startHTTP(t, env), startHTTP(t, env)}

	pid := httpClient{replicas[0].base}.project(t)
	status, msg := httpClient{replicas[0].base}.modernTool(t, 1, "task_create", map[string]any{"task": map[string]any{"title": "survives the outage", "project_id": pid}})
	task, _ := checkTool(t, "task_create", status, msg)["task"].(map[string]any)
	id, _ := task["id"].(string)
	read := map[string]any{"taskId": id}
	for i, r := range replicas {
		status, msg := httpClient{r.base}.modernTool(t, 2, "task_read", read)
		checkTool(t, fmt.Sprintf("replica %d: task_read before the outage", i), status, msg)
	}

	f.set(faultRefused)
	for i, r := range replicas {
		// The backend check is cached for backendProbeTTL: poll, bounded.
		var code int
		var body map[string]any
		for deadline := time.Now().Add(20 * time.Second); ; {
			resp, raw := getBody(t, r.base+"/health/ready")
			code, body = resp.StatusCode, nil
			json.Unmarshal(raw, &body)
			if body["status"] != healthOK || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code != http.StatusOK || body["status"] != healthDegraded || !strings.Contains(fmt.Sprint(body["output"]), "connection refused") {
			t.Errorf("replica %d: /health/ready with the backend down = %d %v, want 200 degraded naming the refused connection", i, code, body)
		}

		status, msg := httpClient{r.base}.modernTool(t, 3, "task_read", read)
		checkTool(t, fmt.Sprintf("replica %d: task_read during the outage", i), status, msg)
		if mxStale(get(msg, "result").(map[string]any)) == nil {
			t.Errorf(`replica %d: task_read during the outage has no _meta["io.taskman/stale"]: %v`, i, msg)
		}

		sc, _ := mxScrapeMetrics(t, r)
		var refused float64
		for _, s := range sc.samples {
			if s.name == "taskman_backend_api_calls_total" && s.labels["status"] == "connection_refused" {
				refused += s.value
			}
		}
		if refused == 0 {
			t.Errorf("replica %d: no taskman_backend_api_calls_total{status=\"connection_refused\"} during the outage", i)
		}
	}
}
