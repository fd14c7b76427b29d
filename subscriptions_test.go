package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// nextNote returns the next notification of method from the stdio
// client, skipping others, or fails after a few seconds.
func nextNote(t *testing.T, c *stdioClient, method string) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case n := <-c.notes:
			if n["method"] == method {
				return n
			}
		case <-deadline:
			t.Fatalf("no %s notification", method)
			return nil
		}
	}
}

// noNote fails if a notification of method is waiting (after a call that
// was answered, so any it caused was already written).
func noNote(t *testing.T, c *stdioClient, method, what string) {
	t.Helper()
	for len(c.notes) > 0 {
		if n := <-c.notes; n["method"] == method {
			t.Errorf("%s: unexpected %v", what, n)
		}
	}
}

// TestResourceSubscriptionsStdio: a legacy session subscribed to a task
// is told when task_update changes it, not when another task changes, and
// no longer after unsubscribing; a sprint created changes the resource
// list; the per-session cap holds.
func TestResourceSubscriptionsStdio(t *testing.T) {
	c := startStdio(t, nil)
	c.initialize(version20251125)
	cl := legacyClient(c.request)
	ids := seedRecords(t, cl)
	other := seedRecords(t, cl)["tasks"]
	uri := "taskman://tasks/" + ids["tasks"]
	want(t, "subscribe", c.result("resources/subscribe", map[string]any{"uri": uri}), map[string]any{})

	toolOn(t, cl, "task_update", map[string]any{"taskId": other, "changes": map[string]any{"title": "Other"}})
	noNote(t, c, "notifications/resources/updated", "update of another task")
	toolOn(t, cl, "task_update", map[string]any{"taskId": ids["tasks"], "changes": map[string]any{"title": "Renamed"}})
	want(t, "updated uri", get(nextNote(t, c, "notifications/resources/updated"), "params", "uri"), uri)
	toolOn(t, cl, "task_read", map[string]any{"taskId": ids["tasks"]})
	noNote(t, c, "notifications/resources/updated", "a read")

	noNote(t, c, "notifications/resources/list_changed", "a task update")
	toolOn(t, cl, "sprint_create", map[string]any{"sprint": map[string]any{"name": "Next", "project_id": ids["projects"]}})
	nextNote(t, c, "notifications/resources/list_changed")

	c.result("resources/unsubscribe", map[string]any{"uri": uri})
	toolOn(t, cl, "task_update", map[string]any{"taskId": ids["tasks"], "changes": map[string]any{"title": "Again"}})
	noNote(t, c, "notifications/resources/updated", "after unsubscribe")

	want(t, "subscribe to nothing", errorCode(c.request("resources/subscribe", map[string]any{"uri": "taskman://boards/1"})), codeResourceNotFound)
	for i := range maxSubscriptions {
		c.result("resources/subscribe", map[string]any{"uri": fmt.Sprintf("taskman://tasks/T-%d", i)})
	}
	resp := c.request("resources/subscribe", map[string]any{"uri": "taskman://tasks/T-one-too-many"})
	want(t, "over the cap", errorCode(resp), codeInvalidParams)
	if msg, _ := get(resp, "error", "message").(string); !strings.Contains(msg, "at most 100 subscriptions") {
		t.Errorf("over the cap: message %q", msg)
	}
}

// sseReader reads the messages of an open event stream, one at a time.
type sseReader struct {
	t    *testing.T
	ch   chan map[string]any
	resp *http.Response // closing its body ends the stream
}

