package main

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Sprints in the embedded backend (docs/backend-api.md, "Sprints"). A
// sprint is a record of the Sprints table with an S- id; it belongs to one
// project, which lists it in its sprints. Its tasks are not stored in it:
// they are the tasks whose sprint_id names it, so progress is counted from
// the tasks themselves and cannot drift from them.
//
// The status vocabulary is TaskMan-v2's (SprintStatus), so a value read
// from either backend can be sent to the other. Two transitions are
// checked: start (POST /sprints/{id}/start) only from a status in
// embSprintNotStarted, complete only from one in embSprintStarted. A PUT
// may set any status, as on TaskMan-v2.

// embSprintStatuses are the sprint statuses: the tools' own (sprintStatuses), which
// are TaskMan-v2's SprintStatus, so both backends speak one vocabulary.
var embSprintStatuses = sprintStatuses

// embSprintNotStarted are the statuses of a sprint still being planned:
// the ones it may be started from.
var embSprintNotStarted = []string{"new", "planning", "pending", "assigned"}

// embSprintStarted are the statuses of a running sprint: the ones it may be
// completed from.
var embSprintStarted = []string{"active", "in_progress", "blocked"}

// embMaxLinkedTasks caps the tasks linked to one action list at 1,000, for
// the same reason as embMaxItems: every link copies the list.
const embMaxLinkedTasks = 1000

// embSprintRecordSpec describes a sprint record. Names are capped at
// maxSprintName characters, as on TaskMan-v2; dates are calendar dates (YYYY-MM-DD), as
// there.
var embSprintRecordSpec = embSpec{
	fields: map[string]embCheck{
		"name":       embString(1, maxSprintName),
		"project_id": embString(1, maxRefID),
		"goal":       embText,
		"start_date": embDate,
		"end_date":   embDate,
		"status":     embEnum(embSprintStatuses...),
		"owner":      embString(0, maxPerson),
	},
	required: []string{"name", "project_id"},
	defaults: map[string]any{"status": "new"},
}

// embTaskCompleteSpec describes the optional body of POST
// /tasks/{id}/complete.
var embTaskCompleteSpec = embSpec{
	fields: map[string]embCheck{"completion_notes": embText, "done_date": embTimestamp},
}

// embDate accepts a calendar date, YYYY-MM-DD.
var embDate = embTimeString(time.DateOnly,
	"must be a date string YYYY-MM-DD",
	"must be a date YYYY-MM-DD such as 2026-01-31, got %q")

// sprintRoutes registers the sprint endpoints and the task and action-list
// endpoints that came with them; h is routes' registration helper.
func (e *embedded) sprintRoutes(h func(pattern string, fn embHandler)) {
	h("GET /sprints", e.handleListSprints)
	h("POST /sprints", e.handleCreateSprint)
	h("GET /sprints/{id}", e.handleGetSprint)
	h("PUT /sprints/{id}", e.handleUpdateSprint)
	h("DELETE /sprints/{id}", e.handleDeleteSprint)
	h("GET /sprints/{id}/progress", e.handleSprintProgress)
	h("POST /sprints/{id}/start", e.handleStartSprint)
	h("POST /sprints/{id}/complete", e.handleCompleteSprint)

	h("POST /tasks/{id}/complete", e.handleCompleteTask)

	h("GET /action-lists/{id}/tasks", e.handleListLinkedTasks)
	h("POST /action-lists/{id}/tasks", e.handleLinkTask)
	h("DELETE /action-lists/{id}/tasks/{task_id}", e.handleUnlinkTask)
}

// embCheckSprintDates refuses a sprint whose end_date is before its
// start_date (both are YYYY-MM-DD, so they compare as strings).
func embCheckSprintDates(rec map[string]any) error {
	start, end := embStr(rec, "start_date"), embStr(rec, "end_date")
	if start != "" && end != "" && end < start {
		return embErrf(http.StatusUnprocessableEntity, "end_date: %s is before start_date %s", end, start)
	}
	return nil
}

