package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestJSONShapeCheck(t *testing.T) {
	small := jsonShape{maxDepth: 3, maxTokens: 10}
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"scalar", `"x"`, true},
		{"at the depth", `[[{}]]`, true},
		{"past the depth", `[[[[]]]]`, false},
		{"brackets in strings do not count", `["[[[[[[", "\"[[[[["]`, true},
		{"escaped quote then bracket", `["\\", [[]]]`, true},
		{"at the tokens", `[1,2,3,4,5,6,7,8,9]`, true}, // '[' and 8 commas
		{"past the tokens", `[1,2,3,4,5,6,7,8,9,10,11]`, false},
		{"colons count", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}`, false}, // 1 + 6 colons + 5 commas
	} {
		err := small.check([]byte(tc.doc))
		if (err == nil) != tc.ok {
			t.Errorf("check(%s) = %v, want ok %v", tc.doc, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errJSONShape) {
			t.Errorf("check(%s) = %v, want it to wrap errJSONShape", tc.doc, err)
		}
	}
}

// jsonDepth returns the nesting depth of a valid JSON document, as the
// decoder sees it.
func jsonDepth(data []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest, nil
		}
		if err != nil {
			return 0, err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzJSONShape checks the scanner against the decoder: on valid JSON it
// refuses exactly the documents nested deeper than the limit (when the
// token count is not what refused them), and it never panics.
func FuzzJSONShape(f *testing.F) {
	for _, seed := range []string{`{}`, `[[[]]]`, `{"a":[1,2,{"b":"]]]"}]}`, `"\\\""`, `[` + strings.Repeat(`[],`, 50) + `[]]`, "\xff[", `{"a":"\u005b"}`} {
		f.Add([]byte(seed))
	}
	sh := jsonShape{maxDepth: 4, maxTokens: 1 << 30}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := sh.check(data)
		if !json.Valid(data) {
			return
		}
		depth, derr := jsonDepth(data)
		if derr != nil {
			return
		}
		if (err == nil) != (depth <= sh.maxDepth) {
			t.Fatalf("check(%q) = %v for a document %d deep, limit %d", data, err, depth, sh.maxDepth)
		}
	})
}
