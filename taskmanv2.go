package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// The TaskMan-v2 Backend API (docs/dialects.md) differs from the legacy
// contract in field names, value vocabularies, paging and in the endpoints
// it has. This file is its adapter: per logical operation, the call to send
// and how to read the answer back into the tools' vocabulary.

// Property names the TaskMan-v2 create and update schemas accept (its
// OpenAPI document; the contract test checks them against it). The backend
// silently ignores any other field, so the adapter drops it here and says
// so instead.
var (
	v2TaskFields = []string{"acceptance_criteria", "actions_taken", "actual_time_hours", "assignees",
		"automation_candidate", "blockers", "blocks", "business_value_score", "cost_of_delay_score",
		"cycle_time_days", "definition_of_done", "depends_on", "description", "due_at", "estimate_points",
		"id", "labels", "observability", "owner", "parents", "primary_project", "primary_sprint", "priority",
		"quality_gates", "related_links", "related_projects", "related_sprints", "risks", "severity", "shape",
		"stage", "status", "summary", "title", "verification", "work_stream", "work_type"}
	v2ProjectFields = []string{"assumptions", "comms_channels", "compliance_requirements", "constraints",
		"dependencies_external", "evidence_root", "governance", "id", "kpis", "mission", "mpv_policy", "name",
		"observability", "okrs", "owner", "related_projects", "repositories", "risks", "roadmap",
		"security_posture", "shared_components", "sponsors", "sprints", "stakeholders", "start_date", "status",
		"success_metrics", "target_end_date", "tnve_mandate"}
	v2ActionListFields = []string{"completed_at", "description", "due_date", "evidence_refs", "extra_metadata",
		"geometry_shape", "id", "items", "notes", "owner", "priority", "project_id", "sprint_id", "status",
		"tags", "title"}
)

// The vocabularies of both sides. Tool inputs accept the union (docs/tools.md),
// so a value read from either backend can be fed straight back; each map
// turns a tool value into the TaskMan-v2 one where they differ.
var (
	v2TaskStatuses       = []string{"new", "ready", "active", "in_progress", "blocked", "review", "done", "dropped"}
	v2Priorities         = []string{"p0", "p1", "p2", "p3"}
	v2ProjectStatuses    = []string{"new", "pending", "assigned", "active", "in_progress", "paused", "blocked", "completed", "closed", "cancelled"}
	v2ActionListStatuses = []string{"active", "archived"}

	v2TaskStatusTo       = map[string]string{"completed": "done", "cancelled": "dropped", "pending": "ready", "planned": "new"}
	v2PriorityTo         = map[string]string{"critical": "p0", "high": "p1", "medium": "p2", "low": "p3"}
	v2ProjectStatusTo    = map[string]string{"inactive": "paused"}
	v2ActionListStatusTo = map[string]string{"completed": "archived"}
)

// v2TaskStatusFrom and the other From maps turn a TaskMan-v2 value back into
// the tools' vocabulary where it has one; other values stay as they are.
var (
	v2TaskStatusFrom    = map[string]string{"done": "completed", "dropped": "cancelled", "ready": "pending"}
	v2PriorityFrom      = invert(v2PriorityTo)
	v2ProjectStatusFrom = invert(v2ProjectStatusTo)
)

