package main

// Prompts (docs/mcp.md, "Prompts"): the workflows an assistant is asked
// for most, built from live data. Each prompt reads through the tools, so
// it sees what they see, and embeds the records it is about as resources
// (taskman://tasks/{id}, …) beside one text message saying what to do.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// promptArg is one argument of a prompt.
type promptArg struct {
	Description string `json:"description"`
	Name        string `json:"name"`
	Required    bool   `json:"required"`
}

// prompt is one row of the prompt table.
type prompt struct {
	name, title, description string
	args                     []promptArg
	// needs are the tools the prompt reads through; it is offered only
	// when TASKMAN_TOOLSETS offers them all.
	needs []string
	build func(ctx context.Context, s *server, args map[string]string) (*promptBody, error)
}

// promptBody is what a prompt's builder returns: the instructions and the
// records they are about.
type promptBody struct {
	text    string
	records []promptRecord
}

// promptRecord is a record to embed, with the kind it is a resource of.
type promptRecord struct {
	kind *resourceKind
	rec  map[string]any
}

// promptEmbedMax bounds the records one prompt embeds: enough for a
// team's day, small enough for any model's context.
const promptEmbedMax = 50

// Task statuses grouped for the prompts, in both dialects' vocabularies.
var (
	statusesDone       = []string{"completed", "done", "cancelled", "dropped"}
	statusesInProgress = []string{"in_progress", "active", "review"}
	statusesNew        = []string{"new", "planned", "pending", "ready"}
)

// prompts is the prompt table, in prompts/list order.
var prompts = []*prompt{{
	name: "daily_standup", title: "Daily standup",
	description: "What moved in the last day, what is in progress and what is blocked, with the tasks attached.",
	args:        []promptArg{{Name: "project_id", Description: "Only this project's tasks (all projects when absent)."}},
	needs:       []string{"task_list"},
	build:       buildStandup,
}, {
	name: "plan_sprint", title: "Plan a sprint",
	description: "Propose a sprint from a project's backlog: which open tasks to take, in what order, and why.",
	args: []promptArg{
		{Name: "project_id", Description: "The project to plan.", Required: true},
		{Name: "sprint_id", Description: "The sprint to fill (a new one is proposed when absent)."},
	},
	needs: []string{"task_list", "project_read", "sprint_read"},
	build: buildPlanSprint,
}, {
	name: "triage", title: "Triage new work",
	description: "New and unassigned open tasks to prioritise and assign, with the tasks attached.",
	args:        []promptArg{{Name: "project_id", Description: "Only this project's tasks (all projects when absent)."}},
	needs:       []string{"task_list"},
	build:       buildTriage,
}}

// offered reports whether the server offers every tool the prompt needs.
func (p *prompt) offered(s *server) bool {
	for _, n := range p.needs {
		if s.offer.refusal(s.byName[n]) != "" {
			return false
		}
	}
	return true
}

// findPrompt returns the offered prompt named name, or nil.
func (s *server) findPrompt(name string) *prompt {
	for _, p := range prompts {
		if p.name == name && p.offered(s) {
			return p
		}
	}
	return nil
}

// promptsList answers prompts/list: every offered prompt, in one page.
func (s *server) promptsList(_ context.Context, c *invocation) (any, error) {
	res := &promptsListResult{Prompts: []promptInfo{}}
	for _, p := range prompts {
		if p.offered(s) {
			res.Prompts = append(res.Prompts, promptInfo{Arguments: p.args, Description: p.description, Name: p.name, Title: p.title})
		}
	}
	if c.version == versionModern {
		ttl := int64(300_000) // the table changes only with a release, as tools/list
		res.CacheScope, res.TTLMS = "public", &ttl
	}
	return res, nil
}

