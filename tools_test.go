package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// workflowState carries ids from one step of the tool workflow to the next.
type workflowState map[string]string

// workflowStep is one tool call of the end-to-end workflow and what its
// structured result must show.
type workflowStep struct {
	tool  string
	args  func(st workflowState) map[string]any
	check func(t *testing.T, st workflowState, res map[string]any)
}

// get walks a path of keys and indexes through decoded JSON.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// num returns a JSON number as an int.
func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// want fails the test unless got equals want (compared as JSON).
func want(t *testing.T, what string, got, want any) {
	t.Helper()
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("%s = %s, want %s", what, a, b)
	}
}

// familySize counts the tools of the table in the families fams.
func familySize(fams ...toolFamily) int {
	n := 0
	for _, tl := range newToolTable() {
		if slices.Contains(fams, tl.family) {
			n++
		}
	}
	return n
}

// toolWorkflow calls every tool of the catalog at least once, in an order
// where each step can use what earlier ones created. Without sprints it
// leaves out sprintWorkflow, for a backend that has no sprint endpoints.
func toolWorkflow(sprints bool) []workflowStep {
	ids := func(st workflowState, keys ...string) []any {
		var out []any
		for _, k := range keys {
			out = append(out, st[k])
		}
		return out
	}
	return slices.Concat([]workflowStep{
		{"activate_taskman_server", func(workflowState) map[string]any { return map[string]any{"verbose": true} },
			func(t *testing.T, _ workflowState, r map[string]any) {
				want(t, "ready", r["ready"], true)
				want(t, "tasks tools", len(get(r, "allTools", "tasks").([]any)), familySize(familyTasks))
				want(t, "sprint tools", len(get(r, "allTools", "sprints").([]any)), familySize(familySprints))
				want(t, "descriptions", len(r["toolDescriptions"].(map[string]any)), familySize(familyTasks, familyProjects, familyActionLists, familySprints))
			}},
		{"activate_task_tools", nil, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "available", len(r["availableTools"].([]any)), familySize(familyTasks))
			want(t, "online", get(r, "serverStatus", "serverOnline"), true)
		}},
		{"activate_project_tools", nil, func(t *testing.T, _ workflowState, r map[string]any) {
			// The project tools and the sprint tools.
			want(t, "available", len(r["availableTools"].([]any)), familySize(familyProjects, familySprints))
			if names, _ := r["availableTools"].([]any); !slices.Contains(names, any("sprint_create")) {
				t.Errorf("availableTools = %v, want sprint_create among them", names)
			}
		}},
		{"activate_action_list_tools", nil, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "available", len(r["availableTools"].([]any)), familySize(familyActionLists))
		}},
		{"ai_parse_task", func(workflowState) map[string]any {
			return map[string]any{"input": "Fix login #auth priority: high"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "parsed", r["parsed"], map[string]any{"title": "Fix login", "tags": []any{"auth"}, "priority": "high", "confidence": 0.8})
		}},
		{"project_create", func(workflowState) map[string]any {
			return map[string]any{"project": map[string]any{"name": "Apollo", "description": "to the moon"}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			st["project"], _ = get(r, "project", "id").(string)
			want(t, "name", get(r, "project", "name"), "Apollo")
		}},
		{"project_read", func(st workflowState) map[string]any { return map[string]any{"projectId": st["project"]} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "id", get(r, "project", "id"), st["project"])
			}},
		{"project_update", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "changes": map[string]any{"status": "inactive", "description": nil}}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "project", "status"), "inactive")
			want(t, "description kept", get(r, "project", "description"), "to the moon")
		}},
		{"project_list", func(workflowState) map[string]any { return map[string]any{"status": "inactive"} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "listed id", get(r, "projects", 0, "id"), st["project"])
			}},
		{"project_add_sprint", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "sprintId": "S-1"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "sprints", get(r, "project", "sprints"), []any{"S-1"})
		}},
		{"project_remove_sprint", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "sprintId": "S-1"}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "sprintId", r["sprintId"], "S-1")
			want(t, "sprints", get(r, "project", "sprints"), []any{})
		}},
		{"project_add_meta_task", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "metaTask": map[string]any{"title": "Launch review"}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "projectId", r["projectId"], st["project"])
			want(t, "title", get(r, "metaTask", "title"), "Launch review")
		}},
		{"project_add_comment", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "comment": map[string]any{"message": "go/no-go at 9", "author": "gene"}}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "message", get(r, "comment", "message"), "go/no-go at 9")
		}},
		{"project_get_comments", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "params": map[string]any{"limit": 10}}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "author", get(r, "comments", 0, "author"), "gene")
		}},
		{"project_add_blocker", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "blocker": map[string]any{"title": "O2 tank", "severity": "critical"}}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "severity", get(r, "blocker", "severity"), "critical")
		}},
		{"task_create", func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"title": "Check fuel", "project_id": st["project"], "priority": "high", "x_custom": "kept"}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			st["task1"], _ = get(r, "task", "id").(string)
			want(t, "pass-through field", get(r, "task", "x_custom"), "kept")
		}},
		{"task_create", func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"title": "Stir tanks", "project_id": st["project"], "tags": []any{"o2"}}}
		}, func(t *testing.T, st workflowState, r map[string]any) { st["task2"], _ = get(r, "task", "id").(string) }},
		{"task_read", func(st workflowState) map[string]any { return map[string]any{"taskId": st["task1"]} },
			func(t *testing.T, _ workflowState, r map[string]any) {
				want(t, "title", get(r, "task", "title"), "Check fuel")
			}},
		{"task_update", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["task1"], "changes": map[string]any{"priority": "critical", "notes": nil}}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "priority", get(r, "task", "priority"), "critical")
		}},
		{"task_set_status", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["task1"], "status": "completed", "completion_notes": "all green"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "task", "status"), "completed")
			want(t, "notes", get(r, "task", "completion_notes"), "all green")
		}},
		{"task_assign", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["task2"], "assignee": "jack"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "assignee", get(r, "task", "assignee"), "jack")
		}},
		{"task_list", func(st workflowState) map[string]any {
			return map[string]any{"project_id": st["project"], "limit": 10}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			// The project's meta task is one of its tasks too.
			var got []any
			for _, task := range r["tasks"].([]any) {
				if get(task, "meta_task") != true {
					got = append(got, get(task, "id"))
				}
			}
			want(t, "ids", got, ids(st, "task1", "task2"))
		}},
		{"task_search", func(workflowState) map[string]any {
			return map[string]any{"query": "stir", "fields": []any{"title"}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "count", num(r["count"]), 1)
			want(t, "query", r["query"], "stir")
			want(t, "found", get(r, "tasks", 0, "id"), st["task2"])
		}},
		{"task_bulk_update", func(st workflowState) map[string]any {
			return map[string]any{"taskIds": ids(st, "task1", "task2"), "changes": map[string]any{"owner": "gene"}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "updated", num(r["updated_count"]), 2)
			want(t, "success", r["success"], true)
			want(t, "ids", r["task_ids"], ids(st, "task1", "task2"))
		}},
		{"task_bulk_assign_sprint", func(st workflowState) map[string]any {
			return map[string]any{"taskIds": ids(st, "task1", "task2"), "sprintId": "S-2"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "assigned", num(r["assigned_count"]), 2)
			want(t, "sprint", r["sprint_id"], "S-2")
		}},
		{"project_get_metrics", func(st workflowState) map[string]any { return map[string]any{"projectId": st["project"]} },
			func(t *testing.T, _ workflowState, r map[string]any) {
				ts := get(r, "metrics", "task_statistics")
				// Two tasks and the meta task; one completed.
				want(t, "total", num(get(ts, "total")), 3)
				want(t, "completed", num(get(ts, "completed")), 1)
				want(t, "completion", get(ts, "completion_percentage"), 33.3)
				want(t, "by priority", num(get(ts, "by_priority", "critical")), 1)
			}},
		{"action_list_create", func(st workflowState) map[string]any {
			return map[string]any{"title": "Launch checklist", "project_id": st["project"], "priority": "high",
				"items": []any{map[string]any{"text": "fuel"}, map[string]any{"text": "comms"}}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			st["al"], _ = get(r, "action_list", "id").(string)
			st["item1"], _ = get(r, "action_list", "items", 0, "id").(string)
			st["item2"], _ = get(r, "action_list", "items", 1, "id").(string)
			want(t, "total_items", num(get(r, "action_list", "total_items")), 2)
		}},
		{"action_list_read", func(st workflowState) map[string]any { return map[string]any{"action_list_id": st["al"]} },
			func(t *testing.T, _ workflowState, r map[string]any) {
				want(t, "title", get(r, "action_list", "title"), "Launch checklist")
			}},
		{"action_list_update", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "status": "active", "notes": "T-minus 1h"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "action_list", "status"), "active")
		}},
		{"action_list_list", func(st workflowState) map[string]any { return map[string]any{"project_id": st["project"]} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "id", get(r, "action_lists", 0, "id"), st["al"])
			}},
		{"action_list_add_item", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "text": "ignition"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "total_items", num(get(r, "action_list", "total_items")), 3)
		}},
		{"action_list_toggle_item", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "item_id": st["item1"]}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "completed_items", num(get(r, "action_list", "completed_items")), 1)
		}},
		{"action_list_reorder_items", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "item_ids": []any{st["item2"], st["item1"], st["item3"]}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "first item", get(r, "action_list", "items", 0, "id"), st["item2"])
		}},
		{"action_list_remove_item", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "item_id": st["item3"]}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "total_items", num(get(r, "action_list", "total_items")), 2)
			want(t, "progress", get(r, "action_list", "progress_percentage"), 50)
		}},
		{"action_list_search", func(workflowState) map[string]any { return map[string]any{"q": "checklist"} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "count", num(r["count"]), 1)
				want(t, "found", get(r, "data", 0, "id"), st["al"])
			}},
		{"action_list_bulk_update", func(st workflowState) map[string]any {
			return map[string]any{"action_list_ids": ids(st, "al"), "priority": "critical"}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "updated", num(r["updated_count"]), 1)
			want(t, "ids", r["action_list_ids"], ids(st, "al"))
		}},
	}, sprintWorkflow(sprints), []workflowStep{
		{"action_list_create", func(workflowState) map[string]any { return map[string]any{"title": "Scratch"} },
			func(t *testing.T, st workflowState, r map[string]any) {
				st["al2"], _ = get(r, "action_list", "id").(string)
			}},
		{"action_list_bulk_delete", func(st workflowState) map[string]any {
			return map[string]any{"action_list_ids": ids(st, "al2")}
		}, func(t *testing.T, _ workflowState, r map[string]any) { want(t, "deleted", num(r["deleted_count"]), 1) }},
		{"action_list_delete", func(st workflowState) map[string]any { return map[string]any{"action_list_id": st["al"]} },
			func(t *testing.T, _ workflowState, r map[string]any) { want(t, "success", r["success"], true) }},
		{"task_delete", func(st workflowState) map[string]any { return map[string]any{"taskId": st["task2"]} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "result", r, map[string]any{"taskId": st["task2"], "deleted": true})
			}},
		{"project_delete", func(st workflowState) map[string]any { return map[string]any{"projectId": st["project"]} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "result", r, map[string]any{"projectId": st["project"], "deleted": true})
			}},
	})
}

