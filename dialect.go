package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// dialect names the contract a Task Manager backend speaks (docs/dialects.md).
type dialect string

// The dialects. auto is a configuration value only: the client replaces it
// with what detection finds.
const (
	dialectAuto      dialect = "auto"
	dialectLegacy    dialect = "legacy"
	dialectTaskmanV2 dialect = "taskman-v2"
)

// dialectNames lists the values TASKMAN_BACKEND_DIALECT accepts.
var dialectNames = []string{string(dialectAuto), string(dialectLegacy), string(dialectTaskmanV2)}

// title names the dialect's backend for people, e.g. in "not supported by
// the TaskMan-v2 backend"; a legacy backend is "this backend", as the
// reason names the legacy API.
func (d dialect) title() string {
	if d == dialectTaskmanV2 {
		return "the TaskMan-v2 backend"
	}
	return "this backend"
}

// wireCall is one HTTP exchange as a dialect sends it.
type wireCall struct {
	method   string
	path     string // already escaped; relative to the base URL, or to the origin when atOrigin
	atOrigin bool   // path is relative to the origin (the base without /api/v1 or /api)
	query    url.Values
	body     any // JSON-encoded when non-nil
	// record: the answer is one record that reaches the tool result
	// untouched, so it may stay JSON text (json.RawMessage).
	record bool
}

// sendFunc performs one wireCall on behalf of a logical operation, with its
// retries, metrics and spans, and returns the decoded answer (nil for an
// empty one), or for a wireCall.record its JSON text (see recordText).
type sendFunc func(ctx context.Context, wc wireCall) (any, error)

// route is how one dialect serves one logical operation. The zero route
// sends the operation's legacy template unchanged and returns the answer
// as decoded.
type route struct {
	// unsupported, when set, says why the dialect cannot serve the
	// operation; nothing is sent.
	unsupported string
	// build turns the logical request into the call to send; nil means
	// legacyCall.
	build func(r request) (wireCall, error)
	// read turns the decoded answer into the tools' vocabulary; nil keeps
	// it as it is.
	read func(r request, v any) (any, error)
	// run serves an operation that needs several calls (a read-back, a
	// scan, one call per id); when set, build and read are not used.
	run func(ctx context.Context, send sendFunc, r request) (any, error)
}

// adapter is one dialect's translation of every logical operation. The
// tools speak only logical operations (opID with the legacy arguments of
// docs/backend-api.md); breakers, cache keys, invalidation and metrics stay
// keyed by those, whichever dialect answers.
type adapter struct {
	dialect dialect
	routes  [numOps]route
}

// adapterFor returns the adapter of a decided dialect; owner is the
// default owner of tasks created on TaskMan-v2.
func adapterFor(d dialect, owner string) *adapter {
	if d == dialectTaskmanV2 {
		return newTaskmanV2Adapter(owner)
	}
	return legacyAdapter
}

// unsupportedError is an operation the backend's dialect has no way to
// serve. It is decided before anything is sent.
type unsupportedError struct {
	dialect dialect
	op      opID
	reason  string
}

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("not supported by %s: %s", e.dialect.title(), e.reason)
}

// check returns an *unsupportedError when the dialect cannot serve op.
func (a *adapter) check(op opID) error {
	if why := a.routes[op].unsupported; why != "" {
		return &unsupportedError{dialect: a.dialect, op: op, reason: why}
	}
	return nil
}

// perform serves the logical request r with the dialect's route. The
// caller has checked that the dialect serves r.op (call does, before the
// breaker).
func (a *adapter) perform(ctx context.Context, send sendFunc, r request) (any, error) {
	rt := a.routes[r.op]
	if rt.run != nil {
		return rt.run(ctx, send, r)
	}
	build := rt.build
	if build == nil {
		build = legacyCall
	}
	wc, err := build(r)
	if err != nil {
		return nil, err
	}
	wc.record = r.untouched && rt.read == nil
	v, err := send(ctx, wc)
	if err != nil || rt.read == nil {
		return v, err
	}
	return rt.read(r, v)
}