// handleCreateSprint answers POST /sprints: the project must exist, and the
// new sprint is added to its sprints.
func (e *embedded) handleCreateSprint(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	rec, err := embSprintRecordSpec.createFrom(body)
	if err != nil {
		return 0, nil, err
	}
	if err := embCheckSprintDates(rec); err != nil {
		return 0, nil, err
	}
	if err := tx.checkProject(rec, ""); err != nil {
		return 0, nil, err
	}
	proj := tx.s.Projects[embStr(rec, "project_id")]
	if rec, err = tx.insert(tx.s.Sprints, "sprint", "S-", rec); err != nil {
		return 0, nil, err
	}
	if _, err := tx.link(tx.s.Projects, proj, embProjectSprints, embStr(rec, "id")); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, rec, nil
}

// handleGetSprint answers GET /sprints/{id}.
func (e *embedded) handleGetSprint(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Sprints, "sprint", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ent.Record, nil
}

// handleUpdateSprint answers PUT /sprints/{id}, merging a partial sprint.
// A sprint stays in the project it was created in.
func (e *embedded) handleUpdateSprint(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, in, err := tx.getWithBody(tx.s.Sprints, "sprint", r.PathValue("id"), body, embDecodeObject)
	if err != nil {
		return 0, nil, err
	}
	if p, ok := in["project_id"]; ok && p != ent.Record["project_id"] {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "project_id: a sprint stays in its project (%s); create a sprint in the other project instead", embStr(ent.Record, "project_id"))
	}
	changes, err := embSprintRecordSpec.changes(in, false, "")
	if err != nil {
		return 0, nil, err
	}
	rec := embApplyChanges(ent.Record, changes)
	if err := embCheckSprintDates(rec); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tx.replace(tx.s.Sprints, ent, rec), nil
}

// handleDeleteSprint answers DELETE /sprints/{id}. The sprint's tasks stay,
// with their sprint_id cleared, and every project stops listing it; the
// answer names the tasks that were changed.
func (e *embedded) handleDeleteSprint(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	id := r.PathValue("id")
	ent, err := tx.get(tx.s.Sprints, "sprint", id)
	if err != nil {
		return 0, nil, err
	}
	tx.remove(tx.s.Sprints, id)
	for _, p := range embSorted(tx.s.Projects, func(rec map[string]any) bool { return slices.Contains(embStrings(rec, "sprints"), id) }) {
		tx.unlink(tx.s.Projects, p, embProjectSprints, id)
	}
	cleared := []string{}
	for _, t := range embSorted(tx.s.Tasks, func(rec map[string]any) bool { return embStr(rec, "sprint_id") == id }) {
		tx.replace(tx.s.Tasks, t, embApplyChanges(t.Record, map[string]any{"sprint_id": nil}))
		cleared = append(cleared, embStr(t.Record, "id"))
	}
	return http.StatusOK, map[string]any{
		"deleted": true, "sprint_id": id, "project_id": ent.Record["project_id"], "cleared_task_ids": cleared,
	}, nil
}

// handleListSprints answers GET /sprints, filtered by project_id and
// status; total counts every match, not only the page.
func (e *embedded) handleListSprints(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	status, err := embQueryEnum(q, "status", embSprintStatuses)
	if err != nil {
		return 0, nil, err
	}
	project := q.Get("project_id")
	entries := embSorted(tx.s.Sprints, func(rec map[string]any) bool {
		return (project == "" || embStr(rec, "project_id") == project) && (status == "" || embStr(rec, "status") == status)
	})
	return embListAnswer(q, "sprints", entries, nil)
}

// handleSprintProgress answers GET /sprints/{id}/progress from the live
// tasks whose sprint_id is the sprint: completed ones count as done, and
// days_remaining (when the sprint has an end_date) counts whole days from
// today, never below 0.
func (e *embedded) handleSprintProgress(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.Sprints, "sprint", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	sid := embStr(ent.Record, "id")
	total, done := 0, 0
	for _, t := range tx.s.Tasks {
		if embDeleted(t.Record) || embStr(t.Record, "sprint_id") != sid {
			continue
		}
		total++
		if embStr(t.Record, "status") == "completed" {
			done++
		}
	}
	out := map[string]any{
		"sprint_id": sid, "name": ent.Record["name"], "status": ent.Record["status"], "project_id": ent.Record["project_id"],
		"task_count": total, "completed_count": done, "completion_percentage": embPercent(done, total),
	}
	if end, err := time.Parse(time.DateOnly, embStr(ent.Record, "end_date")); err == nil {
		y, m, d := e.now().UTC().Date()
		today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		out["days_remaining"] = max(0, int(end.Sub(today)/(24*time.Hour)))
	}
	return http.StatusOK, out, nil
}