// sprintWorkflow plans a sprint from nothing in the workflow's project and
// its first action list: a sprint with two tasks, one completed, progress,
// start, update, complete, list, task links, and delete.
func sprintWorkflow(sprints bool) []workflowStep {
	if !sprints {
		return nil
	}
	sprintArg := func(st workflowState) map[string]any { return map[string]any{"sprintId": st["sprint"]} }
	return []workflowStep{
		{"sprint_create", func(st workflowState) map[string]any {
			return map[string]any{"sprint": map[string]any{"name": "Sprint 1", "project_id": st["project"], "goal": "orbit", "start_date": "2026-01-05", "end_date": "2026-01-16"}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			st["sprint"], _ = get(r, "sprint", "id").(string)
			want(t, "status", get(r, "sprint", "status"), "new")
			want(t, "project", get(r, "sprint", "project_id"), st["project"])
		}},
		{"task_create", func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"title": "Burn", "project_id": st["project"], "sprint_id": st["sprint"]}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			st["stask1"], _ = get(r, "task", "id").(string)
		}},
		{"task_create", func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"title": "Coast", "project_id": st["project"], "sprint_id": st["sprint"]}}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			st["stask2"], _ = get(r, "task", "id").(string)
		}},
		{"task_complete", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["stask1"], "notes": "burn nominal"}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "task", "status"), "completed")
			want(t, "notes", get(r, "task", "completion_notes"), "burn nominal")
		}},
		{"sprint_progress", sprintArg, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "sprint", get(r, "progress", "sprint_id"), st["sprint"])
			want(t, "tasks", num(get(r, "progress", "task_count")), 2)
			want(t, "completed", num(get(r, "progress", "completed_count")), 1)
			want(t, "percentage", get(r, "progress", "completion_percentage"), 50)
		}},
		{"sprint_start", sprintArg, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "sprint", "status"), "active")
		}},
		{"sprint_update", func(st workflowState) map[string]any {
			return map[string]any{"sprintId": st["sprint"], "changes": map[string]any{"goal": "land", "name": nil}}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "goal", get(r, "sprint", "goal"), "land")
			want(t, "name kept", get(r, "sprint", "name"), "Sprint 1")
		}},
		{"sprint_read", sprintArg, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "sprint", "status"), "active")
			want(t, "goal", get(r, "sprint", "goal"), "land")
		}},
		{"sprint_complete", sprintArg, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "status", get(r, "sprint", "status"), "completed")
		}},
		{"sprint_list", func(st workflowState) map[string]any {
			return map[string]any{"project_id": st["project"], "status": "completed", "limit": 10}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "ids", embIDs(r["sprints"]), []string{st["sprint"]})
			want(t, "total", num(r["total"]), 1)
		}},
		{"action_list_link_task", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "task_id": st["stask2"]}
		}, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "task_ids", get(r, "action_list", "task_ids"), []any{st["stask2"]})
		}},
		{"action_list_tasks", func(st workflowState) map[string]any { return map[string]any{"action_list_id": st["al"]} },
			func(t *testing.T, st workflowState, r map[string]any) {
				want(t, "task_ids", r["task_ids"], []any{st["stask2"]})
			}},
		{"action_list_unlink_task", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["al"], "task_id": st["stask2"]}
		}, func(t *testing.T, _ workflowState, r map[string]any) {
			want(t, "task_ids", get(r, "action_list", "task_ids"), []any{})
		}},
		{"sprint_delete", sprintArg, func(t *testing.T, st workflowState, r map[string]any) {
			want(t, "deleted", r["deleted"], true)
			want(t, "sprintId", r["sprintId"], st["sprint"])
			want(t, "cleared", r["cleared_task_ids"], []any{st["stask1"], st["stask2"]})
			want(t, "message", r["message"], "Sprint "+st["sprint"]+" is deleted; its 2 tasks are kept, with the sprint cleared.")
		}},
		{"task_read", func(st workflowState) map[string]any { return map[string]any{"taskId": st["stask2"]} },
			func(t *testing.T, _ workflowState, r map[string]any) {
				want(t, "sprint cleared", get(r, "task", "sprint_id"), nil)
			}},
	}
}

