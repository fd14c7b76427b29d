package main

import (
	"errors"
	"fmt"
)

// jsonShape bounds the shape of a JSON document so that it can be refused
// before it is decoded into generic values (map[string]any, []any), which
// cost far more memory than the bytes they come from: three bytes of `[],`
// become a slice header, an interface and an allocation, so a 3 MB body of
// empty arrays grows to tens of megabytes every time it is decoded.
type jsonShape struct {
	maxDepth  int // deepest nesting of objects and arrays
	maxTokens int // structural tokens: '{', '[', ',' and ':' outside strings
}

// Limits of an incoming MCP message (an HTTP body or a stdio line) and of
// an embedded backend request body.
//
// jsonMaxDepth is far below the 10,000 levels at which encoding/json gives
// up, so a value accepted here stays loadable once the store has wrapped it
// in its own few levels (docs/backend-api.md); no tool argument is more than
// a handful of levels deep.
//
// jsonMaxTokens allows the largest legitimate message (a bulk call naming
// a thousand ids, an action list of a thousand items with three fields
// each) many times over, while a document at the limit decodes into a few
// megabytes of generic values at most.
const (
	jsonMaxDepth  = 64
	jsonMaxTokens = 100_000
)

// jsonMessageShape is the shape every decoded JSON document must fit.
var jsonMessageShape = jsonShape{maxDepth: jsonMaxDepth, maxTokens: jsonMaxTokens}

// errJSONShape is wrapped by every jsonShape.check error, so callers can
// answer it as a client error.
var errJSONShape = errors.New("JSON too complex")

// check scans data without decoding it and reports whether it nests deeper
// than maxDepth or holds more than maxTokens structural tokens. It does not
// validate the syntax (the decoder that runs next does) and allocates
// nothing, so it costs one pass over the bytes.
func (sh jsonShape) check(data []byte) error {
	depth, tokens := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > sh.maxDepth {
				return fmt.Errorf("%w: nested more than %d levels deep", errJSONShape, sh.maxDepth)
			}
			tokens++
		case '}', ']':
			depth--
		case ',', ':':
			tokens++
		default:
			continue
		}
		if tokens > sh.maxTokens {
			return fmt.Errorf("%w: more than %d values", errJSONShape, sh.maxTokens)
		}
	}
	return nil
}
