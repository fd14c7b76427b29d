package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// toolOn calls a tool through c and returns its structuredContent.
func toolOn(t *testing.T, c legacyClient, name string, args map[string]any) map[string]any {
	t.Helper()
	res, ok := get(c("tools/call", map[string]any{"name": name, "arguments": args}), "result").(map[string]any)
	if !ok || res["isError"] == true {
		t.Fatalf("%s: %v", name, res)
	}
	return res["structuredContent"].(map[string]any)
}

// seedRecords creates a project with a sprint, an action list and a task
// through c and returns their ids by resource path.
func seedRecords(t *testing.T, c legacyClient) map[string]string {
	t.Helper()
	pid := get(toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": "Alpha"}}), "project", "id").(string)
	sid := get(toolOn(t, c, "sprint_create", map[string]any{"sprint": map[string]any{"name": "Sprint 1", "project_id": pid}}), "sprint", "id").(string)
	alid := get(toolOn(t, c, "action_list_create", map[string]any{"title": "Release checklist", "project_id": pid}), "action_list", "id").(string)
	tid := get(toolOn(t, c, "task_create", map[string]any{"task": map[string]any{"title": "Fix login", "project_id": pid, "sprint_id": sid}}), "task", "id").(string)
	return map[string]string{"projects": pid, "sprints": sid, "action-lists": alid, "tasks": tid}
}

// TestResources lists the templates and the resources and reads each
// kind over stdio and HTTP: a resource is the record its read tool
// returns, and an unknown URI is "Resource not found".
func TestResources(t *testing.T) {
	for transport, c := range legacyClients(t, nil) {
		ids := seedRecords(t, c)

		var templates []string
		for _, tpl := range get(c("resources/templates/list", map[string]any{}), "result", "resourceTemplates").([]any) {
			templates = append(templates, get(tpl, "uriTemplate").(string))
			want(t, transport+" template mimeType", get(tpl, "mimeType"), "application/json")
		}
		want(t, transport+" templates", strings.Join(templates, " "),
			"taskman://projects/{id} taskman://sprints/{id} taskman://action-lists/{id} taskman://tasks/{id}")

		listed := map[string]string{}
		for _, r := range get(c("resources/list", map[string]any{}), "result", "resources").([]any) {
			listed[get(r, "uri").(string)] = get(r, "title").(string)
		}
		want(t, transport+" listed", listed, map[string]string{
			"taskman://projects/" + ids["projects"]:         "Alpha",
			"taskman://sprints/" + ids["sprints"]:           "Sprint 1",
			"taskman://action-lists/" + ids["action-lists"]: "Release checklist",
		})

		for _, k := range resourceKinds {
			uri := k.uri(ids[k.path])
			contents := get(c("resources/read", map[string]any{"uri": uri}), "result", "contents").([]any)
			want(t, transport+" "+uri+" contents", len(contents), 1)
			want(t, transport+" "+uri+" uri", get(contents[0], "uri"), uri)
			want(t, transport+" "+uri+" mimeType", get(contents[0], "mimeType"), "application/json")
			var rec map[string]any
			if err := json.Unmarshal([]byte(get(contents[0], "text").(string)), &rec); err != nil {
				t.Fatalf("%s %s: text is not JSON: %v", transport, uri, err)
			}
			want(t, transport+" "+uri+" record", rec, toolOn(t, c, k.readTool, map[string]any{k.idArg: ids[k.path]})[k.key])
		}

		for _, uri := range []string{"taskman://tasks/T-missing", "taskman://boards/B-1", "https://example.com/x", "taskman://tasks/"} {
			resp := c("resources/read", map[string]any{"uri": uri})
			want(t, transport+" read "+uri, errorCode(resp), codeResourceNotFound)
			want(t, transport+" read "+uri+" data", get(resp, "error", "data", "uri"), uri)
		}
	}
}

// TestResourcesFollowToolsets: a kind whose read tool is left out by
// TASKMAN_TOOLSETS has no template, is not listed and cannot be read.
func TestResourcesFollowToolsets(t *testing.T) {
	s := newTestServerEnv(t, map[string]string{"TASKMAN_TOOLSETS": "tasks"})
	sess := newSession("")
	call(t, s, sess, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	tpls := get(call(t, s, sess, `{"jsonrpc":"2.0","id":2,"method":"resources/templates/list"}`), "result", "resourceTemplates").([]any)
	want(t, "templates", len(tpls), 1)
	want(t, "template", get(tpls[0], "uriTemplate"), "taskman://tasks/{id}")
	want(t, "listed", get(call(t, s, sess, `{"jsonrpc":"2.0","id":3,"method":"resources/list"}`), "result", "resources"), []any{})
	want(t, "read a project", errorCode(call(t, s, sess, `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"taskman://projects/P-1"}}`)), codeResourceNotFound)
}

// TestResourcesListPagination pages through resources/list two at a time:
// every project, sprint and action list once, in kind order, and a bad
// cursor is -32602. In 2026-07-28 the pages carry caching hints and a
// missing resource is -32602.
func TestResourcesListPagination(t *testing.T) {
	s := newTestServer(t)
	s.resourcesPageSize = 2
	c := initializedCaller(t, s)
	var wantURIs []string
	for range 3 {
		ids := seedRecords(t, c)
		wantURIs = append(wantURIs, "taskman://projects/"+ids["projects"], "taskman://sprints/"+ids["sprints"], "taskman://action-lists/"+ids["action-lists"])
	}
	var got []string
	cursor := ""
	for page := 0; page < 20; page++ {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		res := get(c("resources/list", params), "result").(map[string]any)
		items := res["resources"].([]any)
		if len(items) > 2 {
			t.Errorf("page %d holds %d resources, want at most 2", page, len(items))
		}
		for _, r := range items {
			got = append(got, get(r, "uri").(string))
		}
		next, ok := res["nextCursor"].(string)
		if !ok {
			break
		}
		cursor = next
	}
	kindOrder := func(uris []string) string {
		var b strings.Builder
		for _, u := range uris {
			fmt.Fprintf(&b, "%s ", strings.Split(strings.TrimPrefix(u, resourceScheme), "/")[0])
		}
		return b.String()
	}
	want(t, "kinds in order", kindOrder(got), "projects projects projects sprints sprints sprints action-lists action-lists action-lists ")
	for _, u := range wantURIs {
		if strings.Count(strings.Join(got, " ")+" ", u+" ") != 1 {
			t.Errorf("%s listed %d times, want once", u, strings.Count(strings.Join(got, " ")+" ", u+" "))
		}
	}
	for _, bad := range []string{"garbage!", encodeCursor(1), encodeResourceCursor(0, "")[:4] + "!!"} {
		want(t, "bad cursor "+bad, errorCode(c("resources/list", map[string]any{"cursor": bad})), codeInvalidParams)
	}

	res := call(t, s, newSession(""), modern(10, "resources/list", nil, nil))
	want(t, "modern cacheScope", get(res, "result", "cacheScope"), "private")
	want(t, "modern ttlMs", get(res, "result", "ttlMs"), float64(0))
	want(t, "modern resultType", get(res, "result", "resultType"), "complete")
	missing := call(t, s, newSession(""), modern(11, "resources/read", map[string]any{"uri": "taskman://tasks/T-missing"}, nil))
	want(t, "modern not found", errorCode(missing), codeInvalidParams)
	want(t, "modern not found message", get(missing, "error", "message"), "Resource not found")
}

// FuzzParseResourceURI checks that any text either is refused or names a
// kind and an id that build the same URI back.
func FuzzParseResourceURI(f *testing.F) {
	for _, s := range []string{"taskman://tasks/T-1", "taskman://action-lists/AL-1", "taskman://tasks/", "taskman://boards/B-1", "taskman://tasks/a/b", "https://x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		k, id, ok := parseResourceURI(uri)
		if !ok {
			return
		}
		if got := k.uri(id); got != uri {
			t.Errorf("parseResourceURI(%q) = %s, %q, which builds %q", uri, k.path, id, got)
		}
		if id == "" || len(id) > maxRefID || strings.ContainsAny(id, "/?#") {
			t.Errorf("parseResourceURI(%q) accepted the id %q", uri, id)
		}
	})
}

// FuzzDecodeResourceCursor checks that any cursor either is refused or
// decodes to a kind in range, and that every encoded cursor round-trips.
func FuzzDecodeResourceCursor(f *testing.F) {
	f.Add(encodeResourceCursor(0, ""), 1, "abc")
	f.Add("garbage!", 3, "")
	f.Add(encodeCursor(5), 0, "x:y")
	f.Fuzz(func(t *testing.T, cursor string, kind int, inner string) {
		if k, _, err := decodeResourceCursor(cursor); err == nil && (k < 0 || k >= len(resourceKinds)) {
			t.Errorf("decodeResourceCursor(%q) = kind %d", cursor, k)
		}
		if kind < 0 || kind >= len(resourceKinds) {
			return
		}
		k, in, err := decodeResourceCursor(encodeResourceCursor(kind, inner))
		if err != nil || k != kind || in != inner {
			t.Errorf("round trip of (%d, %q) = (%d, %q, %v)", kind, inner, k, in, err)
		}
	})
}

// TestRecordOfKeepsNumbers: a record that travels as backend text is read
// back with its numbers as written, so a resource's text says what the
// tool's result says (no float64 rounding of large ids or counts).
func TestRecordOfKeepsNumbers(t *testing.T) {
	const text = `{"estimated_hours":1.50,"id":"T-1","seq":9007199254740993}`
	rec := recordOf(json.RawMessage(text))
	got, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != text {
		t.Errorf("recordOf(%s) encodes as %s", text, got)
	}
	if recordOf(json.RawMessage(nil)) != nil || recordOf("T-1") != nil {
		t.Error("recordOf of no record is not nil")
	}
}