// promptsGet answers prompts/get: the prompt's messages, built now.
func (s *server) promptsGet(ctx context.Context, c *invocation) (any, error) {
	var name string
	var args map[string]string
	if c.req.param("name", &name) != nil || name == "" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: prompts/get needs params.name"}
	}
	p := s.findPrompt(name)
	if p == nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown prompt %q; prompts/list names them", name)}
	}
	if err := c.req.param("arguments", &args); err != nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: arguments must be an object of strings"}
	}
	for k, v := range args {
		if !slices.ContainsFunc(p.args, func(a promptArg) bool { return a.Name == k }) {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: %s takes no argument %q", name, k)}
		}
		if len(v) > maxRefID {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: %s: at most %d characters", k, maxRefID)}
		}
	}
	for _, a := range p.args {
		if a.Required && args[a.Name] == "" {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: %s needs the argument %s", name, a.Name)}
		}
	}
	body, err := p.build(ctx, s, args)
	if err != nil {
		return nil, promptError(name, err)
	}
	return body.result(p), nil
}

// promptError turns a failed build into a JSON-RPC error: a record that
// does not exist or a bad argument is the caller's -32602, anything else
// -32603, both naming what failed.
func promptError(name string, err error) error {
	if callerFault(err) {
		return &rpcError{Code: codeInvalidParams, Message: "invalid params: " + name + ": " + err.Error()}
	}
	return &rpcError{Code: codeInternalError, Message: name + " failed: " + err.Error()}
}

// result renders the body as a prompts/get result: the text, then each
// record as an embedded resource.
func (b *promptBody) result(p *prompt) *promptsGetResult {
	res := &promptsGetResult{Description: p.description,
		Messages: []promptMessage{{Role: "user", Content: promptContent{Type: "text", Text: b.text}}}}
	for _, r := range b.records {
		id, _ := r.rec["id"].(string)
		text, _ := json.Marshal(r.rec)
		res.Messages = append(res.Messages, promptMessage{Role: "user", Content: promptContent{Type: "resource",
			Resource: &resourceContents{URI: r.kind.uri(id), MimeType: "application/json", Text: string(text)}}})
	}
	return res
}

// kindOf returns the resource kind read by the tool readTool.
func kindOf(readTool string) *resourceKind {
	for i := range resourceKinds {
		if resourceKinds[i].readTool == readTool {
			return &resourceKinds[i]
		}
	}
	panic("no resource kind is read by " + readTool)
}

// promptTasks returns one page (the backend's largest) of the tasks
// task_list finds with filter, and whether there were more.
func (s *server) promptTasks(ctx context.Context, filter map[string]any) ([]map[string]any, bool, error) {
	tasks, next, err := s.listPage(ctx, kindOf("task_read"), filter, "", maxPageSize)
	return tasks, next != "", err
}

// projectFilter is the task_list filter of an optional project_id.
func projectFilter(args map[string]string) map[string]any {
	if p := args["project_id"]; p != "" {
		return map[string]any{"project_id": p}
	}
	return nil
}

// scope names what a prompt covers.
func scope(args map[string]string) string {
	if p := args["project_id"]; p != "" {
		return "project " + p
	}
	return "all projects"
}

// taskLine is one task as a line of a prompt's text.
func taskLine(t map[string]any) string {
	line := fmt.Sprintf("- %v %q (%v", t["id"], t["title"], t["status"])
	if p, _ := t["priority"].(string); p != "" {
		line += ", " + p
	}
	if a, _ := t["assignee"].(string); a != "" {
		line += ", @" + a
	}
	return line + ")"
}

// section writes a titled list of tasks, or "none".
func section(b *strings.Builder, title string, tasks []map[string]any) {
	fmt.Fprintf(b, "\n%s (%d):\n", title, len(tasks))
	if len(tasks) == 0 {
		b.WriteString("- none\n")
	}
	for _, t := range tasks {
		b.WriteString(taskLine(t) + "\n")
	}
}

// embedTasks returns the distinct tasks of the groups as records to embed,
// at most promptEmbedMax.
func embedTasks(groups ...[]map[string]any) []promptRecord {
	kind := kindOf("task_read")
	var out []promptRecord
	seen := map[any]bool{}
	for _, g := range groups {
		for _, t := range g {
			if len(out) == promptEmbedMax || seen[t["id"]] {
				continue
			}
			seen[t["id"]] = true
			out = append(out, promptRecord{kind, t})
		}
	}
	return out
}

// truncationNote says that only the first page was read.
func truncationNote(more bool) string {
	if more {
		return fmt.Sprintf("\n(Only the first %d tasks were read; use task_list with a cursor for the rest.)\n", maxPageSize)
	}
	return ""
}

