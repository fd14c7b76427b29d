package main

// TestStaticBinary proves the release build fits the container image
// (Dockerfile: FROM scratch, the binary and a CA bundle only): it builds
// the binary with the release flags, checks that it is a static ELF file,
// and, as root, runs it in an empty chroot as the image's user, serves one
// MCP tool call over HTTP and stops it with SIGTERM.

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// staticVersion is the main.version the test build sets with -X.
	staticVersion = "test-static"

	// staticUID is the image's numeric user and group (Dockerfile USER).
	staticUID = 65532

	// staticDeadline bounds the start (until /health/live answers 200) and
	// the graceful stop; a cold start takes milliseconds, so 15 s only
	// protects against a hung test on a loaded machine.
	staticDeadline = 15 * time.Second

	// staticMaxBody bounds how much of an answer the test reads; a task
	// creation answer is well under a kilobyte.
	staticMaxBody = 1 << 20
)

// staticToolCall is a stateless (2026-07-28) MCP tools/call request that
// creates a task in the project %s on the embedded backend; its headers are
// in staticCallMCP.
const staticToolCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"task_create","arguments":{"task":{"title":"chroot","project_id":%q}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`

// staticProjectCall creates the project staticToolCall's task goes in
// (the embedded backend refuses a task for a project that does not exist).
const staticProjectCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"project_create","arguments":{"project":{"name":"chroot"}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`

// staticProjectIDRE finds a project id of the embedded backend.
var staticProjectIDRE = regexp.MustCompile(`P-[0-9a-f]{8}`)

// staticBuild builds the release binary into dir and returns its path. It
// targets Linux (the image's OS) whatever the host, with the flags of
// scripts/release.sh and the Dockerfile.
func staticBuild(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "taskman-mcp")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+staticVersion, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// staticELFProblems returns why the ELF file at path would not run on an
// empty root file system: a program interpreter (the dynamic loader), a
// dynamic segment or section, or needed shared libraries. None means the
// file is statically linked.
func staticELFProblems(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open elf: %w", err)
	}
	defer f.Close()
	var problems []string
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			problems = append(problems, "has a PT_INTERP program header (needs a dynamic loader)")
		case elf.PT_DYNAMIC:
			problems = append(problems, "has a PT_DYNAMIC program header")
		}
	}
	if f.Section(".dynamic") != nil {
		problems = append(problems, "has a .dynamic section")
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("read DT_NEEDED: %w", err)
	}
	for _, lib := range libs {
		problems = append(problems, "needs shared library "+lib)
	}
	return problems, nil
}

// TestStaticBinary builds the release binary and checks it as described
// at the top of this file.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary; skipped under -short")
	}
	bin := staticBuild(t, t.TempDir())
	problems, err := staticELFProblems(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("the release binary is not static:\n\t%s", strings.Join(problems, "\n\t"))
	}

	t.Run("version", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("the binary is built for Linux")
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatalf("taskman-mcp --version: %v", err)
		}
		if want := "taskman-mcp " + staticVersion + "\n"; string(out) != want {
			t.Errorf("taskman-mcp --version = %q, want %q (is -X main.version wired?)", out, want)
		}
	})

	t.Run("chroot", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("chroot run needs Linux")
		}
		if os.Geteuid() != 0 {
			shipRequireOrSkip(t, "running the binary in an empty chroot needs root")
		}
		staticRunInChroot(t, bin)
	})
}

// staticRunInChroot copies bin alone into an empty directory, runs it there
// as the image's user with the image's environment (HTTP transport,
// embedded backend), makes one tool call and stops it with SIGTERM.
func staticRunInChroot(t *testing.T, bin string) {
	t.Helper()
	root := t.TempDir()
	// The chroot is the process's whole file system: make it and the
	// binary reachable for the unprivileged user.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "taskman-mcp"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// A pre-picked port: the static binary runs as another process in a
	// chroot, told its port by PORT.
	port := freePort(t)
	base := "http://127.0.0.1:" + port

	// Output goes to a file outside the chroot: the child writes it
	// directly, so the test may read it at any time without a data race.
	logPath := filepath.Join(t.TempDir(), "output.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	output := func() string {
		b, _ := os.ReadFile(logPath) // best effort: only for failure messages
		return string(b)
	}

	cmd := exec.Command("/taskman-mcp") // a path inside the chroot
	cmd.Dir = "/"
	cmd.Env = []string{"TASKMAN_MCP_TRANSPORT=http", "HOST=127.0.0.1", "PORT=" + port}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: staticUID, Gid: staticUID},
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start in chroot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill() // an error means it has already exited
			<-exited
		}
	})

	// Proxy: nil, so an HTTP_PROXY of the test environment is never used.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	staticWaitLive(t, client, base, exited, output)
	_, answer := staticPostMCP(t, client, base, "project_create", staticProjectCall)
	project := string(staticProjectIDRE.Find(answer))
	if project == "" {
		t.Fatalf("no project id in the project_create answer\noutput:\n%s", output())
	}
	if id := staticCallMCP(t, client, base, project); id == "" {
		t.Fatalf("no task id in the answer\noutput:\n%s", output())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit status 0\noutput:\n%s", err, output())
		}
	case <-time.After(staticDeadline):
		t.Fatalf("still running %v after SIGTERM\noutput:\n%s", staticDeadline, output())
	}
}

