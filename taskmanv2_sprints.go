package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// The TaskMan-v2 routes of the sprint tools, task_complete and the
// action-list task links (docs/tools.md, "Sprints"). TaskMan-v2 has every
// endpoint; the differences are names (primary_project), the client id
// SprintCreate requires, a start and complete that check nothing, and a
// sprint delete that leaves its tasks pointing at it.

// v2SprintFields are the properties SprintCreate and SprintUpdate accept;
// anything else would be silently ignored by the backend, so it is dropped
// here and said so.
var v2SprintFields = []string{"actual_points", "cadence", "carried_over_points", "ceremonies", "committed_points",
	"definition_of_done", "dependencies", "end_date", "goal", "id", "imported_tasks", "metrics", "name",
	"observability", "owner", "primary_project", "related_projects", "risks", "scope_changes", "start_date",
	"status", "tasks", "timezone", "velocity_target_points"}

// v2SprintRenames maps the tools' sprint field names to TaskMan-v2's.
var v2SprintRenames = map[string]string{"project_id": "primary_project"}

// v2SprintRenamesFrom is v2SprintRenames the other way.
var v2SprintRenamesFrom = invert(v2SprintRenames)

// v2SprintTo translates sprint fields; the statuses are the same on both
// sides.
func v2SprintTo(fields map[string]any, notes *callNotes) (map[string]any, error) {
	return toWire(fields, v2SprintRenames, v2SprintFields, notes), nil
}

// v2SprintFrom reads a TaskMan-v2 sprint in the tools' vocabulary.
func v2SprintFrom(rec map[string]any) map[string]any {
	return fromWire(rec, v2SprintRenamesFrom)
}

// v2SprintRoutes adds the sprint, task-complete and task-link routes to a
// TaskMan-v2 route table.
func v2SprintRoutes(routes *[numOps]route) {
	keepAll := func(url.Values, map[string]any) bool { return true }
	routes[opListSprints] = route{build: v2ListSprints, read: v2ReadPage("sprints", v2SprintFrom, keepAll)}
	routes[opCreateSprint] = route{build: v2CreateSprint, read: v2ReadRecord(v2SprintFrom)}
	routes[opGetSprint] = route{build: v2Call("GET", "/sprints/{}", false), read: v2ReadRecord(v2SprintFrom)}
	routes[opUpdateSprint] = route{build: v2Update("/sprints/{}", v2SprintTo), read: v2ReadRecord(v2SprintFrom)}
	routes[opDeleteSprint] = route{run: v2DeleteSprint}
	routes[opSprintProgress] = route{build: v2Call("GET", "/sprints/{}/progress", false)}
	routes[opStartSprint] = route{run: v2SprintTransition(sprintStart, "/sprints/{}/start")}
	routes[opCompleteSprint] = route{run: v2SprintTransition(sprintComplete, "/sprints/{}/complete")}
	routes[opCompleteTask] = route{build: v2CompleteTask, read: v2ReadRecord(v2TaskFrom)}
	routes[opListLinkedTasks] = route{build: v2Call("GET", "/action-lists/{}/tasks", false)}
	routes[opLinkTask] = route{build: v2LinkTask, read: v2ReadRecord(v2ActionListFrom)}
	routes[opUnlinkTask] = route{build: v2Call("DELETE", "/action-lists/{}/tasks/{}", false), read: v2ReadRecord(v2ActionListFrom)}
}

// v2ListSprints builds GET /sprints; both filters are the backend's.
func v2ListSprints(r request) (wireCall, error) {
	q, err := v2ListQuery(r, []string{"project_id", "status"}, nil, nil)
	return wireCall{method: "GET", path: "/sprints", query: q}, err
}

// v2CreateSprint builds POST /sprints: SprintCreate requires an id
// (^S-[A-Za-z0-9_-]+$, which the generated ones match) and primary_project.
func v2CreateSprint(r request) (wireCall, error) {
	return v2Create(r, v2SprintTo, "S-", "/sprints")
}