// buildStandup gathers a daily standup: tasks changed in the last 24
// hours, in progress, and blocked.
func buildStandup(ctx context.Context, s *server, args map[string]string) (*promptBody, error) {
	tasks, more, err := s.promptTasks(ctx, projectFilter(args))
	if err != nil {
		return nil, err
	}
	since := time.Now().Add(-24 * time.Hour)
	var moved, doing, blocked []map[string]any
	for _, t := range tasks {
		status, _ := t["status"].(string)
		if ts, err := time.Parse(time.RFC3339, fmt.Sprint(t["updated_at"])); err == nil && ts.After(since) {
			moved = append(moved, t)
		}
		switch {
		case slices.Contains(statusesInProgress, status):
			doing = append(doing, t)
		case status == "blocked":
			blocked = append(blocked, t)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Run a daily standup for %s. Summarise what moved in the last 24 hours, what is in progress "+
		"and what is blocked; for each blocked task suggest the next step to unblock it. The tasks are attached as resources.\n", scope(args))
	section(&b, "Changed in the last 24 hours", moved)
	section(&b, "In progress", doing)
	section(&b, "Blocked", blocked)
	b.WriteString(truncationNote(more))
	return &promptBody{text: b.String(), records: embedTasks(blocked, doing, moved)}, nil
}

// buildPlanSprint gathers a project's open, unscheduled tasks and asks for
// a sprint proposal, for a given sprint or a new one.
func buildPlanSprint(ctx context.Context, s *server, args map[string]string) (*promptBody, error) {
	pid := args["project_id"]
	payload, _, err := s.runTool(ctx, "project_read", map[string]any{"projectId": pid})
	if err != nil {
		return nil, err
	}
	project := recordOf(payload["project"])
	records := []promptRecord{{kindOf("project_read"), project}}
	target := "a new sprint (propose its name, goal and dates, then create it with sprint_create)"
	if sid := args["sprint_id"]; sid != "" {
		sp, _, err := s.runTool(ctx, "sprint_read", map[string]any{"sprintId": sid})
		if err != nil {
			return nil, err
		}
		sprint := recordOf(sp["sprint"])
		records = append(records, promptRecord{kindOf("sprint_read"), sprint})
		target = fmt.Sprintf("sprint %s (%v)", sid, sprint["name"])
	}
	tasks, more, err := s.promptTasks(ctx, map[string]any{"project_id": pid})
	if err != nil {
		return nil, err
	}
	var backlog []map[string]any
	for _, t := range tasks {
		status, _ := t["status"].(string)
		if sprint, _ := t["sprint_id"].(string); sprint == "" && !slices.Contains(statusesDone, status) {
			backlog = append(backlog, t)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Plan %s for project %s from its backlog: pick the open tasks that fit one sprint, highest priority "+
		"and unblocking work first, say why each is in or out, and list the ones you would leave for later. "+
		"When agreed, task_bulk_assign_sprint puts the chosen tasks in the sprint. The project, the sprint and the backlog are attached.\n", target, pid)
	section(&b, "Backlog (open, in no sprint)", backlog)
	b.WriteString(truncationNote(more))
	return &promptBody{text: b.String(), records: append(records, embedTasks(backlog)...)}, nil
}

// buildTriage gathers the open tasks that are new or have no assignee.
func buildTriage(ctx context.Context, s *server, args map[string]string) (*promptBody, error) {
	tasks, more, err := s.promptTasks(ctx, projectFilter(args))
	if err != nil {
		return nil, err
	}
	var todo []map[string]any
	for _, t := range tasks {
		status, _ := t["status"].(string)
		assignee, _ := t["assignee"].(string)
		if !slices.Contains(statusesDone, status) && (slices.Contains(statusesNew, status) || assignee == "") {
			todo = append(todo, t)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Triage the new and unassigned open tasks of %s: for each, propose a priority (low, medium, high, critical), "+
		"an assignee when the task says who fits, and whether it needs clarifying; most urgent first. "+
		"task_update and task_assign apply what is agreed. The tasks are attached as resources.\n", scope(args))
	section(&b, "To triage", todo)
	b.WriteString(truncationNote(more))
	return &promptBody{text: b.String(), records: embedTasks(todo)}, nil
}
