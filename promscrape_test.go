package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This file checks the exposition with Prometheus' own tools: promtool's
// linter on a real scrape, and a real Prometheus server scraping the
// running server. Both binaries come with Debian's prometheus package; CI
// installs it and sets TASKMAN_CI_REQUIRE=1 so a missing binary fails there
// instead of skipping.

// mxRequireBinary returns the path of a Prometheus binary, or ends the
// test through requireOrSkip when it is not on PATH.
func mxRequireBinary(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		requireOrSkip(t, "%s is not on PATH (%v): install Debian's prometheus package", name, err)
	}
	return path
}

// mxToolTimeout bounds one run of promtool, which lints a scrape in well
// under a second; a minute only trips when something is wedged.
const mxToolTimeout = time.Minute

// TestPromtoolCheckMetrics lints a real scrape, taken after the scripted
// session, with `promtool check metrics`: any output is a failure.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := deployPromtool(t)
	// The scripted session leaves every kind of series behind: retries,
	// an open circuit, stale serves, errors, health checks.
	s, _, _ := mxRunScript(t)
	if resp, body := getBody(t, s.base+"/health/ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health/ready = %d\n%s", resp.StatusCode, body)
	}
	_, body := mxScrapeMetrics(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), mxToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("promtool check metrics: %v\noutput:\n%s\nscrape:\n%s", err, out, body)
	}
}

// mxPromProcess is a running Prometheus server.
type mxPromProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer // its stdout and stderr
	done chan error  // receives Wait's result once
	base string      // http://127.0.0.1:PORT
}

// mxPromWait bounds the wait for Prometheus to start and scrape the
// expected values: with a scrape every second, 30 s is many scrapes even on
// a loaded machine.
const mxPromWait = 30 * time.Second

// mxPromStopTimeout is how long Prometheus gets to exit after SIGTERM
// before it is killed: it flushes a tiny head block, which takes well
// under a second.
const mxPromStopTimeout = 15 * time.Second

// mxStartPrometheus starts Prometheus on loopback, scraping target
// (host:port) every second as job "taskman" with a throwaway TSDB. It is
// always stopped when the test ends, and its output is logged if the test
// failed.
func mxStartPrometheus(t *testing.T, bin, target string) *mxPromProcess {
	t.Helper()
	dir := t.TempDir()
	// One-second scrapes keep the test short; the timeout must not exceed
	// the interval.
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: taskman
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// A pre-picked port: Prometheus is an external tool that takes its
	// listen address on the command line.
	addr := "127.0.0.1:" + freePort(t)
	p := &mxPromProcess{out: &syncBuffer{}, done: make(chan error, 1), base: "http://" + addr}
	p.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=info",
	)
	p.cmd.Dir = dir // anything it writes relative to its working directory stays in the temp dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stop() // already stopped when the test got to its end; a no-op then
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM, waits up to mxPromStopTimeout, then kills; it
// returns the exit error. Later calls return the same result.
func (p *mxPromProcess) stop() error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM) // an error means it already exited; Wait reports that
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(mxPromStopTimeout):
	}
	p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
	return fmt.Errorf("prometheus ignored SIGTERM for %s and was killed: %w", mxPromStopTimeout, err)
}

// exited reports whether the process has ended, and Wait's error if so.
func (p *mxPromProcess) exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// query runs an instant query and returns the value of its single series;
// ok is false while Prometheus is not ready or the series does not exist.
func (p *mxPromProcess) query(q string) (v float64, ok bool, err error) {
	resp, err := getClient.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false, nil // not listening yet
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"` // [unix time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, false, nil // a starting server may answer with a plain-text page
	}
	if r.Status != "success" {
		return 0, false, fmt.Errorf("query %s: %s", q, r.Error)
	}
	switch len(r.Data.Result) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("query %s: %d series, want 1", q, len(r.Data.Result))
	}
	text, _ := r.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: value %q: %w", q, text, err)
	}
	return v, true, nil
}

// TestPrometheusScrapes has a real Prometheus scrape the running server
// and checks, through its query API, that the target is up and that the
// tool-call counter and the OpenTelemetry MCP convention histograms it
// stored count what the test did: the tool calls, and one legacy session
// opened and ended with DELETE.
func TestPrometheusScrapes(t *testing.T) {
	bin := mxRequireBinary(t, "prometheus")
	s := startHTTP(t, nil) // embedded backend
	p := mxStartPrometheus(t, bin, "127.0.0.1:"+s.port)

	const creates = 3
	c := &mxClient{s: s}
	pid, _ := get(c.call(t, "project_create", map[string]any{"project": map[string]any{"name": "mx"}}), "structuredContent", "project", "id").(string)
	for i := range creates {
		res := c.call(t, "task_create", map[string]any{"task": map[string]any{"title": fmt.Sprint("mx scrape ", i), "project_id": pid}})
		if get(res, "isError") != false {
			t.Fatalf("task_create %d = %v, want success", i, res)
		}
	}
	sid := s.initSession(t, nil)
	req, err := http.NewRequest(http.MethodDelete, s.base+"/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", version20251125)
	resp, _ := roundTrip(t, getClient, req)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /mcp = %d, want 200 or 204", resp.StatusCode)
	}

	queries := []struct {
		q    string
		want float64
	}{
		{`up{job="taskman"}`, 1},
		{`taskman_mcp_tool_executions_total{job="taskman",tool_name="task_create",status="success"}`, creates},
		{`sum(mcp_server_operation_duration_seconds_count{job="taskman",mcp_method_name="tools/call",gen_ai_tool_name="task_create",error_type="",network_transport="tcp",mcp_protocol_version="2026-07-28"})`, creates},
		{`sum(mcp_server_operation_duration_seconds_bucket{job="taskman",mcp_method_name="initialize",network_transport="tcp",mcp_protocol_version="2025-11-25",le="+Inf"})`, 1},
		{`mcp_server_session_duration_seconds_count{job="taskman",network_transport="tcp",mcp_protocol_version="2025-11-25"}`, 1},
	}
	deadline := time.Now().Add(mxPromWait)
	for {
		if done, err := p.exited(); done {
			t.Fatalf("prometheus exited early: %v", err)
		}
		var wrong []string
		for _, q := range queries {
			v, ok, err := p.query(q.q)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || v != q.want {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present %v), want %v", q.q, v, ok, q.want))
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s:\n%s", mxPromWait, strings.Join(wrong, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := p.stop(); err != nil {
		t.Errorf("stop prometheus: %v", err)
	}
}