// v2SprintTransition returns the route of sprint_start or sprint_complete.
// TaskMan-v2 sets the status whatever it was, so the sprint is read first
// and the transition refused as the embedded backend refuses it. A change
// by someone else between the read and the POST is not seen; the backend
// would have applied the POST anyway, so the check can only be stale, never
// make things worse.
func v2SprintTransition(tr sprintTransitionRule, tmpl string) func(context.Context, sendFunc, request) (any, error) {
	return func(ctx context.Context, send sendFunc, r request) (any, error) {
		rec, err := v2GetRecord(ctx, send, r.op, "/sprints/{}", r.args[0])
		if err != nil {
			return nil, err
		}
		cur, _ := rec["status"].(string)
		if msg := tr.refusal(r.args[0], cur); msg != "" {
			return nil, errors.New(msg)
		}
		post, err := v2Call("POST", tmpl, false)(r)
		if err != nil {
			return nil, err
		}
		v, err := send(ctx, post)
		if err != nil {
			return nil, err
		}
		return v2ReadRecord(v2SprintFrom)(r, v)
	}
}

// v2DeleteSprint serves sprint_delete. TaskMan-v2 deletes only the sprint,
// so its tasks would keep a primary_sprint naming nothing: they are found
// first (a bounded scan of GET /tasks?sprint_id=…), the sprint is deleted,
// then each task's primary_sprint is cleared, one PUT per task. The answer
// lists the tasks cleared, those that could not be, and whether the scan
// stopped at its bound.
func v2DeleteSprint(ctx context.Context, send sendFunc, r request) (any, error) {
	del, err := v2Call("DELETE", "/sprints/{}", false)(r)
	if err != nil {
		return nil, err
	}
	sid := r.args[0]
	var tasks []any
	_, truncated, err := v2Scan(ctx, send, r, "/tasks", "tasks", url.Values{"sprint_id": {sid}}, func(rec map[string]any) {
		// The filter is applied here too: the backend ignores a query
		// parameter it does not know rather than refusing it.
		if rec["primary_sprint"] == sid {
			tasks = append(tasks, rec["id"])
		}
	})
	if err != nil {
		return nil, fmt.Errorf("find the sprint's tasks before deleting it: %w", err)
	}
	if _, err := send(ctx, del); err != nil {
		return nil, err
	}
	cleared, failed, err := v2PerID(ctx, send, r, tasks, func(id string) (wireCall, error) {
		p, err := v2Path("/tasks/{}", id)
		return wireCall{method: "PUT", path: p, body: map[string]any{"primary_sprint": nil}}, err
	})
	if err != nil { // the first PUT found the backend gone: none was sent
		for i, id := range tasks {
			msg := "not sent: the backend stopped answering"
			if i == 0 {
				msg = err.Error()
			}
			failed = append(failed, map[string]any{"id": id, "error": msg})
		}
	}
	res := map[string]any{"deleted": true, "sprint_id": sid, "cleared_task_ids": orEmpty(cleared), "truncated": truncated}
	if len(failed) > 0 {
		res["failed"] = failed
	}
	return res, nil
}

// v2CompleteTask builds POST /tasks/{id}/complete, which takes no body:
// completion notes have no place there and are reported as not stored.
func v2CompleteTask(r request) (wireCall, error) {
	if body, _ := r.body.(map[string]any); len(body) > 0 {
		for k := range body {
			r.notes.drop(k)
		}
	}
	return v2Call("POST", "/tasks/{}/complete", false)(r)
}

// v2LinkTask builds POST /action-lists/{id}/tasks?task_id=….
func v2LinkTask(r request) (wireCall, error) {
	wc, err := v2Call("POST", "/action-lists/{}/tasks", false)(r)
	wc.query = url.Values{"task_id": {r.query.Get("task_id")}}
	return wc, err
}