// readSSE starts reading resp's event stream.
func readSSE(t *testing.T, resp *http.Response) *sseReader {
	r := &sseReader{t: t, ch: make(chan map[string]any, 100), resp: resp}
	go func() {
		defer close(r.ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m map[string]any
				if json.Unmarshal([]byte(data), &m) == nil {
					r.ch <- m
				}
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return r
}

// next returns the next message, failing after a few seconds.
func (r *sseReader) next(what string) map[string]any {
	r.t.Helper()
	select {
	case m, ok := <-r.ch:
		if !ok {
			r.t.Fatalf("%s: the stream ended", what)
		}
		return m
	case <-time.After(5 * time.Second):
		r.t.Fatalf("%s: nothing on the stream", what)
		return nil
	}
}

// openStream sends req and checks it answered an event stream.
func openStream(t *testing.T, req *http.Request) *sseReader {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return readSSE(t, resp)
}

// TestResourceSubscriptionsHTTP: a legacy HTTP session's updates arrive on
// its GET stream.
func TestResourceSubscriptionsHTTP(t *testing.T) {
	h := startHTTP(t, nil)
	sid := h.initSession(t, nil)
	headers := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": version20251125}
	var n int
	c := func(method string, params any) map[string]any {
		n++
		_, m := h.sessionRequest(t, sid, n, method, params)
		return m
	}
	ids := seedRecords(t, c)
	get, _ := http.NewRequest(http.MethodGet, h.base+"/mcp", nil)
	get.Header.Set("Accept", "text/event-stream")
	for k, v := range headers {
		get.Header.Set(k, v)
	}
	stream := openStream(t, get)
	uri := "taskman://sprints/" + ids["sprints"]
	c("resources/subscribe", map[string]any{"uri": uri})
	toolOn(t, c, "sprint_update", map[string]any{"sprintId": ids["sprints"], "changes": map[string]any{"goal": "Ship"}})
	for {
		m := stream.next("the sprint's update")
		if m["method"] == "notifications/resources/updated" {
			want(t, "updated uri", m["params"].(map[string]any)["uri"], uri)
			break
		}
	}
}

// TestSubscriptionsListen: a 2026-07-28 listen stream over HTTP opens with
// the acknowledgment (the URIs it honours, under the request's id), then
// carries the update of its subscribed resource only and the resource
// list's change, each naming the subscription.
func TestSubscriptionsListen(t *testing.T) {
	h := startHTTP(t, nil)
	var n int
	c := func(method string, params any) map[string]any {
		n++
		p, _ := params.(map[string]any)
		body := modern(n, method, p, nil)
		_, answer := h.post(t, body, mirroredHeaders(body))
		var m map[string]any
		if err := json.Unmarshal(answer, &m); err != nil {
			t.Fatalf("%s: %q: %v", method, answer, err)
		}
		return m
	}
	ids := seedRecords(t, c)
	other := seedRecords(t, c)["tasks"]
	uri := "taskman://tasks/" + ids["tasks"]

	body := modern(77, "subscriptions/listen", map[string]any{"notifications": map[string]any{
		"resourceSubscriptions": []string{uri, "taskman://boards/B-1"}, "toolsListChanged": true, "resourcesListChanged": true}}, nil)
	stream := openStream(t, newMCPPost(context.Background(), h.base, body, mirroredHeaders(body)))
	ack := stream.next("the acknowledgment")
	want(t, "first message", ack["method"], "notifications/subscriptions/acknowledged")
	want(t, "ack subscription id", get(ack, "params", "_meta", metaSubscriptionID), float64(77))
	want(t, "ack filter", get(ack, "params", "notifications"), map[string]any{"resourceSubscriptions": []any{uri}, "resourcesListChanged": true})

	toolOn(t, c, "task_update", map[string]any{"taskId": other, "changes": map[string]any{"title": "Other"}})
	toolOn(t, c, "task_update", map[string]any{"taskId": ids["tasks"], "changes": map[string]any{"title": "Renamed"}})
	upd := stream.next("the update")
	want(t, "update method", upd["method"], "notifications/resources/updated")
	want(t, "update uri", get(upd, "params", "uri"), uri)
	want(t, "update subscription id", get(upd, "params", "_meta", metaSubscriptionID), float64(77))
	toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": "Gamma"}})
	changed := stream.next("the list change")
	want(t, "list change method", changed["method"], "notifications/resources/list_changed")
	want(t, "list change subscription id", get(changed, "params", "_meta", metaSubscriptionID), float64(77))

	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	final := stream.next("the closing result")
	want(t, "closing id", final["id"], float64(77))
	want(t, "closing subscription id", get(final, "result", "_meta", metaSubscriptionID), float64(77))
}

// TestSubscriptionHubForgetsEndedSessions: an HTTP session's subscriptions
// and update queue go when it ends; a stdio session's (no end) stay.
func TestSubscriptionHubForgetsEndedSessions(t *testing.T) {
	h := newSubscriptionHub()
	ended := make(chan struct{})
	httpSess, stdioSess := newSession("abc"), newSession("")
	httpSess.ended = ended
	var sent []string
	for _, sess := range []*session{httpSess, stdioSess} {
		h.queue(sess)
		if err := h.subscribe(sess, "taskman://tasks/T-1", func() *subscriber {
			return &subscriber{uris: map[string]bool{}, ended: sess.ended, send: func(u string) { sent = append(sent, sess.id+" "+u) }}
		}); err != nil {
			t.Fatal(err)
		}
	}
	h.publish([]string{"taskman://tasks/T-1", "taskman://tasks/T-2"})
	want(t, "sent while both live", len(sent), 2)
	close(ended)
	sent = nil
	h.publish([]string{"taskman://tasks/T-1"})
	want(t, "sent after the HTTP session ended", sent, []string{" taskman://tasks/T-1"})
	want(t, "subscribers left", len(h.subs), 1)
	want(t, "queues left", len(h.queues), 1)
}

// TestSubscriptionsListenClosedByClient: a client ending its listen stream
// (the usual way a listen ends) is a listen done, not a failed request:
// counted ok, and no error logged.
func TestSubscriptionsListenClosedByClient(t *testing.T) {
	h := startHTTP(t, nil)
	body := modern(5, "subscriptions/listen", map[string]any{"notifications": map[string]any{"resourcesListChanged": true}}, nil)
	stream := openStream(t, newMCPPost(context.Background(), h.base, body, mirroredHeaders(body)))
	want(t, "first message", stream.next("the acknowledgment")["method"], "notifications/subscriptions/acknowledged")
	stream.resp.Body.Close()

	const done = `taskman_mcp_requests_total{method="subscriptions/listen",status="ok"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, metrics := getBody(t, h.base+"/metrics")
		if strings.Contains(string(metrics), done) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in /metrics:\n%s", done, grepLines(metrics, "subscriptions/listen"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if logs := h.stderr.String(); strings.Contains(logs, "request failed") {
		t.Errorf("closing a listen stream logged a failure:\n%s", logs)
	}
}

// TestSubscriptionHubWatchedOnlyWithURIs: a session that unsubscribed from
// its last URI holds no subscription, so write tools stop working out
// which resources they changed.
func TestSubscriptionHubWatchedOnlyWithURIs(t *testing.T) {
	h := newSubscriptionHub()
	sess := newSession("")
	newSub := func() *subscriber { return &subscriber{uris: map[string]bool{}, send: func(string) {}} }
	for _, uri := range []string{"taskman://tasks/T-1", "taskman://tasks/T-2"} {
		if err := h.subscribe(sess, uri, newSub); err != nil {
			t.Fatal(err)
		}
	}
	h.unsubscribe(sess, "taskman://tasks/T-1")
	want(t, "watched with one URI left", h.watched(), true)
	h.unsubscribe(sess, "taskman://tasks/T-2")
	want(t, "watched with none left", h.watched(), false)
	if err := h.subscribe(sess, "taskman://tasks/T-3", newSub); err != nil {
		t.Fatal(err)
	}
	want(t, "watched after subscribing again", h.watched(), true)
}