// handleStartSprint answers POST /sprints/{id}/start.
func (e *embedded) handleStartSprint(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	return e.sprintTransition(tx, r.PathValue("id"), sprintStart)
}

// handleCompleteSprint answers POST /sprints/{id}/complete.
func (e *embedded) handleCompleteSprint(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	return e.sprintTransition(tx, r.PathValue("id"), sprintComplete)
}

// sprintTransition applies tr to sprint id, or answers 409 with tr's
// refusal when the sprint's status does not allow it.
func (e *embedded) sprintTransition(tx *embTx, id string, tr sprintTransitionRule) (int, any, error) {
	ent, err := tx.get(tx.s.Sprints, "sprint", id)
	if err != nil {
		return 0, nil, err
	}
	if msg := tr.refusal(id, embStr(ent.Record, "status")); msg != "" {
		return 0, nil, embErrf(http.StatusConflict, "%s", msg)
	}
	return http.StatusOK, tx.replace(tx.s.Sprints, ent, embApplyChanges(ent.Record, map[string]any{"status": tr.to})), nil
}

// sprintTransitionRule is one checked sprint transition: from which
// statuses, to which, and how the refusal words it. The embedded backend
// enforces it; the TaskMan-v2 adapter checks it before calling a backend
// that does not.
type sprintTransitionRule struct {
	verb string   // "started" or "completed"
	from []string // the statuses it is allowed from
	to   string
	hint string // added to a refusal from a sprint not yet started
}

// The two checked transitions.
var (
	sprintStart    = sprintTransitionRule{verb: "started", from: embSprintNotStarted, to: "active"}
	sprintComplete = sprintTransitionRule{verb: "completed", from: embSprintStarted, to: "completed", hint: "; start it first"}
)

// refusal returns why sprint id, in status cur, cannot take the
// transition, naming its status and the allowed ones; "" when it can.
func (tr sprintTransitionRule) refusal(id, cur string) string {
	if slices.Contains(tr.from, cur) {
		return ""
	}
	msg := fmt.Sprintf("sprint %s is %s: only a sprint that is %s can be %s", id, cur, orList(tr.from), tr.verb)
	if slices.Contains(embSprintNotStarted, cur) {
		msg += tr.hint
	}
	return msg
}

// handleCompleteTask answers POST /tasks/{id}/complete: the task's status
// becomes completed and, unless the body gives one or it has one already,
// done_date the time of the call. The body is optional.
func (e *embedded) handleCompleteTask(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, err := tx.liveTask(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	in := map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		if in, err = embDecodeObject(body); err != nil {
			return 0, nil, err
		}
	}
	changes, err := embTaskCompleteSpec.changes(in, true, "")
	if err != nil {
		return 0, nil, err
	}
	changes["status"] = "completed"
	if _, ok := changes["done_date"]; !ok && embStr(ent.Record, "done_date") == "" {
		changes["done_date"] = tx.stamp
	}
	return http.StatusOK, tx.replace(tx.s.Tasks, ent, embApplyChanges(ent.Record, changes)), nil
}

// handleListLinkedTasks answers GET /action-lists/{id}/tasks with the ids
// of the linked tasks, a bare array in the order they were linked.
func (e *embedded) handleListLinkedTasks(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	ids, _ := ent.Record["task_ids"].([]any)
	if ids == nil {
		ids = []any{}
	}
	return http.StatusOK, ids, nil
}

// handleLinkTask answers POST /action-lists/{id}/tasks?task_id=…: the task
// must exist; linking a linked task changes nothing.
func (e *embedded) handleLinkTask(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	tid := r.URL.Query().Get("task_id")
	if tid == "" {
		return 0, nil, embErrf(http.StatusBadRequest, "task_id: is required")
	}
	if _, err := tx.liveTask(tid); err != nil {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "task_id: task %s does not exist", tid)
	}
	rec, err := tx.link(tx.s.ActionLists, ent, embListTasks, tid)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embActionListView(rec), nil
}

// handleUnlinkTask answers DELETE /action-lists/{id}/tasks/{task_id}; the
// task itself stays, and unlinking a task that is not linked changes
// nothing.
func (e *embedded) handleUnlinkTask(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	tid := r.PathValue("task_id")
	rec, _ := tx.unlink(tx.s.ActionLists, ent, embListTasks, tid)
	return http.StatusOK, embActionListView(rec), nil
}
