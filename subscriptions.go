package main

// Resource subscriptions (docs/mcp.md, "Subscriptions"): a client names
// taskman:// resources and is sent notifications/resources/updated when a
// tool call through this server changes one. Legacy sessions use
// resources/subscribe and resources/unsubscribe (over HTTP the updates
// travel on the session's GET stream); 2026-07-28 clients hold a
// subscriptions/listen request open, whose stream carries them.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// maxSubscriptions bounds the resources one session or one listen stream
// subscribes to: far more than an assistant attaches, small enough that a
// client cannot grow the server's memory with them.
const maxSubscriptions = 100

// subscriptionQueueLen is how many updates wait for a slow stream; more
// are dropped (the client rereads the resource anyway).
const subscriptionQueueLen = 64

// subscriber is one session's or one listen stream's subscriptions.
type subscriber struct {
	uris  map[string]bool
	send  func(uri string)
	ended <-chan struct{} // closed when the owner is gone; nil: never
}

// subscriptionHub holds every subscriber, by owner: a legacy *session or a
// listen stream.
type subscriptionHub struct {
	mu      sync.Mutex
	subs    map[any]*subscriber             // guarded by mu
	lists   map[any]*listWatcher            // told when the resource list changes; guarded by mu
	queues  map[*session]chan *notification // legacy HTTP sessions' updates for their GET stream; guarded by mu
	closing chan struct{}                   // closed at shutdown: listen streams end
	once    sync.Once
}

// newSubscriptionHub returns an empty hub.
func newSubscriptionHub() *subscriptionHub {
	return &subscriptionHub{subs: map[any]*subscriber{}, lists: map[any]*listWatcher{},
		queues: map[*session]chan *notification{}, closing: make(chan struct{})}
}

// close ends every listen stream (shutdown); it is safe to call twice.
func (h *subscriptionHub) close() { h.once.Do(func() { close(h.closing) }) }

// pruneLocked forgets the subscribers and queues of sessions that ended.
func (h *subscriptionHub) pruneLocked() {
	for owner, sub := range h.subs {
		if gone(sub.ended) {
			delete(h.subs, owner)
		}
	}
	for owner, w := range h.lists {
		if gone(w.ended) {
			delete(h.lists, owner)
		}
	}
	for sess := range h.queues {
		if gone(sess.ended) {
			delete(h.queues, sess)
		}
	}
}

// gone reports whether ended is closed; a nil channel never is.
func gone(ended <-chan struct{}) bool {
	select {
	case <-ended:
		return true
	default:
		return false
	}
}

// queue returns the legacy HTTP session's update queue, which its GET
// stream drains.
func (h *subscriptionHub) queue(sess *session) chan *notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked()
	return h.queueLocked(sess)
}

// subscribe adds uri to owner's subscriptions, making the subscriber with
// newSub on the first one; past maxSubscriptions it refuses.
func (h *subscriptionHub) subscribe(owner any, uri string, newSub func() *subscriber) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked()
	sub := h.subs[owner]
	if sub == nil {
		sub = newSub()
		h.subs[owner] = sub
	}
	if !sub.uris[uri] && len(sub.uris) >= maxSubscriptions {
		return fmt.Errorf("at most %d subscriptions per session; unsubscribe from one first", maxSubscriptions)
	}
	sub.uris[uri] = true
	return nil
}

// unsubscribe removes uri from owner's subscriptions.
func (h *subscriptionHub) unsubscribe(owner any, uri string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sub := h.subs[owner]; sub != nil {
		delete(sub.uris, uri)
		if len(sub.uris) == 0 {
			delete(h.subs, owner) // watched stays false while nothing is
		}
	}
}

// add registers a listen stream's subscriber; remove forgets it.
func (h *subscriptionHub) add(owner any, sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked()
	h.subs[owner] = sub
}

func (h *subscriptionHub) remove(owner any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, owner)
	delete(h.lists, owner)
}

// listWatcher is told when the resource list changes.
type listWatcher struct {
	send  func()
	ended <-chan struct{} // closed when the owner is gone; nil: never
}

// watchList tells owner, through w, when the resource list changes.
func (h *subscriptionHub) watchList(owner any, w *listWatcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked()
	h.lists[owner] = w
}

// listChanged tells every list watcher that the resource list changed.
// The watchers are told after the lock is released: a stdio watcher
// writes to stdout, which must not hold up every other call.
func (h *subscriptionHub) listChanged() {
	h.mu.Lock()
	h.pruneLocked()
	sends := make([]func(), 0, len(h.lists))
	for _, w := range h.lists {
		sends = append(sends, w.send)
	}
	h.mu.Unlock()
	for _, send := range sends {
		send()
	}
}

