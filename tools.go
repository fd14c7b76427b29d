package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// toolFamily groups tools for the activate_* tools and the README; each
// family is one toolset that TASKMAN_TOOLSETS can offer or leave out.
type toolFamily string

// The tool families.
const (
	familyTasks       toolFamily = "tasks"
	familyProjects    toolFamily = "projects"
	familyActionLists toolFamily = "actionLists"
	familySprints     toolFamily = "sprints"
	familyHelpers     toolFamily = "helpers"
)

// toolsetNames are the TASKMAN_TOOLSETS names of the families, in the
// order docs/tools.md lists them.
var toolsetNames = []string{"tasks", "projects", "action_lists", "sprints", "helpers"}

// toolset returns the family's TASKMAN_TOOLSETS name.
func (f toolFamily) toolset() string {
	if f == familyActionLists {
		return "action_lists"
	}
	return string(f)
}

// toolOffer is which rows of the tool table a server offers.
type toolOffer struct {
	toolsets []string // TASKMAN_TOOLSETS: the toolsets offered
	readOnly bool     // TASKMAN_READ_ONLY: only the read-only tools
}

// refusal says why the offer leaves t out, or "" when it offers t: a tool
// outside TASKMAN_TOOLSETS, or one that changes something under
// TASKMAN_READ_ONLY. The reason is what a refused call answers, before
// any backend request.
func (o toolOffer) refusal(t *tool) string {
	if !slices.Contains(o.toolsets, t.family.toolset()) {
		return fmt.Sprintf("not offered: it belongs to the %s toolset, which this server leaves out (TASKMAN_TOOLSETS=%s)",
			t.family.toolset(), strings.Join(o.toolsets, ","))
	}
	if o.readOnly && !t.hints.readOnly {
		return "refused: this server is read-only (TASKMAN_READ_ONLY=true) and this tool changes data; " +
			"only tools annotated readOnlyHint are offered"
	}
	return ""
}

// hints are a tool's behaviour annotations. openWorldHint is always false:
// every tool talks only to the one Task Manager API.
type hints struct {
	readOnly    bool
	destructive bool
	idempotent  bool
}

// Common hint sets.
var (
	hintRead   = hints{readOnly: true, idempotent: true}
	hintCreate = hints{}
	hintSet    = hints{idempotent: true}
	hintDelete = hints{destructive: true, idempotent: true}
)

// toolFunc runs a tool whose arguments already passed its input schema. It
// returns the structured result; an *argError for a rule the schema cannot
// express; any other error for a failure.
type toolFunc func(ctx context.Context, tc *toolCall, args map[string]any) (map[string]any, error)

// tool is one row of the tool table: data plus a small function.
type tool struct {
	name  string
	title string
	// description is one sentence of what the model needs beyond the
	// schema: what the tool does and what its schema cannot say. A
	// property gets a description only when its name and rules do not say
	// it all (docs/tools.md).
	description string
	family      toolFamily
	hints       hints
	input       *schema
	output      *schema
	call        toolFunc
}

// backendCaller is the backend client as a tool sees it: one call,
// through the retries, circuit breaker and fallback cache (backend.go).
type backendCaller interface {
	call(ctx context.Context, req request) (any, *staleness, error)
}

// statusReader is the backend status as the activate_* tools see it
// (backend_status.go).
type statusReader interface {
	serverStatus(ctx context.Context) (map[string]any, error)
}

// toolList is a list of tool rows; the activate_* tools see the offered
// ones as one.
type toolList []*tool

// toolCall is what a running tool may use, and all it can reach of the
// server: the backend caller, the status reader and the offered tools,
// shared by every call, and the request's own progress reporter, stale
// mark and dialect notes.
type toolCall struct {
	backend backendCaller
	status  statusReader
	offered toolList
	// progress reports progress when the client sent a progressToken; it
	// is a no-op otherwise.
	progress func(done, total float64, message string)
	// stale is set when a read was answered from the fallback cache.
	stale *staleness
	// notes collects what the backend's dialect could not do as asked.
	notes callNotes
}

