package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// v2Step is one tool call of the TaskMan-v2 workflow; check sees the whole
// result (isError, _meta) and the requests the fake received for it.
type v2Step struct {
	tool  string
	args  func(st workflowState) map[string]any
	check func(t *testing.T, st workflowState, res map[string]any, sent []string)
}

// sc returns a result's structuredContent, failing on an error result.
func sc(t *testing.T, res map[string]any) map[string]any {
	t.Helper()
	if res["isError"] == true {
		t.Fatalf("error result: %s", textOf(res))
	}
	m, _ := res["structuredContent"].(map[string]any)
	return m
}

// wantRefused checks an error result that sent nothing.
func wantRefused(t *testing.T, res map[string]any, sent []string, text string) {
	t.Helper()
	if res["isError"] != true || !strings.Contains(textOf(res), text) {
		t.Errorf("result = %v %q, want an error containing %q", res["isError"], textOf(res), text)
	}
	if len(sent) != 0 {
		t.Errorf("sent %q, want no request", sent)
	}
}

// wantSent checks that the calls made were exactly these method+path
// prefixes, in order.
func wantSent(t *testing.T, sent []string, prefixes ...string) {
	t.Helper()
	ok := len(sent) == len(prefixes)
	for i := 0; ok && i < len(sent); i++ {
		ok = strings.HasPrefix(sent[i], prefixes[i])
	}
	if !ok {
		t.Errorf("sent %q, want %q", sent, prefixes)
	}
}

