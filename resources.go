package main

// Resources (docs/mcp.md, "Resources"): each task, project, sprint and
// action list is a resource taskman://<kind>/{id}. It is read through the
// tool that reads it, so a resource is the same record the tool returns,
// fetched by the same backend operation (breakers, cache, metrics and
// dialect included), and offered only when that tool is.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// resourceScheme is the URI scheme of every resource.
const resourceScheme = "taskman://"

// codeResourceNotFound is the legacy versions' "Resource not found";
// 2026-07-28 uses -32602 instead.
const codeResourceNotFound = -32002

// resourceKind is one kind of record served as a resource.
type resourceKind struct {
	path     string // the URI path segment: taskman://<path>/{id}
	name     string // the template's name
	title    string // the template's title
	readTool string // the tool that reads one record
	idArg    string // readTool's id argument
	key      string // the key of readTool's result holding the record
	listTool string // the tool listing them, for resources/list and completions
	listKey  string // the key of listTool's result holding the records
	unlisted bool   // too many for resources/list: reached by template only
}

// resourceKinds are the kinds of resource, in resources/list order.
var resourceKinds = []resourceKind{
	{path: "projects", name: "project", title: "Project", readTool: "project_read", idArg: "projectId", key: "project",
		listTool: "project_list", listKey: "projects"},
	{path: "sprints", name: "sprint", title: "Sprint", readTool: "sprint_read", idArg: "sprintId", key: "sprint",
		listTool: "sprint_list", listKey: "sprints"},
	{path: "action-lists", name: "action_list", title: "Action list", readTool: "action_list_read", idArg: "action_list_id", key: "action_list",
		listTool: "action_list_list", listKey: "action_lists"},
	{path: "tasks", name: "task", title: "Task", readTool: "task_read", idArg: "taskId", key: "task",
		listTool: "task_list", listKey: "tasks", unlisted: true},
}

// uri returns the resource URI of the record id of this kind.
func (k *resourceKind) uri(id string) string {
	return resourceScheme + k.path + "/" + id
}

// template returns the URI template of this kind's resources.
func (k *resourceKind) template() string { return k.uri("{id}") }

// parseResourceURI splits taskman://<path>/{id} into its kind and id.
func parseResourceURI(uri string) (*resourceKind, string, bool) {
	rest, ok := strings.CutPrefix(uri, resourceScheme)
	if !ok {
		return nil, "", false
	}
	path, id, ok := strings.Cut(rest, "/")
	if !ok || id == "" || len(id) > maxRefID || strings.ContainsAny(id, "/?#") {
		return nil, "", false
	}
	for i := range resourceKinds {
		if resourceKinds[i].path == path {
			return &resourceKinds[i], id, true
		}
	}
	return nil, "", false
}

// offersKind reports whether the server offers the kind's read tool
// (TASKMAN_TOOLSETS may leave it out).
func (s *server) offersKind(k *resourceKind) bool {
	return s.offer.refusal(s.byName[k.readTool]) == ""
}

// runTool runs an offered tool on behalf of a resource or prompt method,
// after the same argument validation as tools/call. The toolCall it
// returns tells whether the answer came from the fallback cache.
func (s *server) runTool(ctx context.Context, name string, args map[string]any) (map[string]any, *toolCall, error) {
	t := s.byName[name]
	if why := s.offer.refusal(t); why != "" {
		return nil, nil, errors.New(name + ": " + why)
	}
	if err := t.input.validate("", args); err != nil {
		return nil, nil, err
	}
	tc := s.newToolCall()
	payload, err := t.call(ctx, tc, args)
	return payload, tc, err
}

// readResource returns the record behind a resource URI.
func (s *server) readResource(ctx context.Context, k *resourceKind, id string) (map[string]any, *toolCall, error) {
	payload, tc, err := s.runTool(ctx, k.readTool, map[string]any{k.idArg: id})
	if err != nil {
		return nil, nil, err
	}
	return recordOf(payload[k.key]), tc, nil
}

// recordOf returns a record of a tool's payload as a map. A tool that
// returns a record untouched passes the backend's JSON text through
// (json.RawMessage, see tc.record: a valid, compact object), which is
// decoded here as the tool's own decoding would, numbers exact; nil when
// v is neither.
func recordOf(v any) map[string]any {
	switch r := v.(type) {
	case map[string]any:
		return r
	case json.RawMessage:
		if len(r) > 0 {
			m, _ := decodeValid(r, 0)
			rec, _ := m.(map[string]any)
			return rec
		}
	}
	return nil
}

// callerFault reports whether err is the caller's: a bad argument, or a
// record the backend does not have.
func callerFault(err error) bool {
	var berr *backendError
	var aerr *argError
	return errors.As(err, &aerr) || errors.As(err, &berr) && berr.status == http.StatusNotFound
}

// resourceError turns a failed read into the JSON-RPC error of version v:
// an unknown URI or a record the backend does not have is "Resource not
// found" (-32002, -32602 in 2026-07-28), anything else an internal error
// naming what failed.
func resourceError(v, uri string, err error) error {
	if err != nil && !callerFault(err) {
		return &rpcError{Code: codeInternalError, Message: "reading " + uri + " failed: " + err.Error()}
	}
	code := codeResourceNotFound
	if v == versionModern {
		code = codeInvalidParams
	}
	return &rpcError{Code: code, Message: "Resource not found", Data: map[string]any{"uri": uri}}
}