// newToolCall returns the toolCall of one call of s's tools, reporting
// no progress.
func (s *server) newToolCall() *toolCall {
	return &toolCall{backend: s.backend, status: s.status, offered: s.tools, progress: func(float64, float64, string) {}}
}

// do sends a backend request on behalf of the tool, noting a stale answer
// and what the dialect could not do as asked.
func (tc *toolCall) do(ctx context.Context, req request) (any, error) {
	req.notes = &tc.notes
	v, stale, err := tc.backend.call(ctx, req)
	if stale != nil && (tc.stale == nil || stale.age > tc.stale.age) {
		tc.stale = stale
	}
	return v, err
}

// record sends req and returns the answer as one record, for a tool that
// returns it untouched: the backend's JSON text (json.RawMessage) when it
// can travel as it came, else the decoded record.
func (tc *toolCall) record(ctx context.Context, req request) (any, error) {
	req.untouched = true
	v, err := tc.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if text, ok := v.(json.RawMessage); ok {
		return text, nil
	}
	return asRecord(req.op, v)
}

// list sends req and returns the answer as a list, found under one of keys.
func (tc *toolCall) list(ctx context.Context, req request, keys ...string) (listAnswer, error) {
	v, err := tc.do(ctx, req)
	if err != nil {
		return listAnswer{}, err
	}
	return asList(req.op, v, keys...)
}

// Enums shared by the schemas, from docs/tools.md.
var (
	// Status and priority enums are the union of the legacy and the
	// TaskMan-v2 vocabularies (docs/dialects.md), so a value read from
	// either backend can be fed straight back; each dialect maps them.
	// TestSchemaEnumsAreTheBackendsUnion pins them to those vocabularies.
	taskStatuses       = []string{"planned", "new", "pending", "in_progress", "completed", "blocked", "cancelled", "ready", "active", "review", "done", "dropped"}
	workTypes          = []string{"task", "epic", "story", "bug", "feature", "spike"}
	priorities         = []string{"low", "medium", "high", "critical", "p0", "p1", "p2", "p3"}
	projectStatuses    = []string{"active", "inactive", "new", "pending", "assigned", "in_progress", "paused", "blocked", "completed", "closed", "cancelled"}
	actionListStatuses = []string{"planned", "new", "pending", "active", "in_progress", "blocked", "completed", "archived", "cancelled"}
	sprintStatuses     = []string{"new", "planning", "pending", "assigned", "active", "in_progress", "blocked", "completed", "closed", "cancelled"}
	taskSearchFields   = []string{"title", "description", "tags", "notes", "summary", "completion_notes"}
	listSearchFields   = []string{"title", "description", "notes"}
)

// Limits the schemas share with the embedded backend's record rules, which
// read the same constants: lengths and counts follow the backend's own
// limits (docs/backend-api.md), so a request that passes a schema is not
// refused there for a length or a count.
const (
	maxTitle          = 255 // titles and project names
	maxSprintName     = 200 // TaskMan-v2's SprintCreate.name
	maxRefID          = 50  // project_id, sprint_id, parent_task_id, …
	maxPerson         = 100 // owner, assignee, author
	maxTags           = 25
	maxCommentTags    = 10
	maxActionItems    = 1000 // the items of one action list
	maxBulkIDs        = 500  // one bulk call; beyond that, split the work
	maxPageSize       = 100
	maxTaskSearchPage = 500 // task_search pages further than the lists
)

// out describes a result object with the given top-level keys, all present.
func out(props map[string]*schema) *schema {
	s := object("", props, sortedKeys(props)...)
	s.open = true
	return s
}

// Result property shapes.
var (
	anyObject = &schema{typ: "object", open: true}
	anyArray  = &schema{typ: "array"}
	anyString = &schema{typ: "string"}
	anyBool   = &schema{typ: "boolean"}
	anyNumber = &schema{typ: "number"}
)

