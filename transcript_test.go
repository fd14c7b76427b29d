package main

// The transcript tests pin the exact bytes of the answers to a fixed script
// of requests, one golden file per protocol era, over stdio and over HTTP.
// A refactor of the protocol core must leave them unchanged; a deliberate
// change of the wire format is made with -update-transcripts and reviewed
// as a diff of testdata/transcript_*.golden.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateTranscripts = flag.Bool("update-transcripts", false, "rewrite testdata/transcript_*.golden")

// transcriptWait bounds the wait for one stdio answer: the script runs on
// the embedded backend, so only a hang takes this long.
const transcriptWait = 10 * time.Second

// transcriptStep is one message of the script; headers are extra HTTP
// headers (an empty value removes one the harness would send).
type transcriptStep struct {
	name    string
	body    string
	headers map[string]string
}

// initLine is the initialize request of a legacy script at version v.
func initLine(v string) string {
	return `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + v +
		`","capabilities":{},"clientInfo":{"name":"transcript","version":"1"}}}`
}

// legacyScript is the script of a session negotiated at version v.
func legacyScript(v string) []transcriptStep {
	return []transcriptStep{
		{"initialize", initLine(v), nil},
		{"initialized", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil},
		{"ping", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil},
		{"ping with a string id", `{"jsonrpc":"2.0","id":"p-1","method":"ping","params":{}}`, nil},
		{"tools/list first page", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, nil},
		{"tools/list bad cursor", `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"nope"}}`, nil},
		{"tools/call ai_parse_task", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"ai_parse_task","arguments":{"input":"Fix login #auth priority: high"}}}`, nil},
		{"tools/call bad arguments", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ai_parse_task","arguments":{}}}`, nil},
		{"tools/call unknown tool", `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"rm_rf"}}`, nil},
		{"tools/call without name", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}`, nil},
		{"tools/call backend 404", `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"task_read","arguments":{"taskId":"T-missing"}}}`, nil},
		{"logging/setLevel", `{"jsonrpc":"2.0","id":9,"method":"logging/setLevel","params":{"level":"emergency"}}`, nil},
		{"logging/setLevel bad level", `{"jsonrpc":"2.0","id":10,"method":"logging/setLevel","params":{"level":"loud"}}`, nil},
		{"unknown method", `{"jsonrpc":"2.0","id":11,"method":"tasks/explode"}`, nil},
		{"params not an object", `{"jsonrpc":"2.0","id":12,"method":"tools/list","params":[1]}`, nil},
		{"wrong jsonrpc", `{"jsonrpc":"1.0","id":13,"method":"ping"}`, nil},
		{"id null", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil},
		{"second initialize", strings.Replace(initLine(v), `"id":0`, `"id":14`, 1), nil},
		{"client response", `{"jsonrpc":"2.0","id":"s-1","result":{}}`, nil},
		{"cancel unknown request", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}`, nil},
		{"batch", `[{"jsonrpc":"2.0","id":"b1","method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"b2","method":"tools/call","params":{"name":"ai_parse_task","arguments":{"input":"x #y"}}}]`, nil},
		{"empty batch", `[]`, nil},
	}
}

// modernScript is the stateless 2026-07-28 script. Only answers that are
// correct today are pinned here; the rules the issue-15 work changed are
// the table in protocol_test.go.
func modernScript() []transcriptStep {
	tl := modern(2, "tools/list", nil, nil)
	return []transcriptStep{
		{"server/discover", modern(1, "server/discover", nil, nil), nil},
		{"tools/list", tl, nil},
		{"tools/list bad cursor", modern(3, "tools/list", map[string]any{"cursor": "nope"}, nil), nil},
		{"tools/call ai_parse_task", modern(4, "tools/call", map[string]any{"name": "ai_parse_task", "arguments": map[string]any{"input": "Fix login #auth priority: high"}}, nil), nil},
		{"tools/call bad arguments", modern(5, "tools/call", map[string]any{"name": "ai_parse_task", "arguments": map[string]any{}}, nil), nil},
		{"tools/call unknown tool", modern(6, "tools/call", map[string]any{"name": "rm_rf"}, nil), nil},
		{"tools/call backend 404", modern(7, "tools/call", map[string]any{"name": "task_read", "arguments": map[string]any{"taskId": "T-missing"}}, nil), nil},
		{"ping is not modern", modern(8, "ping", nil, nil), nil},
		{"unknown method", modern(9, "tasks/explode", nil, nil), nil},
		{"unsupported version", modern(10, "tools/list", nil, map[string]any{metaProtocolVersion: "2099-01-01"}), map[string]string{"MCP-Protocol-Version": "2099-01-01"}},
		{"bad log level", modern(11, "tools/list", nil, map[string]any{metaLogLevel: "verbose"}), nil},
		{"method header mismatch", tl, map[string]string{"Mcp-Method": "tools/call"}},
		{"name header mismatch", modern(12, "tools/call", map[string]any{"name": "ai_parse_task", "arguments": map[string]any{"input": "x"}}, nil), map[string]string{"Mcp-Name": "task_read"}},
		{"version header missing", tl, map[string]string{"MCP-Protocol-Version": ""}},
	}
}

