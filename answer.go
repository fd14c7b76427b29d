package main

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// answer is the dispatcher's outcome for one incoming message: the
// JSON-RPC result or error, and the HTTP status it implies. Transports
// write it; none decodes what was encoded to learn what the dispatcher
// already knew.
type answer struct {
	id     json.RawMessage
	result any       // a typed result; nil when err is set
	err    *rpcError // the JSON-RPC error, if the request failed
	batch  []*answer // the answers of a 2025-03-26 batch, in order
	status int       // the HTTP status of the answer
}

// ok reports whether the answer is a single successful result.
func (a *answer) ok() bool { return a.err == nil && a.batch == nil }

// errorAnswer answers the message with id with err. The HTTP status is the
// error's own, else 200: over HTTP a JSON-RPC error is a successful
// exchange unless a rule says otherwise.
func errorAnswer(id json.RawMessage, err *rpcError) *answer {
	if id == nil {
		id = nullID
	}
	status := err.status
	if status == 0 {
		status = http.StatusOK
	}
	return &answer{id: id, err: err, status: status}
}

// resultAnswer answers the request with id with result.
func resultAnswer(id json.RawMessage, result any) *answer {
	return &answer{id: id, result: result, status: http.StatusOK}
}

// encode returns the JSON text of the answer. A result that cannot be
// encoded becomes an internal error rather than a broken line.
func (s *server) encode(a *answer) []byte {
	if a.batch == nil {
		return s.marshalResponse(&response{JSONRPC: "2.0", ID: a.id, Result: a.result, Error: a.err})
	}
	out := make([]*response, len(a.batch))
	for i, item := range a.batch {
		out[i] = &response{JSONRPC: "2.0", ID: item.id, Result: item.result, Error: item.err}
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.logger.Error("encode batch response", "err", err)
		return s.marshalResponse(errorResponse(nil, codeInternalError, "internal error: the batch result could not be encoded"))
	}
	return b
}

// response is an outgoing JSON-RPC response.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// marshalToolResponse encodes the response carrying a tool result as
// json.Marshal would, with the result encoded once (toolResult.appendJSON).
func marshalToolResponse(id json.RawMessage, tr *toolResult) ([]byte, error) {
	b := make([]byte, 0, 2*len(tr.StructuredContent)+512)
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	switch {
	case id == nil:
		b = append(b, "null"...)
	case plainScalar(id):
		b = append(b, id...)
	default:
		idText, err := json.Marshal(id) // compacted and HTML-escaped like any RawMessage
		if err != nil {
			return nil, err
		}
		b = append(b, idText...)
	}
	b = append(b, `,"result":`...)
	b, err := tr.appendJSON(b)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// plainScalar reports whether id, a valid JSON number or string, is
// already what json.Marshal writes for it: printable ASCII without space,
// backslash or the HTML characters it escapes.
func plainScalar(id json.RawMessage) bool {
	for _, c := range id {
		if c <= ' ' || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// notification is an outgoing JSON-RPC notification.
type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

// rpcError is a JSON-RPC error object; it is also a Go error, so handlers
// return it like any other. status is the HTTP status the rule that
// produced it requires (0: none, 200 over HTTP).
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
	status  int
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (%d)", e.Message, e.Code) }

// nullID is the id of a response to a message whose id could not be read.
var nullID = json.RawMessage("null")

// errorResponse returns a response carrying err for the request with id.
func errorResponse(id json.RawMessage, code int, msg string) *response {
	if id == nil {
		id = nullID
	}
	return &response{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

// marshalResponse encodes resp; a result that cannot be encoded becomes an
// internal error rather than a broken line.
func (s *server) marshalResponse(resp *response) []byte {
	if tr, ok := resp.Result.(*toolResult); ok && resp.Error == nil {
		if b, err := marshalToolResponse(resp.ID, tr); err == nil {
			return b
		}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		s.logger.Error("encode response", "err", err)
		b, _ = json.Marshal(errorResponse(resp.ID, codeInternalError, "internal error: the result could not be encoded"))
	}
	return b
}
