package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testBackend returns a client for url that records its retry waits
// instead of sleeping.
func testBackend(t *testing.T, url string, retries int) (*backendClient, *[]time.Duration) {
	t.Helper()
	c, err := newBackendClient(backendOptions{
		BaseURL:    url,
		Timeout:    2 * time.Second,
		MaxRetries: retries,
		RetryDelay: 10 * time.Millisecond,
		Version:    "test",
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	waits := &[]time.Duration{}
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	t.Cleanup(c.close)
	return c, waits
}

// scripted returns a server answering the n-th request with answers[n]
// (the last one repeats) and counting requests.
func scripted(t *testing.T, answers ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		answers[min(i, len(answers)-1)](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// status answers with code and body.
func status(code int, body string, headers ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestRetries(t *testing.T) {
	task := `{"id":"T-1","title":"x"}`
	tests := []struct {
		name      string
		op        opID
		answers   []func(http.ResponseWriter, *http.Request)
		wantCalls int32
		wantErr   string // "" for success
		wantWaits []time.Duration
	}{
		{"GET retried through two 503s", opGetTask, []func(http.ResponseWriter, *http.Request){
			status(503, `{"detail":"busy"}`), status(503, `{"detail":"busy"}`), status(200, task)}, 3, "", nil},
		{"POST never retried", opCreateTask, []func(http.ResponseWriter, *http.Request){
			status(503, `{"detail":"busy"}`), status(200, task)}, 1, "503 Service Unavailable: busy", nil},
		{"PATCH never retried", opToggleItem, []func(http.ResponseWriter, *http.Request){
			status(502, `{}`), status(200, task)}, 1, "502 Bad Gateway", nil},
		{"404 not retried", opGetTask, []func(http.ResponseWriter, *http.Request){
			status(404, `{"detail":"task T-1 does not exist"}`)}, 1, "404 Not Found: task T-1 does not exist", nil},
		{"500 retried on GET", opGetTask, []func(http.ResponseWriter, *http.Request){
			status(500, `{}`), status(200, task)}, 2, "", nil},
		{"500 not retried on PUT", opUpdateTask, []func(http.ResponseWriter, *http.Request){
			status(500, `{"error":"db down"}`), status(200, task)}, 1, "500 Internal Server Error: db down", nil},
		{"gives up after max retries", opGetTask, []func(http.ResponseWriter, *http.Request){
			status(504, `{}`)}, 4, "504 Gateway Timeout", nil},
		{"Retry-After seconds honoured", opGetTask, []func(http.ResponseWriter, *http.Request){
			status(429, `{}`, "Retry-After", "2"), status(200, task)}, 2, "", []time.Duration{2 * time.Second}},
		{"Retry-After capped", opDeleteTask, []func(http.ResponseWriter, *http.Request){
			status(503, `{}`, "Retry-After", "3600"), status(204, ``)}, 2, "", []time.Duration{maxRetryAfter}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := scripted(t, tt.answers...)
			c, waits := testBackend(t, srv.URL, 3)
			_, err := c.do(context.Background(), request{op: tt.op, args: []string{"T-1", "item-1"}, body: map[string]any{}})
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("backend saw %d calls, want %d", got, tt.wantCalls)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("do: %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("do: error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantWaits != nil && !equalDurations(*waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", *waits, tt.wantWaits)
			}
			if len(*waits) != int(tt.wantCalls)-1 {
				t.Errorf("%d waits for %d calls", len(*waits), tt.wantCalls)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-3", 0},
		{"soon", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999", maxRetryAfter},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	c := &backendClient{retryDelay: 100 * time.Millisecond}
	for attempt := range 30 {
		step := min(c.retryDelay<<min(attempt, 20), maxBackoff)
		for range 50 {
			if d := c.backoff(attempt); d <= 0 || d > step {
				t.Fatalf("backoff(%d) = %v, want in (0, %v]", attempt, d, step)
			}
		}
	}
}

func TestErrorBodyShapes(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"envelope error", `{"success":false,"error":"title is required"}`, "title is required"},
		{"envelope message", `{"success":false,"message":"project P-1 is archived"}`, "project P-1 is archived"},
		{"FastAPI detail string", `{"detail":"Task not found"}`, "Task not found"},
		{"FastAPI detail list", `{"detail":[{"loc":["body","task","title"],"msg":"field required","type":"missing"},{"loc":["query","limit"],"msg":"must be <= 100"}]}`,
			"task.title: field required; limit: must be <= 100"},
		{"problem+json", `{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"title: must be 1 to 255 characters"}`,
			"422 Unprocessable Entity: title: must be 1 to 255 characters"},
		{"problem+json with its own title", `{"title":"Quota exceeded","status":422,"detail":"at most 100 projects"}`, "Quota exceeded: at most 100 projects"},
		{"not JSON", `<html>gateway says no</html>`, `"<html>gateway says no</html>"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := scripted(t, status(422, tt.body))
			c, _ := testBackend(t, srv.URL, 0)
			_, err := c.do(context.Background(), request{op: opCreateTask, body: map[string]any{}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("envelope failure with 200", func(t *testing.T) {
		srv, _ := scripted(t, status(200, `{"success":false,"error":"sprint S-9 is closed"}`))
		c, _ := testBackend(t, srv.URL, 0)
		_, err := c.do(context.Background(), request{op: opBulkAssignSprint, body: map[string]any{}})
		var berr *backendError
		if !errors.As(err, &berr) || !strings.Contains(err.Error(), "sprint S-9 is closed") {
			t.Fatalf("error = %v, want a backendError carrying the message", err)
		}
	})
}

func TestTolerantAnswers(t *testing.T) {
	lists := []struct{ name, body string }{
		{"bare array", `[{"id":"T-1"},{"id":"T-2"}]`},
		{"named key", `{"tasks":[{"id":"T-1"},{"id":"T-2"}],"next_cursor":"c2"}`},
		{"data key", `{"data":[{"id":"T-1"},{"id":"T-2"}],"next_cursor":"c2"}`},
		{"items key", `{"items":[{"id":"T-1"},{"id":"T-2"}],"total":2}`},
		{"envelope around a list", `{"success":true,"data":[{"id":"T-1"},{"id":"T-2"}]}`},
		{"envelope around a wrapper", `{"success":true,"data":{"tasks":[{"id":"T-1"},{"id":"T-2"}],"next_cursor":"c2"}}`},
	}
	for _, tt := range lists {
		t.Run("list/"+tt.name, func(t *testing.T) {
			srv, _ := scripted(t, status(200, tt.body))
			c, _ := testBackend(t, srv.URL, 0)
			v, err := c.do(context.Background(), request{op: opListTasks})
			if err != nil {
				t.Fatal(err)
			}
			la, err := asList(opListTasks, v, "tasks")
			if err != nil || len(la.items) != 2 {
				t.Fatalf("asList = %v items, %v; want 2 items", len(la.items), err)
			}
			if strings.Contains(tt.body, "next_cursor") && la.nextCursor != "c2" {
				t.Errorf("next cursor = %q, want c2", la.nextCursor)
			}
		})
	}
	records := []string{`{"id":"T-1","title":"x"}`, `{"success":true,"data":{"id":"T-1","title":"x"}}`}
	for _, body := range records {
		srv, _ := scripted(t, status(200, body))
		c, _ := testBackend(t, srv.URL, 0)
		v, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}})
		rec, rerr := asRecord(opGetTask, v)
		if err != nil || rerr != nil || rec["id"] != "T-1" {
			t.Errorf("record from %s = %v, %v, %v", body, rec, err, rerr)
		}
	}
	t.Run("empty delete", func(t *testing.T) {
		srv, _ := scripted(t, status(204, ""))
		c, _ := testBackend(t, srv.URL, 0)
		if v, err := c.do(context.Background(), request{op: opDeleteTask, args: []string{"T-1"}}); v != nil || err != nil {
			t.Fatalf("do = %v, %v; want nil, nil", v, err)
		}
	})
	t.Run("unexpected shape", func(t *testing.T) {
		srv, _ := scripted(t, status(200, `"hello"`))
		c, _ := testBackend(t, srv.URL, 0)
		v, err := c.do(context.Background(), request{op: opListTasks})
		if err == nil {
			_, err = asList(opListTasks, v, "tasks")
		}
		if err == nil || !strings.Contains(err.Error(), "GET /tasks") || !strings.Contains(err.Error(), "unexpected answer shape") {
			t.Fatalf("error = %v, want one naming the endpoint and the shape", err)
		}
	})
}

func TestTransportFailures(t *testing.T) {
	t.Run("connection refused is retried then reported", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, waits := testBackend(t, "http://"+addr, 2)
		_, err = c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}})
		var uerr *unreachableError
		if !errors.As(err, &uerr) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("error = %v, want unreachable: connection refused", err)
		}
		if len(*waits) != 2 {
			t.Errorf("%d retries, want 2", len(*waits))
		}
	})
	t.Run("connection reset is retried", func(t *testing.T) {
		reset := func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		}
		srv, calls := scripted(t, reset, status(200, `{"id":"T-1"}`))
		c, _ := testBackend(t, srv.URL, 2)
		if _, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}}); err != nil {
			t.Fatalf("do: %v", err)
		}
		if calls.Load() != 2 {
			t.Errorf("calls = %d, want 2", calls.Load())
		}
	})
	t.Run("slow beyond the timeout", func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		c, _ := testBackend(t, srv.URL, 1)
		c.timeout = 50 * time.Millisecond
		_, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}})
		if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want a timeout naming the limit", err)
		}
	})
	t.Run("caller cancellation is not retried", func(t *testing.T) {
		started := make(chan struct{}, 4)
		srv, calls := scripted(t, func(w http.ResponseWriter, r *http.Request) {
			started <- struct{}{}
			<-r.Context().Done()
		})
		c, _ := testBackend(t, srv.URL, 3)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-started; cancel() }()
		_, err := c.do(ctx, request{op: opGetTask, args: []string{"T-1"}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if calls.Load() != 1 {
			t.Errorf("calls = %d, want 1", calls.Load())
		}
	})
	t.Run("bad JSON", func(t *testing.T) {
		srv, _ := scripted(t, status(200, `{"id": "T-1",`))
		c, _ := testBackend(t, srv.URL, 0)
		_, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}})
		if err == nil || !strings.Contains(err.Error(), "not JSON") {
			t.Fatalf("error = %v, want 'not JSON'", err)
		}
	})
	t.Run("oversized answer", func(t *testing.T) {
		srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("["))
			chunk := []byte(strings.Repeat(`"xxxxxxxxxxxxxx",`, 4096))
			for written := 0; written <= maxAnswerBytes; written += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		c, _ := testBackend(t, srv.URL, 0)
		_, err := c.do(context.Background(), request{op: opListTasks})
		if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
			t.Fatalf("error = %v, want a size error", err)
		}
	})
}

func TestRequestHeaders(t *testing.T) {
	var got http.Header
	var gotPath string
	srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		got, gotPath = r.Header.Clone(), r.URL.RequestURI()
		status(200, `{"id":"T-1"}`)(w, r)
	})
	c, _ := testBackend(t, srv.URL+"/api/v1/", 0)
	ctx := withRequestInfo(context.Background(), &requestInfo{id: "req-42"})
	if _, err := c.do(ctx, request{op: opUpdateTask, args: []string{"T 1/2"}, body: map[string]any{"a": 1}}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"X-Request-Id": "req-42", "User-Agent": "taskman-mcp/test",
		"Content-Type": "application/json", "Accept": "application/json",
	} {
		if got.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, got.Get(k), want)
		}
	}
	if want := "/api/v1/tasks/T%201%2F2"; gotPath != want {
		t.Errorf("path = %q, want %q", gotPath, want)
	}
}

// TestBackendURLCredentials checks that a password in the backend's base
// URL reaches neither spans nor the reports of activate_taskman_server.
func TestBackendURLCredentials(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	tests := []struct{ base, target, want string }{
		{"http://127.0.0.1:4000/api", "http://127.0.0.1:4000/api/tasks/T-1", "http://127.0.0.1:4000/api/tasks/T-1"},
		{"https://ops:s3cret@tasks.example/api", "https://ops:s3cret@tasks.example/api/tasks?limit=5", "https://tasks.example/api/tasks?limit=5"},
	}
	for _, tt := range tests {
		c, err := newBackendClient(backendOptions{BaseURL: tt.base, Timeout: time.Second, Version: "test", Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.spanURL(tt.target); got != tt.want {
			t.Errorf("base %s: spanURL(%s) = %s, want %s", tt.base, tt.target, got, tt.want)
		}
		if strings.Contains(c.mode, "s3cret") || !strings.HasPrefix(tt.want, c.mode) {
			t.Errorf("base %s: mode = %s, want the base without credentials", tt.base, c.mode)
		}
	}
}

func TestStatusHidesBackendCredentials(t *testing.T) {
	b := envelopeBackend(t)
	withCreds := strings.Replace(b.URL, "http://", "http://ops:s3cret@", 1)
	c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": withCreds})
	c.initialize(version20251125)
	res := c.callTool("activate_taskman_server", map[string]any{"verbose": true})
	status := structured(t, "activate_taskman_server", res)
	if got := get(status, "serverStatus", "apiEndpoint"); got != b.URL {
		t.Errorf("apiEndpoint = %v, want %s", got, b.URL)
	}
	raw, _ := json.Marshal(res)
	if strings.Contains(string(raw), "s3cret") || strings.Contains(c.stderr.String(), "s3cret") {
		t.Errorf("the password reached the client or the logs:\n%s\n%s", raw, c.stderr.String())
	}
}

// TestRefusedConnectionHints checks that a refused connection to a remote
// backend says what to do about it, naming the embedded backend, and that
// other failures carry no such hint.
func TestRefusedConnectionHints(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	c, err := newBackendClient(backendOptions{BaseURL: closed, Timeout: 2 * time.Second, Version: "test",
		Logger: slog.New(slog.DiscardHandler), Dialect: dialectLegacy})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	_, err = c.do(context.Background(), request{op: opHealth})
	if err == nil || !strings.Contains(err.Error(), "nothing is listening at "+closed) || !strings.Contains(err.Error(), "unset TASK_MANAGER_API_ENDPOINT") {
		t.Errorf("refused: err = %v, want the hint naming %s and TASK_MANAGER_API_ENDPOINT", err, closed)
	}

	srv, _ := scripted(t, status(503, `{"error":"down"}`))
	c2, _ := testBackend(t, srv.URL, 0)
	_, err = c2.do(context.Background(), request{op: opHealth})
	if err == nil || strings.Contains(err.Error(), "TASK_MANAGER_API_ENDPOINT") {
		t.Errorf("503: err = %v, want an error without the refused-connection hint", err)
	}
}

func TestRecordText(t *testing.T) {
	tests := []struct {
		name, raw, want string // want "" means the answer must be decoded
	}{
		{"compact record", `{"id":"T-1","b":1,"a":[2]}`, `{"id":"T-1","b":1,"a":[2]}`},
		{"spaced record, trailing newline", " {\"id\": \"T-1\",\n \"n\": 1.50}\n", `{"id":"T-1","n":1.50}`},
		{"nested success is data", `{"id":"T-1","meta":{"success":true}}`, `{"id":"T-1","meta":{"success":true}}`},
		{"envelope", `{"success":true,"data":{"id":"T-1"}}`, ""},
		{"escaped envelope key", `{"succ\u0065ss":true,"data":{"id":"T-1"}}`, ""},
		{"array", `[{"id":"T-1"}]`, ""},
		{"string", `"T-1"`, ""},
		{"empty", ``, ""},
		{"broken", `{"id":"T-1"`, ""},
		{"trailing data", `{"id":"T-1"} {}`, ""},
		{"invalid UTF-8", "{\"id\":\"T-\xff\"}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, ok := recordText([]byte(tt.raw))
			if ok != (tt.want != "") || string(text) != tt.want && ok {
				t.Fatalf("recordText(%q) = %q, %v; want %q", tt.raw, text, ok, tt.want)
			}
		})
	}
}

// TestRecordTravelsAsText: a record a tool returns untouched reaches the
// caller as the backend's JSON text (compacted, members in the backend's
// order, exact numbers); an enveloped one is decoded as before.
func TestRecordTravelsAsText(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"{\"title\": \"x\", \"id\": \"T-1\", \"hours\": 1.50}\n", `{"title":"x","id":"T-1","hours":1.50}`},
		{`{"success":true,"data":{"title":"x","id":"T-1"}}`, ""},
	} {
		srv, _ := scripted(t, status(200, tt.body))
		c, _ := testBackend(t, srv.URL, 0)
		v, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}, untouched: true})
		if err != nil {
			t.Fatal(err)
		}
		text, isText := v.(json.RawMessage)
		if tt.want != "" && string(text) != tt.want {
			t.Errorf("answer to %s = %#v, want the text %s", tt.body, v, tt.want)
		}
		if rec, _ := v.(map[string]any); tt.want == "" && (isText || rec["id"] != "T-1") {
			t.Errorf("answer to %s = %#v, want the decoded data", tt.body, v)
		}
	}
}

// FuzzDecodeJSON: decodeJSON accepts what encoding/json's Decoder (with
// UseNumber, one value and nothing after it) accepts, and decodes it to
// the same values.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"id":"T-1","n":1.50,"tags":["a",null,true,false],"o":{}}`, ` [] `, `"\u00e9\ud800x"`,
		"\"\xff\"", `{"a":1,"a":2}`, `-0.0e+5`, `{"a":1} x`, `{"a":}`, ``, `[[[[]]]]`, `{"\u0061":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeJSON(raw)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var want any
		wantErr := dec.Decode(&want)
		if wantErr == nil {
			if _, tail := dec.Token(); tail != io.EOF {
				wantErr = errors.New("trailing data")
			}
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeJSON(%q) error = %v, the Decoder's %v", raw, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeJSON(%q) = %#v, the Decoder's %#v", raw, got, want)
		}
	})
}

// FuzzRecordText: whatever the backend sends, a record passed on as text
// is valid JSON that decodes to what the answer decodes to, and is an
// object without a success envelope.
func FuzzRecordText(f *testing.F) {
	for _, s := range []string{`{"id":"T-1"}`, ` {"a": [1, {"b": "\u00e9"}]}`, `{"success":true,"data":{}}`, `[1]`, `{"x":"<&>"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		text, ok := recordText(raw)
		if !ok {
			return
		}
		got, err := decodeJSON(text)
		if err != nil {
			t.Fatalf("recordText(%q) = %q, not JSON: %v", raw, text, err)
		}
		want, err := decodeJSON(raw)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("recordText(%q) decodes to %v, the answer to %v (%v)", raw, got, want, err)
		}
		if rec, isObj := got.(map[string]any); !isObj || rec["success"] != nil {
			t.Fatalf("recordText(%q) = %q: not a record without an envelope", raw, text)
		}
	})
}

// TestBackendBasicAuth: credentials in the base URL are sent as Basic
// Authorization, with every call.
func TestBackendBasicAuth(t *testing.T) {
	var user, pass string
	var ok bool
	srv, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok = r.BasicAuth()
		status(200, `{"id":"T-1"}`)(w, r)
	})
	c, _ := testBackend(t, strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1), 0)
	if _, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}}); err != nil {
		t.Fatal(err)
	}
	if !ok || user != "ops" || pass != "s3cret" {
		t.Errorf("Basic auth = %q, %q, %v; want ops, s3cret", user, pass, ok)
	}
}

// TestShortAnswerBody: an answer shorter than its Content-Length is a
// broken answer, retried on a read, not a record.
func TestShortAnswerBody(t *testing.T) {
	srv, n := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "40")
		w.WriteHeader(200)
		io.WriteString(w, `{"id":"T-1"}`)
	})
	c, _ := testBackend(t, srv.URL, 1)
	_, err := c.do(context.Background(), request{op: opGetTask, args: []string{"T-1"}, untouched: true})
	var uerr *unreachableError
	if !errors.As(err, &uerr) || n.Load() != 2 {
		t.Fatalf("err = %v after %d requests; want unreachable after 2", err, n.Load())
	}
}
