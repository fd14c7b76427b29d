package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// taskFields returns the task properties of docs/tools.md; create requires
// title and project_id, update takes any of them.
func taskFields() map[string]*schema {
	return map[string]*schema{
		"title":           str("", 1, maxTitle),
		"project_id":      str("", 1, maxRefID),
		"description":     str("Markdown.", 0, 0),
		"status":          enum("", taskStatuses),
		"work_type":       enum("", workTypes),
		"priority":        enum("", priorities),
		"owner":           str("", 0, maxPerson),
		"assignee":        str("", 0, maxPerson),
		"assignees":       strList("", 0, 0),
		"tags":            strList("", 0, maxTags),
		"sprint_id":       str("", 0, maxRefID),
		"parent_task_id":  str("", 0, maxRefID),
		"due_date":        dateTime(""),
		"estimated_hours": &schema{typ: "number", min: new(0.0)},
		"notes":           str("", 0, 0),
	}
}

// taskInput is the task object of task_create; other task fields pass
// through to the backend.
func taskInput() *schema {
	s := object("Other task fields pass to the backend as given.", taskFields(), "title", "project_id")
	s.open = true
	return s
}

// changesInput is a partial object for updates: every field optional and
// nullable (null means "leave unchanged"), at least one non-null.
func changesInput(desc string, fields map[string]*schema, open bool) *schema {
	return &schema{typ: "object", desc: desc, props: nullableCopy(fields), open: open, minProps: 1}
}

// withCreateID adds the optional id of a create to props: the TaskMan-v2
// backend takes the client's id (prefix…), the legacy one assigns its own.
func withCreateID(props map[string]*schema, prefix string) map[string]*schema {
	props["id"] = str(prefix+"…, TaskMan-v2 only.", 1, maxRefID)
	return props
}

// projectFields returns the project properties of docs/tools.md.
func projectFields() map[string]*schema {
	return map[string]*schema{
		"name":        str("", 1, maxTitle),
		"description": str("", 0, 0),
		"status":      enum("", projectStatuses),
	}
}