// TestWorkflowCoversEveryTool fails when a tool of the table has no step in
// the end-to-end workflow.
func TestWorkflowCoversEveryTool(t *testing.T) {
	covered := map[string]bool{}
	for _, s := range toolWorkflow(true) {
		covered[s.tool] = true
	}
	for _, tl := range newToolTable() {
		if !covered[tl.name] {
			t.Errorf("tool %s has no end-to-end step in toolWorkflow", tl.name)
		}
	}
	if n := len(newToolTable()); n != 51 {
		t.Errorf("the table has %d tools, want the 51 of docs/tools.md", n)
	}
}

// TestToolsEndToEnd runs the workflow over stdio against the embedded
// backend and against a remote backend speaking the envelope dialect, which
// has no sprint endpoints (TestSprintToolsUnsupportedOnLegacyRemote).
func TestToolsEndToEnd(t *testing.T) {
	backends := map[string]struct {
		env     func(t *testing.T) map[string]string
		sprints bool
	}{
		"embedded": {func(*testing.T) map[string]string { return nil }, true},
		"envelope": {func(t *testing.T) map[string]string {
			return map[string]string{"TASK_MANAGER_API_ENDPOINT": envelopeBackend(t).URL + "/api/v1"}
		}, false},
		// The legacy contract over HTTP with the dialect left to
		// detection (auto, the default).
		"legacy remote": {func(t *testing.T) map[string]string {
			emb, err := newEmbedded("", slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { emb.close() })
			srv := httptest.NewServer(emb)
			t.Cleanup(srv.Close)
			return map[string]string{"TASK_MANAGER_API_ENDPOINT": srv.URL}
		}, false},
	}
	for name, b := range backends {
		t.Run(name, func(t *testing.T) {
			c := startStdio(t, b.env(t))
			c.initialize(version20251125)
			if d := get(structured(t, "activate_taskman_server", c.callTool("activate_taskman_server", map[string]any{})), "serverStatus", "dialect"); d != "legacy" {
				t.Errorf("dialect = %v, want legacy", d)
			}
			st := workflowState{}
			for i, step := range toolWorkflow(b.sprints) {
				args := map[string]any{}
				if step.args != nil {
					args = step.args(st)
				}
				res := structured(t, step.tool, c.callTool(step.tool, args))
				t.Run(fmt.Sprintf("%02d_%s", i, step.tool), func(t *testing.T) { step.check(t, st, res) })
				if step.tool == "action_list_add_item" {
					items, _ := get(res, "action_list", "items").([]any)
					for _, it := range items {
						if get(it, "text") == "ignition" {
							st["item3"], _ = get(it, "id").(string)
						}
					}
				}
			}
			// Deleted things are gone, and the error says so plainly.
			res := c.callTool("task_read", map[string]any{"taskId": st["task2"]})
			if res["isError"] != true || !strings.Contains(textOf(res), "task_read: backend returned 404 Not Found") {
				t.Errorf("read after delete = %v, want a 404 error result", textOf(res))
			}
		})
	}
}