// listChangedNote is notifications/resources/list_changed; subID, when
// not nil, is the listen request's id for its _meta.
func listChangedNote(subID json.RawMessage) *notification {
	n := &notification{JSONRPC: "2.0", Method: "notifications/resources/list_changed"}
	if subID != nil {
		n.Params = map[string]any{"_meta": map[string]any{metaSubscriptionID: subID}}
	}
	return n
}

// changesList reports whether a successful call of t may change the
// resources/list set: a create or delete of a project, sprint or action
// list.
func changesList(t *tool) bool {
	listed := t.family == familyProjects || t.family == familySprints || t.family == familyActionLists
	return listed && (strings.HasSuffix(t.name, "_create") || strings.Contains(t.name, "_delete"))
}

// watchListLegacy makes a legacy session a list watcher at initialize:
// under stdio the notification is written at once, over HTTP it is queued
// for the session's GET stream.
func (s *server) watchListLegacy(sess *session, notify notifier) {
	send := func() { notify(listChangedNote(nil)) }
	if sess.id != "" {
		q := s.subs.queue(sess)
		send = func() { offer(q, listChangedNote(nil)) }
	}
	s.subs.watchList(sess, &listWatcher{send: send, ended: sess.ended})
}

// watched reports whether any resource subscription is held (some may
// have ended and wait to be pruned); a subscriber holds one URI at least.
func (h *subscriptionHub) watched() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// publish tells every subscriber of one of uris that it changed.
func (h *subscriptionHub) publish(uris []string) {
	if len(uris) == 0 {
		return
	}
	type update struct {
		send func(string)
		uri  string
	}
	var updates []update
	h.mu.Lock()
	h.pruneLocked()
	for _, sub := range h.subs {
		for _, u := range uris {
			if sub.uris[u] {
				updates = append(updates, update{sub.send, u})
			}
		}
	}
	h.mu.Unlock()
	for _, up := range updates { // after the lock, as in listChanged
		up.send(up.uri)
	}
}

// updated is the notifications/resources/updated of uri; subID, when not
// nil, is the listen request's id for its _meta.
func updated(uri string, subID json.RawMessage) *notification {
	params := map[string]any{"uri": uri}
	if subID != nil {
		params["_meta"] = map[string]any{metaSubscriptionID: subID}
	}
	return &notification{JSONRPC: "2.0", Method: "notifications/resources/updated", Params: params}
}

// metaSubscriptionID is the _meta key naming a listen stream's messages.
const metaSubscriptionID = "io.modelcontextprotocol/subscriptionId"

// offer queues n without blocking; a full queue drops it.
func offer(q chan *notification, n *notification) {
	select {
	case q <- n:
	default:
	}
}

// subscriptionURI checks a URI a client subscribes to: one of the offered
// resources.
func (s *server) subscriptionURI(v, uri string) error {
	if k, _, ok := parseResourceURI(uri); !ok || !s.offersKind(k) {
		return resourceError(v, uri, nil)
	}
	return nil
}

// resourcesSubscribe answers resources/subscribe in a legacy session.
// Under stdio an update is written at once; over HTTP it is queued for the
// session's GET stream.
func (s *server) resourcesSubscribe(_ context.Context, c *invocation) (any, error) {
	var uri string
	_ = c.req.param("uri", &uri)
	if err := s.subscriptionURI(c.version, uri); err != nil {
		return nil, err
	}
	sess, notify := c.sess, c.notify
	err := s.subs.subscribe(sess, uri, func() *subscriber {
		sub := &subscriber{uris: map[string]bool{}, ended: sess.ended}
		if sess.id == "" {
			sub.send = func(u string) { notify(updated(u, nil)) }
		} else {
			q := s.subs.queueLocked(sess)
			sub.send = func(u string) { offer(q, updated(u, nil)) }
		}
		return sub
	})
	if err != nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	return emptyResult{}, nil
}

// queueLocked is queue for a caller that holds h.mu.
func (h *subscriptionHub) queueLocked(sess *session) chan *notification {
	q := h.queues[sess]
	if q == nil {
		q = make(chan *notification, subscriptionQueueLen)
		h.queues[sess] = q
	}
	return q
}

// resourcesUnsubscribe answers resources/unsubscribe.
func (s *server) resourcesUnsubscribe(_ context.Context, c *invocation) (any, error) {
	var uri string
	if c.req.param("uri", &uri) != nil || uri == "" {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: resources/unsubscribe needs params.uri"}
	}
	s.subs.unsubscribe(c.sess, uri)
	return emptyResult{}, nil
}

