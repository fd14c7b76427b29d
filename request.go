package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// message is one incoming JSON-RPC message, parsed once by the
// transport-independent core (docs/mcp.md, "JSON-RPC rules that bite").
// Every later stage reads these fields; nothing decodes the message again.
type message struct {
	// id is the request id, kept raw so that it is echoed byte for byte
	// (made valid UTF-8 first); nil when the member is absent.
	id     json.RawMessage
	method string
	// params are the members of params, each still raw: a handler decodes
	// only the members it reads. nil when params is absent or null.
	params rawObject
	// meta are the members of params._meta; nil when it is absent or null.
	meta rawObject
	// response marks a client's answer to a server request (result or
	// error, no method); there is nothing to do with one.
	response bool
	// invalid is why the message is not a valid request or notification;
	// it is answered with this error and goes no further.
	invalid *rpcError
	// paramsErr is why params could not be read (not an object); the
	// request is answered with it once it has a span and metrics.
	paramsErr *rpcError
	// era is decided once, by modern.
	era era
}

// jsonrpcMembers are the members a JSON-RPC 2.0 message may have, matched
// exactly: encoding/json's case-insensitive struct matching would let
// "Method" stand in for "method". rpcMembers is indexed by their position.
var jsonrpcMembers = [...]string{"jsonrpc", "id", "method", "params", "result", "error"}

// Indexes of rpcMembers, in the order of jsonrpcMembers.
const (
	memberJSONRPC = iota
	memberID
	memberMethod
	memberParams
	memberResult
	memberError
)

// rpcMembers are the raw values of a message's JSON-RPC members, indexed
// like jsonrpcMembers; nil for an absent one (a present value is never
// empty).
type rpcMembers [len(jsonrpcMembers)]json.RawMessage

// parseMessage reads one JSON-RPC message. It returns nil when text is not
// JSON at all (-32700); every other problem is in the request's invalid or
// paramsErr field, so that the answer can still echo a readable id.
func parseMessage(text []byte) *message {
	members, dup, err := objectMembers(text)
	if errors.Is(err, errNotObject) {
		return &message{invalid: &rpcError{Code: codeInvalidRequest, Message: "invalid request: a JSON-RPC message must be an object"}}
	}
	if err != nil {
		return nil
	}
	req := &message{}
	if raw := members[memberID]; raw != nil {
		req.id = wireSafe(raw)
	}
	echo := validID(req.id)
	bad := func(msg string) *message {
		req.invalid = &rpcError{Code: codeInvalidRequest, Message: "invalid request: " + msg}
		req.id = echo
		return req
	}
	if dup != "" {
		if dup == "id" {
			echo = nil
		}
		return bad(fmt.Sprintf("member %q appears more than once", dup))
	}
	// The values were validated with the message, so a JSON string decodes
	// without error and rawString reads it like json.Unmarshal would.
	if raw := members[memberJSONRPC]; raw == nil || raw[0] != '"' || rawString(raw) != "2.0" {
		return bad(`"jsonrpc" must be "2.0"`)
	}
	if raw := members[memberMethod]; raw != nil {
		if raw[0] != '"' {
			return bad(`"method" must be a string`)
		}
		req.method = rawString(raw)
	}
	if req.id == nil {
		if req.method == "" {
			return bad(`a message needs "method" or "id"`)
		}
		req.readParams(members[memberParams])
		return req
	}
	if echo == nil {
		return bad("id must be a string or an integer, not " + string(req.id))
	}
	if req.method == "" {
		if members[memberResult] != nil || members[memberError] != nil {
			req.response = true
			return req
		}
		return bad(`"method" is required`)
	}
	req.readParams(members[memberParams])
	return req
}

// errNotObject is objectMembers' answer to JSON that is not an object.
var errNotObject = errors.New("not a JSON object")

// objectMembers returns the JSON-RPC members of the object in text, raw
// (slices of text), and the name of the first member that appears twice.
// Members with other names are skipped (unknown fields are ignored). It
// fails when text is not JSON, or with errNotObject when it is JSON of
// another type. One validity scan, then a walk over the top level that
// builds no values: the members are decoded by whoever reads them.
func objectMembers(text []byte) (members rpcMembers, dup string, err error) {
	if !validJSON(text) {
		return members, "", errors.New("invalid JSON")
	}
	if text[skipSpace(text, 0)] != '{' {
		return members, "", errNotObject
	}
	eachMember(text, func(key []byte, value json.RawMessage) {
		i := jsonrpcMember(key)
		if i < 0 {
			return
		}
		if members[i] != nil && dup == "" {
			dup = jsonrpcMembers[i]
		}
		members[i] = value
	})
	return members, dup, nil
}

