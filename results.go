package main

// The typed results of the MCP methods. Their fields are declared in the
// order of their JSON names, which is the order encoding/json gives a map,
// except that an embedded cacheHints puts cacheScope and ttlMs right after
// _meta: the wire bytes stay those the transcripts in testdata/ pin.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// implementation is an MCP Implementation object: who we are.
type implementation struct {
	Name    string `json:"name"`
	Title   string `json:"title,omitempty"` // from 2025-06-18
	Version string `json:"version"`
}

// serverCapabilities declares what is implemented, and nothing else: every
// method table row's capability is one of these.
type serverCapabilities struct {
	Completions struct{}            `json:"completions"`
	Logging     struct{}            `json:"logging"`
	Prompts     promptsCapability   `json:"prompts"`
	Resources   resourcesCapability `json:"resources"`
	Tools       toolsCapability     `json:"tools"`
}

// capabilities are the server's capabilities, as initialize and
// server/discover declare them.
var capabilities = serverCapabilities{Resources: resourcesCapability{ListChanged: true, Subscribe: true}}

// promptsCapability is the prompts capability: the table is fixed.
type promptsCapability struct {
	ListChanged bool `json:"listChanged"`
}

// resourcesCapability is the resources capability.
// subscribe: resources/subscribe and subscriptions/listen are served.
type resourcesCapability struct {
	ListChanged bool `json:"listChanged"`
	Subscribe   bool `json:"subscribe"`
}

// toolsCapability is the tools capability: the catalog is fixed for the
// life of the process.
type toolsCapability struct {
	ListChanged bool `json:"listChanged"`
}

// Capability names, as method table rows name them.
const (
	capabilityTools       = "tools"
	capabilityLogging     = "logging"
	capabilityResources   = "resources"
	capabilityPrompts     = "prompts"
	capabilityCompletions = "completions"
)

// resultMeta is the _meta of a result: our identity in 2026-07-28, the
// fields a backend dialect could not store or filter (docs/dialects.md),
// and the staleness mark of an answer from the fallback cache.
type resultMeta struct {
	ServerInfo    *implementation `json:"io.modelcontextprotocol/serverInfo,omitempty"`
	DroppedFields []string        `json:"io.taskman/dropped_fields,omitempty"` // fields the backend has no place for (docs/dialects.md)
	LocalFilters  []string        `json:"io.taskman/local_filters,omitempty"`  // list filters applied here, not by the backend
	// SubscriptionID names the subscriptions/listen stream a result closes.
	SubscriptionID json.RawMessage `json:"io.modelcontextprotocol/subscriptionId,omitempty"`
	Stale          *staleMark      `json:"io.taskman/stale,omitempty"`
}

// staleMark tells programs that a result came from the fallback cache.
type staleMark struct {
	AgeMS  int64  `json:"age_ms"`
	Reason string `json:"reason"`
}

// modernResult is a result a 2026-07-28 method returns: the dispatcher
// stamps it with resultType and our serverInfo.
type modernResult interface {
	stamp(info *implementation)
}

// emptyResult is the {} of ping and logging/setLevel.
type emptyResult struct{}

// initializeResult answers initialize.
type initializeResult struct {
	Capabilities    serverCapabilities `json:"capabilities"`
	Instructions    string             `json:"instructions,omitempty"` // from 2025-03-26
	ProtocolVersion string             `json:"protocolVersion"`
	ServerInfo      *implementation    `json:"serverInfo"`
}

// discoverResult answers server/discover.
type discoverResult struct {
	Meta              *resultMeta        `json:"_meta,omitempty"`
	CacheScope        string             `json:"cacheScope"`
	Capabilities      serverCapabilities `json:"capabilities"`
	Instructions      string             `json:"instructions"`
	ResultType        string             `json:"resultType,omitempty"`
	SupportedVersions []string           `json:"supportedVersions"`
	TTLMS             int64              `json:"ttlMs"`
}

func (r *discoverResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}

// toolsListResult answers tools/list: one page of the catalog.
type toolsListResult struct {
	Meta       *resultMeta       `json:"_meta,omitempty"`
	CacheScope string            `json:"cacheScope,omitempty"` // 2026-07-28
	NextCursor string            `json:"nextCursor,omitempty"`
	ResultType string            `json:"resultType,omitempty"`
	Tools      []json.RawMessage `json:"tools"`
	TTLMS      int64             `json:"ttlMs,omitempty"` // 2026-07-28
}

