package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The TaskMan-v2 calls that are more than a renamed body: paged lists with
// local filters, creates with generated ids, and the operations this
// backend has no endpoint for, served from several calls (per-id bulk,
// bounded scans, read-modify-write). See docs/dialects.md.

// v2Paging turns the tools' limit and cursor into TaskMan-v2's page and
// per_page (limit above the backend's maximum is capped there).
func v2Paging(q url.Values, out url.Values) error {
	per := 20 // the backend's own default
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return &argError{"limit", "must be a whole number of at least 1, got " + l}
		}
		per = min(n, v2PerPageMax)
	}
	page := 1
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, v2CursorPrefix))
		if !strings.HasPrefix(c, v2CursorPrefix) || err != nil || n < 1 {
			return &argError{"cursor", "is not a cursor this server handed out for the TaskMan-v2 backend (pass next_cursor from the previous page)"}
		}
		page = n
	}
	out.Set("page", strconv.Itoa(page))
	out.Set("per_page", strconv.Itoa(per))
	return nil
}

// v2ListQuery builds a list query: the filters the backend applies (with
// their values mapped by maps[name] when given), paging, and a note for
// each filter in local, which the read applies to the page instead.
func v2ListQuery(r request, server []string, maps map[string]func(any) (any, error), local []string) (url.Values, error) {
	out := url.Values{}
	for _, name := range server {
		v := r.query.Get(name)
		if v == "" {
			continue
		}
		mapped := any(v)
		if m := maps[name]; m != nil {
			var err error
			if mapped, err = m(v); err != nil {
				return nil, err
			}
		}
		out.Set(name, fmt.Sprint(mapped))
	}
	for _, name := range local {
		if r.query.Has(name) {
			r.notes.filteredLocally(name)
		}
	}
	return out, v2Paging(r.query, out)
}

// valueMap returns a total value mapper from m.
func valueMap(m map[string]string) func(any) (any, error) {
	return func(v any) (any, error) { return mapValue(v, m), nil }
}

// listTasks builds GET /tasks. work_type, search and tags have no query
// parameter there and are applied locally.
func (v2) listTasks(r request) (wireCall, error) {
	q, err := v2ListQuery(r, []string{"status", "priority", "sprint_id", "project_id", "assignee", "owner"},
		map[string]func(any) (any, error){"status": valueMap(v2TaskStatusTo), "priority": valueMap(v2PriorityTo)},
		[]string{"work_type", "search", "tags"})
	return wireCall{method: "GET", path: "/tasks", query: q}, err
}

// v2ListProjects builds GET /projects; search is applied locally.
func v2ListProjects(r request) (wireCall, error) {
	q, err := v2ListQuery(r, []string{"status"},
		map[string]func(any) (any, error){"status": valueMap(v2ProjectStatusTo)}, []string{"search"})
	return wireCall{method: "GET", path: "/projects", query: q}, err
}

// v2ListActionLists builds GET /action-lists; priority and tags are
// applied locally.
func v2ListActionLists(r request) (wireCall, error) {
	q, err := v2ListQuery(r, []string{"status", "owner", "project_id", "sprint_id"},
		map[string]func(any) (any, error){"status": v2ActionListStatus}, []string{"priority", "tags"})
	return wireCall{method: "GET", path: "/action-lists", query: q}, err
}

// v2ReadPage returns a read for a TaskMan-v2 page ({key: [...], total,
// page, per_page, has_more}): each record translated by from and kept when
// keep says so; total and has_more passed through, next_cursor set when
// there is a next page.
func v2ReadPage(key string, from func(map[string]any) map[string]any, keep func(url.Values, map[string]any) bool) func(request, any) (any, error) {
	return func(r request, v any) (any, error) {
		la, err := asList(r.op, v, key)
		if err != nil {
			return nil, err
		}
		items := make([]any, 0, len(la.items))
		for _, it := range la.items {
			rec, ok := it.(map[string]any)
			if !ok {
				return nil, shapeError(r.op, v)
			}
			if t := from(rec); keep(r.query, t) {
				items = append(items, t)
			}
		}
		out := map[string]any{key: items}
		if la.total != nil {
			out["total"] = la.total
		}
		if la.hasMore != nil {
			out["has_more"] = *la.hasMore
			if *la.hasMore {
				page, _ := strconv.Atoi(fmt.Sprint(field(v, "page")))
				out["next_cursor"] = v2CursorPrefix + strconv.Itoa(max(page, 1)+1)
			}
		}
		return out, nil
	}
}

