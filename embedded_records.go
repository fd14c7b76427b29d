package main

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The enumerations of docs/tools.md in the legacy vocabulary, which this
// backend speaks; the tool schemas offer these and TaskMan-v2's
// (TestSchemaEnumsAreTheBackendsUnion).
var (
	embTaskStatuses       = []string{"planned", "new", "pending", "in_progress", "completed", "blocked", "cancelled"}
	embWorkTypes          = []string{"task", "epic", "story", "bug", "feature", "spike"}
	embPriorities         = []string{"low", "medium", "high", "critical"}
	embProjectStatuses    = []string{"active", "inactive"}
	embActionListStatuses = []string{"planned", "new", "pending", "active", "in_progress", "blocked", "completed", "archived", "cancelled"}
)

// embServerOwned lists the fields the backend computes; request bodies that
// carry them (typically a record read back and sent again) have them ignored.
var embServerOwned = map[string]bool{
	"id": true, "created_at": true, "updated_at": true, "deleted": true, "deleted_at": true,
	"sprints": true, "total_items": true, "completed_items": true, "progress_percentage": true,
	"task_ids": true,
}

// embProblem is an error the client sees as a problem+json answer.
type embProblem struct {
	status int
	detail string
}

// Error returns the detail.
func (p *embProblem) Error() string { return p.detail }

// embErrf builds an *embProblem with a formatted detail.
func embErrf(status int, format string, args ...any) error {
	return &embProblem{status: status, detail: fmt.Sprintf(format, args...)}
}

// embFull is the 409 answer to an add that would take the record noun id
// past the most (limit) of what it can hold.
func embFull(noun, id string, limit int, what string) error {
	return embErrf(http.StatusConflict, "%s %s already has %d %s, the most it can hold", noun, id, limit, what)
}

// embWriteProblem writes an RFC 9457 problem+json answer.
func embWriteProblem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// embWriteJSON writes v as an application/json answer.
func embWriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		embWriteProblem(w, http.StatusInternalServerError, "internal error: encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// embDecode parses a request body holding exactly one JSON value, keeping
// numbers as json.Number so that pass-through fields survive unchanged. A
// body nested deeper or holding more values than jsonMessageShape allows is
// refused before it is decoded.
func embDecode(body []byte) (any, error) {
	if err := jsonMessageShape.check(body); err != nil {
		return nil, embErrf(http.StatusBadRequest, "request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, embErrf(http.StatusBadRequest, "request body: is empty, want JSON")
		}
		return nil, embErrf(http.StatusBadRequest, "request body: invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, embErrf(http.StatusBadRequest, "request body: unexpected data after the JSON value")
	}
	return v, nil
}

// embDecodeObject parses a request body that must be a JSON object.
func embDecodeObject(body []byte) (map[string]any, error) {
	v, err := embDecode(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, embErrf(http.StatusBadRequest, "request body: must be a JSON object")
	}
	return m, nil
}

// embCheck validates one field value and returns it normalised, or an
// error stating the rule it breaks (without the field name).
type embCheck func(v any) (any, error)

// embSpec describes the fields of one kind of record.
type embSpec struct {
	fields      map[string]embCheck
	required    []string       // needed on create, never null
	defaults    map[string]any // set on create when absent or null; never null in an update
	passThrough bool           // keep unknown fields instead of rejecting them
}

// changes validates the fields of in and returns them normalised; a nil
// value means "remove this field". prefix (e.g. "updates.") is put in front
// of field names in messages. On create, nulls are dropped and required
// fields must be present.
func (s *embSpec) changes(in map[string]any, create bool, prefix string) (map[string]any, error) {
	out := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		if embServerOwned[k] {
			continue
		}
		check, known := s.fields[k]
		if !known && !s.passThrough {
			return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: unknown field", prefix, k)
		}
		if v == nil {
			_, defaulted := s.defaults[k]
			if slices.Contains(s.required, k) || (defaulted && !create) {
				return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: must not be null", prefix, k)
			}
			if !create {
				out[k] = nil
			}
			continue
		}
		if known {
			nv, err := check(v)
			if err != nil {
				return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: %v", prefix, k, err)
			}
			v = nv
		}
		out[k] = v
	}
	if create {
		for _, k := range s.required {
			if _, ok := out[k]; !ok {
				return nil, embErrf(http.StatusUnprocessableEntity, "%s%s: is required", prefix, k)
			}
		}
	}
	return out, nil
}

// create validates in as a new record and returns it with defaults applied.
func (s *embSpec) create(in map[string]any) (map[string]any, error) {
	rec, err := s.changes(in, true, "")
	if err != nil {
		return nil, err
	}
	for k, v := range s.defaults {
		if _, ok := rec[k]; !ok {
			rec[k] = v
		}
	}
	return rec, nil
}

// createFrom decodes a request body, which must be a JSON object, and
// validates it as a new record.
func (s *embSpec) createFrom(body []byte) (map[string]any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return nil, err
	}
	return s.create(in)
}