// staticWaitLive polls /health/live until it answers 200, the process
// exits, or staticDeadline passes.
func staticWaitLive(t *testing.T, client *http.Client, base string, exited <-chan error, output func() string) {
	t.Helper()
	const poll = 50 * time.Millisecond // short: a healthy start takes a few of these
	deadline := time.Now().Add(staticDeadline)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("exited before serving: %v\noutput:\n%s", err, output())
		default:
		}
		resp, err := client.Get(base + "/health/live")
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, staticMaxBody)) // drained so the connection is reused
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(poll)
	}
	t.Fatalf("GET /health/live not 200 within %v (last: %s)\noutput:\n%s", staticDeadline, last, output())
}

// staticCallMCP sends staticToolCall for project and returns the id of the
// created task ("T-…") from the JSON-RPC answer, which may come as a JSON
// body or as an SSE stream whose data: lines carry JSON-RPC messages.
func staticCallMCP(t *testing.T, client *http.Client, base, project string) string {
	t.Helper()
	contentType, body := staticPostMCP(t, client, base, "task_create", fmt.Sprintf(staticToolCall, project))
	id, err := staticTaskID(contentType, body)
	if err != nil {
		t.Fatalf("POST /mcp answer: %v\n%s", err, body)
	}
	return id
}

// staticPostMCP posts the tools/call body of tool to base's /mcp and
// returns the answer's content type and body (JSON or an SSE stream).
func staticPostMCP(t *testing.T, client *http.Client, base, tool, body string) (string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", tool)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST /mcp: %v", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, staticMaxBody))
	if err != nil {
		t.Fatalf("read /mcp answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /mcp %s = %s, want 200\n%s", tool, resp.Status, answer)
	}
	return resp.Header.Get("Content-Type"), answer
}

// errStaticNoResult reports an answer without the JSON-RPC response.
var errStaticNoResult = errors.New("no JSON-RPC response with id 1")

// staticTaskIDRE finds a task id of the embedded backend.
var staticTaskIDRE = regexp.MustCompile(`T-[0-9A-Za-z]+`)

// staticTaskID extracts the created task's id from an /mcp answer of the
// given content type. It fails on a JSON-RPC error or an isError result.
func staticTaskID(contentType string, body []byte) (string, error) {
	messages := [][]byte{body}
	if strings.HasPrefix(contentType, "text/event-stream") {
		messages = nil
		for line := range bytes.Lines(body) {
			if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				messages = append(messages, bytes.TrimSpace(data))
			}
		}
	}
	for _, msg := range messages {
		var r struct {
			ID     json.RawMessage `json:"id"`
			Error  json.RawMessage `json:"error"`
			Result *struct {
				IsError bool `json:"isError"`
			} `json:"result"`
		}
		if json.Unmarshal(msg, &r) != nil || string(r.ID) != "1" {
			continue // a notification (progress, log message) before the answer
		}
		switch {
		case r.Error != nil:
			return "", fmt.Errorf("JSON-RPC error %s", r.Error)
		case r.Result == nil:
			return "", errStaticNoResult
		case r.Result.IsError:
			return "", errors.New("tool result has isError true")
		}
		id := staticTaskIDRE.Find(msg)
		if id == nil {
			return "", errors.New("no task id T-… in the result")
		}
		return string(id), nil
	}
	return "", errStaticNoResult
}

// TestStaticELFProblems checks that the ELF check can fail: a dynamically
// linked system binary must be reported.
func TestStaticELFProblems(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a Linux system binary")
	}
	for _, path := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls"} {
		problems, err := staticELFProblems(path)
		if err != nil {
			continue // missing, or a script: try the next one
		}
		if len(problems) == 0 {
			continue // a static system binary (busybox): try the next one
		}
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, "PT_INTERP") }) {
			t.Errorf("staticELFProblems(%q) = %q, want a PT_INTERP problem", path, problems)
		}
		return
	}
	t.Skip("no dynamically linked system binary found to check against")
}

// TestStaticTaskID checks the parsing of /mcp answers in both framings.
func TestStaticTaskID(t *testing.T) {
	const ok = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"id\":\"T-42\"}"}]}}`
	tests := []struct {
		name, contentType, body string
		want                    string
		wantErr                 bool
	}{
		{name: "json", contentType: "application/json", body: ok, want: "T-42"},
		{name: "sse after a notification", contentType: "text/event-stream",
			body: "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\nevent: message\ndata: " + ok + "\n\n", want: "T-42"},
		{name: "json-rpc error", contentType: "application/json", body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"T-1 bad"}}`, wantErr: true},
		{name: "tool error", contentType: "application/json", body: `{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"T-1"}]}}`, wantErr: true},
		{name: "no task id", contentType: "application/json", body: `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`, wantErr: true},
		{name: "other id", contentType: "application/json", body: `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"T-1"}]}}`, wantErr: true},
		{name: "sse without data", contentType: "text/event-stream", body: ": keep-alive\n\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := staticTaskID(tt.contentType, []byte(tt.body))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("staticTaskID(%q, %q) = %q, %v; want %q, error %v", tt.contentType, tt.body, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