// legacyCall is the call of docs/backend-api.md for r: its operation's
// method and template, its query and body unchanged.
func legacyCall(r request) (wireCall, error) {
	return wireCall{method: operations[r.op].method, path: r.path(), query: r.query, body: r.body}, nil
}

// legacyAdapter speaks docs/backend-api.md to a remote backend. Every
// operation is its template, with TaskMan-v2 values of the union enums
// turned into legacy ones; a remove-item answer without the action list is
// read back. The operations legacyRemoteLacks names are refused.
var legacyAdapter = newLegacyAdapter(true)

// embeddedAdapter is legacyAdapter for the embedded backend, which also has
// the endpoints legacyRemoteLacks names.
var embeddedAdapter = newLegacyAdapter(false)

// undecidedAdapter serves the calls made while auto detection has not
// reached the backend: legacy calls with nothing refused, so that a call
// the backend cannot be asked fails as unreachable (or with the caller's
// cancellation), not as "not supported" by a dialect nobody knows yet.
var undecidedAdapter = newLegacyAdapter(false)

// newLegacyAdapter builds legacyAdapter (remote) or embeddedAdapter.
func newLegacyAdapter(remote bool) *adapter {
	a := &adapter{dialect: dialectLegacy}
	for op := range numOps {
		a.routes[op].build = legacyMapped
		if remote {
			a.routes[op].unsupported = legacyRemoteLacks(op)
		}
	}
	a.routes[opRemoveItem] = route{run: removeItemThenRead(legacyMapped, legacyMapped)}
	return a
}

// legacyRemoteLacks says why a remote backend speaking the contract of
// docs/backend-api.md cannot serve op, or "" when it can. The sprint,
// task-completion and task-link endpoints came after that contract: the
// embedded backend has them, a legacy remote one would answer 404, so the
// call is refused before anything is sent.
func legacyRemoteLacks(op opID) string {
	switch op {
	case opListSprints, opCreateSprint, opGetSprint, opUpdateSprint, opDeleteSprint, opSprintProgress, opStartSprint, opCompleteSprint:
		return "the legacy Task Manager API has no /sprints endpoints (the embedded backend and TaskMan-v2 have them)"
	case opCompleteTask:
		return "the legacy Task Manager API has no POST /tasks/{id}/complete; use task_set_status with status completed"
	case opListLinkedTasks, opLinkTask, opUnlinkTask:
		return "the legacy Task Manager API has no action-list task links (the embedded backend and TaskMan-v2 have them)"
	}
	return ""
}

// legacyValues turns the TaskMan-v2 values of the union enums into legacy
// ones: the TaskMan-v2 dialect's own maps back (taskmanv2.go). The schemas
// bound which values reach each field, so one map per field name is
// unambiguous: done, dropped and ready are task statuses only, paused a
// project status only.
var legacyValues = map[string]map[string]string{
	"status":   joinMaps(v2TaskStatusFrom, v2ProjectStatusFrom),
	"priority": v2PriorityFrom,
	"severity": v2PriorityFrom,
}

// joinMaps returns one map holding the entries of ms.
func joinMaps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// legacyMapped is legacyCall with TaskMan-v2 enum values mapped to legacy
// ones in the query, the body and a bulk body's updates. A value without a
// legacy equivalent (review, closed, ...) is sent as given and the backend
// refuses it with its own message.
func legacyMapped(r request) (wireCall, error) {
	wc, _ := legacyCall(r)
	if len(r.query) > 0 {
		q := make(url.Values, len(r.query))
		for k, vs := range r.query {
			m := legacyValues[k]
			if m == nil {
				q[k] = vs // wc.query is only encoded: sharing the slice is safe
				continue
			}
			mapped := make([]string, len(vs))
			for i, v := range vs {
				mapped[i] = cmp.Or(m[v], v)
			}
			q[k] = mapped
		}
		wc.query = q
	}
	if body, ok := r.body.(map[string]any); ok {
		wc.body = legacyMapBody(body)
	}
	return wc, nil
}