// contains reports whether s contains sub, ignoring case.
func contains(s any, sub string) bool {
	str, _ := s.(string)
	return strings.Contains(strings.ToLower(str), strings.ToLower(sub))
}

// hasAll reports whether the list v holds every one of want.
func hasAll(v any, want []string) bool {
	have, _ := v.([]any)
	for _, w := range want {
		if !slices.Contains(have, any(w)) {
			return false
		}
	}
	return true
}

// v2TaskLocalFilter applies task_list's filters the backend lacks.
func v2TaskLocalFilter(q url.Values, t map[string]any) bool {
	if w := q.Get("work_type"); w != "" && t["work_type"] != w {
		return false
	}
	if s := q.Get("search"); s != "" && !contains(t["title"], s) && !contains(t["description"], s) {
		return false
	}
	return hasAll(t["tags"], q["tags"])
}

// v2ProjectLocalFilter applies project_list's search.
func v2ProjectLocalFilter(q url.Values, p map[string]any) bool {
	s := q.Get("search")
	return s == "" || contains(p["name"], s) || contains(p["description"], s)
}

// v2ActionListLocalFilter applies action_list_list's priority and tags.
func v2ActionListLocalFilter(q url.Values, al map[string]any) bool {
	if p := q.Get("priority"); p != "" && al["priority"] != p {
		return false
	}
	return hasAll(al["tags"], q["tags"])
}

// v2NewID returns the caller's id when the body has one, else a new id
// with prefix in the embedded backend's format (which TaskMan-v2's
// patterns accept).
func v2NewID(body map[string]any, prefix string) (string, error) {
	if id, ok := body["id"].(string); ok && id != "" {
		return id, nil
	}
	return embNewID(prefix, func(string) bool { return false })
}

// v2Create builds POST path with the record of r's body translated by to,
// and an id: the caller's, or a new one with prefix.
func v2Create(r request, to func(map[string]any, *callNotes) (map[string]any, error), prefix, path string) (wireCall, error) {
	body, _ := r.body.(map[string]any)
	wire, err := to(body, r.notes)
	if err != nil {
		return wireCall{}, err
	}
	id, err := v2NewID(wire, prefix)
	if err != nil {
		return wireCall{}, err
	}
	wire["id"] = id
	return wireCall{method: "POST", path: path, body: wire}, nil
}

// createTask builds POST /tasks: an id, summary defaulting to the title and
// owner to TASKMAN_DEFAULT_OWNER, which this backend requires.
func (v v2) createTask(r request) (wireCall, error) {
	call, err := v2Create(r, v2TaskTo, "T-", "/tasks")
	if err != nil {
		return wireCall{}, err
	}
	wire := call.body.(map[string]any)
	if s, _ := wire["summary"].(string); s == "" {
		wire["summary"] = wire["title"]
	}
	if o, _ := wire["owner"].(string); o == "" {
		wire["owner"] = v.owner
	}
	return call, nil
}

// v2CreateProject builds POST /projects with an id.
func v2CreateProject(r request) (wireCall, error) {
	return v2Create(r, v2ProjectTo, "P-", "/projects")
}

// v2CreateActionList builds POST /action-lists with an id; the answer's id
// is the one to use (the backend may assign its own).
func v2CreateActionList(r request) (wireCall, error) {
	return v2Create(r, v2ActionListTo, "AL-", "/action-lists")
}

// v2AddItem builds POST /action-lists/{id}/items.
func v2AddItem(r request) (wireCall, error) {
	p, err := v2Path("/action-lists/{}/items", r.args...)
	return wireCall{method: "POST", path: p, body: r.body}, err
}