func TestParseTaskText(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]any
	}{
		{"Buy milk", map[string]any{"title": "Buy milk", "confidence": 0.5}},
		{"Fix login #auth #Backend", map[string]any{"title": "Fix login", "tags": []any{"auth", "backend"}, "confidence": 0.65}},
		{"Deploy p1", map[string]any{"title": "Deploy", "priority": "high", "confidence": 0.65}},
		{"p3 tidy docs", map[string]any{"title": "tidy docs", "priority": "low", "confidence": 0.65}},
		{"URGENT: call the bank", map[string]any{"title": "call the bank", "priority": "critical", "confidence": 0.65}},
		{"critical outage", map[string]any{"title": "outage", "priority": "critical", "confidence": 0.65}},
		{"Write report priority: Medium", map[string]any{"title": "Write report", "priority": "medium", "confidence": 0.65}},
		{"Write report status: in progress", map[string]any{"title": "Write report", "status": "in_progress", "confidence": 0.65}},
		{"Ship it status: done #release priority: high", map[string]any{"title": "Ship it", "status": "completed", "tags": []any{"release"}, "priority": "high", "confidence": 0.95}},
		{"status: todo", map[string]any{"title": "", "status": "new", "confidence": 0.2}},
		{"review PR status: review", map[string]any{"title": "review PR", "status": "pending", "confidence": 0.65}},
		{"blocked on vendor status: blocked", map[string]any{"title": "blocked on vendor", "status": "blocked", "confidence": 0.65}},
		{"issue #12-b in C#", map[string]any{"title": "issue in C#", "tags": []any{"12-b"}, "confidence": 0.65}},
		// Due dates and assignees, seen from Tuesday 2026-12-01.
		{"urgent: fix login bug by friday #auth @ada", map[string]any{"title": "fix login bug", "tags": []any{"auth"}, "assignee": "ada", "priority": "critical", "due_date": "2026-12-04T23:59:59Z", "confidence": 0.95}},
		{"Pay rent tomorrow", map[string]any{"title": "Pay rent", "due_date": "2026-12-02T23:59:59Z", "confidence": 0.65}},
		{"Call the bank today", map[string]any{"title": "Call the bank", "due_date": "2026-12-01T23:59:59Z", "confidence": 0.65}},
		{"Review on Tuesday", map[string]any{"title": "Review", "due_date": "2026-12-01T23:59:59Z", "confidence": 0.65}},
		{"Standup before monday", map[string]any{"title": "Standup", "due_date": "2026-12-07T23:59:59Z", "confidence": 0.65}},
		{"Plan Q1 due 2027-01-15", map[string]any{"title": "Plan Q1", "due_date": "2027-01-15T23:59:59Z", "confidence": 0.65}},
		{"Plan Q1 due by 2027-01-15", map[string]any{"title": "Plan Q1", "due_date": "2027-01-15T23:59:59Z", "confidence": 0.65}},
		{"Release 2026-13-45", map[string]any{"title": "Release 2026-13-45", "confidence": 0.5}},
		{"Mail bob@example.com", map[string]any{"title": "Mail bob@example.com", "confidence": 0.5}},
		{"ping @ada.lovelace about it", map[string]any{"title": "ping about it", "assignee": "ada.lovelace", "confidence": 0.65}},
	}
	now := time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC)
	for _, tt := range tests {
		got := parseTaskText(tt.in, now)
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(tt.want)
		if string(a) != string(b) {
			t.Errorf("parseTaskText(%q) = %s, want %s", tt.in, a, b)
		}
	}
}

func TestToolTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, tl := range newToolTable() {
		if seen[tl.name] {
			t.Errorf("tool %s listed twice", tl.name)
		}
		seen[tl.name] = true
		if tl.title == "" || tl.description == "" || !strings.HasSuffix(tl.description, ".") {
			t.Errorf("tool %s: needs a title and a one-sentence description", tl.name)
		}
		if tl.input == nil || tl.input.typ != "object" || tl.output == nil || tl.call == nil {
			t.Errorf("tool %s: needs object input and output schemas and a handler", tl.name)
		}
		if strings.HasSuffix(tl.name, "_delete") && !tl.hints.destructive {
			t.Errorf("tool %s deletes but is not marked destructive", tl.name)
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) != len(newToolTable()) {
		t.Errorf("tools = %v, want the table's %d", names, len(newToolTable()))
	}
}

// TestBackendErrorShapesReachTheToolResult sends each of the four error
// body shapes backends use through a tool call: the result names the
// operation, the status and the backend's own words.
func TestBackendErrorShapesReachTheToolResult(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"envelope", "application/json", `{"success":false,"error":"project_id P-9 does not exist"}`, "task_create: backend returned 422 Unprocessable Entity: project_id P-9 does not exist"},
		{"FastAPI detail string", "application/json", `{"detail":"title must not be blank"}`, "task_create: backend returned 422 Unprocessable Entity: title must not be blank"},
		{"FastAPI detail list", "application/json", `{"detail":[{"loc":["body","title"],"msg":"field required","type":"missing"}]}`, "task_create: backend returned 422 Unprocessable Entity: title: field required"},
		{"problem+json", "application/problem+json", `{"type":"about:blank","title":"Unprocessable Entity","status":422,"detail":"due_date: must be RFC 3339"}`, "task_create: backend returned 422 Unprocessable Entity: due_date: must be RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backend := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusUnprocessableEntity)
				w.Write([]byte(tt.body))
			}))
			c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": backend})
			c.initialize(version20251125)
			res := c.callTool("task_create", map[string]any{"task": map[string]any{"title": "x", "project_id": "P-9"}})
			if res["isError"] != true || textOf(res) != tt.want {
				t.Errorf("result text = %q, want %q", textOf(res), tt.want)
			}
		})
	}
}

