package main

// End-to-end tests against real MCP clients, as docs/mcp.md ("Clients to
// test against") asks: the official TypeScript SDK client and the MCP
// Inspector CLI, each over stdio and over Streamable HTTP. The clients are
// the Node scripts in e2e/; e2e/install.sh installs them and Node 22 from
// the npm registry. Without that install these tests skip, unless the run
// requires the outside checks (requireOrSkip), as CI does: there they fail.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	// e2eDir holds the Node scripts, their package.json and lockfile, and
	// (after install.sh) node_modules and .node22.
	e2eDir = "e2e"

	// e2eScriptTimeout bounds one client script or build: the slowest, the
	// Inspector run, spawns the server four times and takes a few seconds,
	// so two minutes only trips on a hang.
	e2eScriptTimeout = 2 * time.Minute

	// e2eHealthTimeout bounds the wait for the HTTP server to answer
	// /health/live; it starts in milliseconds, so 10 s means it will not.
	e2eHealthTimeout = 10 * time.Second

	// e2eHealthPoll is the pause between /health/live probes: short next to
	// e2eHealthTimeout, long enough not to spin.
	e2eHealthPoll = 50 * time.Millisecond

	// e2eStopTimeout is how long the HTTP server gets to exit after an
	// interrupt before it is killed; the tests hold no work it must finish.
	e2eStopTimeout = 10 * time.Second
)

// e2eNodeRel is the Node 22 binary install.sh puts in e2e/.node22 (the npm
// package node@22 places its platform binary there), relative to e2eDir in
// slash form. The Inspector v2 needs Node >= 22.19; the SDK scripts use the
// same binary so one known runtime runs every client.
const e2eNodeRel = ".node22/node_modules/node/bin/node"

// e2eSummary is the JSON line every e2e script prints last on success.
type e2eSummary struct {
	OK    bool `json:"ok"`
	Tools int  `json:"tools"`
	Steps int  `json:"steps"`
}

// TestTypeScriptSDKStdio runs e2e/stdio-client.mjs: the SDK client spawns
// the server, checks the tool names of docs/tools.md and a task, a project and an
// action-list workflow.
func TestTypeScriptSDKStdio(t *testing.T) {
	node := e2eRequireInstall(t)
	bin := e2eBinary(t)
	e2eRunScript(t, node, "stdio-client.mjs", bin)
}

// TestInspectorCLIStdio runs e2e/inspector.sh in stdio mode: the Inspector
// CLI lists the tools, creates a task and reads it back.
func TestInspectorCLIStdio(t *testing.T) {
	e2eRequireInstall(t)
	bin := e2eBinary(t)
	e2eRunScript(t, "bash", "inspector.sh", "stdio", bin)
}

// TestTypeScriptSDKHTTP runs e2e/http-client.mjs against the server started
// with TASKMAN_MCP_TRANSPORT=http: tool names and a task cycle.
func TestTypeScriptSDKHTTP(t *testing.T) {
	node := e2eRequireInstall(t)
	url := e2eStartHTTP(t, e2eBinary(t))
	e2eRunScript(t, node, "http-client.mjs", url)
}

// TestInspectorCLIHTTP runs e2e/inspector.sh in http mode against the
// server started with TASKMAN_MCP_TRANSPORT=http.
func TestInspectorCLIHTTP(t *testing.T) {
	e2eRequireInstall(t)
	url := e2eStartHTTP(t, e2eBinary(t))
	e2eRunScript(t, "bash", "inspector.sh", "http", url)
}

