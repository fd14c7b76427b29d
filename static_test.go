package main

// TestStaticBinary proves the release build fits the container image
// (Dockerfile: FROM scratch, the binary and a CA bundle only): it builds
// the binary with the release flags, checks that it is a static ELF file,
// and, as root, runs it in an empty chroot as the image's user, serves one
// MCP tool call over HTTP and stops it with SIGTERM.

import (
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

	// staticMaxBody bounds how much of a health answer the test drains; it
	// is well under a kilobyte.
	staticMaxBody = 1 << 20
)

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
			requireOrSkip(t, "running the binary in an empty chroot needs root")
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
		if t.Failed() {
			t.Logf("output:\n%s", output())
		}
	})

	// One probe of staticWaitLive; no proxy applies (Go never proxies a
	// loopback address, whatever HTTP_PROXY says).
	client := &http.Client{Timeout: 5 * time.Second}
	staticWaitLive(t, client, base, exited, output)
	mcp := httpClient{base: base}
	project := mcp.project(t)
	status, msg := mcp.modernTool(t, 1, "task_create", map[string]any{"task": map[string]any{"title": "chroot", "project_id": project}})
	if id, _ := get(checkTool(t, "task_create", status, msg), "task", "id").(string); !strings.HasPrefix(id, "T-") {
		t.Fatalf("task_create = %v, want a task id T-…", msg)
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