// embApplyChanges returns a copy of rec with changes applied (nil removes).
func embApplyChanges(rec, changes map[string]any) map[string]any {
	out := maps.Clone(rec)
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// embString accepts a string of min..max characters.
func embString(minLen, maxLen int) embCheck {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("must be a string")
		}
		if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
			if minLen == 0 {
				return nil, fmt.Errorf("must be at most %d characters", maxLen)
			}
			return nil, fmt.Errorf("must be %d to %d characters", minLen, maxLen)
		}
		return s, nil
	}
}

// embText accepts a string of at most embMaxTextBytes bytes.
func embText(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, errors.New("must be a string")
	}
	if len(s) > embMaxTextBytes {
		return nil, fmt.Errorf("must be at most %d bytes (UTF-8), got %d", embMaxTextBytes, len(s))
	}
	return v, nil
}

// embEnum accepts one of values.
func embEnum(values ...string) embCheck {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok || !slices.Contains(values, s) {
			return nil, fmt.Errorf("must be one of %s", strings.Join(values, ", "))
		}
		return s, nil
	}
}

// embStringList accepts an array of at most maxItems strings of 1..maxLen
// characters each.
func embStringList(maxItems, maxLen int) embCheck {
	return func(v any) (any, error) {
		return embArray(v, "strings", maxItems, func(i int, x any) (any, error) {
			s, ok := x.(string)
			if !ok || s == "" || utf8.RuneCountInString(s) > maxLen {
				return nil, fmt.Errorf("item %d: must be a string of 1 to %d characters", i, maxLen)
			}
			return s, nil
		})
	}
}

// embArray accepts an array of at most maxItems elements (of names them
// for the error of any other value) and returns a new array of each
// element as each accepts it; each's error stops the check.
func embArray(v any, of string, maxItems int, each func(i int, x any) (any, error)) ([]any, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array of " + of)
	}
	if len(list) > maxItems {
		return nil, fmt.Errorf("must have at most %d items", maxItems)
	}
	out := make([]any, 0, len(list))
	for i, x := range list {
		y, err := each(i, x)
		if err != nil {
			return nil, err
		}
		out = append(out, y)
	}
	return out, nil
}

// embTimestamp accepts an RFC 3339 date-time string.
var embTimestamp = embTimeString(time.RFC3339,
	"must be an RFC 3339 date-time string",
	"must be an RFC 3339 date-time such as 2025-01-31T17:00:00Z, got %q")

// embTimeString accepts a string that time.Parse reads with layout;
// notString is the error for any other value, badForm the format (its %q
// the value) for a string in another form.
func embTimeString(layout, notString, badForm string) embCheck {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New(notString)
		}
		if _, err := time.Parse(layout, s); err != nil {
			return nil, fmt.Errorf(badForm, s)
		}
		return s, nil
	}
}

// embNonNegative accepts a number ≥ 0.
func embNonNegative(v any) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, errors.New("must be a number")
	}
	f, err := n.Float64()
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return nil, errors.New("must be a number ≥ 0")
	}
	return n, nil
}

// embNonNegativeInt accepts an integer ≥ 0 and returns it as an int.
func embNonNegativeInt(v any) (any, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, errors.New("must be an integer ≥ 0")
	}
	i, err := strconv.Atoi(n.String())
	if err != nil || i < 0 {
		return nil, errors.New("must be an integer ≥ 0")
	}
	return i, nil
}

