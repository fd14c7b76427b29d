package main

// The typed results of the MCP methods. Their fields are declared in the
// order of their JSON names, which is the order encoding/json gives a map:
// the wire bytes stay those the transcripts in testdata/ pin.

import (
	"encoding/json"
	"fmt"
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
	DroppedFields []string        `json:"io.taskman/dropped_fields,omitempty"`
	LocalFilters  []string        `json:"io.taskman/local_filters,omitempty"`
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
	if r.Meta == nil {
		r.Meta = &resultMeta{}
	}
	r.Meta.ServerInfo, r.ResultType = info, "complete"
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
	if res.Meta == nil {
		res.Meta = &resultMeta{}
	}
	res.Meta.Stale = &staleMark{AgeMS: st.age.Milliseconds(), Reason: st.cause.Error()}
	res.Content = append(res.Content, contentBlock{Type: "text",
		Text: fmt.Sprintf("Stale: the backend is unavailable (%s); this copy is %s old.", st.cause, st.age.Round(time.Second))})
}

// newToolResult shapes a successful tools/call result for protocol
// version v: the payload as text always, as structuredContent from
// 2025-06-18 on.
func newToolResult(v string, payload map[string]any) *toolResult {
	text, err := json.Marshal(payload)
	if err != nil {
		return errorToolResult("the result could not be encoded: " + err.Error())
	}
	res := &toolResult{Content: []contentBlock{{Type: "text", Text: string(text)}}}
	if hasStructured(v) {
		res.StructuredContent = text
	}
	return res
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
