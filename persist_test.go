package main

// Persistence tests for the embedded backend's TASKMAN_DATA_FILE, against
// the real binary: docs/backend-api.md promises that a write is saved
// crash-safely before it is acknowledged, so a SIGKILL (no graceful
// shutdown, no deferred code) must lose no acknowledged write and never
// leave a torn file, and a damaged file must stop the start rather than be
// overwritten.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// pxExitTimeout bounds the wait for the child to exit after a kill, an
	// EOF on stdin, or a failed start (which happens before any I/O).
	pxExitTimeout = 15 * time.Second

	// pxWriters is the number of concurrent writers when the kill lands:
	// more than the 2 CPUs of a small CI machine, so writes queue on the
	// store lock and some are in flight at the kill.
	pxWriters = 8

	// pxAckedBeforeKill is how many acknowledged concurrent writes the kill
	// waits for: enough that the file has been rewritten many times.
	pxAckedBeforeKill = 40

	// pxMaxWritesPerWriter bounds each concurrent writer's loop; the kill
	// normally ends it long before.
	pxMaxWritesPerWriter = 200

	// pxKillDeadline bounds the wait for pxAckedBeforeKill acknowledgements.
	pxKillDeadline = 60 * time.Second
)

// pxClient is the stdio client of the taskman-mcp binary run as a child
// process, which it can also kill.
type pxClient struct {
	*stdioClient
	cmd *exec.Cmd
}

// pxEnv is the child's whole environment: nothing inherited but PATH and
// HOME, so a TASK_MANAGER_API_ENDPOINT or NODE_ENV in the developer's
// shell cannot change what is tested.
func pxEnv(dataFile string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"TASKMAN_DATA_FILE=" + dataFile,
		"LOG_LEVEL=info",
		"TRACING_ENABLED=false",
	}
}

// pxStart starts bin over stdio with its data in dataFile and initializes
// a 2025-11-25 session. The child runs in an empty directory so that no
// .env file is picked up; it is killed when the test ends if it is still
// running.
func pxStart(t *testing.T, bin, dataFile string) *pxClient {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = pxEnv(dataFile)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("stdin pipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	c := &pxClient{stdioClient: newStdioClient(t, stdin, stderr, func() { cmd.Process.Signal(os.Interrupt) }), cmd: cmd}
	go func() {
		c.readLoop(stdout)
		// Wait closes stdout, so it runs only after every read is done.
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case err := <-c.done:
			c.done <- err
		default:
			c.kill(t)
		}
		if t.Failed() {
			t.Logf("server stderr:\n%s", c.stderr.String())
		}
	})
	c.initialize(version20251125)
	return c
}

// kill sends SIGKILL (no signal handler, no deferred code, no flush runs)
// and waits for the child to exit.
func (c *pxClient) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := c.exited(); errors.Is(err, errStillRunning) {
		t.Fatal(err)
	}
}

// stopCleanly closes stdin, the graceful shutdown of the stdio transport,
// and fails the test unless the child exits with status 0.
func (c *pxClient) stopCleanly(t *testing.T) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}

// pxRecord is an acknowledged record: the tool that reads it back, the
// name of its id argument and of its key in the result, and its last
// acknowledged value.
type pxRecord struct {
	readTool string
	idArg    string
	key      string
	value    map[string]any
}

// pxReadBack reads every record back through its read tool and fails the
// test unless each equals its acknowledged value, field for field
// (timestamps and computed fields included).
func pxReadBack(t *testing.T, c *pxClient, records map[string]pxRecord) {
	t.Helper()
	for id, r := range records {
		sc, err := c.tool(r.readTool, map[string]any{r.idArg: id})
		if err != nil {
			t.Errorf("%s(%q) after restart: %v", r.readTool, id, err)
			continue
		}
		want(t, fmt.Sprintf("%s(%q) after restart", r.readTool, id), sc[r.key], r.value)
	}
}

// pxCheckFile fails the test unless path is absent or holds one complete
// JSON document, and its journal parses (a torn last line allowed: that is
// a write the kill interrupted).
func pxCheckFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read data file after kill: %v", err)
	}
	if err == nil && !json.Valid(data) {
		t.Fatalf("data file after kill is not valid JSON (%d bytes): %.200q", len(data), data)
	}
	journal, err := os.ReadFile(path + embJournalSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read journal after kill: %v", err)
	}
	if _, _, err := embReadJournal(journal); err != nil {
		t.Fatalf("journal after kill: %v", err)
	}
}

