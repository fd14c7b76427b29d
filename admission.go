package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// codeOverloaded is the JSON-RPC error (in the range the specification
// leaves to servers) for a request refused because the server is at its
// limit of work in progress; retrying later can succeed.
const codeOverloaded = -32000

// admissionRetryAfter is the Retry-After of an overload answer: requests
// take milliseconds to seconds, so a slot is normally free a second later.
const admissionRetryAfter = 1

// admission decides which MCP POSTs the HTTP transport starts working on:
// at most max at once (past it a 503 with Retry-After, never a queue that
// grows without bound), and only bodies whose JSON fits jsonMessageShape,
// checked before anything decodes them. Together they bound the memory
// requests can take: max bodies of at most TASKMAN_MAX_REQUEST_BYTES and
// their decoded values.
type admission struct {
	slots   chan struct{} // one token per request in progress
	maxBody int64
}

// newAdmission returns an admission of max requests in progress for bodies
// of at most maxBody bytes.
func newAdmission(max int, maxBody int64) *admission {
	return &admission{slots: make(chan struct{}, max), maxBody: maxBody}
}

// wrap applies the admission to the POSTs reaching next; other methods
// (GET streams, DELETE) hold no body and pass.
func (a *admission) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		default:
			w.Header().Set("Retry-After", strconv.Itoa(admissionRetryAfter))
			writeRPCError(w, http.StatusServiceUnavailable, nil, codeOverloaded, fmt.Sprintf(
				"Service Unavailable: %d requests are in progress (TASKMAN_MAX_IN_FLIGHT); retry after %d s", cap(a.slots), admissionRetryAfter))
			return
		}
		if r.ContentLength > a.maxBody {
			next.ServeHTTP(w, r) // declared too large: the handler's 413, without reading it here first
			return
		}
		body, err := readBody(io.LimitReader(r.Body, a.maxBody+1), r.ContentLength, a.maxBody)
		if err != nil {
			writeRPCError(w, http.StatusBadRequest, nil, codeInvalidRequest, "Bad Request: reading the body failed")
			return
		}
		if int64(len(body)) > a.maxBody {
			// An oversized body goes on whole, for the handler's 413.
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
			next.ServeHTTP(w, r)
			return
		}
		if err := jsonMessageShape.check(body); err != nil {
			writeRPCError(w, http.StatusBadRequest, nil, codeInvalidRequest, "Bad Request: "+err.Error())
			return
		}
		ab := &admittedBody{Closer: r.Body, data: body}
		ab.Reset(body)
		r.Body = ab
		next.ServeHTTP(w, r)
	})
}

// admittedBody is a request body the admission has read whole and
// checked: the handler takes its bytes (requestBody) instead of reading
// them a second time.
type admittedBody struct {
	bytes.Reader
	io.Closer // the original body's
	data      []byte
}

// requestBody returns the body of r, of at most limit bytes: the bytes
// the admission read, or else the body read up to limit (an error
// wrapping *http.MaxBytesError past it).
func requestBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ab, ok := r.Body.(*admittedBody); ok {
		return ab.data, nil
	}
	return readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
}
