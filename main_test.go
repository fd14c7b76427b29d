package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantErr    func(error) bool
		wantStdout string
	}{
		{"version", []string{"--version"}, nil, nil, "taskman-mcp "},
		{"help", []string{"--help"}, nil, nil, "TASK_MANAGER_API_ENDPOINT"},
		{"h", []string{"-h"}, nil, nil, "Usage: taskman-mcp"},
		{"print-config redacts", []string{"--print-config"}, map[string]string{"TASKMAN_AUTH_TOKEN": "hunter2"}, nil, "TASKMAN_AUTH_TOKEN=[redacted]"},
		{"unknown flag", []string{"--frobnicate"}, nil, func(err error) bool { return errors.Is(err, errUsage) }, ""},
		{"stray argument", []string{"serve"}, nil, func(err error) bool { return errors.Is(err, errUsage) }, ""},
		{"bad config", nil, map[string]string{"PORT": "abc", "TASKMAN_MCP_TRANSPORT": "tcp"}, func(err error) bool {
			var cerr *configError
			return errors.As(err, &cerr) && len(cerr.Problems()) == 2
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"taskman-mcp"}, tt.args...), testEnv(tt.env), strings.NewReader(""), &stdout, &stderr)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("run(%q) = %v", tt.args, err)
			case tt.wantErr != nil && !tt.wantErr(err):
				t.Fatalf("run(%q) = %v, not the error wanted", tt.args, err)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("run(%q) stdout = %q, want it to contain %q", tt.args, stdout.String(), tt.wantStdout)
			}
			if strings.Contains(stdout.String()+stderr.String(), "hunter2") {
				t.Error("the token was printed")
			}
		})
	}
}

// TestOpsListenerHostRule is part of issue 14's eighth finding: the stdio
// ops listener took its Host allow-list from HOST, which stdio does not
// bind, so a scrape of a pod IP got 403 with TASKMAN_OPS_ADDR=0.0.0.0:9464.
// The rule now follows the listener's own bind: here HOST says 0.0.0.0
// (open) while the listener is bound to loopback, so only loopback names
// pass.
func TestOpsListenerHostRule(t *testing.T) {
	ln, port := loopbackListener(t)
	c := startStdio(t, map[string]string{"TASKMAN_OPS_ADDR": "127.0.0.1:" + port, "HOST": "0.0.0.0"}, ln)
	c.initialize(version20251125)
	for host, want := range map[string]int{"127.0.0.1:" + port: http.StatusOK, "localhost:" + port: http.StatusOK, "10.1.2.3:" + port: http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/health/live", nil)
		req.Host = host
		if got := httpStatus(t, req); got != want {
			t.Errorf("ops GET /health/live with Host %s = %d, want %d", host, got, want)
		}
	}
}

// httpStatus sends req (roundTrip with getClient) and returns the
// answer's status code.
func httpStatus(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, _ := roundTrip(t, getClient, req)
	return resp.StatusCode
}

func TestAllowedHostsFor(t *testing.T) {
	for _, tc := range []struct {
		configured []string
		bind, host string
		want       bool
	}{
		{nil, "0.0.0.0", "10.1.2.3:9464", true}, // a pod IP scrape of an all-interfaces ops listener
		{nil, "", "10.1.2.3:9464", true},
		{nil, "127.0.0.1", "10.1.2.3:9464", false},
		{nil, "127.0.0.1", "localhost:9464", true},
		{[]string{"ops.example"}, "0.0.0.0", "10.1.2.3:9464", false},
		{[]string{"ops.example"}, "0.0.0.0", "ops.example:9464", true},
	} {
		if got := hostAllowed(allowedHostsFor(tc.configured, tc.bind), tc.host); got != tc.want {
			t.Errorf("hostAllowed(allowedHostsFor(%v, %q), %q) = %v, want %v", tc.configured, tc.bind, tc.host, got, tc.want)
		}
	}
}