// v2Workflow calls every tool against the TaskMan-v2 fake.
func v2Workflow() []v2Step {
	unsupported := func(tool string, args func(st workflowState) map[string]any) v2Step {
		return v2Step{tool, args, func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
			wantRefused(t, res, sent, tool+": not supported by the TaskMan-v2 backend: it has no ")
		}}
	}
	pid := func(st workflowState) map[string]any { return map[string]any{"projectId": st["project"]} }
	return slices.Concat([]v2Step{
		{"activate_taskman_server", nil, func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
			r := sc(t, res)
			want(t, "ready", r["ready"], true)
			want(t, "dialect", get(r, "serverStatus", "dialect"), "taskman-v2")
			// Detection runs in the background from the start; on a slow
			// machine its probe may still be under way when this first
			// call is made (the call waits for it), so it is left out.
			wantSent(t, slices.DeleteFunc(slices.Clone(sent), func(s string) bool { return strings.HasPrefix(s, "GET /openapi.json") }), "GET /health")
		}},
		{"activate_task_tools", nil, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "online", get(sc(t, res), "serverStatus", "serverOnline"), true)
		}},
		{"activate_project_tools", nil, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "online", get(sc(t, res), "serverStatus", "serverOnline"), true)
		}},
		{"activate_action_list_tools", nil, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "online", get(sc(t, res), "serverStatus", "serverOnline"), true)
		}},
		{"ai_parse_task", func(workflowState) map[string]any { return map[string]any{"input": "Fix it p1"} },
			func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
				want(t, "priority", get(sc(t, res), "parsed", "priority"), "high")
				wantSent(t, sent)
			}},
		{"project_create", func(workflowState) map[string]any {
			return map[string]any{"project": map[string]any{"name": "Apollo", "description": "to the moon", "status": "active"}}
		}, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			p := get(sc(t, res), "project").(map[string]any)
			st["project"], _ = p["id"].(string)
			if !strings.HasPrefix(st["project"], "P-") {
				t.Errorf("id = %q, want a generated P- id", st["project"])
			}
			want(t, "description from mission", p["description"], "to the moon")
			wantSent(t, sent, "POST /api/v1/projects")
		}},
		{"project_read", pid, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			want(t, "id", get(sc(t, res), "project", "id"), st["project"])
		}},
		{"project_update", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "changes": map[string]any{"status": "inactive"}}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "status (paused there)", get(sc(t, res), "project", "status"), "inactive")
		}},
		{"project_list", func(workflowState) map[string]any { return map[string]any{"status": "inactive", "search": "apol"} },
			func(t *testing.T, st workflowState, res map[string]any, sent []string) {
				r := sc(t, res)
				want(t, "listed", get(r, "projects", 0, "id"), st["project"])
				want(t, "total", r["total"], 1)
				want(t, "has_more", r["has_more"], false)
				want(t, "local filters", get(res, "_meta", "io.taskman/local_filters"), []any{"search"})
				wantSent(t, sent, "GET /api/v1/projects?page=1&per_page=20&status=paused")
			}},
		{"project_add_sprint", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "sprintId": "S-1"}
		}, func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
			want(t, "sprints", get(sc(t, res), "project", "sprints"), []any{"S-1"})
			wantSent(t, sent, "GET /api/v1/projects/", "PUT /api/v1/projects/")
		}},
		{"project_remove_sprint", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "sprintId": "S-1"}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "sprints", get(sc(t, res), "project", "sprints"), []any{})
		}},
		unsupported("project_add_meta_task", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "metaTask": map[string]any{"title": "m"}}
		}),
		unsupported("project_add_comment", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "comment": map[string]any{"message": "hi"}}
		}),
		unsupported("project_get_comments", pid),
		unsupported("project_add_blocker", func(st workflowState) map[string]any {
			return map[string]any{"projectId": st["project"], "blocker": map[string]any{"title": "b"}}
		}),
		{"task_create", func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"title": "first", "project_id": st["project"], "priority": "high",
				"status": "planned", "tags": []any{"a"}, "assignee": "ann", "estimated_hours": 3, "notes": "n"}}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			task := get(sc(t, res), "task").(map[string]any)
			st["task1"], _ = task["id"].(string)
			want(t, "priority", task["priority"], "high")
			want(t, "status", task["status"], "new")
			want(t, "project_id", task["project_id"], st["project"])
			want(t, "tags", task["tags"], []any{"a"})
			want(t, "assignee", task["assignee"], "ann")
			want(t, "owner default", task["owner"], "taskman-mcp")
			want(t, "summary default", task["summary"], "first")
			want(t, "dropped", get(res, "_meta", "io.taskman/dropped_fields"), []any{"estimated_hours", "notes"})
		}},
		{"task_create", func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"id": "T-second", "title": "second", "project_id": st["project"], "status": "pending", "work_type": "bug"}}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			task := get(sc(t, res), "task").(map[string]any)
			st["task2"], _ = task["id"].(string)
			want(t, "caller's id", task["id"], "T-second")
			want(t, "status (ready there)", task["status"], "pending")
			want(t, "no dropped fields", get(res, "_meta", "io.taskman/dropped_fields"), nil)
		}},
		{"task_read", func(st workflowState) map[string]any { return map[string]any{"taskId": st["task1"]} },
			func(t *testing.T, st workflowState, res map[string]any, _ []string) {
				want(t, "id", get(sc(t, res), "task", "id"), st["task1"])
			}},
		{"task_update", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["task1"], "changes": map[string]any{"status": "completed", "due_date": "2026-12-24T10:00:00Z"}}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "status (done there)", get(sc(t, res), "task", "status"), "completed")
			want(t, "due_date", get(sc(t, res), "task", "due_date"), "2026-12-24T10:00:00Z")
		}},
		{"task_set_status", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["task1"], "status": "review", "notes": "look"}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "status", get(sc(t, res), "task", "status"), "review")
			want(t, "dropped", get(res, "_meta", "io.taskman/dropped_fields"), []any{"notes"})
		}},
		{"task_assign", func(st workflowState) map[string]any { return map[string]any{"taskId": st["task1"], "assignee": nil} },
			func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
				want(t, "assignees", get(sc(t, res), "task", "assignees"), []any{})
			}},
		{"task_list", func(st workflowState) map[string]any { return map[string]any{"project_id": st["project"], "limit": 1} },
			func(t *testing.T, st workflowState, res map[string]any, sent []string) {
				r := sc(t, res)
				want(t, "first page", get(r, "tasks", 0, "id"), st["task1"])
				want(t, "total", r["total"], 2)
				want(t, "has_more", r["has_more"], true)
				st["cursor"], _ = r["next_cursor"].(string)
				wantSent(t, sent, "GET /api/v1/tasks?page=1&per_page=1&project_id=")
			}},
		{"task_list", func(st workflowState) map[string]any {
			return map[string]any{"project_id": st["project"], "limit": 1, "cursor": st["cursor"], "work_type": "bug"}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			r := sc(t, res)
			want(t, "second page", get(r, "tasks", 0, "id"), st["task2"])
			want(t, "has_more", r["has_more"], false)
			want(t, "local filters", get(res, "_meta", "io.taskman/local_filters"), []any{"work_type"})
		}},
		{"task_bulk_update", func(st workflowState) map[string]any {
			return map[string]any{"taskIds": []any{st["task1"], "T-missing", st["task2"]}, "changes": map[string]any{"priority": "low"}}
		}, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			r := sc(t, res)
			want(t, "updated_count", r["updated_count"], 2)
			want(t, "success", r["success"], false)
			want(t, "task_ids", r["task_ids"], []any{st["task1"], st["task2"]})
			want(t, "failed id", get(r, "failed", 0, "id"), "T-missing")
			if e, _ := get(r, "failed", 0, "error").(string); !strings.Contains(e, "404") {
				t.Errorf("failed error = %q, want the backend's 404", e)
			}
			wantSent(t, sent, "PUT /api/v1/tasks/", "PUT /api/v1/tasks/T-missing", "PUT /api/v1/tasks/T-second")
		}},
		{"task_bulk_assign_sprint", func(st workflowState) map[string]any {
			return map[string]any{"taskIds": []any{st["task1"], st["task2"]}, "sprintId": "S-9"}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			r := sc(t, res)
			want(t, "assigned_count", r["assigned_count"], 2)
			want(t, "sprint_id", r["sprint_id"], "S-9")
			want(t, "failed", r["failed"], []any{})
		}},
		{"task_search", func(st workflowState) map[string]any { return map[string]any{"query": "SEC", "sprint_id": "S-9"} },
			func(t *testing.T, st workflowState, res map[string]any, sent []string) {
				r := sc(t, res)
				want(t, "count", r["count"], 1)
				want(t, "hit", get(r, "tasks", 0, "id"), st["task2"])
				want(t, "truncated", r["truncated"], false)
				wantSent(t, sent, "GET /api/v1/tasks?page=1&per_page=100&sprint_id=S-9")
			}},
		{"project_get_metrics", pid, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			m := get(sc(t, res), "metrics").(map[string]any)
			want(t, "total", get(m, "task_statistics", "total"), 2)
			want(t, "by_status", get(m, "task_statistics", "by_status"), map[string]any{"review": 1, "pending": 1})
			want(t, "by_priority", get(m, "task_statistics", "by_priority"), map[string]any{"low": 2})
			want(t, "truncated", m["truncated"], false)
		}},
		{"action_list_create", func(st workflowState) map[string]any {
			return map[string]any{"title": "Launch", "status": "active", "priority": "high", "metadata": map[string]any{"k": "v"},
				"task_id": st["task1"], "items": []any{map[string]any{"text": "fuel"}, map[string]any{"text": "count"}}}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			al := get(sc(t, res), "action_list").(map[string]any)
			st["list"], _ = al["id"].(string)
			st["item1"], _ = get(al, "items", 0, "id").(string)
			st["item2"], _ = get(al, "items", 1, "id").(string)
			want(t, "metadata", al["metadata"], map[string]any{"k": "v"})
			want(t, "dropped", get(res, "_meta", "io.taskman/dropped_fields"), []any{"task_id"})
		}},
		{"action_list_create", func(workflowState) map[string]any { return map[string]any{"title": "x", "status": "blocked"} },
			func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
				wantRefused(t, res, sent, "status: the TaskMan-v2 backend stores only action lists that are active or archived")
			}},
		{"action_list_read", func(st workflowState) map[string]any { return map[string]any{"action_list_id": st["list"]} },
			func(t *testing.T, st workflowState, res map[string]any, _ []string) {
				want(t, "id", get(sc(t, res), "action_list", "id"), st["list"])
			}},
		{"action_list_list", func(workflowState) map[string]any { return map[string]any{"status": "active", "priority": "high"} },
			func(t *testing.T, st workflowState, res map[string]any, _ []string) {
				want(t, "listed", get(sc(t, res), "action_lists", 0, "id"), st["list"])
			}},
		{"action_list_update", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["list"], "status": "completed", "notes": "go"}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "status (completed is archived)", get(sc(t, res), "action_list", "status"), "archived")
		}},
		{"action_list_add_item", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["list"], "text": "ignition"}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			want(t, "items", len(get(sc(t, res), "action_list", "items").([]any)), 3)
		}},
		unsupported("action_list_toggle_item", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["list"], "item_id": st["item1"]}
		}),
		{"action_list_remove_item", func(st workflowState) map[string]any {
			return map[string]any{"action_list_id": st["list"], "item_id": st["item1"]}
		}, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			want(t, "first item now", get(sc(t, res), "action_list", "items", 0, "id"), st["item2"])
			wantSent(t, sent, "DELETE /api/v1/action-lists/", "GET /api/v1/action-lists/")
		}},
		{"action_list_reorder_items", func(st workflowState) map[string]any {
			items := []any{"item-3", st["item2"]}
			return map[string]any{"action_list_id": st["list"], "item_ids": items}
		}, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			want(t, "order", get(sc(t, res), "action_list", "items", 1, "id"), st["item2"])
			wantSent(t, sent, "PATCH /api/v1/action-lists/")
		}},
		{"action_list_search", func(workflowState) map[string]any { return map[string]any{"q": "laun", "status": "completed"} },
			func(t *testing.T, st workflowState, res map[string]any, sent []string) {
				r := sc(t, res)
				want(t, "hit", get(r, "data", 0, "id"), st["list"])
				wantSent(t, sent, "GET /api/v1/action-lists?page=1&per_page=100&status=archived")
			}},
		{"action_list_bulk_update", func(st workflowState) map[string]any {
			return map[string]any{"action_list_ids": []any{st["list"]}, "priority": "low", "status": "active"}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			r := sc(t, res)
			want(t, "updated", r["updated_count"], 1)
			want(t, "ids", r["action_list_ids"], []any{st["list"]})
		}},
		{"action_list_delete", func(st workflowState) map[string]any { return map[string]any{"action_list_id": st["list"]} },
			func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
				want(t, "success", sc(t, res)["success"], true)
			}},
		{"action_list_bulk_delete", func(st workflowState) map[string]any {
			return map[string]any{"action_list_ids": []any{st["list"]}}
		}, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			r := sc(t, res)
			want(t, "deleted", r["deleted_count"], 0)
			want(t, "failed", get(r, "failed", 0, "id"), st["list"])
		}},
	}, v2SprintWorkflow(), []v2Step{
		{"task_read", func(workflowState) map[string]any { return map[string]any{"taskId": ".."} },
			func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
				wantRefused(t, res, sent, `id ".." cannot name a record`)
			}},
		{"task_delete", func(st workflowState) map[string]any { return map[string]any{"taskId": st["task2"]} },
			func(t *testing.T, st workflowState, res map[string]any, _ []string) {
				want(t, "result", sc(t, res), map[string]any{"taskId": st["task2"], "deleted": true})
			}},
		{"project_delete", pid, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			want(t, "result", sc(t, res), map[string]any{"projectId": st["project"], "deleted": true})
		}},
	})
}

// TestTaskmanV2ToolMatrix drives every tool over stdio against the
// TaskMan-v2 fake with nothing configured but the base URL the README
// gives: the dialect is detected, every request keeps the OpenAPI contract
// (the fake fails the test otherwise), and each tool either works with
// that backend's data or says plainly that the backend cannot do it.
func TestTaskmanV2ToolMatrix(t *testing.T) {
	f := newFakeV2(t)
	c := startStdio(t, map[string]string{"TASK_MANAGER_API_ENDPOINT": f.base()})
	c.initialize(version20251125)
	st := workflowState{}
	for i, step := range v2Workflow() {
		args := map[string]any{}
		if step.args != nil {
			args = step.args(st)
		}
		before := len(f.sent())
		res := c.callTool(step.tool, args)
		sent := f.sent()[before:]
		t.Run(fmt.Sprintf("%02d_%s", i, step.tool), func(t *testing.T) { step.check(t, st, res, sent) })
	}
	covered := map[string]bool{}
	for _, s := range v2Workflow() {
		covered[s.tool] = true
	}
	for _, tl := range newToolTable() {
		if !covered[tl.name] {
			t.Errorf("tool %s has no step in v2Workflow", tl.name)
		}
	}
}