// embBool accepts true or false.
func embBool(v any) (any, error) {
	if _, ok := v.(bool); !ok {
		return nil, errors.New("must be true or false")
	}
	return v, nil
}

// embObject accepts a JSON object.
func embObject(v any) (any, error) {
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("must be an object")
	}
	return v, nil
}

// embItemsField accepts the items of a new action list: an array of at most
// embMaxItems objects {text, completed?, order?}. Ids are added by the
// caller, which knows the store.
func embItemsField(v any) (any, error) {
	return embArray(v, "objects", embMaxItems, func(i int, x any) (any, error) {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d: must be an object", i)
		}
		item, err := embItemSpec.create(m)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		if _, ok := item["order"]; !ok {
			item["order"] = i
		}
		return item, nil
	})
}

// The field specs of every kind, from docs/tools.md. Lengths are in characters.
// The limits the tool schemas also state are the constants they read
// (maxTitle, maxRefID for the ids others send, maxPerson, maxTags,
// maxCommentTags), so the two cannot drift apart. The rest are this
// backend's own: lists of people are capped at 100, a tag at 100
// characters, a comment message at 10,000 (pages of prose) and an item's
// text at 1,000 (one line of a checklist).
var (
	embTaskSpec = embSpec{
		fields: map[string]embCheck{
			"title":            embString(1, maxTitle),
			"project_id":       embString(1, maxRefID),
			"description":      embText,
			"status":           embEnum(embTaskStatuses...),
			"work_type":        embEnum(embWorkTypes...),
			"priority":         embEnum(embPriorities...),
			"owner":            embString(0, maxPerson),
			"assignee":         embString(0, maxPerson),
			"assignees":        embStringList(100, 100),
			"tags":             embStringList(maxTags, 100),
			"sprint_id":        embString(1, maxRefID),
			"parent_task_id":   embString(1, maxRefID),
			"due_date":         embTimestamp,
			"done_date":        embTimestamp,
			"estimated_hours":  embNonNegative,
			"actual_hours":     embNonNegative,
			"notes":            embText,
			"completion_notes": embText,
			"summary":          embText,
		},
		required:    []string{"title", "project_id"},
		defaults:    map[string]any{"status": "new", "priority": "medium", "work_type": "task"},
		passThrough: true,
	}
	embProjectSpec = embSpec{
		fields: map[string]embCheck{
			"name":        embString(1, maxTitle),
			"description": embText,
			"status":      embEnum(embProjectStatuses...),
		},
		required: []string{"name"},
		defaults: map[string]any{"status": "active"},
	}
	embActionListSpec = embSpec{
		fields: map[string]embCheck{
			"title":       embString(1, maxTitle),
			"description": embText,
			"project_id":  embString(1, maxRefID),
			"sprint_id":   embString(1, maxRefID),
			"task_id":     embString(1, maxRefID),
			"status":      embEnum(embActionListStatuses...),
			"priority":    embEnum(embPriorities...),
			"notes":       embText,
			"owner":       embString(0, maxPerson),
			"tags":        embStringList(maxTags, 100),
			"metadata":    embObject,
			"items":       embItemsField,
		},
		required: []string{"title"},
		defaults: map[string]any{"status": "new", "priority": "medium"},
	}
	embItemSpec = embSpec{
		fields: map[string]embCheck{
			"text":      embString(1, 1000),
			"completed": embBool,
			"order":     embNonNegativeInt,
		},
		required: []string{"text"},
		defaults: map[string]any{"completed": false},
	}
	embCommentSpec = embSpec{
		fields: map[string]embCheck{
			"message": embString(1, 10000),
			"author":  embString(0, maxPerson),
			"tags":    embStringList(maxCommentTags, 100),
		},
		required: []string{"message"},
	}
	embBlockerSpec = embSpec{
		fields: map[string]embCheck{
			"title":              embString(1, maxTitle),
			"description":        embText,
			"severity":           embEnum(embPriorities...),
			"linked_task_id":     embString(1, maxRefID),
			"external_reference": embText,
		},
		required: []string{"title"},
		defaults: map[string]any{"severity": "medium"},
	}
	embSprintSpec = embSpec{
		fields:   map[string]embCheck{"sprint_id": embString(1, maxRefID)},
		required: []string{"sprint_id"},
	}
)