// pxTempFiles returns the temporary files the atomic save leaves next to
// dataFile, if any.
func pxTempFiles(t *testing.T, dataFile string) []string {
	t.Helper()
	m, err := filepath.Glob(dataFile + ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPersistenceSurvivesSIGKILL makes 30 acknowledged writes of every
// kind through the tools, kills the server with SIGKILL, and checks that a
// restarted server reads back every record exactly as last acknowledged.
func TestPersistenceSurvivesSIGKILL(t *testing.T) {
	bin := e2eBinary(t)
	dataFile := filepath.Join(t.TempDir(), "data.json")
	c := pxStart(t, bin, dataFile)

	records := map[string]pxRecord{}
	writes := 0
	// write calls a write tool, which must be acknowledged, and stores the
	// record it returns under key.
	write := func(tool, readTool, idArg, key string, args map[string]any) string {
		t.Helper()
		sc, err := c.tool(tool, args)
		if err != nil {
			t.Fatalf("write %d: %v", writes+1, err)
		}
		writes++
		rec, _ := sc[key].(map[string]any)
		id, _ := rec["id"].(string)
		if id == "" {
			t.Fatalf("%s: result %v has no %s.id", tool, sc, key)
		}
		records[id] = pxRecord{readTool: readTool, idArg: idArg, key: key, value: rec}
		return id
	}
	var projects, tasks, lists []string
	for i := range 3 {
		projects = append(projects, write("project_create", "project_read", "projectId", "project",
			map[string]any{"project": map[string]any{"name": fmt.Sprintf("Project %d", i), "description": "persisted ü " + strings.Repeat("x", i)}}))
	}
	for i := range 12 {
		tasks = append(tasks, write("task_create", "task_read", "taskId", "task", map[string]any{"task": map[string]any{
			"title": fmt.Sprintf("Task %d", i), "project_id": projects[i%3], "priority": priorities[i%4],
			"tags": []any{"persist", fmt.Sprint(i)}, "estimated_hours": 1.5 * float64(i), "custom_field": map[string]any{"n": i},
		}}))
	}
	for i := range 6 {
		write("task_update", "task_read", "taskId", "task", map[string]any{"taskId": tasks[i], "changes": map[string]any{
			"status": "in_progress", "notes": fmt.Sprintf("note %d", i), "assignee": "ada",
		}})
	}
	write("task_update", "task_read", "taskId", "task", map[string]any{"taskId": tasks[0], "changes": map[string]any{"status": "completed"}})
	for i := range 3 {
		lists = append(lists, write("action_list_create", "action_list_read", "action_list_id", "action_list", map[string]any{
			"title": fmt.Sprintf("List %d", i), "project_id": projects[i],
			"items": []any{map[string]any{"text": "first"}, map[string]any{"text": "second", "completed": true}},
		}))
	}
	for i := range 3 {
		write("action_list_add_item", "action_list_read", "action_list_id", "action_list", map[string]any{"action_list_id": lists[i], "text": fmt.Sprintf("added %d", i)})
	}
	for i := range 2 {
		write("project_update", "project_read", "projectId", "project", map[string]any{"projectId": projects[i], "changes": map[string]any{"status": "inactive"}})
	}
	if writes != 30 {
		t.Fatalf("made %d writes, want 30", writes)
	}

	c.kill(t)
	pxCheckFile(t, dataFile)
	if tmp := pxTempFiles(t, dataFile); len(tmp) != 0 {
		t.Errorf("temporary files after every write was acknowledged: %v, want none", tmp)
	}

	c2 := pxStart(t, bin, dataFile)
	pxReadBack(t, c2, records)
	if len(records) != 3+12+3 {
		t.Errorf("acknowledged %d distinct records, want 18", len(records))
	}
	c2.stopCleanly(t)
}

// pxKillDuringWrites runs pxWriters concurrent task_create loops against c
// and kills c with SIGKILL once killAfter writes are acknowledged. It
// returns every write acknowledged before the kill.
func pxKillDuringWrites(t *testing.T, c *pxClient, killAfter int) map[string]pxRecord {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]pxRecord{} // guarded by mu
	enough := make(chan struct{})
	var enoughOnce sync.Once
	var wg sync.WaitGroup
	var unexpected atomic.Value // the first error that is not the kill
	pid := c.project()
	for w := range pxWriters {
		wg.Go(func() {
			for n := range pxMaxWritesPerWriter {
				sc, err := c.tool("task_create", map[string]any{"task": map[string]any{
					"title": fmt.Sprintf("writer %d write %d", w, n), "project_id": pid,
				}})
				if err != nil {
					if !errors.Is(err, errStdioEnded) && !errors.Is(err, os.ErrClosed) && !strings.Contains(err.Error(), "broken pipe") {
						unexpected.CompareAndSwap(nil, err)
					}
					return
				}
				rec, _ := sc["task"].(map[string]any)
				id, _ := rec["id"].(string)
				mu.Lock()
				acked[id] = pxRecord{readTool: "task_read", idArg: "taskId", key: "task", value: rec}
				if len(acked) >= killAfter {
					enoughOnce.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(pxKillDeadline):
		t.Fatalf("fewer than %d writes acknowledged within %s", killAfter, pxKillDeadline)
	}
	// Writes acknowledged between here and the kill count too: the set is
	// read only after every writer has seen the kill.
	c.kill(t)
	wg.Wait()
	if err, _ := unexpected.Load().(error); err != nil {
		t.Fatalf("a writer failed before the kill: %v", err)
	}
	return acked
}

// TestPersistenceSIGKILLDuringConcurrentWrites kills the server while
// pxWriters clients write concurrently and checks that a restarted server
// reads back every acknowledged write.
func TestPersistenceSIGKILLDuringConcurrentWrites(t *testing.T) {
	bin := e2eBinary(t)
	dataFile := filepath.Join(t.TempDir(), "data.json")
	c := pxStart(t, bin, dataFile)
	acked := pxKillDuringWrites(t, c, pxAckedBeforeKill)
	pxCheckFile(t, dataFile)
	if tmp := pxTempFiles(t, dataFile); len(tmp) != 0 {
		// A kill between CreateTemp and Rename leaves the temp file; it is
		// harmless for correctness, so it is reported, not failed.
		t.Logf("temporary files left by the kill: %v", tmp)
	}

	c2 := pxStart(t, bin, dataFile)
	t.Logf("%d writes acknowledged before the kill", len(acked))
	pxReadBack(t, c2, acked)
	c2.stopCleanly(t)
}

// pxKillRounds bounds TestJournalSIGKILLAtRandomPoints: each round is a
// start, a burst of writes, a kill and a full read-back.
const pxKillRounds = 4

// TestJournalSIGKILLAtRandomPoints kills the server after a random number
// of acknowledged writes, pxKillRounds times on the same data file, so
// kills land at random points of journal appends, compactions at start
// and torn tails left by earlier kills. After every restart each write
// acknowledged in any round is read back, and the files parse.
func TestJournalSIGKILLAtRandomPoints(t *testing.T) {
	bin := e2eBinary(t)
	dataFile := filepath.Join(t.TempDir(), "data.json")
	all := map[string]pxRecord{}
	for round := range pxKillRounds {
		c := pxStart(t, bin, dataFile)
		pxReadBack(t, c, all)
		killAfter := 1 + rand.IntN(pxAckedBeforeKill)
		maps.Copy(all, pxKillDuringWrites(t, c, killAfter))
		pxCheckFile(t, dataFile)
		t.Logf("round %d: killed after %d acknowledged writes, %d in all", round, killAfter, len(all))
	}
	c := pxStart(t, bin, dataFile)
	pxReadBack(t, c, all)
	c.stopCleanly(t)
}

// TestTruncatedDataFileFailsStart damages a data file written by a real
// run and checks that the server refuses to start: a non-zero exit within
// pxExitTimeout, the file's path on stderr, nothing on stdout, and the
// file left byte for byte as it was.
func TestTruncatedDataFileFailsStart(t *testing.T) {
	bin := e2eBinary(t)
	good := filepath.Join(t.TempDir(), "data.json")
	c := pxStart(t, bin, good)
	pid := c.project()
	for i := range 5 {
		if _, err := c.tool("task_create", map[string]any{"task": map[string]any{"title": fmt.Sprintf("T%d", i), "project_id": pid}}); err != nil {
			t.Fatal(err)
		}
	}
	c.stopCleanly(t)
	data, err := os.ReadFile(good)
	if err != nil || !json.Valid(data) {
		t.Fatalf("data file after a clean run: %v, valid JSON %v", err, json.Valid(data))
	}

	tests := []struct {
		name    string
		content []byte
	}{
		{"truncated to half", data[:len(data)/2]},
		{"truncated to one byte", data[:1]},
		{"empty", []byte{}},
		{"trailing garbage", append(bytes.Clone(data), "{}"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data.json")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), pxExitTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Dir = t.TempDir()
			cmd.Env = pxEnv(path)
			// stdin stays open: a server that wrongly started would wait
			// on it until the context kills it, which is then reported.
			// An *os.File, so that exec starts no copier goroutine that
			// Wait would have to wait for.
			stdinR, stdinW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdinR.Close()
			defer stdinW.Close()
			cmd.Stdin = stdinR
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("server with a damaged data file still running after %s; stderr:\n%s", pxExitTimeout, stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("exit = %v, want status 1 (runtime failure)", err)
			}
			if !strings.Contains(stderr.String(), path) {
				t.Errorf("stderr does not name %s:\n%s", path, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, tt.content) {
				t.Errorf("data file changed: %d bytes (err %v), want the %d bytes written", len(after), err, len(tt.content))
			}
			if tmp := pxTempFiles(t, path); len(tmp) != 0 {
				t.Errorf("temporary files created by a failed start: %v", tmp)
			}
		})
	}
}