// FuzzParseTaskText checks that ai_parse_task's parser never panics and
// always answers in shape: a trimmed title, valid UTF-8 for valid input, a
// confidence in [0.2, 0.95], and a due_date the task tools accept.
func FuzzParseTaskText(f *testing.F) {
	for _, s := range []string{"urgent: fix login bug by friday #auth @ada", "due 2026-02-30", "@ #", "status: done p1 today"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in string) {
		got := parseTaskText(in, now)
		title, _ := got["title"].(string)
		if title != strings.TrimSpace(title) {
			t.Errorf("title %q is not trimmed", title)
		}
		if utf8.ValidString(in) && !utf8.ValidString(title) {
			t.Errorf("title %q is not valid UTF-8", title)
		}
		if c, _ := got["confidence"].(float64); c < 0.2 || c > 0.95 {
			t.Errorf("confidence %v out of range", c)
		}
		if d, ok := got["due_date"].(string); ok {
			if _, err := embTimestamp(d); err != nil {
				t.Errorf("due_date %q: %v", d, err)
			}
		}
	})
}

// TestDocsNameEveryTool fails when README.md or docs/tools.md leaves out a
// tool of the table, so a new tool cannot ship undocumented.
func TestDocsNameEveryTool(t *testing.T) {
	for _, doc := range []string{"README.md", "docs/tools.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, tl := range newToolTable() {
			if !regexp.MustCompile(`\b` + tl.name + `\b`).Match(data) {
				t.Errorf("%s does not name the tool %s", doc, tl.name)
			}
		}
	}
}

// TestToolsetsAndReadOnly checks TASKMAN_TOOLSETS and TASKMAN_READ_ONLY
// over stdio and HTTP: only the offered tools are listed, the activation
// tools count only those, and a call to one left out is refused with its
// reason before any backend request.
func TestToolsetsAndReadOnly(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		offered func(*tool) bool
		refused map[string]string // tool → text the refusal must contain
	}{
		{"default: every tool", nil, func(*tool) bool { return true }, nil},
		{"tasks only", map[string]string{"TASKMAN_TOOLSETS": "tasks"},
			func(tl *tool) bool { return tl.family == familyTasks },
			map[string]string{"sprint_read": "sprints toolset", "activate_taskman_server": "helpers toolset"}},
		{"read-only", map[string]string{"TASKMAN_READ_ONLY": "true"},
			func(tl *tool) bool { return tl.hints.readOnly },
			map[string]string{"task_create": "read-only (TASKMAN_READ_ONLY=true)", "project_delete": "read-only"}},
		{"sprints and helpers, read-only", map[string]string{"TASKMAN_TOOLSETS": "sprints,helpers", "TASKMAN_READ_ONLY": "1"},
			func(tl *tool) bool {
				return tl.hints.readOnly && (tl.family == familySprints || tl.family == familyHelpers)
			},
			map[string]string{"sprint_start": "read-only", "task_list": "tasks toolset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, requests := countingBackend(t)
			for k, v := range tt.env {
				env[k] = v
			}
			var wantNames []string
			for _, tl := range newToolTable() {
				if tt.offered(tl) {
					wantNames = append(wantNames, tl.name)
				}
			}
			for transport, c := range legacyClients(t, env) {
				var names []string
				for _, tl := range get(c("tools/list", map[string]any{}), "result", "tools").([]any) {
					names = append(names, get(tl, "name").(string))
				}
				want(t, transport+" listed", names, wantNames)
				for name, why := range tt.refused {
					before := requests.Load()
					res := get(c("tools/call", map[string]any{"name": name, "arguments": map[string]any{"id": "X-1"}}), "result").(map[string]any)
					if res["isError"] != true || !strings.Contains(textOf(res), why) {
						t.Errorf("%s: %s answered %v, want an error result saying %q", transport, name, res, why)
					}
					want(t, transport+" backend requests of refused "+name, requests.Load()-before, int64(0))
				}
				if slices.Contains(names, "activate_taskman_server") {
					res := get(c("tools/call", map[string]any{"name": "activate_taskman_server", "arguments": map[string]any{}}), "result", "structuredContent", "allTools")
					var counted []string
					for _, fam := range []string{"tasks", "projects", "actionLists", "sprints"} {
						for _, n := range get(res, fam).([]any) {
							counted = append(counted, n.(string))
						}
					}
					for _, n := range counted {
						if !slices.Contains(names, n) {
							t.Errorf("%s: activate_taskman_server names %s, which is not offered", transport, n)
						}
					}
				}
			}
		})
	}
}