// invert returns m with keys and values swapped.
func invert(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// Limits of the TaskMan-v2 adapter.
const (
	// v2PerPageMax is the backend's largest page.
	v2PerPageMax = 100
	// v2ScanPages bounds the scans that stand in for the search and
	// analytics endpoints this backend lacks: at most this many full
	// pages (v2ScanPages × v2PerPageMax records) are read, and a result
	// that stopped there says truncated.
	v2ScanPages = 10
	// v2CursorPrefix marks the cursors this adapter hands out; a cursor is
	// a page number to the backend, opaque to the caller.
	v2CursorPrefix = "v2page:"
)

// v2 carries the per-server settings of the TaskMan-v2 adapter.
type v2 struct {
	owner string // TASKMAN_DEFAULT_OWNER
}

// newTaskmanV2Adapter returns the adapter for the TaskMan-v2 Backend API;
// owner is the owner of tasks created without one.
func newTaskmanV2Adapter(owner string) *adapter {
	v := v2{owner: owner}
	a := &adapter{dialect: dialectTaskmanV2, routes: [numOps]route{
		opHealth: {build: v2Call("GET", "/health", true), read: v2Health},

		opListTasks:        {build: v.listTasks, read: v2ReadPage("tasks", v2TaskFrom, v2TaskLocalFilter)},
		opCreateTask:       {build: v.createTask, read: v2ReadRecord(v2TaskFrom)},
		opGetTask:          {build: v2Call("GET", "/tasks/{}", false), read: v2ReadRecord(v2TaskFrom)},
		opUpdateTask:       {build: v2Update("/tasks/{}", v2TaskTo), read: v2ReadRecord(v2TaskFrom)},
		opDeleteTask:       {build: v2Call("DELETE", "/tasks/{}", false)},
		opBulkUpdateTasks:  {run: v2BulkUpdateTasks},
		opBulkAssignSprint: {run: v2BulkAssignSprint},
		opSearchTasks:      {run: v2SearchTasks},

		opListProjects:     {build: v2ListProjects, read: v2ReadPage("projects", v2ProjectFrom, v2ProjectLocalFilter)},
		opCreateProject:    {build: v2CreateProject, read: v2ReadRecord(v2ProjectFrom)},
		opGetProject:       {build: v2Call("GET", "/projects/{}", false), read: v2ReadRecord(v2ProjectFrom)},
		opUpdateProject:    {build: v2Update("/projects/{}", v2ProjectTo), read: v2ReadRecord(v2ProjectFrom)},
		opDeleteProject:    {build: v2Call("DELETE", "/projects/{}", false)},
		opAddSprint:        {run: v2EditSprints(true)},
		opRemoveSprint:     {run: v2EditSprints(false)},
		opAddMetaTask:      {unsupported: "it has no meta-task endpoint (create a task with task_create instead)"},
		opListComments:     {unsupported: "it has no project comments endpoint"},
		opAddComment:       {unsupported: "it has no project comments endpoint"},
		opAddBlocker:       {unsupported: "it has no project blockers endpoint (a task's blockers field lists the tasks blocking it)"},
		opProjectAnalytics: {run: v2ProjectMetrics},

		opListActionLists:       {build: v2ListActionLists, read: v2ReadPage("action_lists", v2ActionListFrom, v2ActionListLocalFilter)},
		opCreateActionList:      {build: v2CreateActionList, read: v2ReadRecord(v2ActionListFrom)},
		opGetActionList:         {build: v2Call("GET", "/action-lists/{}", false), read: v2ReadRecord(v2ActionListFrom)},
		opUpdateActionList:      {build: v2Update("/action-lists/{}", v2ActionListTo), read: v2ReadRecord(v2ActionListFrom)},
		opDeleteActionList:      {build: v2Call("DELETE", "/action-lists/{}", false)},
		opAddItem:               {build: v2AddItem, read: v2ReadRecord(v2ActionListFrom)},
		opToggleItem:            {unsupported: "it has no endpoint to change one item (only add, remove and reorder), and rewriting the whole item list would race with other writers"},
		opRemoveItem:            {run: v2ReadRecordRun(removeItemThenRead(v2Call("DELETE", "/action-lists/{}/items/{}", false), v2Call("GET", "/action-lists/{}", false)), v2ActionListFrom)},
		opReorderItems:          {build: v2Reorder, read: v2ReadRecord(v2ActionListFrom)},
		opBulkDeleteActionLists: {run: v2BulkDeleteActionLists},
		opBulkUpdateActionLists: {run: v2BulkUpdateActionLists},
		opSearchActionLists:     {run: v2SearchActionLists},
	}}
	v2SprintRoutes(&a.routes)
	// An operation without a route is refused rather than sent as its
	// legacy template, which this backend would answer 404 or, worse,
	// silently misread.
	for op := range numOps {
		if rt := &a.routes[op]; rt.build == nil && rt.run == nil && rt.unsupported == "" {
			rt.unsupported = "this server does not map " + op.String() + " to the TaskMan-v2 API"
		}
	}
	return a
}

// v2Path fills the {} segments of tmpl with ids, escaped, refusing ids that
// cannot be one path segment.
func v2Path(tmpl string, ids ...string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "{}")
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		if len(ids) == 0 {
			return "", fmt.Errorf("path %s: missing id", tmpl)
		}
		if err := checkPathID(ids[0]); err != nil {
			return "", err
		}
		b.WriteString(tmpl[:i])
		b.WriteString(url.PathEscape(ids[0]))
		ids, tmpl = ids[1:], tmpl[i+2:]
	}
}

