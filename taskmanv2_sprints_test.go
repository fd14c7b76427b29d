package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// sprintExtra serves the fake's sprint progress, start and complete, task
// complete and action-list task links, as TaskMan-v2 does: start and
// complete set the status whatever it was, progress counts the tasks whose
// primary_sprint names the sprint (its percentage is by story points, 0
// without any), links keep their order and need an existing task. It
// reports whether segs named one of these endpoints.
func (f *fakeV2) sprintExtra(w http.ResponseWriter, r *http.Request, segs []string) bool {
	route := r.Method + " " + segs[0] + "/{}/" + strings.Join(segs[2:], "/")
	if len(segs) == 4 {
		route = r.Method + " " + segs[0] + "/{}/" + segs[2] + "/{}"
	}
	coll := f.colls[segs[0]]
	if coll == nil {
		return false
	}
	rec := coll.recs[segs[1]]
	notFound := func() { fakeJSON(w, 404, map[string]any{"detail": coll.noun + " not found"}) }
	switch route {
	case "POST sprints/{}/start", "POST sprints/{}/complete", "POST tasks/{}/complete":
		if rec == nil {
			notFound()
			return true
		}
		rec["status"] = map[string]string{"start": "active", "complete": "completed"}[segs[2]]
		if segs[0] == "tasks" {
			rec["status"] = "done"
		}
		fakeJSON(w, 200, rec)
	case "GET sprints/{}/progress":
		if rec == nil {
			notFound()
			return true
		}
		total, done := 0, 0
		for _, t := range f.colls["tasks"].recs {
			if t["primary_sprint"] == segs[1] {
				total++
				if t["status"] == "done" {
					done++
				}
			}
		}
		fakeJSON(w, 200, map[string]any{"sprint_id": segs[1], "name": rec["name"], "status": rec["status"],
			"task_count": total, "completed_count": done, "completion_percentage": 0.0, "total_points": 0, "completed_points": 0, "days_remaining": nil})
	case "GET action-lists/{}/tasks", "POST action-lists/{}/tasks", "DELETE action-lists/{}/tasks/{}":
		if rec == nil {
			notFound()
			return true
		}
		id := segs[1]
		switch r.Method {
		case "GET":
			fakeJSON(w, 200, orEmpty(f.links[id]))
			return true
		case "POST":
			tid := r.URL.Query().Get("task_id")
			if f.colls["tasks"].recs[tid] == nil {
				fakeJSON(w, 400, map[string]any{"detail": "Task " + tid + " does not exist"})
				return true
			}
			if !slices.Contains(f.links[id], any(tid)) {
				f.links[id] = append(f.links[id], tid)
			}
		case "DELETE":
			f.links[id] = slices.DeleteFunc(f.links[id], func(x any) bool { return x == segs[3] })
		}
		fakeJSON(w, 200, rec)
	default:
		return false
	}
	return true
}