// The tools/list budget: the catalog is context a model pays for on every
// session. toolsListBudget is the most bytes a tool may cost on average,
// toolsListTotalBudget the most the whole catalog may cost, in every
// protocol version; a new tool must fit in both.
const (
	toolsListBudget      = 660
	toolsListTotalBudget = 33_500
)

// TestToolsListFitsBudget pins the size of the full catalog in every
// protocol version: in all and on average a tool.
func TestToolsListFitsBudget(t *testing.T) {
	s := newTestServer(t)
	for _, v := range supportedVersions {
		total := 0
		for _, b := range s.toolsJSON[v] {
			total += len(b)
		}
		if total > toolsListTotalBudget {
			t.Errorf("%s: tools/list costs %d bytes for %d tools; the budget is %d", v, total, len(s.tools), toolsListTotalBudget)
		}
		if avg := total / len(s.tools); avg > toolsListBudget {
			t.Errorf("%s: tools/list costs %d bytes a tool on average; the budget is %d", v, avg, toolsListBudget)
		}
	}
}

// TestListsCarryTotals: a search or list answer says how many matched in
// all and whether more follow, beside the page it returns.
func TestListsCarryTotals(t *testing.T) {
	s := newTestServer(t)
	c := initializedCaller(t, s)
	pid := get(toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": "P"}}), "project", "id").(string)
	for i := range 3 {
		toolOn(t, c, "task_create", map[string]any{"task": map[string]any{"title": fmt.Sprintf("login bug %d", i), "project_id": pid}})
		toolOn(t, c, "action_list_create", map[string]any{"title": fmt.Sprintf("login list %d", i)})
	}
	for _, tt := range []struct {
		tool     string
		args     map[string]any
		key      string
		page     int
		total    int
		hasMore  bool
		countKey string // the search tools' page count
	}{
		{"task_search", map[string]any{"query": "login", "limit": 2}, "tasks", 2, 3, true, "count"},
		{"task_search", map[string]any{"query": "login", "limit": 2, "skip": 2}, "tasks", 1, 3, false, "count"},
		{"action_list_search", map[string]any{"q": "login", "limit": 2}, "data", 2, 3, true, "count"},
		{"task_list", map[string]any{"limit": 2}, "tasks", 2, 3, true, ""},
		{"task_list", map[string]any{"limit": 5}, "tasks", 3, 3, false, ""},
		{"project_list", map[string]any{}, "projects", 1, 1, false, ""},
	} {
		what := fmt.Sprintf("%s %v", tt.tool, tt.args)
		got := toolOn(t, c, tt.tool, tt.args)
		want(t, what+" page", len(got[tt.key].([]any)), tt.page)
		want(t, what+" total", got["total"], float64(tt.total))
		want(t, what+" has_more", got["has_more"], tt.hasMore)
		if tt.countKey != "" {
			want(t, what+" count", got[tt.countKey], float64(tt.page))
		}
	}
}

// TestProjectReadShowsBlockers: blockers recorded with project_add_blocker
// are read back with the project, oldest first, and only its own.
func TestProjectReadShowsBlockers(t *testing.T) {
	s := newTestServer(t)
	c := initializedCaller(t, s)
	pid := get(toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": "P"}}), "project", "id").(string)
	other := get(toolOn(t, c, "project_create", map[string]any{"project": map[string]any{"name": "Q"}}), "project", "id").(string)
	want(t, "no blockers yet", get(toolOn(t, c, "project_read", map[string]any{"projectId": pid}), "project", "blockers"), nil)
	for _, title := range []string{"Waiting on API", "Design review"} {
		toolOn(t, c, "project_add_blocker", map[string]any{"projectId": pid, "blocker": map[string]any{"title": title}})
	}
	toolOn(t, c, "project_add_blocker", map[string]any{"projectId": other, "blocker": map[string]any{"title": "Elsewhere"}})
	var titles []any
	for _, b := range get(toolOn(t, c, "project_read", map[string]any{"projectId": pid}), "project", "blockers").([]any) {
		titles = append(titles, get(b, "title"))
	}
	want(t, "blockers", titles, []any{"Waiting on API", "Design review"})
}

// TestToolsRefuseMissingProject checks over stdio, on the embedded backend,
// that task_create, action_list_create and a task_update moving a task name
// the tools to create or find a project that does not exist, store nothing,
// and succeed once the project exists.
func TestToolsRefuseMissingProject(t *testing.T) {
	c := startStdio(t, nil)
	c.initialize(version20251125)
	const missing = "P-00000000"
	wantText := "project " + missing + " does not exist; create it with project_create or find it with project_list"
	refused := func(name string, args map[string]any) {
		t.Helper()
		if res := c.callTool(name, args); res["isError"] != true || !strings.Contains(textOf(res), wantText) {
			t.Errorf("%s in a missing project = %v, want isError naming %q", name, res, wantText)
		}
	}
	refused("task_create", map[string]any{"task": map[string]any{"title": "orphan", "project_id": missing}})
	refused("action_list_create", map[string]any{"title": "orphan", "project_id": missing})
	if got := structured(t, "task_list", c.callTool("task_list", map[string]any{}))["tasks"]; len(got.([]any)) != 0 {
		t.Errorf("tasks after the refused create = %v, want none", got)
	}
	if got := structured(t, "action_list_list", c.callTool("action_list_list", map[string]any{}))["action_lists"]; len(got.([]any)) != 0 {
		t.Errorf("action lists after the refused create = %v, want none", got)
	}

	pid := get(structured(t, "project_create", c.callTool("project_create", map[string]any{"project": map[string]any{"name": "Real"}})), "project", "id")
	task := structured(t, "task_create", c.callTool("task_create", map[string]any{"task": map[string]any{"title": "kept", "project_id": pid}}))
	want(t, "task project", get(task, "task", "project_id"), pid)
	al := structured(t, "action_list_create", c.callTool("action_list_create", map[string]any{"title": "kept", "project_id": pid}))
	want(t, "action list project", get(al, "action_list", "project_id"), pid)
	structured(t, "action_list_create", c.callTool("action_list_create", map[string]any{"title": "no project"}))

	tid := get(task, "task", "id")
	refused("task_update", map[string]any{"taskId": tid, "changes": map[string]any{"project_id": missing}})
	read := structured(t, "task_read", c.callTool("task_read", map[string]any{"taskId": tid}))
	want(t, "project after the refused move", get(read, "task", "project_id"), pid)
}

// TestSchemaEnumsAreTheBackendsUnion pins each enum of the tool schemas to
// the vocabularies of the backends behind them, in order: the legacy one,
// which the embedded backend checks (embedded_records.go), then the values
// only TaskMan-v2 has. They are two facts, not one shared list: a schema
// offers every value either backend returns, so that it can be fed back,
// while the embedded backend speaks legacy and refuses the TaskMan-v2
// values, which each dialect maps (docs/dialects.md). A value added to one
// side only fails here.
func TestSchemaEnumsAreTheBackendsUnion(t *testing.T) {
	for _, tt := range []struct {
		name           string
		schema, legacy []string
		v2             []string // TaskMan-v2's vocabulary; nil where both backends share one
	}{
		{"task status", taskStatuses, embTaskStatuses, v2TaskStatuses},
		{"priority and severity", priorities, embPriorities, v2Priorities},
		{"project status", projectStatuses, embProjectStatuses, v2ProjectStatuses},
		{"action-list status", actionListStatuses, embActionListStatuses, v2ActionListStatuses},
		{"work type", workTypes, embWorkTypes, nil},
	} {
		union := slices.Clone(tt.legacy)
		for _, v := range tt.v2 {
			if !slices.Contains(union, v) {
				union = append(union, v)
			}
		}
		if !slices.Equal(tt.schema, union) {
			t.Errorf("%s: the schemas offer %v; the backends' vocabularies make %v", tt.name, tt.schema, union)
		}
	}
}

// fakeCaller is a backendCaller answering each call with the next of its
// stale ages (0: fresh), recording that the call carried the toolCall's
// notes.
type fakeCaller struct {
	ages  []time.Duration
	notes []*callNotes
}

func (f *fakeCaller) call(_ context.Context, req request) (any, *staleness, error) {
	f.notes = append(f.notes, req.notes)
	age := f.ages[0]
	f.ages = f.ages[1:]
	if age == 0 {
		return map[string]any{}, nil, nil
	}
	return map[string]any{}, &staleness{age: age}, nil
}

// TestToolCallKeepsOldestStale checks that a tool making several backend
// calls is marked stale by the oldest cached answer it used, a fresh
// answer after it not clearing the mark, and that every call carries the
// toolCall's notes for the dialect.
func TestToolCallKeepsOldestStale(t *testing.T) {
	f := &fakeCaller{ages: []time.Duration{0, 2 * time.Second, 7 * time.Second, 3 * time.Second, 0}}
	tc := &toolCall{backend: f}
	for range len(f.ages) {
		if _, err := tc.do(context.Background(), request{op: opHealth}); err != nil {
			t.Fatalf("do: %v", err)
		}
	}
	if tc.stale == nil || tc.stale.age != 7*time.Second {
		t.Errorf("stale after answers 0, 2s, 7s, 3s, 0 = %+v, want age 7s", tc.stale)
	}
	for i, n := range f.notes {
		if n != &tc.notes {
			t.Errorf("call %d carried notes %p, want the toolCall's %p", i, n, &tc.notes)
		}
	}
}
