package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// schema is the subset of JSON Schema the tool table uses. One value is both
// published (inputSchema, outputSchema) and enforced before any backend call,
// so what a client is told and what the server checks cannot drift apart.
type schema struct {
	typ      string // "object", "string", "integer", "number", "boolean", "array"; "" means any
	nullable bool   // null is accepted too
	desc     string
	enum     []string
	format   string // "date-time" (RFC 3339) and "date" (YYYY-MM-DD) are checked; others are informative

	minLen, maxLen int // strings, in characters; maxLen 0 means unbounded

	min, max *float64 // numbers

	items              *schema // arrays
	minItems, maxItems int     // maxItems 0 means unbounded

	props    map[string]*schema // objects
	required []string
	open     bool // additionalProperties allowed (fields pass through)
	minProps int  // at least this many non-null properties
}

// argError is an invalid tool argument: which field and which rule. The
// dispatcher turns it into an isError result or a -32602 error, depending on
// the protocol version.
type argError struct {
	path string // e.g. "task.title"; "" for the arguments object itself
	rule string // e.g. "must be 1 to 255 characters"
}

func (e *argError) Error() string {
	if e.path == "" {
		return e.rule
	}
	return e.path + ": " + e.rule
}

// validate checks v (decoded with json.Decoder.UseNumber) against s. The
// error names the first offending field.
func (s *schema) validate(path string, v any) error {
	if v == nil {
		if s.nullable || s.typ == "" {
			return nil
		}
		return &argError{path, "must not be null"}
	}
	switch s.typ {
	case "object":
		return s.validateObject(path, v)
	case "array":
		return s.validateArray(path, v)
	case "string":
		str, ok := v.(string)
		if !ok {
			return &argError{path, "must be a string"}
		}
		return s.validateString(path, str)
	case "integer", "number":
		return s.validateNumber(path, v)
	case "boolean":
		if _, ok := v.(bool); !ok {
			return &argError{path, "must be true or false"}
		}
	}
	return nil
}

// validateObject checks an object's properties.
func (s *schema) validateObject(path string, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return &argError{path, "must be an object"}
	}
	for _, name := range s.required {
		if val, ok := obj[name]; !ok || (val == nil && !s.props[name].nullable) {
			return &argError{join(path, name), "is required"}
		}
	}
	// Check in a fixed order so the same input always names the same field.
	// Arguments have a few fields: their names fit a buffer on the stack.
	var buf [8]string
	names := buf[:0]
	for name := range obj {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ps, ok := s.props[name]
		if !ok {
			if s.open {
				continue
			}
			return &argError{join(path, name), fmt.Sprintf("is not a known field (known: %s)", strings.Join(sortedKeys(s.props), ", "))}
		}
		if err := ps.validate(join(path, name), obj[name]); err != nil {
			return err
		}
	}
	if s.minProps > 0 {
		n := 0
		for _, val := range obj {
			if val != nil {
				n++
			}
		}
		if n < s.minProps {
			return &argError{path, "must contain at least one field that is not null"}
		}
	}
	return nil
}