// TestAuthMetricsDoesWhatItSays checks TASKMAN_AUTH_METRICS against its
// help text: /metrics needs the token, health probes stay open.
func TestAuthMetricsDoesWhatItSays(t *testing.T) {
	for _, v := range configVars {
		if v.name == "TASKMAN_AUTH_METRICS" && (strings.Contains(v.help, "/health") && !strings.Contains(v.help, "health probes stay open")) {
			t.Errorf("TASKMAN_AUTH_METRICS help %q claims it protects health", v.help)
		}
	}
	s := startHTTP(t, map[string]string{"TASKMAN_AUTH_TOKEN": "tok", "TASKMAN_AUTH_METRICS": "true"})
	for path, want := range map[string]int{"/metrics": http.StatusUnauthorized, "/health/live": http.StatusOK, "/health/ready": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
		if got := httpStatus(t, req); got != want {
			t.Errorf("GET %s without a token, TASKMAN_AUTH_METRICS=true = %d, want %d", path, got, want)
		}
	}
}

// TestGCPolicy checks that the default GC policy applies only when the
// operator set neither GOGC nor GOMEMLIMIT, and that a container's memory
// limit becomes the soft limit.
func TestGCPolicy(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	noLimit := func() (int64, bool) { return 0, false }
	limit := func() (int64, bool) { return 1 << 30, true }
	tests := []struct {
		name      string
		env       map[string]string
		cgroup    func() (int64, bool)
		wantGOGC  int
		wantLimit int64
		wantDesc  string
	}{
		{"default", nil, noLimit, gcPercentDefault, math.MaxInt64, "GOGC=400"},
		{"default in a container", nil, limit, gcPercentDefault, (1 << 30) * 9 / 10, "GOMEMLIMIT=921MiB"},
		{"GOGC set", map[string]string{"GOGC": "100"}, limit, 100, math.MaxInt64, ""},
		{"GOGC=off set", map[string]string{"GOGC": "off"}, limit, 100, math.MaxInt64, ""},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "64MiB"}, limit, 100, math.MaxInt64, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			desc := applyGCPolicy(lookup, tt.cgroup)
			if !strings.Contains(desc, tt.wantDesc) || (tt.wantDesc == "") != (desc == "") {
				t.Errorf("description = %q, want it to contain %q", desc, tt.wantDesc)
			}
			if got := debug.SetGCPercent(100); got != tt.wantGOGC {
				t.Errorf("GOGC = %d, want %d", got, tt.wantGOGC)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit = %d, want %d", got, tt.wantLimit)
			}
		})
	}
}

func TestParseCgroupMemoryLimit(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"536870912\n", 512 << 20, true},
		{"max\n", 0, false},
		{"9223372036854771712\n", 0, false}, // cgroup v1 without a limit
		{"", 0, false},
		{"-1", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCgroupMemoryLimit(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseCgroupMemoryLimit(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

// TestWarnUnauthenticatedBind checks that HTTP on a non-loopback address
// without a token warns at start, and that nothing else does. (It judges
// the configuration only: tests never listen beyond 127.0.0.1.)
func TestWarnUnauthenticatedBind(t *testing.T) {
	tests := []struct {
		host, token string
		warn        bool
	}{
		{"0.0.0.0", "", true},
		{"10.0.0.5", "", true},
		{"::", "", true},
		{"mcp.internal", "", true},
		{"0.0.0.0", "tok", false},
		{"127.0.0.1", "", false},
		{"127.0.0.2", "", false},
		{"::1", "", false},
		{"localhost", "", false},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, nil))
		warnUnauthenticatedBind(logger, &config{Host: tt.host, Port: 3000, AuthToken: secret(tt.token)})
		got := buf.String()
		if warned := strings.Contains(got, "level=WARN") && strings.Contains(got, "TASKMAN_AUTH_TOKEN"); warned != tt.warn {
			t.Errorf("warnUnauthenticatedBind(HOST=%q, token set %v) logged %q, want a warning: %v", tt.host, tt.token != "", got, tt.warn)
		}
	}
}
