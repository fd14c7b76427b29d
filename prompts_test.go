package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// promptResources returns the URIs of a prompts/get result's embedded
// resources, after checking each one's text is the JSON record it names.
func promptResources(t *testing.T, what string, res map[string]any) []string {
	t.Helper()
	var uris []string
	for _, m := range get(res, "messages").([]any) {
		want(t, what+" role", get(m, "role"), "user")
		if get(m, "content", "type") != "resource" {
			continue
		}
		uri := get(m, "content", "resource", "uri").(string)
		var rec map[string]any
		if err := json.Unmarshal([]byte(get(m, "content", "resource", "text").(string)), &rec); err != nil {
			t.Fatalf("%s: %s text is not JSON: %v", what, uri, err)
		}
		if !strings.HasSuffix(uri, "/"+rec["id"].(string)) {
			t.Errorf("%s: resource %s holds record %v", what, uri, rec["id"])
		}
		uris = append(uris, uri)
	}
	return uris
}

// TestPrompts gets each prompt over stdio and HTTP from live data: the
// records each one is about are embedded as resources, and the others
// are not; bad names and arguments are -32602.
func TestPrompts(t *testing.T) {
	for transport, c := range legacyClients(t, nil) {
		ids := seedRecords(t, c) // its task is in the sprint, open, unassigned
		pid, sid := ids["projects"], ids["sprints"]
		newTask := func(fields map[string]any) string {
			fields["project_id"] = pid
			return get(toolOn(t, c, "task_create", map[string]any{"task": fields}), "task", "id").(string)
		}
		doing := newTask(map[string]any{"title": "Ship it", "status": "in_progress", "assignee": "ada", "sprint_id": sid})
		blocked := newTask(map[string]any{"title": "Wait for API", "status": "blocked", "assignee": "bob"})
		fresh := newTask(map[string]any{"title": "New idea", "status": "new"})
		done := newTask(map[string]any{"title": "Old work", "status": "completed"})
		other := get(toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": "Beta"}}), "project", "id").(string)
		elsewhere := get(toolOn(t, c, "task_create", map[string]any{"task": map[string]any{"title": "Elsewhere", "status": "new", "project_id": other}}), "task", "id").(string)
		task := func(id string) string { return "taskman://tasks/" + id }

		var names []string
		for _, p := range get(c("prompts/list", map[string]any{}), "result", "prompts").([]any) {
			names = append(names, get(p, "name").(string))
		}
		want(t, transport+" prompts", strings.Join(names, ","), "daily_standup,plan_sprint,triage")

		getPrompt := func(name string, args map[string]any) map[string]any {
			t.Helper()
			res, ok := get(c("prompts/get", map[string]any{"name": name, "arguments": args}), "result").(map[string]any)
			if !ok {
				t.Fatalf("%s %s: no result", transport, name)
			}
			return res
		}
		tests := []struct {
			prompt   string
			args     map[string]any
			embedded []string // in any order
			text     []string
		}{
			{"daily_standup", map[string]any{"project_id": pid},
				[]string{task(doing), task(blocked), task(ids["tasks"]), task(fresh), task(done)}, // all changed today
				[]string{"In progress (1)", "Blocked (1)", "Wait for API"}},
			{"plan_sprint", map[string]any{"project_id": pid, "sprint_id": sid},
				[]string{"taskman://projects/" + pid, "taskman://sprints/" + sid, task(blocked), task(fresh)},
				[]string{"Backlog (open, in no sprint) (2)", "Sprint 1"}},
			{"plan_sprint", map[string]any{"project_id": pid},
				[]string{"taskman://projects/" + pid, task(blocked), task(fresh)},
				[]string{"a new sprint"}},
			{"triage", map[string]any{"project_id": pid},
				[]string{task(ids["tasks"]), task(fresh)},
				[]string{"To triage (2)", "New idea"}},
			{"triage", nil,
				[]string{task(ids["tasks"]), task(fresh), task(elsewhere)},
				[]string{"all projects"}},
		}
		for _, tt := range tests {
			res := getPrompt(tt.prompt, tt.args)
			got := promptResources(t, transport+" "+tt.prompt, res)
			slices.Sort(got)
			slices.Sort(tt.embedded)
			want(t, transport+" "+tt.prompt+" embedded", got, tt.embedded)
			text := get(res, "messages", 0, "content", "text").(string)
			for _, s := range tt.text {
				if !strings.Contains(text, s) {
					t.Errorf("%s %s: text lacks %q:\n%s", transport, tt.prompt, s, text)
				}
			}
		}

		for _, bad := range []map[string]any{
			{"name": "nope"},
			{"name": "plan_sprint"},
			{"name": "plan_sprint", "arguments": map[string]any{"project_id": "P-missing"}},
			{"name": "triage", "arguments": map[string]any{"colour": "red"}},
			{"name": "triage", "arguments": map[string]any{"project_id": 7}},
		} {
			want(t, transport+" prompts/get "+mustJSON(bad), errorCode(c("prompts/get", bad)), codeInvalidParams)
		}
	}
}

// mustJSON is v as JSON text, for test names and substring checks.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