// v2Call returns a build for a call with no body whose path takes the
// request's ids.
func v2Call(method, tmpl string, atOrigin bool) func(request) (wireCall, error) {
	return func(r request) (wireCall, error) {
		p, err := v2Path(tmpl, r.args...)
		return wireCall{method: method, path: p, atOrigin: atOrigin}, err
	}
}

// v2Update returns a build for a PUT of the request's changes, translated
// by to.
func v2Update(tmpl string, to func(map[string]any, *callNotes) (map[string]any, error)) func(request) (wireCall, error) {
	return func(r request) (wireCall, error) {
		p, err := v2Path(tmpl, r.args...)
		if err != nil {
			return wireCall{}, err
		}
		body, _ := r.body.(map[string]any)
		wire, err := to(body, r.notes)
		return wireCall{method: "PUT", path: p, body: wire}, err
	}
}

// v2Health reads GET /health: healthy and degraded are up (degraded still
// serves), unhealthy is down.
func v2Health(_ request, v any) (any, error) {
	if field(v, "status") == "unhealthy" {
		return nil, &unreachableError{op: opHealth, err: fmt.Errorf("the backend reports itself unhealthy (database: %v)", field(v, "database"))}
	}
	return v, nil
}

// mapField translates the enum value of out's field key with m, when out
// has that field.
func mapField(out map[string]any, key string, m map[string]string) {
	if v, ok := out[key]; ok {
		out[key] = mapValue(v, m)
	}
}

// mapValue translates one enum value with m, leaving values m does not
// name unchanged.
func mapValue(v any, m map[string]string) any {
	if s, ok := v.(string); ok {
		if t, ok := m[s]; ok {
			return t
		}
	}
	return v
}

// toWire copies fields into a TaskMan-v2 body: renames applied, then every
// field the backend has no place for (not in allowed) noted as dropped.
func toWire(fields map[string]any, renames map[string]string, allowed []string, notes *callNotes) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if r, ok := renames[k]; ok {
			k = r
		}
		if !slices.Contains(allowed, k) {
			notes.drop(k)
			continue
		}
		out[k] = v
	}
	return out
}

// fromWire renames a TaskMan-v2 record's fields back to the tools' names.
func fromWire(rec map[string]any, renames map[string]string) map[string]any {
	out := make(map[string]any, len(rec))
	for k, v := range rec {
		if r, ok := renames[k]; ok {
			k = r
		}
		out[k] = v
	}
	return out
}

// Field renames from the tools' names to TaskMan-v2's, and back.
var (
	v2TaskRenames       = map[string]string{"project_id": "primary_project", "sprint_id": "primary_sprint", "tags": "labels", "due_date": "due_at"}
	v2ProjectRenames    = map[string]string{"description": "mission"}
	v2ActionListRenames = map[string]string{"metadata": "extra_metadata"}

	v2TaskRenamesFrom       = invert(v2TaskRenames)
	v2ProjectRenamesFrom    = invert(v2ProjectRenames)
	v2ActionListRenamesFrom = invert(v2ActionListRenames)
)

