package main

// A small OpenAPI 3 request validator for the contract tests of the
// TaskMan-v2 dialect: it checks every request the adapter sends against
// testdata/taskman-v2-openapi.json (path and method exist, query parameters
// declared and within bounds, body fields declared, required fields
// present, types, enums, patterns and lengths held). It is stricter than
// that backend in one way on purpose: an undeclared query parameter or body
// field is a violation, because the backend silently ignores it, so a wrong
// name would otherwise fail quietly.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// openAPIDoc is the parsed OpenAPI document.
type openAPIDoc struct {
	Info  struct{ Title string }                   `json:"info"`
	Paths map[string]map[string]openAPIOperation   `json:"paths"`
	Comps struct{ Schemas map[string]*jsonSchema } `json:"components"`
}

// openAPIOperation is one method of one path.
type openAPIOperation struct {
	Parameters []struct {
		Name     string      `json:"name"`
		In       string      `json:"in"`
		Required bool        `json:"required"`
		Schema   *jsonSchema `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Required bool `json:"required"`
		Content  map[string]struct {
			Schema *jsonSchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

// jsonSchema is the subset of JSON Schema the document uses.
type jsonSchema struct {
	Ref        string                 `json:"$ref"`
	Type       string                 `json:"type"`
	Enum       []any                  `json:"enum"`
	Pattern    string                 `json:"pattern"`
	Format     string                 `json:"format"`
	MinLength  *int                   `json:"minLength"`
	MaxLength  *int                   `json:"maxLength"`
	Minimum    *float64               `json:"minimum"`
	Maximum    *float64               `json:"maximum"`
	AnyOf      []*jsonSchema          `json:"anyOf"`
	Items      *jsonSchema            `json:"items"`
	Properties map[string]*jsonSchema `json:"properties"`
	Required   []string               `json:"required"`
}

var (
	openAPIOnce sync.Once
	openAPI     *openAPIDoc
	openAPIErr  error
)

// loadOpenAPI returns the TaskMan-v2 OpenAPI document of testdata/.
func loadOpenAPI(t testing.TB) *openAPIDoc {
	t.Helper()
	openAPIOnce.Do(func() {
		raw, err := os.ReadFile("testdata/taskman-v2-openapi.json")
		if err != nil {
			openAPIErr = err
			return
		}
		openAPI = &openAPIDoc{}
		openAPIErr = json.Unmarshal(raw, openAPI)
	})
	if openAPIErr != nil {
		t.Fatalf("load testdata/taskman-v2-openapi.json: %v", openAPIErr)
	}
	return openAPI
}

// resolve follows a $ref.
func (d *openAPIDoc) resolve(s *jsonSchema) *jsonSchema {
	for s != nil && s.Ref != "" {
		s = d.Comps.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

// route finds the path template matching path, preferring literal segments
// (so /items/reorder wins over /items/{item_id}).
func (d *openAPIDoc) route(path string) (string, bool) {
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	for tmpl := range d.Paths {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, s := range ts {
			switch {
			case strings.HasPrefix(s, "{"):
				ok = ok && segs[i] != ""
			case s == segs[i]:
				literals++
			default:
				ok = false
			}
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = tmpl, literals
		}
	}
	return best, bestLiterals >= 0
}

// validateRequest returns every way a request breaks the contract; path is
// the full path (with /api/v1), already unescaped.
func (d *openAPIDoc) validateRequest(method, path string, query url.Values, body []byte) []string {
	tmpl, ok := d.route(path)
	if !ok {
		return []string{fmt.Sprintf("%s %s: no such path", method, path)}
	}
	op, ok := d.Paths[tmpl][strings.ToLower(method)]
	if !ok {
		return []string{fmt.Sprintf("%s %s: %s has no %s", method, path, tmpl, method)}
	}
	where := method + " " + tmpl
	var out []string
	declared := map[string]bool{}
	for _, p := range op.Parameters {
		if p.In != "query" {
			continue
		}
		declared[p.Name] = true
		vs, present := query[p.Name]
		if !present {
			if p.Required {
				out = append(out, fmt.Sprintf("%s: query %s is required", where, p.Name))
			}
			continue
		}
		for _, v := range vs {
			out = append(out, d.validateQueryValue(where+": query "+p.Name, p.Schema, v)...)
		}
	}
	for k := range query {
		if !declared[k] {
			out = append(out, fmt.Sprintf("%s: query %s is not a parameter of this operation (the backend would ignore it)", where, k))
		}
	}
	if op.RequestBody == nil {
		if len(body) > 0 {
			out = append(out, where+": sends a body this operation does not take")
		}
		return out
	}
	if len(body) == 0 {
		if op.RequestBody.Required {
			out = append(out, where+": the body is required")
		}
		return out
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return append(out, where+": body is not JSON")
	}
	return append(out, d.validateValue(where+": body", op.RequestBody.Content["application/json"].Schema, v, true)...)
}

// validateQueryValue checks one query value, converting it to the
// schema's type first.
func (d *openAPIDoc) validateQueryValue(where string, s *jsonSchema, v string) []string {
	s = d.resolve(s)
	t := s.Type
	if t == "" {
		for _, alt := range s.AnyOf {
			if a := d.resolve(alt); a.Type != "null" {
				s, t = a, a.Type
				break
			}
		}
	}
	switch t {
	case "integer":
		n, err := strconv.Atoi(v)
		if err != nil {
			return []string{fmt.Sprintf("%s: %q is not an integer", where, v)}
		}
		return d.validateValue(where, s, float64(n), false)
	case "boolean":
		if v != "true" && v != "false" {
			return []string{fmt.Sprintf("%s: %q is not a boolean", where, v)}
		}
		return nil
	}
	return d.validateValue(where, s, v, false)
}

// validateValue checks v against s; strict also refuses undeclared object
// properties at this level (the request body itself).
func (d *openAPIDoc) validateValue(where string, s *jsonSchema, v any, strict bool) []string {
	s = d.resolve(s)
	if s == nil {
		return nil
	}
	if len(s.AnyOf) > 0 {
		var first []string
		for _, alt := range s.AnyOf {
			errs := d.validateValue(where, alt, v, strict)
			if len(errs) == 0 {
				return nil
			}
			if first == nil {
				first = errs
			}
		}
		return first
	}
	var out []string
	bad := func(format string, args ...any) { out = append(out, where+": "+fmt.Sprintf(format, args...)) }
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
		bad("%v is not one of %v", v, s.Enum)
	}
	switch s.Type {
	case "null":
		if v != nil {
			bad("must be null")
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("must be a string, got %T", v)
			break
		}
		n := len([]rune(str))
		if s.MinLength != nil && n < *s.MinLength {
			bad("shorter than %d", *s.MinLength)
		}
		if s.MaxLength != nil && n > *s.MaxLength {
			bad("longer than %d", *s.MaxLength)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(str) {
			bad("%q does not match %s", str, s.Pattern)
		}
		if s.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				bad("%q is not an RFC 3339 date-time", str)
			}
		}
	case "integer", "number":
		f, ok := v.(float64)
		if !ok || (s.Type == "integer" && f != float64(int64(f))) {
			bad("must be a %s, got %v", s.Type, v)
			break
		}
		if s.Minimum != nil && f < *s.Minimum {
			bad("%v is below %v", f, *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			bad("%v is above %v", f, *s.Maximum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("must be a boolean")
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			bad("must be an array, got %T", v)
			break
		}
		for i, item := range list {
			out = append(out, d.validateValue(fmt.Sprintf("%s[%d]", where, i), s.Items, item, false)...)
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("must be an object, got %T", v)
			break
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				bad("%s is required", r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, declared := s.Properties[k]
			if !declared {
				if strict {
					bad("%s is not a field of %s (the backend would ignore it)", k, "this schema")
				}
				continue
			}
			out = append(out, d.validateValue(where+"."+k, ps, obj[k], false)...)
		}
	}
	return out
}

// TestOpenAPIValidatorCatchesViolations checks the validator itself on
// requests that break the contract in each way it looks for.
func TestOpenAPIValidatorCatchesViolations(t *testing.T) {
	d := loadOpenAPI(t)
	tests := []struct {
		method, path, query, body string
		want                      string // a violation must contain this; "" = no violation
	}{
		{"GET", "/api/v1/tasks", "page=1&per_page=100&status=done", "", ""},
		{"GET", "/api/v1/tasks", "limit=5", "", "query limit is not a parameter"},
		{"GET", "/api/v1/tasks", "per_page=101", "", "101 is above 100"},
		{"GET", "/api/v1/tasks", "page=0", "", "0 is below 1"},
		{"GET", "/api/v1/tasks/tasks-search", "q=x", "", "query q is not a parameter"},
		{"POST", "/api/v1/tasks/bulk/update", "", `{}`, "no such path"},
		{"POST", "/api/v1/action-lists/AL-1/items/reorder", "", `{"item_ids":[]}`, "has no POST"},
		{"POST", "/api/v1/tasks", "", `{"title":"t","summary":"t","owner":"o","primary_project":"P-1"}`, "id is required"},
		{"POST", "/api/v1/tasks", "", `{"id":"X-1","title":"t","summary":"t","owner":"o","primary_project":"P-1"}`, "does not match"},
		{"POST", "/api/v1/tasks", "", `{"id":"T-1","title":"t","summary":"t","owner":"o","primary_project":"P-1","project_id":"P-1"}`, "project_id is not a field"},
		{"POST", "/api/v1/tasks", "", `{"id":"T-1","title":"t","summary":"t","owner":"o","primary_project":"P-1","priority":"high"}`, "is not one of"},
		{"PUT", "/api/v1/tasks/T-1", "", `{"due_at":"tomorrow"}`, "not an RFC 3339"},
		{"PUT", "/api/v1/action-lists/AL-1", "", `{"status":"completed"}`, "is not one of"},
		{"POST", "/api/v1/tasks", "", `{"id":"T-1","title":"t","summary":"t","owner":"o","primary_project":"P-1","priority":"p1","labels":["a"]}`, ""},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got := d.validateRequest(tt.method, tt.path, q, []byte(tt.body))
		switch {
		case tt.want == "" && len(got) > 0:
			t.Errorf("%s %s ?%s %s: violations %q, want none", tt.method, tt.path, tt.query, tt.body, got)
		case tt.want != "" && !strings.Contains(strings.Join(got, "\n"), tt.want):
			t.Errorf("%s %s ?%s %s: violations %q, want one containing %q", tt.method, tt.path, tt.query, tt.body, got, tt.want)
		}
	}
}

// TestTaskmanV2FieldListsMatchOpenAPI checks the adapter's lists of the
// fields TaskMan-v2 stores against the document: a field missing there
// would be dropped needlessly, an extra one silently ignored.
func TestTaskmanV2FieldListsMatchOpenAPI(t *testing.T) {
	d := loadOpenAPI(t)
	for _, tc := range []struct {
		schemas []string
		list    []string
	}{
		{[]string{"TaskCreate", "TaskUpdate"}, v2TaskFields},
		{[]string{"ProjectCreate"}, v2ProjectFields},
		{[]string{"ActionListCreate", "ActionListUpdate"}, v2ActionListFields},
		{[]string{"SprintCreate", "SprintUpdate"}, v2SprintFields},
	} {
		var want []string
		for _, name := range tc.schemas {
			for k := range d.Comps.Schemas[name].Properties {
				if !slices.Contains(want, k) {
					want = append(want, k)
				}
			}
		}
		sort.Strings(want)
		got := slices.Sorted(slices.Values(tc.list))
		if !slices.Equal(got, want) {
			t.Errorf("fields for %v = %v, want the document's %v", tc.schemas, got, want)
		}
	}
	enums := map[string][]string{"TaskStatus": v2TaskStatuses, "Priority": v2Priorities, "ProjectStatus": v2ProjectStatuses, "ActionListStatus": v2ActionListStatuses, "SprintStatus": embSprintStatuses}
	for name, list := range enums {
		var want []string
		for _, v := range d.Comps.Schemas[name].Enum {
			want = append(want, v.(string))
		}
		if !slices.Equal(list, want) {
			t.Errorf("%s = %v, want the document's %v", name, list, want)
		}
	}
}
