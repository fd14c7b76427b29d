package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// opID names one backend operation: a method and an endpoint template. The
// set is fixed, so per-operation state (breakers, metric series) is an array
// indexed by opID, created once.
type opID int

// The backend operations of docs/backend-api.md.
const (
	opHealth opID = iota
	opListTasks
	opCreateTask
	opGetTask
	opUpdateTask
	opDeleteTask
	opBulkUpdateTasks
	opBulkAssignSprint
	opSearchTasks
	opListProjects
	opCreateProject
	opGetProject
	opUpdateProject
	opDeleteProject
	opAddSprint
	opRemoveSprint
	opAddMetaTask
	opListComments
	opAddComment
	opAddBlocker
	opProjectAnalytics
	opListActionLists
	opCreateActionList
	opGetActionList
	opUpdateActionList
	opDeleteActionList
	opAddItem
	opToggleItem
	opRemoveItem
	opReorderItems
	opBulkDeleteActionLists
	opBulkUpdateActionLists
	opSearchActionLists
	opListSprints
	opCreateSprint
	opGetSprint
	opUpdateSprint
	opDeleteSprint
	opSprintProgress
	opStartSprint
	opCompleteSprint
	opCompleteTask
	opListLinkedTasks
	opLinkTask
	opUnlinkTask
	numOps
)

// operation is a backend endpoint: an HTTP method and a path template whose
// {name} segments are filled from request.args in order.
type operation struct {
	method string
	path   string
}

// operations describes every opID.
var operations = [numOps]operation{
	opHealth:                {"GET", "/health"},
	opListTasks:             {"GET", "/tasks"},
	opCreateTask:            {"POST", "/tasks"},
	opGetTask:               {"GET", "/tasks/{id}"},
	opUpdateTask:            {"PUT", "/tasks/{id}"},
	opDeleteTask:            {"DELETE", "/tasks/{id}"},
	opBulkUpdateTasks:       {"POST", "/tasks/bulk/update"},
	opBulkAssignSprint:      {"POST", "/tasks/bulk/assign-sprint"},
	opSearchTasks:           {"GET", "/tasks/tasks-search"},
	opListProjects:          {"GET", "/projects"},
	opCreateProject:         {"POST", "/projects"},
	opGetProject:            {"GET", "/projects/{id}"},
	opUpdateProject:         {"PUT", "/projects/{id}"},
	opDeleteProject:         {"DELETE", "/projects/{id}"},
	opAddSprint:             {"POST", "/projects/{id}/sprints"},
	opRemoveSprint:          {"DELETE", "/projects/{id}/sprints/{sid}"},
	opAddMetaTask:           {"POST", "/projects/{id}/meta-tasks"},
	opListComments:          {"GET", "/projects/{id}/comments"},
	opAddComment:            {"POST", "/projects/{id}/comments"},
	opAddBlocker:            {"POST", "/projects/{id}/blockers"},
	opProjectAnalytics:      {"GET", "/projects/{id}/analytics"},
	opListActionLists:       {"GET", "/action-lists"},
	opCreateActionList:      {"POST", "/action-lists"},
	opGetActionList:         {"GET", "/action-lists/{id}"},
	opUpdateActionList:      {"PUT", "/action-lists/{id}"},
	opDeleteActionList:      {"DELETE", "/action-lists/{id}"},
	opAddItem:               {"POST", "/action-lists/{id}/items"},
	opToggleItem:            {"PATCH", "/action-lists/{id}/items/{item_id}"},
	opRemoveItem:            {"DELETE", "/action-lists/{id}/items/{item_id}"},
	opReorderItems:          {"POST", "/action-lists/{id}/items/reorder"},
	opBulkDeleteActionLists: {"POST", "/action-lists/bulk/delete"},
	opBulkUpdateActionLists: {"POST", "/action-lists/bulk/update"},
	opSearchActionLists:     {"GET", "/action-lists/search"},
	opListSprints:           {"GET", "/sprints"},
	opCreateSprint:          {"POST", "/sprints"},
	opGetSprint:             {"GET", "/sprints/{id}"},
	opUpdateSprint:          {"PUT", "/sprints/{id}"},
	opDeleteSprint:          {"DELETE", "/sprints/{id}"},
	opSprintProgress:        {"GET", "/sprints/{id}/progress"},
	opStartSprint:           {"POST", "/sprints/{id}/start"},
	opCompleteSprint:        {"POST", "/sprints/{id}/complete"},
	opCompleteTask:          {"POST", "/tasks/{id}/complete"},
	opListLinkedTasks:       {"GET", "/action-lists/{id}/tasks"},
	opLinkTask:              {"POST", "/action-lists/{id}/tasks"},
	opUnlinkTask:            {"DELETE", "/action-lists/{id}/tasks/{task_id}"},
}

// String returns the operation's name, e.g. "GET /tasks/{id}"; it names the
// operation's breaker and appears in errors.
func (op opID) String() string {
	o := operations[op]
	return o.method + " " + o.path
}

// operationNames returns the name of every operation, in opID order.
func operationNames() []string {
	names := make([]string, numOps)
	for op := range numOps {
		names[op] = op.String()
	}
	return names
}

// endpointTemplates returns the distinct endpoint templates, for the
// metrics allow-list.
func endpointTemplates() []string {
	var out []string
	for _, o := range operations {
		if !slices.Contains(out, o.path) {
			out = append(out, o.path)
		}
	}
	return out
}