// v2TaskTo translates task fields: renames; parent_task_id becomes
// parents and assignee joins assignees (null unassigns everyone); status
// and priority take TaskMan-v2 values.
func v2TaskTo(fields map[string]any, notes *callNotes) (map[string]any, error) {
	in := make(map[string]any, len(fields))
	for k, v := range fields {
		in[k] = v
	}
	if p, ok := in["parent_task_id"]; ok {
		delete(in, "parent_task_id")
		in["parents"] = []any{p}
	}
	if a, ok := in["assignee"]; ok {
		delete(in, "assignee")
		list, _ := in["assignees"].([]any)
		if a == nil {
			in["assignees"] = []any{}
		} else if !slices.Contains(list, a) {
			in["assignees"] = append([]any{a}, list...)
		}
	}
	out := toWire(in, v2TaskRenames, v2TaskFields, notes)
	mapField(out, "status", v2TaskStatusTo)
	mapField(out, "priority", v2PriorityTo)
	return out, nil
}

// v2TaskFrom reads a TaskMan-v2 task in the tools' vocabulary: the legacy
// names and values where they exist (parent_task_id and assignee from the
// first of parents and assignees, which stay), every other field as is.
func v2TaskFrom(rec map[string]any) map[string]any {
	out := fromWire(rec, v2TaskRenamesFrom)
	out["status"] = mapValue(out["status"], v2TaskStatusFrom)
	out["priority"] = mapValue(out["priority"], v2PriorityFrom)
	if p, _ := rec["parents"].([]any); len(p) > 0 {
		out["parent_task_id"] = p[0]
	}
	if a, _ := rec["assignees"].([]any); len(a) > 0 {
		out["assignee"] = a[0]
	}
	return out
}

// v2ProjectTo translates project fields: description is mission, inactive
// is paused.
func v2ProjectTo(fields map[string]any, notes *callNotes) (map[string]any, error) {
	out := toWire(fields, v2ProjectRenames, v2ProjectFields, notes)
	mapField(out, "status", v2ProjectStatusTo)
	return out, nil
}

// v2ProjectFrom reads a TaskMan-v2 project in the tools' vocabulary.
func v2ProjectFrom(rec map[string]any) map[string]any {
	out := fromWire(rec, v2ProjectRenamesFrom)
	out["status"] = mapValue(out["status"], v2ProjectStatusFrom)
	return out
}

// v2ActionListTo translates action-list fields: metadata is
// extra_metadata; the status must be one the backend stores.
func v2ActionListTo(fields map[string]any, notes *callNotes) (map[string]any, error) {
	out := toWire(fields, v2ActionListRenames, v2ActionListFields, notes)
	if s, ok := out["status"]; ok {
		st, err := v2ActionListStatus(s)
		if err != nil {
			return nil, err
		}
		out["status"] = st
	}
	return out, nil
}

// v2ActionListStatus maps an action-list status to one TaskMan-v2 stores,
// or refuses it naming the values it can.
func v2ActionListStatus(s any) (any, error) {
	v := mapValue(s, v2ActionListStatusTo)
	if str, _ := v.(string); !slices.Contains(v2ActionListStatuses, str) {
		return nil, &argError{"status", fmt.Sprintf("the TaskMan-v2 backend stores only action lists that are %s (completed is stored as archived), got %v",
			strings.Join(v2ActionListStatuses, " or "), s)}
	}
	return v, nil
}

// v2ActionListFrom reads a TaskMan-v2 action list in the tools' vocabulary.
func v2ActionListFrom(rec map[string]any) map[string]any {
	return fromWire(rec, v2ActionListRenamesFrom)
}

// v2ReadRecord returns a read that translates a record answer with from.
func v2ReadRecord(from func(map[string]any) map[string]any) func(request, any) (any, error) {
	return func(r request, v any) (any, error) {
		rec, err := asRecord(r.op, v)
		if err != nil {
			return nil, err
		}
		return from(rec), nil
	}
}

// v2ReadRecordRun wraps a multi-call route whose answer is one record,
// translating it with from.
func v2ReadRecordRun(run func(context.Context, sendFunc, request) (any, error), from func(map[string]any) map[string]any) func(context.Context, sendFunc, request) (any, error) {
	read := v2ReadRecord(from)
	return func(ctx context.Context, send sendFunc, r request) (any, error) {
		v, err := run(ctx, send, r)
		if err != nil {
			return nil, err
		}
		return read(r, v)
	}
}