// v2SprintWorkflow plans a sprint from nothing on the TaskMan-v2 fake, in
// the workflow's project: create, two tasks in it, complete one, progress
// 2 and 1, a refused complete, start, update, read, complete, list, task
// links, and delete (the tasks keep, their sprint cleared).
func v2SprintWorkflow() []v2Step {
	sprintArg := func(st workflowState) map[string]any { return map[string]any{"sprintId": st["sprint"]} }
	listArg := func(st workflowState) map[string]any { return map[string]any{"action_list_id": st["board"]} }
	linkArg := func(st workflowState) map[string]any {
		return map[string]any{"action_list_id": st["board"], "task_id": st["stask2"]}
	}
	taskIn := func(title string) func(st workflowState) map[string]any {
		return func(st workflowState) map[string]any {
			return map[string]any{"task": map[string]any{"title": title, "project_id": st["project"], "sprint_id": st["sprint"]}}
		}
	}
	return []v2Step{
		{"sprint_create", func(st workflowState) map[string]any {
			return map[string]any{"sprint": map[string]any{"name": "Sprint 1", "project_id": st["project"], "goal": "orbit", "start_date": "2026-01-05", "end_date": "2026-01-16"}}
		}, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			s := get(sc(t, res), "sprint").(map[string]any)
			st["sprint"], _ = s["id"].(string)
			if !strings.HasPrefix(st["sprint"], "S-") {
				t.Errorf("id = %q, want a generated S- id", st["sprint"])
			}
			want(t, "project_id from primary_project", s["project_id"], st["project"])
			want(t, "status", s["status"], "new")
			wantSent(t, sent, "POST /api/v1/sprints")
		}},
		{"task_create", taskIn("Burn"), func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			st["stask1"], _ = get(sc(t, res), "task", "id").(string)
		}},
		{"task_create", taskIn("Coast"), func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			st["stask2"], _ = get(sc(t, res), "task", "id").(string)
			want(t, "sprint_id from primary_sprint", get(sc(t, res), "task", "sprint_id"), st["sprint"])
		}},
		{"task_complete", func(st workflowState) map[string]any {
			return map[string]any{"taskId": st["stask1"], "notes": "nominal"}
		},
			func(t *testing.T, st workflowState, res map[string]any, sent []string) {
				want(t, "status (done there)", get(sc(t, res), "task", "status"), "completed")
				want(t, "dropped", get(res, "_meta", metaDroppedFields), []any{"completion_notes"})
				wantSent(t, sent, "POST /api/v1/tasks/"+st["stask1"]+"/complete")
			}},
		{"sprint_progress", sprintArg, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			p := get(sc(t, res), "progress")
			want(t, "tasks", get(p, "task_count"), 2)
			want(t, "completed", get(p, "completed_count"), 1)
		}},
		{"sprint_complete", sprintArg, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			if res["isError"] != true || !strings.Contains(textOf(res), "sprint "+st["sprint"]+" is new: only a sprint that is active, in_progress or blocked can be completed; start it first") {
				t.Errorf("complete before start = %q, want the refusal naming the state", textOf(res))
			}
			wantSent(t, sent, "GET /api/v1/sprints/"+st["sprint"])
		}},
		{"sprint_start", sprintArg, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			want(t, "status", get(sc(t, res), "sprint", "status"), "active")
			wantSent(t, sent, "GET /api/v1/sprints/"+st["sprint"], "POST /api/v1/sprints/"+st["sprint"]+"/start")
		}},
		{"sprint_update", func(st workflowState) map[string]any {
			return map[string]any{"sprintId": st["sprint"], "changes": map[string]any{"goal": "land", "name": nil}}
		}, func(t *testing.T, _ workflowState, res map[string]any, sent []string) {
			want(t, "goal", get(sc(t, res), "sprint", "goal"), "land")
			wantSent(t, sent, "PUT /api/v1/sprints/")
		}},
		{"sprint_read", sprintArg, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			s := get(sc(t, res), "sprint")
			want(t, "name kept", get(s, "name"), "Sprint 1")
			want(t, "project", get(s, "project_id"), st["project"])
		}},
		{"sprint_complete", sprintArg, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "status", get(sc(t, res), "sprint", "status"), "completed")
		}},
		{"sprint_list", func(st workflowState) map[string]any {
			return map[string]any{"project_id": st["project"], "status": "completed"}
		}, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			r := sc(t, res)
			want(t, "ids", embIDs(r["sprints"]), []string{st["sprint"]})
			want(t, "total", r["total"], 1)
			wantSent(t, sent, "GET /api/v1/sprints?page=1&per_page=20&project_id="+st["project"]+"&status=completed")
		}},
		{"sprint_create", func(st workflowState) map[string]any {
			return map[string]any{"sprint": map[string]any{"id": "S-next", "name": "Sprint 2", "project_id": st["project"]}}
		}, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "the caller's id", get(sc(t, res), "sprint", "id"), "S-next")
		}},
		{"action_list_create", func(workflowState) map[string]any { return map[string]any{"title": "Sprint board"} },
			func(t *testing.T, st workflowState, res map[string]any, _ []string) {
				st["board"], _ = get(sc(t, res), "action_list", "id").(string)
			}},
		{"action_list_link_task", linkArg, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			want(t, "list", get(sc(t, res), "action_list", "id"), st["board"])
			wantSent(t, sent, "POST /api/v1/action-lists/"+st["board"]+"/tasks?task_id="+st["stask2"])
		}},
		{"action_list_tasks", listArg, func(t *testing.T, st workflowState, res map[string]any, _ []string) {
			want(t, "task_ids", sc(t, res)["task_ids"], []any{st["stask2"]})
		}},
		{"action_list_unlink_task", linkArg, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			want(t, "list", get(sc(t, res), "action_list", "id"), st["board"])
			wantSent(t, sent, "DELETE /api/v1/action-lists/"+st["board"]+"/tasks/"+st["stask2"])
		}},
		{"action_list_tasks", listArg, func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
			want(t, "task_ids after unlink", sc(t, res)["task_ids"], []any{})
		}},
		{"sprint_delete", sprintArg, func(t *testing.T, st workflowState, res map[string]any, sent []string) {
			r := sc(t, res)
			want(t, "cleared", r["cleared_task_ids"], []any{st["stask1"], st["stask2"]})
			want(t, "message", r["message"], "Sprint "+st["sprint"]+" is deleted; its 2 tasks are kept, with the sprint cleared.")
			wantSent(t, sent, "GET /api/v1/tasks?page=1&per_page=100&sprint_id="+st["sprint"], "DELETE /api/v1/sprints/"+st["sprint"],
				"PUT /api/v1/tasks/"+st["stask1"], "PUT /api/v1/tasks/"+st["stask2"])
		}},
		{"task_read", func(st workflowState) map[string]any { return map[string]any{"taskId": st["stask2"]} },
			func(t *testing.T, _ workflowState, res map[string]any, _ []string) {
				want(t, "sprint cleared", get(sc(t, res), "task", "sprint_id"), nil)
			}},
	}
}

