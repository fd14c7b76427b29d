package main

import (
	"context"
	"fmt"
)

// sprintFields returns the sprint properties of docs/tools.md ("Sprints").
func sprintFields() map[string]*schema {
	return map[string]*schema{
		"name":       str("", 1, maxSprintName),
		"project_id": str("", 1, maxRefID),
		"goal":       str("", 1, 0),
		"start_date": date(""),
		"end_date":   date(""),
	}
}

// sprintTools returns the sprint tools: the sprint's records, its progress
// and its two checked transitions.
func sprintTools() []*tool {
	sid := func() map[string]*schema { return map[string]*schema{"sprintId": idArg()} }
	sprintOut := out(map[string]*schema{"sprint": anyObject})
	updateFields := sprintFields()
	delete(updateFields, "project_id") // a sprint stays in its project
	updateFields["status"] = enum("Unchecked; sprint_start and sprint_complete check the transition.", sprintStatuses)
	updateFields["owner"] = str("", 1, maxPerson)
	// transition calls a start or complete endpoint.
	transition := func(op opID) toolFunc {
		return func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: op, args: []string{argString(a, "sprintId")}})
			return map[string]any{"sprint": rec}, err
		}
	}
	return []*tool{{
		name: "sprint_create", title: "Create a sprint", family: familySprints, hints: hintCreate,
		description: "Create a sprint in an existing project.",
		input:       object("", map[string]*schema{"sprint": object("", withCreateID(sprintFields(), "S-"), "name", "project_id")}, "sprint"),
		output:      sprintOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opCreateSprint, body: stripNulls(argObject(a, "sprint"))})
			return map[string]any{"sprint": rec}, err
		},
	}, {
		name: "sprint_read", title: "Read a sprint", family: familySprints, hints: hintRead,
		description: "Read a sprint.",
		input:       object("", sid(), "sprintId"),
		output:      sprintOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opGetSprint, args: []string{argString(a, "sprintId")}})
			return map[string]any{"sprint": rec}, err
		},
	}, {
		name: "sprint_update", title: "Update a sprint", family: familySprints, hints: hintSet,
		description: "Change a sprint's fields; those absent or null stay as they are.",
		input: object("", map[string]*schema{
			"sprintId": idArg(),
			"changes":  changesInput("", updateFields, false),
		}, "sprintId", "changes"),
		output: sprintOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opUpdateSprint, args: []string{argString(a, "sprintId")}, body: stripNulls(argObject(a, "changes"))})
			return map[string]any{"sprint": rec}, err
		},
	}, {
		name: "sprint_delete", title: "Delete a sprint", family: familySprints, hints: hintDelete,
		description: "Delete a sprint; its tasks are kept, with their sprint cleared.",
		input:       object("", sid(), "sprintId"),
		output:      out(map[string]*schema{"sprintId": anyString, "deleted": anyBool, "message": anyString}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			id := argString(a, "sprintId")
			v, err := tc.do(ctx, request{op: opDeleteSprint, args: []string{id}})
			if err != nil {
				return nil, err
			}
			return sprintDeleted(id, v), nil
		},
	}, {
		name: "sprint_list", title: "List sprints", family: familySprints, hints: hintRead,
		description: "List the sprints matching every filter given, a page at a time.",
		input: object("", map[string]*schema{
			"project_id": str("", 1, maxRefID),
			"status":     enum("", sprintStatuses),
			"limit":      integer("", 1, maxPageSize),
			"cursor":     str("From next_cursor.", 1, 0),
		}),
		output: out(map[string]*schema{"sprints": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			req := request{op: opListSprints, query: queryFrom(a, nil, "project_id", "status", "limit", "cursor")}
			v, err := tc.do(ctx, req)
			if err != nil {
				return nil, err
			}
			la, err := asList(req.op, v, "sprints")
			if err != nil {
				return nil, err
			}
			res := withCursor(map[string]any{"sprints": la.items}, la)
			if m, ok := v.(map[string]any); ok && m["total"] != nil {
				res["total"] = m["total"]
			}
			return res, nil
		},
	}, {
		name: "sprint_progress", title: "Sprint progress", family: familySprints, hints: hintRead,
		description: "A sprint's task count, completed count, completion percentage and days left.",
		input:       object("", sid(), "sprintId"),
		output:      out(map[string]*schema{"progress": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opSprintProgress, args: []string{argString(a, "sprintId")}})
			return map[string]any{"progress": rec}, err
		},
	}, {
		name: "sprint_start", title: "Start a sprint", family: familySprints, hints: hintCreate,
		description: "Start a sprint still being planned, making it active.",
		input:       object("", sid(), "sprintId"),
		output:      sprintOut,
		call:        transition(opStartSprint),
	}, {
		name: "sprint_complete", title: "Complete a sprint", family: familySprints, hints: hintCreate,
		description: "Complete an active sprint.",
		input:       object("", sid(), "sprintId"),
		output:      sprintOut,
		call:        transition(opCompleteSprint),
	}}
}

// sprintDeleted builds sprint_delete's answer from the backend's: the
// tasks that lost their sprint are listed, with those that could not be
// changed and whether the search for them was cut short, and the message
// says that tasks are kept either way.
func sprintDeleted(id string, v any) map[string]any {
	res := map[string]any{"deleted": true, "sprintId": id}
	m, _ := v.(map[string]any)
	cleared, ok := m["cleared_task_ids"].([]any)
	if !ok {
		res["message"] = fmt.Sprintf("Sprint %s is deleted; its tasks are kept.", id)
		return res
	}
	res["cleared_task_ids"] = cleared
	n, verb := len(cleared), "are"
	if n == 1 {
		verb = "is"
	}
	msg := fmt.Sprintf("Sprint %s is deleted; its %d %s %s kept, with the sprint cleared.", id, n, plural(n, "task"), verb)
	if failed, _ := m["failed"].([]any); len(failed) > 0 {
		res["failed"] = failed
		msg += fmt.Sprintf(" %d more still name it: clearing their sprint failed (see failed).", len(failed))
	}
	if m["truncated"] == true {
		res["truncated"] = true
		msg += " The search for its tasks stopped at its bound, so more tasks may still name it."
	}
	res["message"] = msg
	return res
}