// legacyMapBody returns body with legacyValues applied to its fields and
// to those of its updates object.
func legacyMapBody(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		switch {
		case k == "updates":
			if u, ok := v.(map[string]any); ok {
				v = legacyMapBody(u)
			}
		case legacyValues[k] != nil:
			v = mapValue(v, legacyValues[k])
		}
		out[k] = v
	}
	return out
}

// removeItemThenRead returns a route that removes an item with remove's call
// and, when the backend answers without the action list (204, empty body),
// reads the list back with read's call, so the tool always answers with the
// list.
func removeItemThenRead(remove, read func(request) (wireCall, error)) func(context.Context, sendFunc, request) (any, error) {
	return func(ctx context.Context, send sendFunc, r request) (any, error) {
		wc, err := remove(r)
		if err != nil {
			return nil, err
		}
		v, err := send(ctx, wc)
		if err != nil || v != nil {
			return v, err
		}
		get, err := read(request{op: opGetActionList, args: r.args[:1]})
		if err != nil {
			return nil, err
		}
		return send(ctx, get)
	}
}

// callNotes collects what a dialect could not do exactly as asked, for the
// tool result: input fields the backend has no place for, and list filters
// applied here because the backend does not apply them. A nil *callNotes
// records nothing.
type callNotes struct {
	dropped      []string
	localFilters []string
}

// drop records input fields the backend did not store.
func (n *callNotes) drop(fields ...string) {
	if n != nil {
		n.dropped = appendNew(n.dropped, fields...)
	}
}

// filteredLocally records list filters applied to the backend's page here.
func (n *callNotes) filteredLocally(filters ...string) {
	if n != nil {
		n.localFilters = appendNew(n.localFilters, filters...)
	}
}

// appendNew appends to list each of names it does not hold yet.
func appendNew(list []string, names ...string) []string {
	for _, name := range names {
		if !slices.Contains(list, name) {
			list = append(list, name)
		}
	}
	return list
}

// Keys of the notes in a tool result's _meta.
const (
	metaDroppedFields = "io.taskman/dropped_fields"
	metaLocalFilters  = "io.taskman/local_filters"
)

// annotate adds the notes to a successful tool result: _meta entries
// (io.taskman/dropped_fields, io.taskman/local_filters) for programs and a
// text block for people.
func (n *callNotes) annotate(res *toolResult) {
	if n == nil || (len(n.dropped) == 0 && len(n.localFilters) == 0) {
		return
	}
	var text []string
	if len(n.dropped) > 0 {
		slices.Sort(n.dropped)
		res.meta().DroppedFields = n.dropped
		text = append(text, "Not stored (the backend has no place for them): "+strings.Join(n.dropped, ", ")+".")
	}
	if len(n.localFilters) > 0 {
		slices.Sort(n.localFilters)
		res.meta().LocalFilters = n.localFilters
		text = append(text, "Filtered here, within the page the backend returned (it does not apply them): "+strings.Join(n.localFilters, ", ")+".")
	}
	res.Content = append(res.Content, contentBlock{Type: "text", Text: strings.Join(text, " ")})
}

// dialectDetectTimeout bounds one detection: it runs at start and, when it
// could not decide, before the next call, so it must stay short.
const dialectDetectTimeout = 3 * time.Second

// taskmanV2Title is the OpenAPI info.title of the TaskMan-v2 backend.
const taskmanV2Title = "TaskMan-v2 Backend API"

// originOf returns the base URL without a trailing /api/v1 or /api: where
// TaskMan-v2 serves /health and /openapi.json.
func originOf(base string) string {
	for _, suffix := range []string{"/api/v1", "/api"} {
		if s, ok := strings.CutSuffix(base, suffix); ok {
			return s
		}
	}
	return base
}