// resourcesRead answers resources/read: the record as application/json.
func (s *server) resourcesRead(ctx context.Context, c *invocation) (any, error) {
	var uri string
	if c.req.param("uri", &uri) != nil || uri == "" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: resources/read needs params.uri, e.g. taskman://tasks/T-1"}
	}
	k, id, ok := parseResourceURI(uri)
	if !ok || !s.offersKind(k) {
		return nil, resourceError(c.version, uri, nil)
	}
	rec, tc, err := s.readResource(ctx, k, id)
	if err != nil {
		return nil, resourceError(c.version, uri, err)
	}
	text, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", uri, err)
	}
	res := &resourcesReadResult{Contents: []resourceContents{{URI: uri, MimeType: "application/json", Text: string(text)}}}
	if tc.stale != nil {
		res.Meta = &resultMeta{Stale: tc.stale.mark()}
	}
	res.cacheHints.set(c.version)
	return res, nil
}

// resourcesTemplatesList answers resources/templates/list: one template
// per offered kind.
func (s *server) resourcesTemplatesList(_ context.Context, c *invocation) (any, error) {
	res := &resourceTemplatesListResult{ResourceTemplates: []resourceTemplate{}}
	for i := range resourceKinds {
		k := &resourceKinds[i]
		if !s.offersKind(k) {
			continue
		}
		res.ResourceTemplates = append(res.ResourceTemplates, resourceTemplate{
			URITemplate: k.template(),
			Name:        k.name,
			Title:       k.title,
			Description: fmt.Sprintf("One %s by id, as %s returns it.", strings.ToLower(k.title), k.readTool),
			MimeType:    "application/json",
		})
	}
	res.cacheHints.set(c.version)
	return res, nil
}

// resourcesList answers resources/list: the projects, then the sprints,
// then the action lists, up to s.resourcesPageSize a page. The cursor is
// opaque: the kind reached and the backend's own cursor within it.
func (s *server) resourcesList(ctx context.Context, c *invocation) (any, error) {
	var cursor *string
	_ = c.req.param("cursor", &cursor)
	kind, inner := 0, ""
	if cursor != nil {
		var err error
		if kind, inner, err = decodeResourceCursor(*cursor); err != nil {
			return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown cursor %q", *cursor)}
		}
	}
	res := &resourcesListResult{Resources: []resourceEntry{}}
	for ; kind < len(resourceKinds); kind, inner = kind+1, "" {
		k := &resourceKinds[kind]
		if k.unlisted || !s.offersKind(k) {
			continue
		}
		room := s.resourcesPageSize - len(res.Resources)
		if room == 0 {
			res.NextCursor = encodeResourceCursor(kind, "")
			break
		}
		entries, next, err := s.listResources(ctx, k, inner, room)
		if err != nil {
			return nil, err
		}
		res.Resources = append(res.Resources, entries...)
		if next != "" {
			res.NextCursor = encodeResourceCursor(kind, next)
			break
		}
	}
	res.cacheHints.set(c.version)
	return res, nil
}

// listResources returns one backend page (at most limit records) of a
// kind's records as resources, and the backend's cursor of the next page.
func (s *server) listResources(ctx context.Context, k *resourceKind, cursor string, limit int) ([]resourceEntry, string, error) {
	recs, next, err := s.listPage(ctx, k, nil, cursor, limit)
	if err != nil {
		return nil, "", &rpcError{Code: codeInternalError, Message: "resources/list: " + k.listTool + " failed: " + err.Error()}
	}
	var entries []resourceEntry
	for _, rec := range recs {
		id, _ := rec["id"].(string)
		entries = append(entries, resourceEntry{URI: k.uri(id), Name: id, Title: recordLabel(rec), MimeType: "application/json"})
	}
	return entries, next, nil
}

// listPage returns one page (at most limit) of a kind's records with an
// id, through its list tool with filter, and the backend's cursor of the
// next page. A backend whose dialect has no such records (sprints on a
// remote legacy API) has none.
func (s *server) listPage(ctx context.Context, k *resourceKind, filter map[string]any, cursor string, limit int) ([]map[string]any, string, error) {
	args := map[string]any{"limit": json.Number(strconv.Itoa(limit))}
	for key, v := range filter {
		args[key] = v
	}
	if cursor != "" {
		args["cursor"] = cursor
	}
	payload, _, err := s.runTool(ctx, k.listTool, args)
	var uerr *unsupportedError
	if errors.As(err, &uerr) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var recs []map[string]any
	for _, it := range payload[k.listKey].([]any) {
		if rec, _ := it.(map[string]any); rec != nil {
			if id, _ := rec["id"].(string); id != "" {
				recs = append(recs, rec)
			}
		}
	}
	next, _ := payload["next_cursor"].(string)
	return recs, next, nil
}

// recordLabel is a record's human name: its title, else its name.
func recordLabel(rec map[string]any) string {
	if t, _ := rec["title"].(string); t != "" {
		return t
	}
	n, _ := rec["name"].(string)
	return n
}

// encodeResourceCursor and decodeResourceCursor turn a resources/list
// position (kind index, backend cursor) into an opaque cursor and back.
func encodeResourceCursor(kind int, inner string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("resources:" + strconv.Itoa(kind) + ":" + inner))
}

func decodeResourceCursor(c string) (int, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", err
	}
	rest, ok := strings.CutPrefix(string(b), "resources:")
	if !ok {
		return 0, "", errors.New("not a resources cursor")
	}
	n, inner, _ := strings.Cut(rest, ":")
	kind, err := strconv.Atoi(n)
	if err != nil || kind < 0 || kind >= len(resourceKinds) {
		return 0, "", errors.New("bad kind")
	}
	return kind, inner, nil
}