// embStr returns rec[k] if it is a string, else "".
func embStr(rec map[string]any, k string) string {
	s, _ := rec[k].(string)
	return s
}

// embStrings returns rec[k] as strings, skipping non-strings.
func embStrings(rec map[string]any, k string) []string {
	list, _ := rec[k].([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// embDeleted reports whether a task is soft-deleted.
func embDeleted(rec map[string]any) bool { return rec["deleted"] == true }

// embAsInt reads an integer stored either by this process (int) or by the
// JSON decoder (json.Number, after a load).
func embAsInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case json.Number:
		i, _ := strconv.Atoi(n.String())
		return i
	case float64:
		return int(n)
	}
	return 0
}

// embPercent returns part/whole as a percentage rounded to one decimal, 0
// when whole is 0.
func embPercent(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return math.Round(float64(part)*1000/float64(whole)) / 10
}

// embContainsFold reports whether s contains the lower-cased lowerSub,
// ignoring case.
func embContainsFold(s, lowerSub string) bool {
	return strings.Contains(strings.ToLower(s), lowerSub)
}

// embHasAll reports whether have contains every element of want.
func embHasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// embSorted returns the entries of t that keep accepts, in creation order.
func embSorted(t embTable, keep func(map[string]any) bool) []*embEntry {
	out := make([]*embEntry, 0, len(t))
	for _, ent := range t {
		if keep(ent.Record) {
			out = append(out, ent)
		}
	}
	slices.SortFunc(out, func(a, b *embEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// embRecords returns the records of entries, passed through view when it
// is not nil.
func embRecords(entries []*embEntry, view func(map[string]any) map[string]any) []any {
	out := make([]any, 0, len(entries))
	for _, ent := range entries {
		rec := ent.Record
		if view != nil {
			rec = view(rec)
		}
		out = append(out, rec)
	}
	return out
}

// embQueryInt reads an integer query parameter in lo..hi, def when absent.
func embQueryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, embErrf(http.StatusBadRequest, "%s: must be an integer from %d to %d, got %q", name, lo, hi, s)
	}
	return n, nil
}

// embQueryEnum reads an optional query parameter that must be one of values.
func embQueryEnum(q url.Values, name string, values []string) (string, error) {
	s := q.Get(name)
	if s != "" && !slices.Contains(values, s) {
		return "", embErrf(http.StatusBadRequest, "%s: must be one of %s, got %q", name, strings.Join(values, ", "), s)
	}
	return s, nil
}

// embEnumParam is a list filter whose values are an enum.
type embEnumParam struct {
	name   string
	values []string
}

// embEqualFilters reads the list filters a record must match exactly: the
// enum parameters, checked against their values in order, and the free
// ones. It maps each field given to its value.
func embEqualFilters(q url.Values, enums []embEnumParam, free ...string) (map[string]string, error) {
	equal := map[string]string{}
	for _, p := range enums {
		v, err := embQueryEnum(q, p.name, p.values)
		if err != nil {
			return nil, err
		}
		if v != "" {
			equal[p.name] = v
		}
	}
	for _, name := range free {
		if v := q.Get(name); v != "" {
			equal[name] = v
		}
	}
	return equal, nil
}

// embMatches reports whether rec has every field of equal at its value.
func embMatches(rec map[string]any, equal map[string]string) bool {
	for k, v := range equal {
		if embStr(rec, k) != v {
			return false
		}
	}
	return true
}

// embQueryFields reads the fields parameter of a search (repeated or
// comma-separated), def when absent.
func embQueryFields(q url.Values, allowed, def []string) ([]string, error) {
	var out []string
	for _, v := range q["fields"] {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if !slices.Contains(allowed, f) {
				return nil, embErrf(http.StatusBadRequest, "fields: must be among %s, got %q", strings.Join(allowed, ", "), f)
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return def, nil
	}
	return out, nil
}

// embEncodeCursor returns the opaque cursor meaning "after the record with
// creation sequence seq" in the list named kind.
func embEncodeCursor(kind string, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + strconv.FormatInt(seq, 10)))
}

// embDecodeCursor is the inverse of embEncodeCursor; a cursor from another
// list or not made by it is a 400.
func embDecodeCursor(kind, cursor string) (int64, error) {
	bad := embErrf(http.StatusBadRequest, "cursor: %q is not a cursor this list returned", cursor)
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, bad
	}
	rest, ok := strings.CutPrefix(string(raw), kind+":")
	if !ok {
		return 0, bad
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || seq < 0 {
		return 0, bad
	}
	return seq, nil
}

// embPage cuts one page from entries (in creation order) using the limit
// and cursor query parameters, and returns the cursor of the next page ("" on
// the last one). The cursor holds the last sequence number returned, so
// records inserted meanwhile (which sort later) neither shift nor repeat the
// pages of earlier records.
func embPage(q url.Values, kind string, entries []*embEntry) ([]*embEntry, string, error) {
	limit, err := embQueryInt(q, "limit", embDefaultLimit, 1, embMaxListLimit)
	if err != nil {
		return nil, "", err
	}
	var after int64
	if c := q.Get("cursor"); c != "" {
		if after, err = embDecodeCursor(kind, c); err != nil {
			return nil, "", err
		}
	}
	start, _ := slices.BinarySearchFunc(entries, after, func(ent *embEntry, seq int64) int {
		if ent.Seq <= seq {
			return -1
		}
		return 1
	})
	page := entries[start:]
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = embEncodeCursor(kind, page[limit-1].Seq)
	}
	return page, next, nil
}