func (r *toolsListResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}

// toolResult answers tools/call: content always, structuredContent from
// 2025-06-18 on; an error result carries its text only.
type toolResult struct {
	Meta              *resultMeta     `json:"_meta,omitempty"`
	Content           []contentBlock  `json:"content"`
	IsError           bool            `json:"isError"`
	ResultType        string          `json:"resultType,omitempty"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
}

func (r *toolResult) stamp(info *implementation) {
	r.meta().ServerInfo, r.ResultType = info, "complete"
}

// meta returns the result's _meta, creating it when absent.
func (r *toolResult) meta() *resultMeta {
	if r.Meta == nil {
		r.Meta = &resultMeta{}
	}
	return r.Meta
}

// contentBlock is a text content block, the only kind our tools return.
type contentBlock struct {
	Text string `json:"text"`
	Type string `json:"type"`
}

// markStale tells the client that a result came from the fallback cache:
// _meta["io.taskman/stale"] for programs, a second text block for people.
// The payload itself is unchanged.
func markStale(res *toolResult, st *staleness) {
	res.meta().Stale = st.mark()
	res.Content = append(res.Content, contentBlock{Type: "text",
		Text: fmt.Sprintf("Stale: the backend is unavailable (%s); this copy is %s old.", st.cause, st.age.Round(time.Second))})
}

// mark is the _meta["io.taskman/stale"] of a result served from the
// fallback cache.
func (st *staleness) mark() *staleMark {
	return &staleMark{AgeMS: st.age.Milliseconds(), Reason: st.cause.Error()}
}

// newToolResult shapes a successful tools/call result for protocol
// version v: the payload as text always, as structuredContent from
// 2025-06-18 on.
func newToolResult(v string, payload map[string]any) *toolResult {
	text, err := encodePayload(payload)
	if err != nil {
		return errorToolResult("the result could not be encoded: " + err.Error())
	}
	res := &toolResult{Content: []contentBlock{{Type: "text", Text: string(text)}}}
	if hasStructured(v) {
		res.StructuredContent = text
	}
	return res
}

// encodePayload encodes a tool's payload as json.Marshal would, except
// that a json.RawMessage value (a backend record passed on as its text,
// already compact and valid: see recordText) is copied, not scanned again.
func encodePayload(payload map[string]any) ([]byte, error) {
	keys := make([]string, 0, 8)
	size := 2
	for k, v := range payload {
		keys = append(keys, k)
		if text, ok := v.(json.RawMessage); ok {
			size += len(text)
		}
		size += len(k) + 64
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, k), ':')
		if text, ok := payload[k].(json.RawMessage); ok {
			b = append(b, text...)
			continue
		}
		v, err := json.Marshal(payload[k])
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string, as json.Marshal writes it.
func appendJSONString(b []byte, s string) []byte {
	if !needsEscape(s) {
		return append(append(append(b, '"'), s...), '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// needsEscape reports whether json.Marshal changes any byte of s inside
// its quotes: anything outside printable ASCII, a quote, a backslash, or
// one of the HTML characters it escapes.
func needsEscape(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// appendJSON appends the JSON text of r, byte for byte what encoding/json
// writes for it, except that structuredContent (compact JSON made by
// encodePayload) is copied instead of being scanned again: a tool result
// is encoded once.
func (r *toolResult) appendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if r.Meta != nil {
		meta, err := json.Marshal(r.Meta)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, `"_meta":`...), meta...), ',')
	}
	b = append(b, `"content":`...)
	content, err := json.Marshal(r.Content)
	if err != nil {
		return nil, err
	}
	b = append(append(b, content...), `,"isError":`...)
	b = strconv.AppendBool(b, r.IsError)
	if r.ResultType != "" {
		b = appendJSONString(append(b, `,"resultType":`...), r.ResultType)
	}
	if len(r.StructuredContent) > 0 {
		b = append(append(b, `,"structuredContent":`...), r.StructuredContent...)
	}
	return append(b, '}'), nil
}

// errorToolResult is a tools/call result with isError and its text.
func errorToolResult(text string) *toolResult {
	return &toolResult{Content: []contentBlock{{Type: "text", Text: text}}, IsError: true}
}

// cacheHints are the 2026-07-28 caching fields of a list or read result
// (absent in legacy versions).
type cacheHints struct {
	CacheScope string `json:"cacheScope,omitempty"`
	TTLMS      *int64 `json:"ttlMs,omitempty"`
}

// set gives live records' hints in version v: private (they are the
// backend's data, not the server's) and stale at once.
func (h *cacheHints) set(v string) {
	if v == versionModern {
		zero := int64(0)
		h.CacheScope, h.TTLMS = "private", &zero
	}
}

// resourceEntry is a Resource of resources/list.
type resourceEntry struct {
	MimeType string `json:"mimeType"`
	Name     string `json:"name"`
	Title    string `json:"title,omitempty"`
	URI      string `json:"uri"`
}

// resourcesListResult answers resources/list.
type resourcesListResult struct {
	Meta *resultMeta `json:"_meta,omitempty"`
	cacheHints
	NextCursor string          `json:"nextCursor,omitempty"`
	Resources  []resourceEntry `json:"resources"`
	ResultType string          `json:"resultType,omitempty"`
}

func (r *resourcesListResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}

// resourceTemplate is a ResourceTemplate of resources/templates/list.
type resourceTemplate struct {
	Description string `json:"description"`
	MimeType    string `json:"mimeType"`
	Name        string `json:"name"`
	Title       string `json:"title"`
	URITemplate string `json:"uriTemplate"`
}

// resourceTemplatesListResult answers resources/templates/list.
type resourceTemplatesListResult struct {
	Meta *resultMeta `json:"_meta,omitempty"`
	cacheHints
	ResourceTemplates []resourceTemplate `json:"resourceTemplates"`
	ResultType        string             `json:"resultType,omitempty"`
}

func (r *resourceTemplatesListResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}

// resourceContents is the text content of one resource.
type resourceContents struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
	URI      string `json:"uri"`
}

// resourcesReadResult answers resources/read.
type resourcesReadResult struct {
	Meta *resultMeta `json:"_meta,omitempty"`
	cacheHints
	Contents   []resourceContents `json:"contents"`
	ResultType string             `json:"resultType,omitempty"`
}

func (r *resourcesReadResult) stamp(info *implementation) {
	if r.Meta == nil {
		r.Meta = &resultMeta{}
	}
	r.Meta.ServerInfo, r.ResultType = info, "complete"
}

// promptInfo is a Prompt of prompts/list.
type promptInfo struct {
	Arguments   []promptArg `json:"arguments"`
	Description string      `json:"description"`
	Name        string      `json:"name"`
	Title       string      `json:"title"`
}

// promptsListResult answers prompts/list.
type promptsListResult struct {
	Meta *resultMeta `json:"_meta,omitempty"`
	cacheHints
	Prompts    []promptInfo `json:"prompts"`
	ResultType string       `json:"resultType,omitempty"`
}

func (r *promptsListResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}

// promptContent is the content of a prompt message: text, or an embedded
// resource.
type promptContent struct {
	Resource *resourceContents `json:"resource,omitempty"`
	Text     string            `json:"text,omitempty"`
	Type     string            `json:"type"`
}

// promptMessage is a PromptMessage.
type promptMessage struct {
	Content promptContent `json:"content"`
	Role    string        `json:"role"`
}

// promptsGetResult answers prompts/get.
type promptsGetResult struct {
	Meta        *resultMeta     `json:"_meta,omitempty"`
	Description string          `json:"description"`
	Messages    []promptMessage `json:"messages"`
	ResultType  string          `json:"resultType,omitempty"`
}

func (r *promptsGetResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}

// completion is the completion of a completion/complete result.
type completion struct {
	HasMore bool     `json:"hasMore"`
	Values  []string `json:"values"`
}

// completeResult answers completion/complete.
type completeResult struct {
	Meta       *resultMeta `json:"_meta,omitempty"`
	Completion completion  `json:"completion"`
	ResultType string      `json:"resultType,omitempty"`
}

func (r *completeResult) stamp(info *implementation) {
	r.Meta, r.ResultType = &resultMeta{ServerInfo: info}, "complete"
}
