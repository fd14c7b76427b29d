package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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
