package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
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
	port := freePort(t)
	c := startStdio(t, map[string]string{"TASKMAN_OPS_ADDR": "127.0.0.1:" + port, "HOST": "0.0.0.0"})
	c.initialize(version20251125)
	for host, want := range map[string]int{"127.0.0.1:" + port: http.StatusOK, "localhost:" + port: http.StatusOK, "10.1.2.3:" + port: http.StatusForbidden} {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/health/live", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("ops GET /health/live with Host %s = %d, want %d", host, resp.StatusCode, want)
		}
	}
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
		resp, err := http.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token, TASKMAN_AUTH_METRICS=true = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