// transcriptServer returns a test server whose tools/list pages hold one
// tool, so the files pin the page shape without the whole catalog.
func transcriptServer(t *testing.T) *server {
	t.Helper()
	s := newTestServer(t)
	s.toolsPageSize = 1
	return s
}

// stdioTranscript runs the script through the stdio transport.
func stdioTranscript(t *testing.T, steps []transcriptStep) []string {
	t.Helper()
	lines := make([]string, len(steps))
	for i, st := range steps {
		lines[i] = st.body
	}
	return stdioAnswers(t, transcriptServer(t), lines)
}

// pipeStdio serves s's stdio transport on pipes and returns their ends:
// in is its stdin, out its stdout (closed when it stops), and done
// receives what serveStdio returned.
func pipeStdio(s *server) (in *io.PipeWriter, out *io.PipeReader, done <-chan error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- s.serveStdio(context.Background(), inR, outW, 4<<20, // TASKMAN_MAX_REQUEST_BYTES's default
			&shutdownClock{timeout: 5 * time.Second})
		outW.Close()
	}()
	return inW, outR, errc
}

// stdioAnswers runs the lines through s's stdio transport, one message at
// a time, and returns each answer line ("" when there is none).
func stdioAnswers(t *testing.T, s *server, script []string) []string {
	t.Helper()
	inW, outR, done := pipeStdio(s)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	for _, line := range script {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatalf("write stdin: %v", err)
		}
		if !expectsAnswer(line) {
			out = append(out, "")
			continue
		}
		select {
		case l := <-lines:
			out = append(out, l)
		case <-time.After(transcriptWait):
			t.Fatalf("no stdio answer to %s", line)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("serveStdio: %v", err)
	}
	for l := range lines {
		t.Errorf("stdio wrote an unexpected line: %s", l)
	}
	return out
}

// expectsAnswer reports whether a script message is answered: requests and
// malformed messages are, notifications and client responses are not.
func expectsAnswer(body string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &m) != nil {
		return true
	}
	_, hasID := m["id"]
	_, hasMethod := m["method"]
	return hasID && (hasMethod || m["result"] == nil && m["error"] == nil)
}

// httpTranscript runs the script over Streamable HTTP and returns each
// answer as "STATUS CONTENT-TYPE BODY". Legacy steps carry the session and
// version headers a client would send; modern steps carry the headers
// mirrored from their body.
func httpTranscript(t *testing.T, steps []transcriptStep, version string) []string {
	t.Helper()
	s := transcriptServer(t)
	tr := newHTTPTransport(s, testConfig(t, nil), disabledHealth(), nil, context.Background())
	hs := httptest.NewServer(tr.routes())
	t.Cleanup(hs.Close)
	var session string
	var out []string
	for _, st := range steps {
		headers := map[string]string{}
		if version == versionModern {
			headers = mirroredHeaders(st.body)
		} else {
			if session != "" {
				headers["Mcp-Session-Id"] = session
			}
			if version >= version20250618 && st.name != "initialize" {
				headers["MCP-Protocol-Version"] = version
			}
		}
		req := newMCPPost(context.Background(), hs.URL, st.body, headers)
		setHeaders(req, st.headers) // after: a step's own headers win
		resp, body := roundTrip(t, postClient, req)
		if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
			session = sid
		}
		out = append(out, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), strings.TrimRight(string(body), "\n")))
	}
	return out
}

// mirroredHeaders returns the 2026-07-28 headers a conforming client
// derives from a request body.
func mirroredHeaders(body string) map[string]string {
	var m struct {
		Method string `json:"method"`
		Params struct {
			Name string                     `json:"name"`
			Meta map[string]json.RawMessage `json:"_meta"`
		} `json:"params"`
	}
	json.Unmarshal([]byte(body), &m)
	h := map[string]string{"Mcp-Method": m.Method, "MCP-Protocol-Version": rawString(m.Params.Meta[metaProtocolVersion])}
	if m.Method == "tools/call" {
		h["Mcp-Name"] = m.Params.Name
	}
	return h
}

func TestTranscripts(t *testing.T) {
	eras := []struct {
		file    string
		version string
		steps   []transcriptStep
	}{
		{"transcript_2024-11-05.golden", version20241105, legacyScript(version20241105)},
		{"transcript_2025-03-26.golden", version20250326, legacyScript(version20250326)},
		{"transcript_2025-06-18.golden", version20250618, legacyScript(version20250618)},
		{"transcript_2025-11-25.golden", version20251125, legacyScript(version20251125)},
		{"transcript_2026-07-28.golden", versionModern, modernScript()},
	}
	for _, era := range eras {
		t.Run(era.version, func(t *testing.T) {
			stdio := stdioTranscript(t, era.steps)
			web := httpTranscript(t, era.steps, era.version)
			var b strings.Builder
			for i, st := range era.steps {
				fmt.Fprintf(&b, "### %s\n> %s\nstdio: %s\nhttp: %s\n\n", st.name, st.body, stdio[i], web[i])
			}
			path := filepath.Join("testdata", era.file)
			if *updateTranscripts {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestTranscripts -update-transcripts to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("answers differ from %s (review, then -update-transcripts):\n%s", path, firstDiff(string(want), got))
			}
		})
	}
}

// firstDiff returns the first differing line of two texts, with its
// number.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %s\n   got %s", i+1, wl, gl)
		}
	}
	return "(no difference)"
}