// e2eRequireInstall returns the absolute path of the Node 22 binary, or
// ends the test through requireOrSkip when install.sh has not run. In
// -short mode it skips, unless the run requires the outside checks.
func e2eRequireInstall(t *testing.T) string {
	t.Helper()
	if testing.Short() && outsideChecksRequired() == "" {
		t.Skip("e2e: skipped in -short mode")
	}
	dir, err := filepath.Abs(e2eDir)
	if err != nil {
		t.Fatalf("e2e: filepath.Abs(%q): %v", e2eDir, err)
	}
	node := filepath.Join(dir, filepath.FromSlash(e2eNodeRel))
	for _, p := range []string{filepath.Join(dir, "node_modules"), filepath.Join(dir, "conformance", "node_modules"), node} {
		if _, err := os.Stat(p); err != nil {
			requireOrSkip(t, "e2e: %s is missing: run e2e/install.sh", p)
		}
	}
	return node
}

// e2eBinary builds the server into a fresh temporary directory and returns
// the binary's path. Each test builds its own: with the build cache warm it
// takes about a second, and it needs no state shared between tests.
func e2eBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "taskman-mcp")
	ctx, cancel := context.WithTimeout(context.Background(), e2eScriptTimeout)
	defer cancel()
	// go test puts its own GOROOT/bin first on PATH, so "go" is the
	// toolchain running this test.
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("e2e: go build -o %s .: %v\n%s", bin, err, out)
	}
	return bin
}

// e2eRunScript runs one client script in e2e/ with a bounded time and
// asserts on its last stdout line: {"ok":true,"tools":N,"steps":M>0}, N
// the size of the tool table.
// On failure it shows the script's stderr.
func e2eRunScript(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e2eDir
	// WaitDelay stops Wait from hanging on pipes a killed script's children
	// (the server, node) still hold open.
	cmd.WaitDelay = e2eStopTimeout
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	call := name + " " + strings.Join(args, " ")
	if err := cmd.Run(); err != nil {
		t.Fatalf("e2e: %s: %v\n--- stdout ---\n%s\n--- stderr ---\n%s", call, err, stdout.String(), stderr.String())
	}
	last := e2eLastLine(stdout.String())
	var got e2eSummary
	if err := json.Unmarshal([]byte(last), &got); err != nil {
		t.Fatalf("e2e: %s: last stdout line %q is not the JSON summary: %v\n--- stderr ---\n%s", call, last, err, stderr.String())
	}
	if !got.OK || got.Tools != len(newToolTable()) || got.Steps <= 0 {
		t.Fatalf("e2e: %s: summary = %+v, want ok true, tools %d, steps > 0 (the scripts compare the names themselves and report the count they saw)\n--- stderr ---\n%s", call, got, len(newToolTable()), stderr.String())
	}
	t.Logf("e2e: %s: %s", call, last)
}

// e2eLastLine returns the last non-blank line of s, trimmed.
func e2eLastLine(s string) string {
	last := ""
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}

// e2eStartHTTP starts bin with the Streamable HTTP transport on a free
// loopback port, waits until GET /health/live answers 200, and returns the
// MCP endpoint URL. The server is stopped when the test ends, and its log
// is shown if the test failed.
func e2eStartHTTP(t *testing.T, bin string) string {
	t.Helper()
	// A pre-picked port: the server is another process, told its port by
	// PORT; it cannot take over a listener this process opened.
	port := freePort(t)
	base := "http://" + net.JoinHostPort("127.0.0.1", port)

	cmd := exec.Command(bin)
	cmd.WaitDelay = e2eStopTimeout // bounds Wait if anything inherited the log pipe
	cmd.Env = append(os.Environ(),
		"TASKMAN_MCP_TRANSPORT=http",
		"HOST=127.0.0.1",
		"PORT="+port,
	)
	// One buffer for both streams: exec then writes from one goroutine, and
	// the buffer is read only after Wait.
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("e2e: start %s: %v", bin, err)
	}
	var waitErr error // set before exited is closed
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()

	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(e2eStopTimeout):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("e2e: server %s exited: %v\n--- server log ---\n%s", base, waitErr, logs.String())
		}
	})

	if err := waitOK(base+"/health/live", e2eHealthTimeout, e2eHealthPoll, exited); err != nil {
		t.Fatalf("e2e: server on %s: %v", base, err)
	}
	return base + "/mcp"
}