// detectDialect asks the backend which contract it speaks, in order:
// GET {origin}/openapi.json naming the TaskMan-v2 API; the GET
// {origin}/api/health fingerprint (canonical_base); GET {base}/health
// answering 2xx (legacy); GET {origin}/health in TaskMan-v2's
// HealthResponse shape (database and environment next to status). It
// returns the dialect and the evidence, or an error when the backend could
// not be asked and nothing matched.
func (c *backendClient) detectDialect(ctx context.Context) (dialect, string, error) {
	origin := originOf(c.base)
	var unreachable error
	probe := func(target string) (int, any) {
		status, v, err := c.probe(ctx, target)
		if err != nil && unreachable == nil {
			unreachable = err
		}
		return status, v
	}
	if status, v := probe(origin + "/openapi.json"); ok2xx(status) {
		info, _ := field(v, "info").(map[string]any)
		if info["title"] == taskmanV2Title {
			return dialectTaskmanV2, "GET /openapi.json is the " + taskmanV2Title, nil
		}
	}
	if status, v := probe(origin + "/api/health"); ok2xx(status) {
		if cb, ok := field(v, "canonical_base").(string); ok && cb != "" {
			return dialectTaskmanV2, "GET /api/health names canonical_base " + cb, nil
		}
	}
	if status, _ := probe(c.base + "/health"); ok2xx(status) {
		return dialectLegacy, "GET {base}/health answers " + fmt.Sprint(status), nil
	}
	if status, v := probe(origin + "/health"); ok2xx(status) && field(v, "database") != nil && field(v, "environment") != nil {
		return dialectTaskmanV2, "GET /health answers in the TaskMan-v2 HealthResponse shape", nil
	}
	if unreachable != nil {
		return "", "", unreachable
	}
	return dialectLegacy, "no TaskMan-v2 fingerprint; the legacy contract is the default", nil
}

// ok2xx reports whether status is a success.
func ok2xx(status int) bool { return status >= 200 && status < 300 }

// field returns v[key] when v is a JSON object, else nil.
func field(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

// probe GETs target once, outside breakers, retries and metrics (detection
// is not a logical operation), and returns the status and decoded JSON body
// (nil when it is not JSON). err is set only when no answer came.
func (c *backendClient) probe(ctx context.Context, target string) (int, any, error) {
	req, err := c.newRequest(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return 0, nil, c.transportError(ctx, opHealth, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, c.transportError(ctx, opHealth, err)
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		v = nil
	}
	return resp.StatusCode, v, nil
}

// adapter returns the adapter for the backend's dialect, detecting it
// first when it is not decided yet (auto, and detection at start could not
// reach the backend). Until a detection succeeds each call tries again and
// is served as legacy meanwhile.
func (c *backendClient) adapter(ctx context.Context) *adapter {
	if a := c.decided.Load(); a != nil {
		return a
	}
	select {
	case c.detecting <- struct{}{}:
		defer func() { <-c.detecting }()
	case <-ctx.Done():
		return undecidedAdapter // the call ends with ctx's error before sending anything
	}
	if a := c.decided.Load(); a != nil {
		return a
	}
	dctx, cancel := context.WithTimeout(ctx, dialectDetectTimeout)
	defer cancel()
	d, evidence, err := c.detectDialect(dctx)
	if err != nil {
		c.logger.WarnContext(ctx, "could not tell which dialect the backend speaks; this call uses legacy and the next one asks again",
			"err", err, "hint", "set TASKMAN_BACKEND_DIALECT=legacy or taskman-v2 to skip detection")
		return undecidedAdapter
	}
	a := adapterFor(d, c.defaultOwner)
	c.decided.Store(a)
	c.logger.InfoContext(ctx, "backend dialect decided", "dialect", string(d), "evidence", evidence)
	return a
}

// dialectName reports the backend's dialect: the decided one, or "auto
// (undecided)" while detection has not succeeded.
func (c *backendClient) dialectName() string {
	if a := c.decided.Load(); a != nil {
		return string(a.dialect)
	}
	return "auto (undecided)"
}
