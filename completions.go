package main

// Completions (docs/mcp.md, "Completions"): completion/complete offers
// ids as the user types them, for the resource templates' {id} and the
// prompts' project_id and sprint_id. Candidates come from the kind's list
// tool, a bounded number of pages, matched here by id prefix or by the
// start of a word of the record's title or name.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// completionMax is the most values one answer carries (the spec's limit).
const completionMax = 100

// completionScanPages bounds the backend pages one completion reads, so
// that a keystroke never walks a whole large backend.
const completionScanPages = 5

// completionSources maps a prompt argument to the kind whose ids complete
// it.
var completionSources = map[string]string{"project_id": "project_read", "sprint_id": "sprint_read"}

// completionComplete answers completion/complete.
func (s *server) completionComplete(ctx context.Context, c *invocation) (any, error) {
	var ref struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	var arg struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var known struct {
		Arguments map[string]string `json:"arguments"`
	}
	if c.req.param("ref", &ref) != nil || c.req.param("argument", &arg) != nil || arg.Name == "" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: completion/complete needs params.ref and params.argument {name, value}"}
	}
	_ = c.req.param("context", &known)
	k, filter, err := s.completionTarget(ref.Type, ref.Name, ref.URI, arg.Name, known.Arguments)
	if err != nil {
		return nil, err
	}
	res := &completeResult{Completion: completion{Values: []string{}}}
	if k != nil {
		if res.Completion, err = s.completeIDs(ctx, k, filter, arg.Value); err != nil {
			return nil, &rpcError{Code: codeInternalError, Message: "completion/complete: " + k.listTool + " failed: " + err.Error()}
		}
	}
	return res, nil
}

// completionTarget resolves what is being completed to a resource kind
// and a list filter; a nil kind (an argument with nothing to offer, or a
// kind not offered) completes to no values. An unknown reference is -32602.
func (s *server) completionTarget(typ, name, uri, argName string, known map[string]string) (*resourceKind, map[string]any, error) {
	switch typ {
	case "ref/resource":
		for i := range resourceKinds {
			k := &resourceKinds[i]
			if uri == k.template() {
				if argName != "id" || !s.offersKind(k) {
					return nil, nil, nil
				}
				return k, nil, nil
			}
		}
		return nil, nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: no resource template %q; resources/templates/list names them", uri)}
	case "ref/prompt":
		p := s.findPrompt(name)
		if p == nil {
			return nil, nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: unknown prompt %q; prompts/list names them", name)}
		}
		readTool, ok := completionSources[argName]
		if !ok || !slices.ContainsFunc(p.args, func(a promptArg) bool { return a.Name == argName }) {
			return nil, nil, nil
		}
		k := kindOf(readTool)
		if !s.offersKind(k) {
			return nil, nil, nil
		}
		var filter map[string]any
		if pid := known["project_id"]; argName == "sprint_id" && pid != "" {
			filter = map[string]any{"project_id": pid} // the sprints of the project already chosen
		}
		return k, filter, nil
	}
	return nil, nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: ref.type must be ref/prompt or ref/resource, got %q", typ)}
}

// completeIDs returns the ids of kind k matching prefix, at most
// completionMax, with hasMore when some were cut or not scanned.
func (s *server) completeIDs(ctx context.Context, k *resourceKind, filter map[string]any, prefix string) (completion, error) {
	out := completion{Values: []string{}}
	cursor := ""
	for page := 0; page < completionScanPages; page++ {
		recs, next, err := s.listPage(ctx, k, filter, cursor, maxPageSize)
		if err != nil {
			return out, err
		}
		for _, rec := range recs {
			if !completionMatches(rec, prefix) {
				continue
			}
			if len(out.Values) == completionMax {
				out.HasMore = true
				return out, nil
			}
			out.Values = append(out.Values, rec["id"].(string))
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
	out.HasMore = true // pages left unread may hold more
	return out, nil
}

// completionMatches reports whether the record's id starts with prefix, or
// its title or name or a word of it does, ignoring case. An empty prefix
// matches every record.
func completionMatches(rec map[string]any, prefix string) bool {
	p := strings.ToLower(prefix)
	id, _ := rec["id"].(string)
	label := strings.ToLower(recordLabel(rec))
	if strings.HasPrefix(strings.ToLower(id), p) || strings.HasPrefix(label, p) {
		return true
	}
	words := strings.FieldsFunc(label, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	for _, w := range words {
		if strings.HasPrefix(w, p) {
			return true
		}
	}
	return false
}
