package main

import (
	"fmt"
	"slices"
	"testing"
)

func TestCompletionMatches(t *testing.T) {
	rec := map[string]any{"id": "T-1a2b", "title": "Fix the login-page bug"}
	for _, tt := range []struct {
		prefix string
		want   bool
	}{
		{"", true},
		{"T-", true},
		{"t-1A", true},    // ids ignore case
		{"fix", true},     // the title's start
		{"LOGIN", true},   // a word, split at the hyphen
		{"page", true},    // a word after the hyphen
		{"fix the", true}, // the title's start, across words
		{"ogin", false},   // not the start of a word
		{"1a2b", false},   // not the start of the id
		{"bugs", false},
	} {
		if got := completionMatches(rec, tt.prefix); got != tt.want {
			t.Errorf("completionMatches(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
	if completionMatches(map[string]any{"id": "P-1", "name": "Apollo launch"}, "lau") != true {
		t.Error("a project's name words should match")
	}
}

// completeOn asks c to complete ref's argument and returns the completion.
func completeOn(t *testing.T, c legacyClient, ref map[string]any, arg, value string, known map[string]string) ([]string, bool) {
	t.Helper()
	params := map[string]any{"ref": ref, "argument": map[string]any{"name": arg, "value": value}}
	if known != nil {
		params["context"] = map[string]any{"arguments": known}
	}
	res, ok := get(c("completion/complete", params), "result", "completion").(map[string]any)
	if !ok {
		t.Fatalf("completion/complete %v: no completion", params)
	}
	var values []string
	for _, v := range res["values"].([]any) {
		values = append(values, v.(string))
	}
	slices.Sort(values)
	return values, res["hasMore"].(bool)
}

// TestCompletions completes the templates' ids and the prompts' ids over
// stdio and HTTP, by id prefix and by title words, sprints within the
// project already chosen; unknown references are -32602.
func TestCompletions(t *testing.T) {
	for transport, c := range legacyClients(t, nil) {
		ids := seedRecords(t, c)
		other := seedRecords(t, c) // a second project with its own sprint and task
		tasks := map[string]any{"type": "ref/resource", "uri": "taskman://tasks/{id}"}
		plan := map[string]any{"type": "ref/prompt", "name": "plan_sprint"}
		for _, tt := range []struct {
			what       string
			ref        map[string]any
			arg, value string
			known      map[string]string
			want       []string
		}{
			{"task id prefix", tasks, "id", ids["tasks"][:len(ids["tasks"])-2], nil, []string{ids["tasks"]}},
			{"task title word", tasks, "id", "LOG", nil, sorted(ids["tasks"], other["tasks"])},
			{"no match", tasks, "id", "zzz", nil, nil},
			{"not the template's argument", tasks, "name", "", nil, nil},
			{"action list", map[string]any{"type": "ref/resource", "uri": "taskman://action-lists/{id}"}, "id", "rele", nil, sorted(ids["action-lists"], other["action-lists"])},
			{"prompt project", plan, "project_id", "alp", nil, sorted(ids["projects"], other["projects"])},
			{"prompt sprint of a project", plan, "sprint_id", "", map[string]string{"project_id": other["projects"]}, []string{other["sprints"]}},
			{"prompt sprint, any project", plan, "sprint_id", "sprint", nil, sorted(ids["sprints"], other["sprints"])},
			{"triage has no sprint_id", map[string]any{"type": "ref/prompt", "name": "triage"}, "sprint_id", "", nil, nil},
		} {
			got, more := completeOn(t, c, tt.ref, tt.arg, tt.value, tt.known)
			want(t, transport+" "+tt.what, got, tt.want)
			want(t, transport+" "+tt.what+" hasMore", more, false)
		}
		for _, bad := range []map[string]any{
			{"ref": map[string]any{"type": "ref/resource", "uri": "taskman://boards/{id}"}, "argument": map[string]any{"name": "id", "value": ""}},
			{"ref": map[string]any{"type": "ref/prompt", "name": "nope"}, "argument": map[string]any{"name": "project_id", "value": ""}},
			{"ref": map[string]any{"type": "ref/tool", "name": "task_read"}, "argument": map[string]any{"name": "taskId", "value": ""}},
			{"ref": tasks},
		} {
			want(t, transport+" "+mustJSON(bad), errorCode(c("completion/complete", bad)), codeInvalidParams)
		}
	}
}

// TestCompletionLimit: more matches than one answer holds give the first
// 100 and hasMore; a narrower prefix gives all of its matches.
func TestCompletionLimit(t *testing.T) {
	s := newTestServer(t)
	c := initializedCaller(t, s)
	for i := range completionMax + 20 {
		toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": fmt.Sprintf("Project %03d", i)}})
	}
	projects := map[string]any{"type": "ref/resource", "uri": "taskman://projects/{id}"}
	got, more := completeOn(t, c, projects, "id", "", nil)
	want(t, "values", len(got), completionMax)
	want(t, "hasMore", more, true)
	got, more = completeOn(t, c, projects, "id", "11", nil) // "Project 110" … "Project 119"
	want(t, "narrow values", len(got), 10)
	want(t, "narrow hasMore", more, false)
	res := call(t, s, newSession(""), modern(2, "completion/complete", map[string]any{"ref": projects, "argument": map[string]any{"name": "id", "value": "11"}}, nil))
	want(t, "modern resultType", get(res, "result", "resultType"), "complete")
	want(t, "modern values", len(get(res, "result", "completion", "values").([]any)), 10)
}

// sorted returns its arguments sorted.
func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