// v2Reorder builds PATCH /action-lists/{id}/items/reorder.
func v2Reorder(r request) (wireCall, error) {
	p, err := v2Path("/action-lists/{}/items/reorder", r.args...)
	return wireCall{method: "PATCH", path: p, body: r.body}, err
}

// v2PerID serves a bulk operation as one call per id, in order, reporting
// progress after each. It never claims atomicity: the answer lists the ids
// done and, in failed, each id that was not with its error. A failure that
// means the backend stopped answering ends the run (the ids after it are
// failed as not sent); when it happens on the first id the whole call fails.
func v2PerID(ctx context.Context, send sendFunc, r request, ids []any, build func(id string) (wireCall, error)) (done, failed []any, err error) {
	n := float64(len(ids))
	for i, raw := range ids {
		id, _ := raw.(string)
		wc, err := build(id)
		if err == nil {
			_, err = send(ctx, wc)
		}
		switch {
		case err == nil:
			done = append(done, id)
		case countsAsFailure(err) || ctx.Err() != nil:
			if i == 0 {
				return nil, nil, err
			}
			failed = append(failed, map[string]any{"id": id, "error": err.Error()})
			for _, rest := range ids[i+1:] {
				failed = append(failed, map[string]any{"id": rest, "error": "not sent: the backend stopped answering"})
			}
			return done, failed, nil
		default:
			failed = append(failed, map[string]any{"id": id, "error": err.Error()})
		}
		r.report(float64(i+1), n, fmt.Sprintf("%d of %d done", i+1, len(ids)))
	}
	return done, failed, nil
}

// bulkAnswer is the answer of a per-id bulk operation.
func bulkAnswer(countKey string, done, failed []any) map[string]any {
	return map[string]any{"success": len(failed) == 0, countKey: len(done), "failed": orEmpty(failed)}
}

// orEmpty returns list, or an empty list for nil (so JSON shows []).
func orEmpty(list []any) []any {
	if list == nil {
		return []any{}
	}
	return list
}

// v2BulkUpdate returns a bulk route that PUTs the same translated changes
// to tmpl for every id of the body's idsKey.
func v2BulkUpdate(tmpl, idsKey, countKey string, changes func(body map[string]any, notes *callNotes) (map[string]any, error)) func(context.Context, sendFunc, request) (any, error) {
	return func(ctx context.Context, send sendFunc, r request) (any, error) {
		body, _ := r.body.(map[string]any)
		ids, _ := body[idsKey].([]any)
		wire, err := changes(body, r.notes)
		if err != nil {
			return nil, err
		}
		done, failed, err := v2PerID(ctx, send, r, ids, func(id string) (wireCall, error) {
			p, err := v2Path(tmpl, id)
			return wireCall{method: "PUT", path: p, body: wire}, err
		})
		if err != nil {
			return nil, err
		}
		res := bulkAnswer(countKey, done, failed)
		res[idsKey] = orEmpty(done)
		return res, nil
	}
}

// Bulk task and action-list updates.
var (
	v2BulkUpdateTasks = v2BulkUpdate("/tasks/{}", "task_ids", "updated_count", func(b map[string]any, n *callNotes) (map[string]any, error) {
		u, _ := b["updates"].(map[string]any)
		return v2TaskTo(u, n)
	})
	v2BulkAssignSprint = v2BulkUpdate("/tasks/{}", "task_ids", "assigned_count", func(b map[string]any, _ *callNotes) (map[string]any, error) {
		return map[string]any{"primary_sprint": b["sprint_id"]}, nil
	})
	v2BulkUpdateActionLists = v2BulkUpdate("/action-lists/{}", "action_list_ids", "updated_count", func(b map[string]any, n *callNotes) (map[string]any, error) {
		u, _ := b["updates"].(map[string]any)
		return v2ActionListTo(u, n)
	})
)

// v2BulkDeleteActionLists deletes each action list of the body (a bare
// array of ids), one DELETE per id.
func v2BulkDeleteActionLists(ctx context.Context, send sendFunc, r request) (any, error) {
	ids, _ := r.body.([]any)
	done, failed, err := v2PerID(ctx, send, r, ids, func(id string) (wireCall, error) {
		p, err := v2Path("/action-lists/{}", id)
		return wireCall{method: "DELETE", path: p}, err
	})
	if err != nil {
		return nil, err
	}
	return bulkAnswer("deleted_count", done, failed), nil
}