// embListAnswer answers a list: the cursor page of entries (all the
// matches, in order) as {kind: [...], next_cursor?, total, has_more}, each
// record shown through view (nil: as stored); total counts every match,
// not only the page.
func embListAnswer(q url.Values, kind string, entries []*embEntry, view func(map[string]any) map[string]any) (int, any, error) {
	page, next, err := embPage(q, kind, entries)
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{kind: embRecords(page, view), "total": len(entries), "has_more": next != ""}
	if next != "" {
		out["next_cursor"] = next
	}
	return http.StatusOK, out, nil
}

// embSearchAnswer answers a search: the skip/limit window of all its
// matches, with the page's count, the total and whether more follow.
func embSearchAnswer(q url.Values, query string, all []any, maxLimit int) (int, any, error) {
	skip, err := embQueryInt(q, "skip", 0, 0, math.MaxInt32)
	if err != nil {
		return 0, nil, err
	}
	limit, err := embQueryInt(q, "limit", embDefaultLimit, 1, maxLimit)
	if err != nil {
		return 0, nil, err
	}
	data := []any{}
	if skip < len(all) {
		data = all[skip:min(len(all), skip+limit)]
	}
	return http.StatusOK, map[string]any{"success": true, "query": query, "count": len(data), "data": data,
		"total": len(all), "has_more": skip+len(data) < len(all)}, nil
}

// embIDList reads in[key] as 1..embMaxBulkIDs distinct id strings.
func embIDList(v any, key string) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > embMaxBulkIDs {
		return nil, embErrf(http.StatusUnprocessableEntity, "%s: must be an array of 1 to %d ids", key, embMaxBulkIDs)
	}
	ids := make([]string, 0, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok || s == "" {
			return nil, embErrf(http.StatusUnprocessableEntity, "%s: item %d: must be a non-empty string", key, i)
		}
		if slices.Contains(ids, s) {
			return nil, embErrf(http.StatusUnprocessableEntity, "%s: %s appears more than once", key, s)
		}
		ids = append(ids, s)
	}
	return ids, nil
}

// embUpdates reads the updates object of a bulk call and validates it with
// spec as a partial record.
func embUpdates(spec *embSpec, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, embErrf(http.StatusUnprocessableEntity, "updates: must be an object")
	}
	changes, err := spec.changes(m, false, "updates.")
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, embErrf(http.StatusUnprocessableEntity, "updates: must contain at least one field to change")
	}
	return changes, nil
}

// embMatchFields reports whether any of fields of rec contains lowerQuery
// (a list field matches when one of its strings does).
func embMatchFields(rec map[string]any, fields []string, lowerQuery string) bool {
	for _, f := range fields {
		if f == "tags" {
			for _, t := range embStrings(rec, f) {
				if embContainsFold(t, lowerQuery) {
					return true
				}
			}
			continue
		}
		if embContainsFold(embStr(rec, f), lowerQuery) {
			return true
		}
	}
	return false
}