// idempotentMethod reports whether a call with this method may be retried:
// GET, PUT and DELETE may; POST may create twice and PATCH (the legacy item
// toggle) may toggle back, so they never are.
func idempotentMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// request is one logical call to the backend, in the vocabulary of
// docs/backend-api.md; the dialect's adapter turns it into what the backend
// speaks.
type request struct {
	op    opID
	args  []string   // path parameters, in template order
	query url.Values // nil for none; absent values are simply not set
	body  any        // JSON-encoded when non-nil
	// notes, when set, receives what the dialect could not do as asked
	// (fields not stored, filters applied locally) for the tool result.
	notes *callNotes
	// progress, when set, is told how far an operation served as several
	// calls has got.
	progress func(done, total float64, message string)
}

// report passes progress on, when someone listens.
func (r request) report(done, total float64, message string) {
	if r.progress != nil {
		r.progress(done, total, message)
	}
}

// checkArgs refuses path parameters that would not name one record: empty,
// or a dot segment, which a proxy normalising paths would resolve ("DELETE
// /projects/P/sprints/.." becomes a delete of the project). It runs before
// anything is sent.
func (r request) checkArgs() error {
	for _, a := range r.args {
		if err := checkPathID(a); err != nil {
			return err
		}
	}
	return nil
}

// checkPathID refuses an id that cannot be one path segment.
func checkPathID(id string) error {
	if id == "" || id == "." || id == ".." {
		return &argError{"", fmt.Sprintf("id %q cannot name a record (empty and dot-segment ids are refused before any request)", id)}
	}
	return nil
}

// path returns the request's path with its parameters escaped into place.
func (r request) path() string {
	tmpl := operations[r.op].path
	if len(r.args) == 0 {
		return tmpl
	}
	var b strings.Builder
	args := r.args
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 || len(args) == 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		b.WriteString(tmpl[:i])
		b.WriteString(url.PathEscape(args[0]))
		args = args[1:]
		tmpl = tmpl[i+j+1:]
	}
}

// cacheable reports whether an operation's answers are kept for fallback:
// every read but the health check.
func (op opID) cacheable() bool {
	return operations[op].method == http.MethodGet && op != opHealth
}

// cacheKey identifies a read by its operation and exact parameters, e.g.
// "GET /tasks/{id} /tasks/T-1?" or "GET /tasks /tasks?limit=5&status=new".
func (r request) cacheKey() string {
	return r.op.String() + " " + r.path() + "?" + r.query.Encode()
}

// keyPrefix returns the cache-key prefix of every read of op, or of one
// record when args are given.
func keyPrefix(op opID, args ...string) string {
	if len(args) == 0 {
		return op.String() + " "
	}
	return request{op: op, args: args}.cacheKey()
}

// invalidates returns the cache-key prefixes of every read a successful
// write of r could have changed: the record itself, the lists and searches
// that may show it, and the analytics and sprint progress that count it.
// Where the request does not say which record a write touches (the tasks
// of a deleted sprint, the sprint of a completed task), every record of
// that kind is invalidated.
func (r request) invalidates() []string {
	arg := func(i int) string {
		if i < len(r.args) {
			return r.args[i]
		}
		return ""
	}
	taskViews := []string{keyPrefix(opListTasks), keyPrefix(opSearchTasks), keyPrefix(opProjectAnalytics), keyPrefix(opSprintProgress)}
	projectViews := func(id string) []string {
		return []string{keyPrefix(opListProjects), keyPrefix(opGetProject, id), keyPrefix(opProjectAnalytics, id)}
	}
	listViews := []string{keyPrefix(opListActionLists), keyPrefix(opSearchActionLists)}
	sprintViews := func(id string) []string {
		return []string{keyPrefix(opListSprints), keyPrefix(opGetSprint, id), keyPrefix(opSprintProgress, id)}
	}
	switch r.op {
	case opCreateTask:
		return taskViews
	case opUpdateTask, opDeleteTask, opCompleteTask:
		return append(taskViews, keyPrefix(opGetTask, arg(0)))
	case opBulkUpdateTasks, opBulkAssignSprint:
		return append(taskViews, keyPrefix(opGetTask))
	case opCreateProject:
		return []string{keyPrefix(opListProjects)}
	case opUpdateProject, opAddSprint, opRemoveSprint, opAddBlocker:
		return projectViews(arg(0))
	case opDeleteProject:
		return append(projectViews(arg(0)), keyPrefix(opListComments, arg(0)))
	case opAddComment:
		return []string{keyPrefix(opListComments, arg(0))}
	case opAddMetaTask:
		return append(taskViews, projectViews(arg(0))...)
	case opCreateActionList:
		return listViews
	case opUpdateActionList, opAddItem, opToggleItem, opRemoveItem, opReorderItems:
		return append(listViews, keyPrefix(opGetActionList, arg(0)))
	case opDeleteActionList, opLinkTask, opUnlinkTask:
		return append(listViews, keyPrefix(opGetActionList, arg(0)), keyPrefix(opListLinkedTasks, arg(0)))
	case opBulkDeleteActionLists:
		return append(listViews, keyPrefix(opGetActionList), keyPrefix(opListLinkedTasks))
	case opBulkUpdateActionLists:
		return append(listViews, keyPrefix(opGetActionList))
	case opCreateSprint:
		// The new sprint joins its project's sprints.
		body, _ := r.body.(map[string]any)
		project, _ := body["project_id"].(string)
		return append(projectViews(project), keyPrefix(opListSprints))
	case opUpdateSprint, opStartSprint, opCompleteSprint:
		return sprintViews(arg(0))
	case opDeleteSprint:
		// Its project stops listing it and its tasks lose their sprint_id.
		views := append(sprintViews(arg(0)), keyPrefix(opListProjects), keyPrefix(opGetProject), keyPrefix(opProjectAnalytics))
		return append(append(views, taskViews...), keyPrefix(opGetTask))
	}
	return nil
}