// taskTools returns the task tools.
func taskTools() []*tool {
	setStatusBody := []string{"status", "notes", "completion_notes", "done_date"}
	return []*tool{{
		name: "task_create", title: "Create a task", family: familyTasks, hints: hintCreate,
		description: "Create a task in an existing project.",
		input:       object("", map[string]*schema{"task": taskInput()}, "task"),
		output:      out(map[string]*schema{"task": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opCreateTask, body: stripNulls(argObject(a, "task"))})
			return map[string]any{"task": rec}, err
		},
	}, {
		name: "task_read", title: "Read a task", family: familyTasks, hints: hintRead,
		description: "Read a task.",
		input:       object("", map[string]*schema{"taskId": idArg()}, "taskId"),
		output:      out(map[string]*schema{"task": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opGetTask, args: []string{argString(a, "taskId")}})
			return map[string]any{"task": rec}, err
		},
	}, {
		name: "task_update", title: "Update a task", family: familyTasks, hints: hintSet,
		description: "Change a task's fields; those absent or null stay as they are.",
		input: object("", map[string]*schema{
			"taskId":  idArg(),
			"changes": changesInput("", taskFields(), true),
		}, "taskId", "changes"),
		output: out(map[string]*schema{"task": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opUpdateTask, args: []string{argString(a, "taskId")}, body: stripNulls(argObject(a, "changes"))})
			return map[string]any{"task": rec}, err
		},
	}, {
		name: "task_set_status", title: "Set a task's status", family: familyTasks, hints: hintSet,
		description: "Set a task's status.",
		input: object("", map[string]*schema{
			"taskId":           idArg(),
			"status":           enum("", taskStatuses),
			"notes":            str("", 0, 0),
			"completion_notes": str("What was done.", 0, 0),
			"done_date":        dateTime(""),
		}, "taskId", "status"),
		output: out(map[string]*schema{"task": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opUpdateTask, args: []string{argString(a, "taskId")}, body: pick(a, setStatusBody...)})
			return map[string]any{"task": rec}, err
		},
	}, {
		name: "task_assign", title: "Assign a task", family: familyTasks, hints: hintSet,
		description: "Assign a task to assignee (null unassigns) or assignees; give one of them.",
		input: object("", map[string]*schema{
			"taskId":    idArg(),
			"assignee":  &schema{typ: "string", nullable: true, maxLen: maxPerson},
			"assignees": strList("", 0, 0),
		}, "taskId"),
		output: out(map[string]*schema{"task": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			body := map[string]any{}
			for _, k := range []string{"assignee", "assignees"} {
				if v, ok := a[k]; ok {
					body[k] = v // a null assignee is sent: it unassigns
				}
			}
			if len(body) == 0 {
				return nil, &argError{"", "give assignee (a name, or null to unassign) or assignees"}
			}
			rec, err := tc.record(ctx, request{op: opUpdateTask, args: []string{argString(a, "taskId")}, body: body})
			return map[string]any{"task": rec}, err
		},
	}, {
		name: "task_delete", title: "Delete a task", family: familyTasks, hints: hintDelete,
		description: "Delete a task.",
		input:       object("", map[string]*schema{"taskId": idArg()}, "taskId"),
		output:      out(map[string]*schema{"taskId": anyString, "deleted": anyBool}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			id := argString(a, "taskId")
			if _, err := tc.do(ctx, request{op: opDeleteTask, args: []string{id}}); err != nil {
				return nil, err
			}
			return map[string]any{"taskId": id, "deleted": true}, nil
		},
	}, {
		name: "task_list", title: "List tasks", family: familyTasks, hints: hintRead,
		description: "List the tasks matching every filter given, a page at a time.",
		input: object("", map[string]*schema{
			"status":          enum("", taskStatuses),
			"work_type":       enum("", workTypes),
			"priority":        enum("", priorities),
			"owner":           str("", 1, maxPerson),
			"assignee":        str("", 1, maxPerson),
			"project_id":      str("", 1, maxRefID),
			"sprint_id":       str("", 1, maxRefID),
			"search":          str("Text in the title or description.", 1, 0),
			"tags":            strList("All of these.", 0, maxTags),
			"include_deleted": boolean(""),
			"limit":           integer("", 1, maxPageSize),
			"cursor":          str("From next_cursor.", 1, 0),
		}),
		output: out(map[string]*schema{"tasks": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			q := queryFrom(a, nil, "status", "work_type", "priority", "owner", "assignee", "project_id",
				"sprint_id", "search", "tags", "include_deleted", "limit", "cursor")
			la, err := tc.list(ctx, request{op: opListTasks, query: q}, "tasks")
			return withCursor(map[string]any{"tasks": la.items}, la), err
		},
	}, {
		name: "task_bulk_update", title: "Update many tasks", family: familyTasks, hints: hintSet,
		description: "Apply the same changes to several tasks; null fields stay as they are.",
		input: object("", map[string]*schema{
			"taskIds": strList("", 1, maxBulkIDs),
			"changes": changesInput("", taskFields(), true),
		}, "taskIds", "changes"),
		output: out(map[string]*schema{"success": anyBool, "updated_count": anyNumber, "task_ids": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			ids, _ := a["taskIds"].([]any)
			n := float64(len(ids))
			tc.progress(0, n, fmt.Sprintf("updating %d tasks", len(ids)))
			v, err := tc.do(ctx, request{op: opBulkUpdateTasks, progress: tc.progress, body: map[string]any{"task_ids": ids, "updates": stripNulls(argObject(a, "changes"))}})
			if err != nil {
				return nil, err
			}
			tc.progress(n, n, fmt.Sprintf("updated %d tasks", len(ids)))
			return bulkResult(v, "updated_count", ids, "task_ids"), nil
		},
	}, {
		name: "task_bulk_assign_sprint", title: "Move tasks to a sprint", family: familyTasks, hints: hintSet,
		description: "Move several tasks to a sprint.",
		input: object("", map[string]*schema{
			"taskIds":  strList("", 1, maxBulkIDs),
			"sprintId": str("", 1, maxRefID),
		}, "taskIds", "sprintId"),
		output: out(map[string]*schema{"success": anyBool, "assigned_count": anyNumber, "sprint_id": anyString}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			ids, _ := a["taskIds"].([]any)
			sprint := argString(a, "sprintId")
			n := float64(len(ids))
			tc.progress(0, n, fmt.Sprintf("assigning %d tasks to sprint %s", len(ids), sprint))
			v, err := tc.do(ctx, request{op: opBulkAssignSprint, progress: tc.progress, body: map[string]any{"task_ids": ids, "sprint_id": sprint}})
			if err != nil {
				return nil, err
			}
			tc.progress(n, n, fmt.Sprintf("assigned %d tasks", len(ids)))
			res := bulkResult(v, "assigned_count", ids, "")
			res["sprint_id"] = sprint
			return res, nil
		},
	}, {
		name: "task_search", title: "Search tasks", family: familyTasks, hints: hintRead,
		description: "Search tasks for text in the given fields (default all), a page at a time.",
		input: object("", map[string]*schema{
			"query":      str("", 1, 0),
			"fields":     &schema{typ: "array", items: enum("", taskSearchFields)},
			"project_id": str("", 1, maxRefID),
			"sprint_id":  str("", 1, maxRefID),
			"skip":       nonNegative(""),
			"limit":      integer("", 1, maxTaskSearchPage),
		}, "query"),
		output: out(map[string]*schema{"success": anyBool, "query": anyString, "count": anyNumber, "tasks": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			q := queryFrom(a, map[string]string{"query": "q"}, "query", "fields", "project_id", "sprint_id", "skip", "limit")
			v, err := tc.do(ctx, request{op: opSearchTasks, query: q})
			if err != nil {
				return nil, err
			}
			return searchResult(opSearchTasks, v, argString(a, "query"), "tasks")
		},
	}, {
		name: "task_complete", title: "Complete a task", family: familyTasks, hints: hintSet,
		description: "Mark a task done.",
		input: object("", map[string]*schema{
			"taskId": idArg(),
			"notes":  str("What was done.", 0, 0),
		}, "taskId"),
		output: out(map[string]*schema{"task": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			var body any
			if notes, ok := a["notes"].(string); ok {
				body = map[string]any{"completion_notes": notes}
			}
			rec, err := tc.record(ctx, request{op: opCompleteTask, args: []string{argString(a, "taskId")}, body: body})
			return map[string]any{"task": rec}, err
		},
	}}
}

// projectTools returns the project tools.
func projectTools() []*tool {
	pid := map[string]*schema{"projectId": idArg()}
	withPID := func(props map[string]*schema) map[string]*schema {
		props["projectId"] = idArg()
		return props
	}
	severities := priorities
	return []*tool{{
		name: "project_create", title: "Create a project", family: familyProjects, hints: hintCreate,
		description: "Create a project.",
		input:       object("", map[string]*schema{"project": object("", withCreateID(projectFields(), "P-"), "name")}, "project"),
		output:      out(map[string]*schema{"project": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opCreateProject, body: stripNulls(argObject(a, "project"))})
			return map[string]any{"project": rec}, err
		},
	}, {
		name: "project_read", title: "Read a project", family: familyProjects, hints: hintRead,
		description: "Read a project, with any blockers.",
		input:       object("", pid, "projectId"),
		output:      out(map[string]*schema{"project": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opGetProject, args: []string{argString(a, "projectId")}})
			return map[string]any{"project": rec}, err
		},
	}, {
		name: "project_update", title: "Update a project", family: familyProjects, hints: hintSet,
		description: "Change a project's fields; those absent or null stay as they are.",
		input: object("", withPID(map[string]*schema{
			"changes": changesInput("", projectFields(), false),
		}), "projectId", "changes"),
		output: out(map[string]*schema{"project": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opUpdateProject, args: []string{argString(a, "projectId")}, body: stripNulls(argObject(a, "changes"))})
			return map[string]any{"project": rec}, err
		},
	}, {
		name: "project_delete", title: "Delete a project", family: familyProjects, hints: hintDelete,
		description: "Delete a project.",
		input:       object("", pid, "projectId"),
		output:      out(map[string]*schema{"projectId": anyString, "deleted": anyBool}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			id := argString(a, "projectId")
			if _, err := tc.do(ctx, request{op: opDeleteProject, args: []string{id}}); err != nil {
				return nil, err
			}
			return map[string]any{"projectId": id, "deleted": true}, nil
		},
	}, {
		name: "project_list", title: "List projects", family: familyProjects, hints: hintRead,
		description: "List the projects matching every filter given, a page at a time.",
		input: object("", map[string]*schema{
			"status": enum("", projectStatuses),
			"search": str("Text in the name or description.", 1, 0),
			"limit":  integer("", 1, maxPageSize),
			"cursor": str("From next_cursor.", 1, 0),
		}),
		output: out(map[string]*schema{"projects": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			la, err := tc.list(ctx, request{op: opListProjects, query: queryFrom(a, nil, "status", "search", "limit", "cursor")}, "projects")
			return withCursor(map[string]any{"projects": la.items}, la), err
		},
	}, {
		name: "project_add_sprint", title: "Link a sprint to a project", family: familyProjects, hints: hintSet,
		description: "Link a sprint to a project.",
		input:       object("", withPID(map[string]*schema{"sprintId": str("", 1, maxRefID)}), "projectId", "sprintId"),
		output:      out(map[string]*schema{"project": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opAddSprint, args: []string{argString(a, "projectId")}, body: map[string]any{"sprint_id": argString(a, "sprintId")}})
			return map[string]any{"project": rec}, err
		},
	}, {
		name: "project_remove_sprint", title: "Unlink a sprint from a project", family: familyProjects, hints: hintDelete,
		description: "Unlink a sprint from a project.",
		input:       object("", withPID(map[string]*schema{"sprintId": str("", 1, maxRefID)}), "projectId", "sprintId"),
		output:      out(map[string]*schema{"projectId": anyString, "sprintId": anyString, "project": {typ: "object", nullable: true, open: true}}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			pid, sid := argString(a, "projectId"), argString(a, "sprintId")
			v, err := tc.do(ctx, request{op: opRemoveSprint, args: []string{pid, sid}})
			if err != nil {
				return nil, err
			}
			return map[string]any{"projectId": pid, "sprintId": sid, "project": v}, nil
		},
	}, {
		name: "project_add_meta_task", title: "Add a meta task", family: familyProjects, hints: hintCreate,
		description: "Add a project-level meta task, such as a milestone.",
		input: object("", withPID(map[string]*schema{"metaTask": object("", map[string]*schema{
			"title":       str("", 1, maxTitle),
			"description": str("", 0, 0),
			"owner":       str("", 0, maxPerson),
			"due_date":    dateTime(""),
		}, "title")}), "projectId", "metaTask"),
		output: out(map[string]*schema{"projectId": anyString, "metaTask": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			pid := argString(a, "projectId")
			rec, err := tc.record(ctx, request{op: opAddMetaTask, args: []string{pid}, body: stripNulls(argObject(a, "metaTask"))})
			return map[string]any{"projectId": pid, "metaTask": rec}, err
		},
	}, {
		name: "project_add_comment", title: "Comment on a project", family: familyProjects, hints: hintCreate,
		description: "Add a comment to a project.",
		input: object("", withPID(map[string]*schema{"comment": object("", map[string]*schema{
			"message": str("", 1, 0),
			"author":  str("", 0, maxPerson),
			"tags":    strList("", 0, maxCommentTags),
		}, "message")}), "projectId", "comment"),
		output: out(map[string]*schema{"projectId": anyString, "comment": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			pid := argString(a, "projectId")
			rec, err := tc.record(ctx, request{op: opAddComment, args: []string{pid}, body: stripNulls(argObject(a, "comment"))})
			return map[string]any{"projectId": pid, "comment": rec}, err
		},
	}, {
		name: "project_add_blocker", title: "Record a blocker", family: familyProjects, hints: hintCreate,
		description: "Record something that blocks a project.",
		input: object("", withPID(map[string]*schema{"blocker": object("", map[string]*schema{
			"title":              str("", 1, maxTitle),
			"description":        str("", 0, 0),
			"severity":           enum("", severities),
			"linked_task_id":     str("", 0, maxRefID),
			"external_reference": str("Ticket or URL.", 0, 0),
		}, "title")}), "projectId", "blocker"),
		output: out(map[string]*schema{"projectId": anyString, "blocker": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			pid := argString(a, "projectId")
			rec, err := tc.record(ctx, request{op: opAddBlocker, args: []string{pid}, body: stripNulls(argObject(a, "blocker"))})
			return map[string]any{"projectId": pid, "blocker": rec}, err
		},
	}, {
		name: "project_get_comments", title: "Read a project's comments", family: familyProjects, hints: hintRead,
		description: "List a project's comments, a page at a time.",
		input: object("", withPID(map[string]*schema{"params": object("", map[string]*schema{
			"limit":  integer("", 1, maxPageSize),
			"cursor": str("From next_cursor.", 1, 0),
		})}), "projectId"),
		output: out(map[string]*schema{"projectId": anyString, "comments": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			pid := argString(a, "projectId")
			q := queryFrom(argObject(a, "params"), nil, "limit", "cursor")
			la, err := tc.list(ctx, request{op: opListComments, args: []string{pid}, query: q}, "comments")
			return withCursor(map[string]any{"projectId": pid, "comments": la.items}, la), err
		},
	}, {
		name: "project_get_metrics", title: "Project metrics", family: familyProjects, hints: hintRead,
		description: "A project's task counts: total, completed, by status and by priority.",
		input:       object("", pid, "projectId"),
		output:      out(map[string]*schema{"projectId": anyString, "metrics": anyObject}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			pid := argString(a, "projectId")
			rec, err := tc.record(ctx, request{op: opProjectAnalytics, args: []string{pid}})
			return map[string]any{"projectId": pid, "metrics": rec}, err
		},
	}}
}

// actionListFields returns the action-list properties of docs/tools.md.
func actionListFields() map[string]*schema {
	return map[string]*schema{
		"title":       str("", 1, maxTitle),
		"description": str("", 0, 0),
		"status":      enum("", actionListStatuses),
		"priority":    enum("", priorities),
		"notes":       str("", 0, 0),
		"metadata":    &schema{typ: "object", open: true},
	}
}

// actionListTools returns the action-list tools.
func actionListTools() []*tool {
	createProps := withCreateID(actionListFields(), "AL-")
	createProps["project_id"] = str("", 0, maxRefID)
	createProps["sprint_id"] = str("", 0, maxRefID)
	createProps["task_id"] = str("", 0, maxRefID)
	createProps["items"] = &schema{typ: "array", maxItems: maxActionItems, items: object("", map[string]*schema{
		"text":      str("", 1, 0),
		"completed": boolean(""),
		"order":     nonNegative(""),
	}, "text")}
	updateFields := []string{"title", "description", "status", "priority", "notes", "metadata"}
	updateProps := nullableCopy(actionListFields())
	updateProps["action_list_id"] = idArg()
	bulkFields := []string{"status", "priority", "project_id", "sprint_id", "notes"}
	bulkProps := map[string]*schema{
		"action_list_ids": strList("", 1, maxBulkIDs),
		"status":          enum("", actionListStatuses),
		"priority":        enum("", priorities),
		"project_id":      str("", 0, maxRefID),
		"sprint_id":       str("", 0, maxRefID),
		"notes":           str("", 0, 0),
	}
	one := func(op opID) toolFunc {
		return func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: op, args: []string{argString(a, "action_list_id")}})
			return map[string]any{"action_list": rec}, err
		}
	}
	item := func(op opID) toolFunc {
		return func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: op, args: []string{argString(a, "action_list_id"), argString(a, "item_id")}})
			return map[string]any{"action_list": rec}, err
		}
	}
	itemArgs := func() *schema {
		return object("", map[string]*schema{"action_list_id": idArg(), "item_id": idArg()}, "action_list_id", "item_id")
	}
	alOut := out(map[string]*schema{"action_list": anyObject})
	return []*tool{{
		name: "action_list_create", title: "Create an action list", family: familyActionLists, hints: hintCreate,
		description: "Create an action list (a checklist), optionally with items.",
		input:       object("", createProps, "title"),
		output:      alOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opCreateActionList, body: stripNulls(a)})
			return map[string]any{"action_list": rec}, err
		},
	}, {
		name: "action_list_read", title: "Read an action list", family: familyActionLists, hints: hintRead,
		description: "Read an action list, with its items and progress.",
		input:       object("", map[string]*schema{"action_list_id": idArg()}, "action_list_id"),
		output:      alOut,
		call:        one(opGetActionList),
	}, {
		name: "action_list_list", title: "List action lists", family: familyActionLists, hints: hintRead,
		description: "List the action lists matching every filter given, a page at a time.",
		input: object("", map[string]*schema{
			"status":     enum("", actionListStatuses),
			"priority":   enum("", priorities),
			"owner":      str("", 1, maxPerson),
			"project_id": str("", 1, maxRefID),
			"sprint_id":  str("", 1, maxRefID),
			"tags":       strList("All of these.", 0, maxTags),
			"limit":      integer("", 1, maxPageSize),
			"cursor":     str("From next_cursor.", 1, 0),
		}),
		output: out(map[string]*schema{"action_lists": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			q := queryFrom(a, nil, "status", "priority", "owner", "project_id", "sprint_id", "tags", "limit", "cursor")
			la, err := tc.list(ctx, request{op: opListActionLists, query: q}, "action_lists")
			return withCursor(map[string]any{"action_lists": la.items}, la), err
		},
	}, {
		name: "action_list_update", title: "Update an action list", family: familyActionLists, hints: hintSet,
		description: "Change an action list's fields; those absent or null stay as they are.",
		input:       object("", updateProps, "action_list_id"),
		output:      alOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			body := pick(a, updateFields...)
			if len(body) == 0 {
				return nil, &argError{"", "give at least one of " + strings.Join(updateFields, ", ") + " to change"}
			}
			rec, err := tc.record(ctx, request{op: opUpdateActionList, args: []string{argString(a, "action_list_id")}, body: body})
			return map[string]any{"action_list": rec}, err
		},
	}, {
		name: "action_list_delete", title: "Delete an action list", family: familyActionLists, hints: hintDelete,
		description: "Delete an action list.",
		input:       object("", map[string]*schema{"action_list_id": idArg()}, "action_list_id"),
		output:      out(map[string]*schema{"success": anyBool}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			if _, err := tc.do(ctx, request{op: opDeleteActionList, args: []string{argString(a, "action_list_id")}}); err != nil {
				return nil, err
			}
			return map[string]any{"success": true}, nil
		},
	}, {
		name: "action_list_add_item", title: "Add an item", family: familyActionLists, hints: hintCreate,
		description: "Add an item to an action list.",
		input: object("", map[string]*schema{
			"action_list_id": idArg(),
			"text":           str("", 1, 0),
			"order":          nonNegative("Default: at the end."),
		}, "action_list_id", "text"),
		output: alOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opAddItem, args: []string{argString(a, "action_list_id")}, body: pick(a, "text", "order")})
			return map[string]any{"action_list": rec}, err
		},
	}, {
		name: "action_list_toggle_item", title: "Tick or untick an item", family: familyActionLists, hints: hintCreate,
		description: "Toggle an item between done and not done.",
		input:       itemArgs(),
		output:      alOut,
		call:        item(opToggleItem),
	}, {
		name: "action_list_remove_item", title: "Remove an item", family: familyActionLists, hints: hintDelete,
		description: "Remove an item from an action list.",
		input:       itemArgs(),
		output:      alOut,
		call:        item(opRemoveItem),
	}, {
		name: "action_list_reorder_items", title: "Reorder items", family: familyActionLists, hints: hintSet,
		description: "Put an action list's items in the given order.",
		input: object("", map[string]*schema{
			"action_list_id": idArg(),
			"item_ids":       strList("Every item id, in the new order.", 1, maxActionItems),
		}, "action_list_id", "item_ids"),
		output: alOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opReorderItems, args: []string{argString(a, "action_list_id")}, body: map[string]any{"item_ids": a["item_ids"]}})
			return map[string]any{"action_list": rec}, err
		},
	}, {
		name: "action_list_bulk_delete", title: "Delete many action lists", family: familyActionLists, hints: hintDelete,
		description: "Delete several action lists.",
		input:       object("", map[string]*schema{"action_list_ids": strList("", 1, maxBulkIDs)}, "action_list_ids"),
		output:      out(map[string]*schema{"success": anyBool, "deleted_count": anyNumber}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			ids, _ := a["action_list_ids"].([]any)
			n := float64(len(ids))
			tc.progress(0, n, fmt.Sprintf("deleting %d action lists", len(ids)))
			v, err := tc.do(ctx, request{op: opBulkDeleteActionLists, progress: tc.progress, body: ids})
			if err != nil {
				return nil, err
			}
			tc.progress(n, n, fmt.Sprintf("deleted %d action lists", len(ids)))
			return bulkResult(v, "deleted_count", ids, ""), nil
		},
	}, {
		name: "action_list_bulk_update", title: "Update many action lists", family: familyActionLists, hints: hintSet,
		description: "Apply the same changes to several action lists.",
		input:       object("", bulkProps, "action_list_ids"),
		output:      out(map[string]*schema{"success": anyBool, "updated_count": anyNumber, "action_list_ids": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			ids, _ := a["action_list_ids"].([]any)
			updates := pick(a, bulkFields...)
			if len(updates) == 0 {
				return nil, &argError{"", "give at least one of " + strings.Join(bulkFields, ", ") + " to change"}
			}
			n := float64(len(ids))
			tc.progress(0, n, fmt.Sprintf("updating %d action lists", len(ids)))
			v, err := tc.do(ctx, request{op: opBulkUpdateActionLists, progress: tc.progress, body: map[string]any{"action_list_ids": ids, "updates": updates}})
			if err != nil {
				return nil, err
			}
			tc.progress(n, n, fmt.Sprintf("updated %d action lists", len(ids)))
			return bulkResult(v, "updated_count", ids, "action_list_ids"), nil
		},
	}, {
		name: "action_list_search", title: "Search action lists", family: familyActionLists, hints: hintRead,
		description: "Search action lists for text in the given fields (default all), a page at a time.",
		input: object("", map[string]*schema{
			"q":          str("", 1, 0),
			"fields":     &schema{typ: "array", items: enum("", listSearchFields)},
			"project_id": str("", 1, maxRefID),
			"sprint_id":  str("", 1, maxRefID),
			"status":     enum("", actionListStatuses),
			"priority":   enum("", priorities),
			"skip":       nonNegative(""),
			"limit":      integer("", 1, maxPageSize),
		}, "q"),
		output: out(map[string]*schema{"success": anyBool, "query": anyString, "count": anyNumber, "data": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			q := queryFrom(a, nil, "q", "fields", "project_id", "sprint_id", "status", "priority", "skip", "limit")
			v, err := tc.do(ctx, request{op: opSearchActionLists, query: q})
			if err != nil {
				return nil, err
			}
			return searchResult(opSearchActionLists, v, argString(a, "q"), "data")
		},
	}, {
		name: "action_list_link_task", title: "Link a task", family: familyActionLists, hints: hintSet,
		description: "Link an existing task to an action list; linking it twice changes nothing.",
		input:       taskLinkArgs(),
		output:      alOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			q := url.Values{"task_id": {argString(a, "task_id")}}
			rec, err := tc.record(ctx, request{op: opLinkTask, args: []string{argString(a, "action_list_id")}, query: q})
			return map[string]any{"action_list": rec}, err
		},
	}, {
		name: "action_list_unlink_task", title: "Unlink a task", family: familyActionLists, hints: hintDelete,
		description: "Unlink a task from an action list; the task is kept.",
		input:       taskLinkArgs(),
		output:      alOut,
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			rec, err := tc.record(ctx, request{op: opUnlinkTask, args: []string{argString(a, "action_list_id"), argString(a, "task_id")}})
			return map[string]any{"action_list": rec}, err
		},
	}, {
		name: "action_list_tasks", title: "An action list's tasks", family: familyActionLists, hints: hintRead,
		description: "List the ids of an action list's linked tasks, in link order.",
		input:       object("", map[string]*schema{"action_list_id": idArg()}, "action_list_id"),
		output:      out(map[string]*schema{"task_ids": anyArray}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			la, err := tc.list(ctx, request{op: opListLinkedTasks, args: []string{argString(a, "action_list_id")}}, "task_ids")
			return map[string]any{"task_ids": la.items}, err
		},
	}}
}

// taskLinkArgs are the arguments of the tools that link a task to an
// action list or unlink it.
func taskLinkArgs() *schema {
	return object("", map[string]*schema{"action_list_id": idArg(), "task_id": idArg()}, "action_list_id", "task_id")
}