// TestV2DeleteSprintSteps checks sprint_delete's calls on TaskMan-v2 with a
// scripted backend: the tasks are found before the delete (and filtered
// here too), a task whose clearing fails is reported while the others are
// cleared, and a failed scan or delete stops before anything is changed.
func TestV2DeleteSprintSteps(t *testing.T) {
	tasks := map[string]any{"tasks": []any{
		map[string]any{"id": "T-1", "primary_sprint": "S-1"},
		map[string]any{"id": "T-2", "primary_sprint": "S-1"},
		map[string]any{"id": "T-3", "primary_sprint": "S-other"}, // a backend ignoring the filter
	}, "has_more": false}
	refused := &backendError{op: opDeleteSprint, status: 422, message: "primary_sprint: nope"}
	down := &unreachableError{op: opDeleteSprint, err: errors.New("connection refused")}
	tests := []struct {
		name      string
		fail      map[string]error // by "METHOD path"
		wantSent  []string
		wantErr   string
		wantClear []any
		wantFail  []string // ids
	}{
		{"all cleared", nil,
			[]string{"GET /tasks", "DELETE /sprints/S-1", "PUT /tasks/T-1", "PUT /tasks/T-2"}, "", []any{"T-1", "T-2"}, nil},
		{"one refused", map[string]error{"PUT /tasks/T-1": refused},
			[]string{"GET /tasks", "DELETE /sprints/S-1", "PUT /tasks/T-1", "PUT /tasks/T-2"}, "", []any{"T-2"}, []string{"T-1"}},
		{"backend gone at the first PUT", map[string]error{"PUT /tasks/T-1": down},
			[]string{"GET /tasks", "DELETE /sprints/S-1", "PUT /tasks/T-1"}, "", []any{}, []string{"T-1", "T-2"}},
		{"scan fails", map[string]error{"GET /tasks": down},
			[]string{"GET /tasks"}, "find the sprint's tasks before deleting it", nil, nil},
		{"delete fails", map[string]error{"DELETE /sprints/S-1": refused},
			[]string{"GET /tasks", "DELETE /sprints/S-1"}, "primary_sprint: nope", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent []string
			send := func(_ context.Context, wc wireCall) (any, error) {
				key := wc.method + " " + wc.path
				sent = append(sent, key)
				if err := tt.fail[key]; err != nil {
					return nil, err
				}
				if key == "GET /tasks" {
					return tasks, nil
				}
				return nil, nil
			}
			v, err := v2DeleteSprint(context.Background(), send, request{op: opDeleteSprint, args: []string{"S-1"}})
			if !slices.Equal(sent, tt.wantSent) {
				t.Errorf("sent %q, want %q", sent, tt.wantSent)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			res := sprintDeleted("S-1", v)
			want(t, "cleared", res["cleared_task_ids"], tt.wantClear)
			var failedIDs []string
			failed, _ := res["failed"].([]any)
			for _, f := range failed {
				failedIDs = append(failedIDs, fmt.Sprint(field(f, "id")))
			}
			if !slices.Equal(failedIDs, tt.wantFail) {
				t.Errorf("failed = %v, want ids %v", failed, tt.wantFail)
			}
			if msg, _ := res["message"].(string); (len(tt.wantFail) > 0) != strings.Contains(msg, "still name it") {
				t.Errorf("message = %q, want it to mention the tasks left only when some are", msg)
			}
		})
	}
}