// idArg is a required record-id argument; its name (taskId, sprintId, …)
// says whose, so it needs no description.
func idArg() *schema { return id("") }

// queryFrom builds query parameters from the named arguments that are set:
// scalars as key=value, arrays repeated, nulls omitted. rename maps an
// argument name to a different query name.
func queryFrom(args map[string]any, rename map[string]string, names ...string) url.Values {
	q := url.Values{}
	for _, name := range names {
		v, ok := args[name]
		if !ok || v == nil {
			continue
		}
		key := name
		if r, ok := rename[name]; ok {
			key = r
		}
		switch t := v.(type) {
		case []any:
			for _, item := range t {
				q.Add(key, scalarString(item))
			}
		default:
			q.Set(key, scalarString(t))
		}
	}
	return q
}

// scalarString renders a JSON scalar for a query string.
func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// stripNulls returns m without its null values (a copy).
func stripNulls(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

// pick returns the named arguments that are present and not null.
func pick(args map[string]any, names ...string) map[string]any {
	out := make(map[string]any, len(names))
	for _, n := range names {
		if v, ok := args[n]; ok && v != nil {
			out[n] = v
		}
	}
	return out
}

// argString returns a string argument, "" when absent.
func argString(args map[string]any, name string) string {
	s, _ := args[name].(string)
	return s
}

// argObject returns an object argument, nil when absent.
func argObject(args map[string]any, name string) map[string]any {
	m, _ := args[name].(map[string]any)
	return m
}

// withCursor adds what the backend said about the rest of the list to a
// list result: next_cursor, total and has_more, when it gave them.
func withCursor(res map[string]any, la listAnswer) map[string]any {
	if la.nextCursor != "" {
		res["next_cursor"] = la.nextCursor
	}
	if la.total != nil {
		res["total"] = la.total
	}
	if la.hasMore != nil {
		res["has_more"] = *la.hasMore
	}
	return res
}

// bulkResult completes a bulk answer with what we sent, for backends that
// answer with less: success defaults to true, the count to the ids sent.
func bulkResult(v any, countKey string, ids []any, idsKey string) map[string]any {
	res, _ := v.(map[string]any)
	if res == nil {
		res = map[string]any{}
	}
	out := map[string]any{"success": true, countKey: len(ids)}
	if s, ok := res["success"].(bool); ok {
		out["success"] = s
	}
	if n, ok := res[countKey]; ok && n != nil {
		out[countKey] = n
	}
	if idsKey != "" {
		out[idsKey] = ids
		if got, ok := res[idsKey].([]any); ok {
			out[idsKey] = got
		}
	}
	if failed, ok := res["failed"].([]any); ok {
		out["failed"] = failed // per-id results of a backend without bulk endpoints
	}
	return out
}

// searchResult normalises a search answer ({success, data, query?,
// count?}, an envelope, or a bare list) into {success, query, count,
// <key>}.
func searchResult(op opID, v any, query, key string) (map[string]any, error) {
	la, err := asList(op, v, key)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"success": true, "query": query, "count": len(la.items), key: la.items}
	if m, ok := v.(map[string]any); ok {
		if q, ok := m["query"].(string); ok {
			res["query"] = q
		}
		if c, ok := m["count"]; ok && c != nil {
			res["count"] = c
		}
		// The total and whether more follow, beside the page; a search
		// computed from a bounded scan also says how far it got.
		for _, k := range []string{"total", "has_more", "total_matches", "scanned", "truncated"} {
			if x, ok := m[k]; ok {
				res[k] = x
			}
		}
	}
	return res, nil
}

// newToolTable returns the tool catalog of docs/tools.md, in the order tools/list
// publishes it.
func newToolTable() []*tool {
	var t []*tool
	t = append(t, taskTools()...)
	t = append(t, projectTools()...)
	t = append(t, actionListTools()...)
	t = append(t, sprintTools()...)
	t = append(t, helperTools()...)
	return t
}