// v2Scan reads up to v2ScanPages full pages of path (with filter), calling
// each with every record, and reports how many it read and whether it
// stopped before the end.
func v2Scan(ctx context.Context, send sendFunc, r request, path, key string, filter url.Values, each func(map[string]any)) (scanned int, truncated bool, err error) {
	for page := 1; page <= v2ScanPages; page++ {
		q := url.Values{}
		for k, v := range filter {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(v2PerPageMax))
		v, err := send(ctx, wireCall{method: "GET", path: path, query: q})
		if err != nil {
			return scanned, false, err
		}
		la, err := asList(r.op, v, key)
		if err != nil {
			return scanned, false, err
		}
		for _, it := range la.items {
			if rec, ok := it.(map[string]any); ok {
				each(rec)
				scanned++
			}
		}
		if la.hasMore == nil || !*la.hasMore || len(la.items) == 0 {
			return scanned, false, nil
		}
	}
	return scanned, true, nil
}

// v2SearchResult finishes a scan-based search: skip and limit applied to
// the matches, the bound reported.
func v2SearchResult(r request, key string, hits []any, scanned int, truncated bool) map[string]any {
	skip, _ := strconv.Atoi(r.query.Get("skip"))
	limit, err := strconv.Atoi(r.query.Get("limit"))
	if err != nil || limit < 1 {
		limit = v2PerPageMax
	}
	page := hits[min(skip, len(hits)):]
	page = page[:min(limit, len(page))]
	return map[string]any{"success": true, "query": r.query.Get("q"), "count": len(page), key: orEmpty(page),
		"total_matches": len(hits), "scanned": scanned, "truncated": truncated}
}

// matchesAny reports whether any of fields of rec contains needle (a list
// field when one of its strings does).
func matchesAny(rec map[string]any, fields []string, needle string) bool {
	for _, f := range fields {
		switch v := rec[f].(type) {
		case string:
			if contains(v, needle) {
				return true
			}
		case []any:
			for _, item := range v {
				if contains(item, needle) {
					return true
				}
			}
		}
	}
	return false
}

// v2SearchScope returns the fields a search matches in (those asked for,
// else defaults) and the project and sprint filters the backend applies.
func v2SearchScope(r request, defaults []string) ([]string, url.Values) {
	fields := r.query["fields"]
	if len(fields) == 0 {
		fields = defaults
	}
	filter := url.Values{}
	for _, k := range []string{"project_id", "sprint_id"} {
		if v := r.query.Get(k); v != "" {
			filter.Set(k, v)
		}
	}
	return fields, filter
}

// v2SearchTasks serves task_search from a bounded scan of GET /tasks
// (project and sprint filtered by the backend), matching the text in the
// chosen fields of each task.
func v2SearchTasks(ctx context.Context, send sendFunc, r request) (any, error) {
	fields, filter := v2SearchScope(r, taskSearchFields)
	var hits []any
	scanned, truncated, err := v2Scan(ctx, send, r, "/tasks", "tasks", filter, func(rec map[string]any) {
		if t := v2TaskFrom(rec); matchesAny(t, fields, r.query.Get("q")) {
			hits = append(hits, t)
		}
	})
	if err != nil {
		return nil, err
	}
	return v2SearchResult(r, "tasks", hits, scanned, truncated), nil
}

// v2SearchActionLists serves action_list_search from a bounded scan of GET
// /action-lists (status, project and sprint filtered by the backend,
// priority here).
func v2SearchActionLists(ctx context.Context, send sendFunc, r request) (any, error) {
	fields, filter := v2SearchScope(r, listSearchFields)
	if s := r.query.Get("status"); s != "" {
		st, err := v2ActionListStatus(s)
		if err != nil {
			return nil, err
		}
		filter.Set("status", fmt.Sprint(st))
	}
	var hits []any
	scanned, truncated, err := v2Scan(ctx, send, r, "/action-lists", "action_lists", filter, func(rec map[string]any) {
		al := v2ActionListFrom(rec)
		if p := r.query.Get("priority"); p != "" && al["priority"] != p {
			return
		}
		if matchesAny(al, fields, r.query.Get("q")) {
			hits = append(hits, al)
		}
	})
	if err != nil {
		return nil, err
	}
	return v2SearchResult(r, "data", hits, scanned, truncated), nil
}