// validateArray checks an array's length and items.
func (s *schema) validateArray(path string, v any) error {
	arr, ok := v.([]any)
	if !ok {
		return &argError{path, "must be an array"}
	}
	if len(arr) < s.minItems {
		return &argError{path, fmt.Sprintf("must contain at least %d %s", s.minItems, plural(s.minItems, "item"))}
	}
	if s.maxItems > 0 && len(arr) > s.maxItems {
		return &argError{path, fmt.Sprintf("must contain at most %d %s", s.maxItems, plural(s.maxItems, "item"))}
	}
	if s.items != nil {
		for i, item := range arr {
			if err := s.items.validate(fmt.Sprintf("%s[%d]", path, i), item); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateString checks a string's length, enum and format.
func (s *schema) validateString(path, str string) error {
	if !utf8.ValidString(str) {
		return &argError{path, "must be valid UTF-8"}
	}
	n := utf8.RuneCountInString(str)
	switch {
	case s.maxLen > 0 && (n < s.minLen || n > s.maxLen):
		if s.minLen == 0 {
			return &argError{path, fmt.Sprintf("must be at most %d characters", s.maxLen)}
		}
		return &argError{path, fmt.Sprintf("must be %d to %d characters", s.minLen, s.maxLen)}
	case n < s.minLen:
		return &argError{path, fmt.Sprintf("must be at least %d %s", s.minLen, plural(s.minLen, "character"))}
	}
	if len(s.enum) > 0 && !slices.Contains(s.enum, str) {
		return &argError{path, fmt.Sprintf("must be one of %s, got %q", strings.Join(s.enum, ", "), str)}
	}
	if s.format == "date-time" {
		if _, err := time.Parse(time.RFC3339, str); err != nil {
			return &argError{path, fmt.Sprintf("must be an RFC 3339 date-time like 2026-01-31T17:00:00Z, got %q", str)}
		}
	}
	if s.format == "date" {
		if _, err := time.Parse(time.DateOnly, str); err != nil {
			return &argError{path, fmt.Sprintf("must be a date YYYY-MM-DD like 2026-01-31, got %q", str)}
		}
	}
	return nil
}

// validateNumber checks a number's type and range.
func (s *schema) validateNumber(path string, v any) error {
	var f float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return &argError{path, "must be a number"}
		}
	case float64:
		f = n
	default:
		if s.typ == "integer" {
			return &argError{path, "must be an integer"}
		}
		return &argError{path, "must be a number"}
	}
	if s.typ == "integer" && (f != math.Trunc(f) || math.IsInf(f, 0)) {
		return &argError{path, "must be an integer"}
	}
	switch {
	case s.min != nil && s.max != nil && (f < *s.min || f > *s.max):
		return &argError{path, fmt.Sprintf("must be from %v to %v", *s.min, *s.max)}
	case s.min != nil && f < *s.min:
		return &argError{path, fmt.Sprintf("must be at least %v", *s.min)}
	case s.max != nil && f > *s.max:
		return &argError{path, fmt.Sprintf("must be at most %v", *s.max)}
	}
	return nil
}

// MarshalJSON renders s as JSON Schema.
func (s *schema) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 8)
	switch {
	case s.typ != "" && s.nullable:
		m["type"] = []string{s.typ, "null"}
	case s.typ != "":
		m["type"] = s.typ
	}
	if s.desc != "" {
		m["description"] = s.desc
	}
	if len(s.enum) > 0 {
		// Only strings, and always beside a type: the function-calling
		// schemas of some model providers (Gemini's) refuse an enum
		// without a type or with a null in it, and clients forward ours
		// as they are. A nullable enum is therefore published without
		// null among its values, though the server accepts null.
		m["enum"] = s.enum
	}
	if s.format != "" {
		m["format"] = s.format
	}
	if s.minLen > 0 {
		m["minLength"] = s.minLen
	}
	if s.maxLen > 0 {
		m["maxLength"] = s.maxLen
	}
	if s.min != nil {
		m["minimum"] = *s.min
	}
	if s.max != nil {
		m["maximum"] = *s.max
	}
	if s.typ == "array" {
		if s.items != nil {
			m["items"] = s.items
		}
		if s.minItems > 0 {
			m["minItems"] = s.minItems
		}
		if s.maxItems > 0 {
			m["maxItems"] = s.maxItems
		}
	}
	if s.typ == "object" {
		// An open object without properties is just {"type":"object"}; a
		// closed one keeps its empty properties, which some clients expect
		// of an inputSchema.
		if len(s.props) > 0 || !s.open {
			props := s.props
			if props == nil {
				props = map[string]*schema{}
			}
			m["properties"] = props
		}
		if len(s.required) > 0 {
			m["required"] = s.required
		}
		if !s.open {
			m["additionalProperties"] = false
		}
		if s.minProps > 0 {
			m["minProperties"] = s.minProps
		}
	}
	return json.Marshal(m)
}

// Schema constructors, so that tool rows read as data.

// str is a string of minLen..maxLen characters (maxLen 0: unbounded).
func str(desc string, minLen, maxLen int) *schema {
	return &schema{typ: "string", desc: desc, minLen: minLen, maxLen: maxLen}
}

// id is an opaque record id.
func id(desc string) *schema { return str(desc, 1, 100) }

// enum is a string from values.
func enum(desc string, values []string) *schema {
	return &schema{typ: "string", desc: desc, enum: values}
}

// dateTime is an RFC 3339 date-time string.
func dateTime(desc string) *schema {
	return &schema{typ: "string", desc: desc, format: "date-time"}
}

// date is a calendar date string, YYYY-MM-DD.
func date(desc string) *schema {
	return &schema{typ: "string", desc: desc, format: "date"}
}

// integer is an integer from lo to hi.
func integer(desc string, lo, hi float64) *schema {
	return &schema{typ: "integer", desc: desc, min: &lo, max: &hi}
}

// nonNegative is an integer ≥ 0.
func nonNegative(desc string) *schema {
	zero := 0.0
	return &schema{typ: "integer", desc: desc, min: &zero}
}

// boolean is true or false.
func boolean(desc string) *schema { return &schema{typ: "boolean", desc: desc} }

// strList is an array of strings of at most maxItems (0: unbounded).
func strList(desc string, minItems, maxItems int) *schema {
	return &schema{typ: "array", desc: desc, items: &schema{typ: "string", minLen: 1}, minItems: minItems, maxItems: maxItems}
}

// object is a closed object with the given properties.
func object(desc string, props map[string]*schema, required ...string) *schema {
	return &schema{typ: "object", desc: desc, props: props, required: required}
}

// nullableCopy returns copies of props that also accept null, for partial
// updates where null means "leave unchanged".
func nullableCopy(props map[string]*schema) map[string]*schema {
	out := make(map[string]*schema, len(props))
	for k, v := range props {
		c := *v
		c.nullable = true
		out[k] = &c
	}
	return out
}

// join appends a field name to a path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// published is the form of a result schema that tools/list carries: the
// keys the result always has, {"type":"object","required":[…]}, and the
// properties that say more than a bare type (anyObject, anyArray, …). A
// bare type adds bytes to every tools/list and nothing a model needs
// (docs/tools.md lists the shapes).
func (s *schema) published() any {
	pub := map[string]any{"type": "object", "required": s.required}
	props := map[string]*schema{}
	for name, p := range s.props {
		if b, _ := p.MarshalJSON(); string(b) != `{"type":"`+p.typ+`"}` {
			props[name] = p
		}
	}
	if len(props) > 0 {
		pub["properties"] = props
	}
	return pub
}