// helperTools returns the activation tools and ai_parse_task.
func helperTools() []*tool {
	noArgs := object("", map[string]*schema{})
	activate := func(fams ...toolFamily) toolFunc {
		return func(ctx context.Context, tc *toolCall, _ map[string]any) (map[string]any, error) {
			status, err := tc.status.serverStatus(ctx)
			if err != nil {
				return nil, err
			}
			names, descs := tc.offered.of(fams...)
			return map[string]any{
				"activated":        status["serverOnline"],
				"serverStatus":     status,
				"availableTools":   names,
				"toolDescriptions": descs,
			}, nil
		}
	}
	activateOut := out(map[string]*schema{"activated": anyBool, "serverStatus": anyObject, "availableTools": anyArray, "toolDescriptions": anyObject})
	return []*tool{{
		name: "activate_taskman_server", title: "Check the Task Manager connection", family: familyHelpers, hints: hintRead,
		description: "Check the Task Manager backend and list every tool offered.",
		input:       object("", map[string]*schema{"verbose": boolean("Also return the descriptions.")}),
		output: out(map[string]*schema{
			"serverStatus": anyObject, "allTools": anyObject, "ready": anyBool,
		}),
		call: func(ctx context.Context, tc *toolCall, a map[string]any) (map[string]any, error) {
			status, err := tc.status.serverStatus(ctx)
			if err != nil {
				return nil, err
			}
			all := map[string]any{}
			descs := map[string]any{}
			for key, fam := range map[string]toolFamily{"tasks": familyTasks, "projects": familyProjects, "actionLists": familyActionLists, "sprints": familySprints} {
				names, d := tc.offered.of(fam)
				all[key] = names
				for k, v := range d {
					descs[k] = v
				}
			}
			res := map[string]any{"serverStatus": status, "allTools": all, "ready": status["serverOnline"]}
			if v, _ := a["verbose"].(bool); v {
				res["toolDescriptions"] = descs
			}
			return res, nil
		},
	}, {
		name: "activate_task_tools", title: "Activate the task tools", family: familyHelpers, hints: hintRead,
		description: "Check the backend and list the task tools.",
		input:       noArgs, output: activateOut, call: activate(familyTasks),
	}, {
		name: "activate_project_tools", title: "Activate the project tools", family: familyHelpers, hints: hintRead,
		description: "Check the backend and list the project and sprint tools.",
		input:       noArgs, output: activateOut, call: activate(familyProjects, familySprints),
	}, {
		name: "activate_action_list_tools", title: "Activate the action-list tools", family: familyHelpers, hints: hintRead,
		description: "Check the backend and list the action-list tools.",
		input:       noArgs, output: activateOut, call: activate(familyActionLists),
	}, {
		name: "ai_parse_task", title: "Parse a task from text", family: familyHelpers, hints: hintRead,
		description: "Parse a line of text into task fields (title, priority, status, tags, due date, assignee), without the backend.",
		input:       object("", map[string]*schema{"input": str("E.g. \"fix login by friday #auth @ada p1\".", 1, 10000)}, "input"),
		output:      out(map[string]*schema{"parsed": anyObject}),
		call: func(_ context.Context, _ *toolCall, a map[string]any) (map[string]any, error) {
			return map[string]any{"parsed": parseTaskText(argString(a, "input"), time.Now())}, nil
		},
	}}
}

// of returns the names and descriptions of the tools of l in the given
// families; over the offered tools, a family left out by TASKMAN_TOOLSETS
// has an empty list.
func (l toolList) of(fams ...toolFamily) ([]any, map[string]any) {
	names := []any{}
	descs := map[string]any{}
	for _, t := range l {
		if slices.Contains(fams, t.family) {
			names = append(names, t.name)
			descs[t.name] = t.description
		}
	}
	return names, descs
}