// subscriptionsListen serves a 2026-07-28 subscriptions/listen: it
// acknowledges what it honours (resource subscriptions and the resource
// list; tools and prompts never change, so those are left out), then
// sends an update per change until the client cancels the request or the server shuts down,
// when it answers the closing result.
func (s *server) subscriptionsListen(ctx context.Context, c *invocation) (any, error) {
	var filter struct {
		ResourceSubscriptions []string `json:"resourceSubscriptions"`
		ResourcesListChanged  bool     `json:"resourcesListChanged"`
	}
	if err := c.req.param("notifications", &filter); err != nil {
		return nil, &rpcError{Code: codeInvalidParams, Message: "invalid params: notifications must be an object; resourceSubscriptions a list of URIs"}
	}
	if len(filter.ResourceSubscriptions) > maxSubscriptions {
		return nil, &rpcError{Code: codeInvalidParams, Message: fmt.Sprintf("invalid params: at most %d resourceSubscriptions per stream", maxSubscriptions)}
	}
	sub := &subscriber{uris: map[string]bool{}}
	accepted := []string{}
	for _, uri := range filter.ResourceSubscriptions {
		if s.subscriptionURI(versionModern, uri) == nil && !sub.uris[uri] {
			sub.uris[uri] = true
			accepted = append(accepted, uri)
		}
	}
	id := c.req.id
	meta := map[string]any{metaSubscriptionID: id}
	honoured := map[string]any{}
	if len(filter.ResourceSubscriptions) > 0 {
		honoured["resourceSubscriptions"] = accepted
	}
	if filter.ResourcesListChanged {
		honoured["resourcesListChanged"] = true
	}
	ack := map[string]any{"_meta": meta, "notifications": honoured}
	// Subscribed before the acknowledgment, so no change after it is
	// missed; updates wait in q until it is sent.
	q := make(chan *notification, subscriptionQueueLen)
	sub.send = func(u string) { offer(q, updated(u, id)) }
	owner := new(struct{ byte }) // this stream, distinct from every other
	if len(sub.uris) > 0 {
		s.subs.add(owner, sub)
	}
	if filter.ResourcesListChanged {
		s.subs.watchList(owner, &listWatcher{send: func() { offer(q, listChangedNote(id)) }})
	}
	defer s.subs.remove(owner)
	c.notify(&notification{JSONRPC: "2.0", Method: "notifications/subscriptions/acknowledged", Params: ack})
	// The listen ends when the client closes the stream (its usual end:
	// the answer then reaches nobody), when the request is cancelled, and
	// when the server shuts down; each is a listen done, not a failure.
	for {
		select {
		case n := <-q:
			c.notify(n)
		case <-ctx.Done():
			return &listenResult{Meta: &resultMeta{SubscriptionID: id}}, nil
		case <-s.subs.closing:
			return &listenResult{Meta: &resultMeta{SubscriptionID: id}}, nil
		}
	}
}

// Keys of the tool arguments and results that name records, by the
// resource path of their kind.
var (
	idArgKinds = map[string]string{
		"taskId": "tasks", "task_id": "tasks", "taskIds": "tasks", "task_ids": "tasks",
		"projectId": "projects", "project_id": "projects",
		"sprintId": "sprints", "sprint_id": "sprints",
		"action_list_id": "action-lists", "action_list_ids": "action-lists",
	}
	recordKeyKinds = map[string]string{"task": "tasks", "project": "projects", "sprint": "sprints", "action_list": "action-lists"}
)

// changedURIs returns the resources a successful write may have changed,
// each once: the records its arguments name and the records it returns.
func changedURIs(args, payload map[string]any) []string {
	var uris []string
	addURI := func(path, id string) {
		if u := resourceScheme + path + "/" + id; id != "" && !slices.Contains(uris, u) {
			uris = append(uris, u)
		}
	}
	add := func(path string, v any) {
		switch id := v.(type) {
		case string:
			addURI(path, id)
		case []any:
			for _, one := range id {
				s, _ := one.(string)
				addURI(path, s)
			}
		}
	}
	for key, path := range idArgKinds {
		add(path, args[key])
	}
	for key, path := range recordKeyKinds {
		if rec := recordOf(payload[key]); rec != nil {
			add(path, rec["id"])
		}
	}
	return uris
}

// listenResult closes a subscriptions/listen stream.
type listenResult struct {
	Meta       *resultMeta `json:"_meta,omitempty"`
	ResultType string      `json:"resultType,omitempty"`
}

func (r *listenResult) stamp(info *implementation) {
	r.Meta.ServerInfo, r.ResultType = info, "complete"
}