// jsonMaxNesting is encoding/json's limit on nesting, which validJSON
// applies too so that it accepts exactly what json.Valid accepts.
const jsonMaxNesting = 10000

// validJSON reports whether text is one JSON value, optionally surrounded
// by whitespace: what json.Valid reports (FuzzValidJSON holds it to that),
// in a few times less time than its byte-by-byte state machine. Every
// message and every record passed on as text is checked with it.
func validJSON(text []byte) bool {
	i, ok := validValue(text, skipSpace(text, 0), 0)
	return ok && skipSpace(text, i) == len(text)
}

// validValue checks the value that starts at text[i], at nesting depth
// depth, and returns the index just past it.
func validValue(text []byte, i, depth int) (int, bool) {
	if i >= len(text) {
		return i, false
	}
	switch c := text[i]; {
	case c == '{' || c == '[':
		if depth++; depth > jsonMaxNesting {
			return i, false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipSpace(text, i+1)
		if i < len(text) && text[i] == end {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i >= len(text) || text[i] != '"' {
					return i, false
				}
				if i, ok = validString(text, i); !ok {
					return i, false
				}
				if i = skipSpace(text, i); i >= len(text) || text[i] != ':' {
					return i, false
				}
				i = skipSpace(text, i+1)
			}
			if i, ok = validValue(text, i, depth); !ok {
				return i, false
			}
			if i = skipSpace(text, i); i >= len(text) {
				return i, false
			}
			switch text[i] {
			case ',':
				i = skipSpace(text, i+1)
			case end:
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '"':
		return validString(text, i)
	case c == '-' || '0' <= c && c <= '9':
		return validNumber(text, i)
	case c == 't':
		return validLiteral(text, i, "true")
	case c == 'f':
		return validLiteral(text, i, "false")
	case c == 'n':
		return validLiteral(text, i, "null")
	}
	return i, false
}

// validString checks the string that starts at text[i] (a quote).
func validString(text []byte, i int) (int, bool) {
	for i++; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i++; i >= len(text) {
				return i, false
			}
			switch text[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(text) {
					return i, false
				}
				for _, h := range text[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

// validNumber checks the number that starts at text[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(text []byte, i int) (int, bool) {
	if text[i] == '-' {
		i++
	}
	switch {
	case i < len(text) && text[i] == '0':
		i++
	case i < len(text) && '1' <= text[i] && text[i] <= '9':
		i = digits(text, i)
	default:
		return i, false
	}
	if i < len(text) && text[i] == '.' {
		j := digits(text, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		i++
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			i++
		}
		j := digits(text, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

// digits returns the index of the first byte at or after i that is not a
// decimal digit.
func digits(text []byte, i int) int {
	for i < len(text) && '0' <= text[i] && text[i] <= '9' {
		i++
	}
	return i
}

// validLiteral checks that text[i:] starts with lit.
func validLiteral(text []byte, i int, lit string) (int, bool) {
	if len(text)-i < len(lit) || string(text[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// eachMember calls fn with the quoted key and the raw value (slices of
// text) of every top-level member of the object in text, in order. text
// must be a valid JSON object.
func eachMember(text []byte, fn func(key []byte, value json.RawMessage)) {
	for i := skipSpace(text, skipSpace(text, 0)+1); text[i] != '}'; i = skipSpace(text, i) {
		if text[i] == ',' {
			i = skipSpace(text, i+1)
		}
		keyEnd := stringEnd(text, i)
		key := text[i:keyEnd]
		i = skipSpace(text, skipSpace(text, keyEnd)+1) // past the colon
		valueEnd := jsonValueEnd(text, i)
		value := text[i:valueEnd]
		i = valueEnd
		fn(key, value)
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(text []byte, i int) int {
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at i,
// in text already known to be valid JSON.
func stringEnd(text []byte, i int) int {
	for j := i + 1; ; j++ {
		switch text[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// jsonValueEnd returns the index just past the JSON value that starts at
// i, in text already known to be valid JSON.
func jsonValueEnd(text []byte, i int) int {
	switch text[i] {
	case '"':
		return stringEnd(text, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch text[j] {
			case '"':
				j = stringEnd(text, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i // a number, true, false or null: up to the next delimiter
	for j < len(text) && !isDelimiter(text[j]) {
		j++
	}
	return j
}

// isDelimiter reports whether c ends a JSON number or literal.
func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// keyName returns the name a quoted key spells: the bytes between the
// quotes, in place, unless an escape needs decoding.
func keyName(key []byte) []byte {
	if name := key[1 : len(key)-1]; bytes.IndexByte(name, '\\') < 0 {
		return name
	}
	return []byte(decodeString(key))
}

// jsonrpcMember returns the index in jsonrpcMembers of the member named
// by a quoted key, or -1 for another name. An unescaped key is compared
// in place, without making a string of it.
func jsonrpcMember(key []byte) int {
	name := keyName(key)
	for i, m := range jsonrpcMembers {
		if string(name) == m {
			return i
		}
	}
	return -1
}

// readParams reads params and params._meta: present params must be an
// object, and so must a present _meta.
func (m *message) readParams(raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	if raw[0] != '{' {
		m.paramsErr = &rpcError{Code: codeInvalidParams, Message: "invalid params: params must be an object"}
		return
	}
	m.params = rawMembers(raw)
	if meta := m.params.get("_meta"); meta != nil && string(meta) != "null" {
		if meta[0] != '{' {
			m.paramsErr = &rpcError{Code: codeInvalidParams, Message: "invalid params: params._meta must be an object"}
			return
		}
		m.meta = rawMembers(meta)
	}
}

// rawObject is the members of a JSON object, read in place: each name
// with its raw value, in the order of the text. A message's objects have
// a few members, so a lookup scans them rather than hashing long names.
type rawObject []rawMember

// rawMember is one member of a rawObject.
type rawMember struct {
	name  []byte // the decoded name: a slice of the text unless it had escapes
	value json.RawMessage
}

// get returns the raw value of the member name, nil when there is none
// (a present value is never empty); the last of a repeated name wins, as
// with json.Unmarshal.
func (o rawObject) get(name string) json.RawMessage {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].name) == name {
			return o[i].value
		}
	}
	return nil
}

// rawMembers returns the members of obj, a JSON object inside a message
// objectMembers validated, read in place (names and values are slices of
// obj); an empty object gives an empty, non-nil rawObject.
func rawMembers(obj json.RawMessage) rawObject {
	members := make(rawObject, 0, 4)
	eachMember(obj, func(key []byte, value json.RawMessage) {
		members = append(members, rawMember{keyName(key), value})
	})
	return members
}

// param decodes the params member name into v; an absent member leaves v
// as it is.
func (m *message) param(name string, v any) error {
	raw := m.params.get(name)
	if raw == nil {
		return nil
	}
	if s, isString := v.(*string); isString && raw[0] == '"' {
		*s = rawString(raw) // valid JSON (the message was validated): what json.Unmarshal would store
		return nil
	}
	return json.Unmarshal(raw, v)
}

// wireSafe returns raw, or, when raw is a JSON string holding invalid
// UTF-8, the same string with each bad byte replaced by U+FFFD: anything
// echoed to the client must be valid UTF-8 (JSON-RPC messages MUST be).
func wireSafe(raw json.RawMessage) json.RawMessage {
	if utf8.Valid(raw) || len(raw) == 0 || raw[0] != '"' {
		return raw
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return raw
	}
	b, _ := json.Marshal(s) // Marshal writes U+FFFD for every invalid byte
	return b
}

// era is the protocol era of a message: legacy (a session negotiated with
// initialize) or modern (stateless 2026-07-28).
type era uint8

const (
	eraUndecided era = iota
	eraLegacy
	eraModern
)

// modern reports whether the message is a 2026-07-28 one: it carries
// _meta[protocolVersion], it is server/discover, its HTTP headers claim
// 2026-07-28, or (stdio, before any initialize) its _meta carries the
// modern clientCapabilities key. Every other message is legacy. The era is
// decided on the first call, from the message, and kept: the transport
// that routes the message and the dispatcher that serves it see the same.
func (m *message) modern(h http.Header, initialized bool) bool {
	if m.era == eraUndecided {
		m.era = eraLegacy
		if m.claimsModern(h, initialized) {
			m.era = eraModern
		}
	}
	return m.era == eraModern
}

// claimsModern is modern's decision.
func (m *message) claimsModern(h http.Header, initialized bool) bool {
	if m.meta.get(metaProtocolVersion) != nil || m.method == "server/discover" {
		return true
	}
	if h != nil {
		return h.Get(headerProtocolVersion) == versionModern
	}
	return m.meta.get(metaClientCapabilities) != nil && !initialized
}

// checkModern applies every 2026-07-28 rule about a request's _meta and,
// over HTTP (h not nil), the headers that mirror its body, in the order
// the specification implies: a request without its protocol version is
// malformed (-32602); the headers must match the body (-32020), so a
// version header that disagrees is a mismatch before the version is
// judged; then the version must be one we speak (-32022); then the
// fields that version requires must be there (-32602). Each error carries
// its HTTP status: 400 for all of them. Notifications are held to the
// header rules only.
func (m *message) checkModern(h http.Header) *rpcError {
	pv := m.meta.get(metaProtocolVersion)
	hasVersion := pv != nil
	notification := m.id == nil
	if !hasVersion && !notification {
		what := "_meta"
		if m.meta != nil {
			what = "_meta[\"" + metaProtocolVersion + "\"]"
		}
		return &rpcError{Code: codeInvalidParams, status: http.StatusBadRequest,
			Message: "invalid params: " + m.method + " needs params." + what + " (" + versionModern + " requests carry their protocol version)"}
	}
	version := rawString(pv)
	if h != nil {
		if err := m.checkHeaders(h, version, hasVersion); err != nil {
			return err
		}
	}
	if hasVersion && (pv[0] != '"' || version != versionModern) {
		return &rpcError{Code: codeUnsupportedVersion, status: http.StatusBadRequest, Message: "Unsupported protocol version",
			Data: map[string]any{"supported": []string{versionModern}, "requested": version}}
	}
	if m.meta.get(metaClientCapabilities) == nil && !notification {
		return &rpcError{Code: codeInvalidParams, status: http.StatusBadRequest,
			Message: "invalid params: _meta[\"" + metaClientCapabilities + "\"] is required"}
	}
	return nil
}

// checkHeaders checks the Streamable HTTP headers that mirror the body:
// MCP-Protocol-Version, Mcp-Method and, for tools/call, Mcp-Name (decoded
// from its base64 form first).
func (m *message) checkHeaders(h http.Header, version string, hasVersion bool) *rpcError {
	mismatch := func(format string, args ...any) *rpcError {
		return &rpcError{Code: codeHeaderMismatch, status: http.StatusBadRequest, Message: "Bad Request: header mismatch: " + fmt.Sprintf(format, args...)}
	}
	if got := h.Get(headerProtocolVersion); !hasVersion && got != versionModern || hasVersion && got != version {
		if !hasVersion {
			version = versionModern // a notification without _meta: the era's own version
		}
		return mismatch("%s is %q, the request's _meta says %q", headerProtocolVersion, got, version)
	}
	if got := h.Get(headerMethod); got != m.method {
		return mismatch("%s is %q, the body's method is %q", headerMethod, got, m.method)
	}
	if m.method == "tools/call" {
		var name string
		m.param("name", &name)
		got, err := decodeHeaderValue(h.Get(headerName))
		if err != nil {
			return mismatch("%s: %v", headerName, err)
		}
		if got != name {
			return mismatch("%s is %q, the tool called is %q", headerName, got, name)
		}
	}
	return nil
}

// decodeHeaderValue undoes the Base64 sentinel encoding of an Mcp-Name or
// Mcp-Param-* value ("=?base64?…?=", docs/mcp.md); other values are
// returned as they are.
func decodeHeaderValue(v string) (string, error) {
	inner, ok := strings.CutPrefix(v, "=?base64?")
	if !ok {
		return v, nil
	}
	inner, ok = strings.CutSuffix(inner, "?=")
	if !ok {
		return v, nil
	}
	b, err := base64.StdEncoding.DecodeString(inner)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(inner)
	}
	if err != nil || !utf8.Valid(b) {
		return "", errors.New("the =?base64?…?= value is not valid base64 of UTF-8 text")
	}
	return string(b), nil
}

// validID returns id when it is a valid request id (a string or a number),
// else nil.
func validID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return nil
	}
	switch c := id[0]; {
	case c == '"', c == '-', '0' <= c && c <= '9':
		return id
	}
	return nil
}