// v2GetRecord GETs the one record at tmpl filled with id and returns it as
// read, for the operations that read a record before they act on it; op
// names the logical operation in a shape error.
func v2GetRecord(ctx context.Context, send sendFunc, op opID, tmpl, id string) (map[string]any, error) {
	p, err := v2Path(tmpl, id)
	if err != nil {
		return nil, err
	}
	v, err := send(ctx, wireCall{method: "GET", path: p})
	if err != nil {
		return nil, err
	}
	return asRecord(op, v)
}

// v2ProjectMetrics serves project_get_metrics: the project, and task
// statistics computed from a bounded scan of its tasks (truncated when
// the scan stopped before the end), in the shape of the legacy analytics.
func v2ProjectMetrics(ctx context.Context, send sendFunc, r request) (any, error) {
	project, err := v2GetRecord(ctx, send, r.op, "/projects/{}", r.args[0])
	if err != nil {
		return nil, err
	}
	byStatus, byPriority := map[string]any{}, map[string]any{}
	total := 0
	count := func(m map[string]any, k any) {
		key := fmt.Sprint(k)
		n, _ := m[key].(int)
		m[key] = n + 1
	}
	filter := url.Values{"project_id": {r.args[0]}}
	scanned, truncated, err := v2Scan(ctx, send, r, "/tasks", "tasks", filter, func(rec map[string]any) {
		t := v2TaskFrom(rec)
		total++
		count(byStatus, t["status"])
		count(byPriority, t["priority"])
	})
	if err != nil {
		return nil, err
	}
	completed, _ := byStatus["completed"].(int)
	inProgress, _ := byStatus["in_progress"].(int)
	pct := embPercent(completed, total)
	return map[string]any{
		"project": v2ProjectFrom(project),
		"task_statistics": map[string]any{
			"total": total, "completed": completed, "in_progress": inProgress,
			"by_status": byStatus, "by_priority": byPriority, "completion_percentage": pct,
		},
		"scanned": scanned, "truncated": truncated,
	}, nil
}

// v2EditSprints serves project_add_sprint (add) and project_remove_sprint
// as a read-modify-write of the project's sprints: GET the project, change
// the list, PUT only {sprints}. This races: a concurrent change to the
// same project's sprint list between the GET and the PUT is overwritten.
// The risk is bounded to that one field and one round trip (no other
// field is sent, so other edits to the project are never lost), and the
// answer is the backend's record after the PUT, so the caller sees what
// was stored.
func v2EditSprints(add bool) func(context.Context, sendFunc, request) (any, error) {
	return func(ctx context.Context, send sendFunc, r request) (any, error) {
		pid := r.args[0]
		var sid string
		if add {
			body, _ := r.body.(map[string]any)
			sid, _ = body["sprint_id"].(string)
		} else {
			sid = r.args[1]
		}
		project, err := v2GetRecord(ctx, send, r.op, "/projects/{}", pid)
		if err != nil {
			return nil, err
		}
		sprints, _ := project["sprints"].([]any)
		has := slices.Contains(sprints, any(sid))
		switch {
		case add && !has:
			sprints = append(slices.Clone(sprints), sid)
		case !add && has:
			sprints = slices.DeleteFunc(slices.Clone(sprints), func(s any) bool { return s == sid })
		default:
			return v2ProjectFrom(project), nil // nothing to change
		}
		p, err := v2Path("/projects/{}", pid)
		if err != nil {
			return nil, err
		}
		v, err := send(ctx, wireCall{method: "PUT", path: p, body: map[string]any{"sprints": orEmpty(sprints)}})
		if err != nil {
			return nil, err
		}
		rec, err := asRecord(r.op, v)
		if err != nil {
			return nil, err
		}
		return v2ProjectFrom(rec), nil
	}
}
