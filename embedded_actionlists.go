package main

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// embActionListView returns an action list as answered: items (sorted by
// order when stored) plus total_items, completed_items and
// progress_percentage, and task_ids (the linked tasks, [] when none).
func embActionListView(rec map[string]any) map[string]any {
	out := maps.Clone(rec)
	items, _ := rec["items"].([]any)
	if items == nil {
		items = []any{}
	}
	done := 0
	for _, it := range items {
		if m, _ := it.(map[string]any); m["completed"] == true {
			done++
		}
	}
	out["items"] = items
	if _, ok := out["task_ids"]; !ok {
		out["task_ids"] = []any{}
	}
	out["total_items"] = len(items)
	out["completed_items"] = done
	out["progress_percentage"] = embPercent(done, len(items))
	return out
}

// embSortItems sorts items by order, keeping the current order of ties.
func embSortItems(items []any) {
	slices.SortStableFunc(items, func(a, b any) int {
		am, _ := a.(map[string]any)
		bm, _ := b.(map[string]any)
		return cmp.Compare(embAsInt(am["order"]), embAsInt(bm["order"]))
	})
}

// embNewItemID returns an item id not used in items.
func embNewItemID(items []any) (string, error) {
	return embNewID("item-", func(id string) bool {
		return slices.ContainsFunc(items, func(it any) bool {
			m, _ := it.(map[string]any)
			return embStr(m, "id") == id
		})
	})
}

// handleCreateActionList answers POST /action-lists.
func (e *embedded) handleCreateActionList(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	rec, err := embActionListSpec.createFrom(body)
	if err != nil {
		return 0, nil, err
	}
	if err := tx.checkProject(rec, ""); err != nil {
		return 0, nil, err
	}
	items, _ := rec["items"].([]any)
	withIDs := make([]any, 0, len(items))
	for _, it := range items {
		id, err := embNewItemID(withIDs)
		if err != nil {
			return 0, nil, err
		}
		m := maps.Clone(it.(map[string]any))
		m["id"] = id
		withIDs = append(withIDs, m)
	}
	embSortItems(withIDs)
	rec["items"] = withIDs
	if rec, err = tx.insert(tx.s.ActionLists, "action list", "AL-", rec); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, embActionListView(rec), nil
}

// handleGetActionList answers GET /action-lists/{id}.
func (e *embedded) handleGetActionList(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embActionListView(ent.Record), nil
}

// embActionListChanges validates a partial action list; items change only
// through the items endpoints.
func embActionListChanges(in map[string]any, prefix string) (map[string]any, error) {
	if _, ok := in["items"]; ok {
		return nil, embErrf(http.StatusUnprocessableEntity, "%sitems: change items through /action-lists/{id}/items", prefix)
	}
	return embActionListSpec.changes(in, false, prefix)
}

// handleUpdateActionList answers PUT /action-lists/{id}.
func (e *embedded) handleUpdateActionList(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, in, err := tx.getWithBody(tx.s.ActionLists, "action list", r.PathValue("id"), body, embDecodeObject)
	if err != nil {
		return 0, nil, err
	}
	changes, err := embActionListChanges(in, "")
	if err != nil {
		return 0, nil, err
	}
	if err := tx.checkProject(changes, ""); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, embApplyChanges(ent.Record, changes))), nil
}

// handleDeleteActionList answers DELETE /action-lists/{id}.
func (e *embedded) handleDeleteActionList(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	id := r.PathValue("id")
	if _, err := tx.get(tx.s.ActionLists, "action list", id); err != nil {
		return 0, nil, err
	}
	tx.remove(tx.s.ActionLists, id)
	return http.StatusNoContent, nil, nil
}

// embActionListEnumParams are the enum filters of listing and searching
// action lists.
var embActionListEnumParams = []embEnumParam{{"status", embActionListStatuses}, {"priority", embPriorities}}

// handleListActionLists answers GET /action-lists.
func (e *embedded) handleListActionLists(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	equal, err := embEqualFilters(q, embActionListEnumParams, "owner", "project_id", "sprint_id")
	if err != nil {
		return 0, nil, err
	}
	tags := q["tags"]
	entries := embSorted(tx.s.ActionLists, func(rec map[string]any) bool {
		return embMatches(rec, equal) && embHasAll(embStrings(rec, "tags"), tags)
	})
	return embListAnswer(q, "action_lists", entries, embActionListView)
}

// handleAddItem answers POST /action-lists/{id}/items; without an order the
// item goes last.
func (e *embedded) handleAddItem(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, item, err := tx.getWithBody(tx.s.ActionLists, "action list", r.PathValue("id"), body, embItemSpec.createFrom)
	if err != nil {
		return 0, nil, err
	}
	items, _ := ent.Record["items"].([]any)
	if len(items) >= embMaxItems {
		return 0, nil, embFull("action list", embStr(ent.Record, "id"), embMaxItems, "items")
	}
	if _, ok := item["order"]; !ok {
		next := 0
		for _, it := range items {
			m, _ := it.(map[string]any)
			next = max(next, embAsInt(m["order"])+1)
		}
		item["order"] = next
	}
	if item["id"], err = embNewItemID(items); err != nil {
		return 0, nil, err
	}
	newItems := append(slices.Clone(items), item)
	embSortItems(newItems)
	rec := maps.Clone(ent.Record)
	rec["items"] = newItems
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, rec)), nil
}

// itemEdit finds item_id in the action list of the path and stores the list
// with edit applied to its items (edit gets a copy it may change).
func (e *embedded) itemEdit(tx *embTx, r *http.Request, edit func(items []any, i int) []any) (int, any, error) {
	ent, err := tx.get(tx.s.ActionLists, "action list", r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	itemID := r.PathValue("item_id")
	items, _ := ent.Record["items"].([]any)
	i := slices.IndexFunc(items, func(it any) bool {
		m, _ := it.(map[string]any)
		return embStr(m, "id") == itemID
	})
	if i < 0 {
		return 0, nil, embErrf(http.StatusNotFound, "item %s does not exist in action list %s", itemID, embStr(ent.Record, "id"))
	}
	rec := maps.Clone(ent.Record)
	rec["items"] = edit(slices.Clone(items), i)
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, rec)), nil
}

// handleToggleItem answers PATCH /action-lists/{id}/items/{item_id} by
// flipping the item's completed flag.
func (e *embedded) handleToggleItem(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	return e.itemEdit(tx, r, func(items []any, i int) []any {
		m, _ := items[i].(map[string]any)
		m = maps.Clone(m)
		m["completed"] = m["completed"] != true
		items[i] = m
		return items
	})
}

// handleRemoveItem answers DELETE /action-lists/{id}/items/{item_id}.
func (e *embedded) handleRemoveItem(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	return e.itemEdit(tx, r, func(items []any, i int) []any { return slices.Delete(items, i, i+1) })
}

// handleReorderItems answers POST /action-lists/{id}/items/reorder: item_ids
// must name every item exactly once, and their position becomes the order.
func (e *embedded) handleReorderItems(tx *embTx, r *http.Request, body []byte) (int, any, error) {
	ent, in, err := tx.getWithBody(tx.s.ActionLists, "action list", r.PathValue("id"), body, embDecodeObject)
	if err != nil {
		return 0, nil, err
	}
	items, _ := ent.Record["items"].([]any)
	byID := map[string]map[string]any{}
	for _, it := range items {
		m, _ := it.(map[string]any)
		byID[embStr(m, "id")] = m
	}
	bad := embErrf(http.StatusBadRequest, "item_ids: must list each of the %d item ids of action list %s exactly once", len(items), embStr(ent.Record, "id"))
	list, ok := in["item_ids"].([]any)
	if !ok || len(list) != len(items) {
		return 0, nil, bad
	}
	reordered := make([]any, 0, len(items))
	seen := map[string]bool{}
	for i, x := range list {
		id, _ := x.(string)
		m := byID[id]
		if m == nil || seen[id] {
			return 0, nil, bad
		}
		seen[id] = true
		m = maps.Clone(m)
		m["order"] = i
		reordered = append(reordered, m)
	}
	rec := maps.Clone(ent.Record)
	rec["items"] = reordered
	return http.StatusOK, embActionListView(tx.replace(tx.s.ActionLists, ent, rec)), nil
}

// handleBulkDeleteActionLists answers POST /action-lists/bulk/delete, whose
// body is a bare JSON array of ids; all exist or nothing is deleted.
func (e *embedded) handleBulkDeleteActionLists(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	v, err := embDecode(body)
	if err != nil {
		return 0, nil, err
	}
	if _, ok := v.([]any); !ok {
		return 0, nil, embErrf(http.StatusBadRequest, "request body: must be a JSON array of action list ids")
	}
	ids, err := embIDList(v, "request body")
	if err != nil {
		return 0, nil, err
	}
	for _, id := range ids {
		if _, err := tx.get(tx.s.ActionLists, "action list", id); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ids {
		tx.remove(tx.s.ActionLists, id)
	}
	return http.StatusOK, map[string]any{"success": true, "deleted_count": len(ids)}, nil
}

// handleBulkUpdateActionLists answers POST /action-lists/bulk/update, all or
// nothing.
func (e *embedded) handleBulkUpdateActionLists(tx *embTx, _ *http.Request, body []byte) (int, any, error) {
	in, err := embDecodeObject(body)
	if err != nil {
		return 0, nil, err
	}
	ids, err := embIDList(in["action_list_ids"], "action_list_ids")
	if err != nil {
		return 0, nil, err
	}
	m, ok := in["updates"].(map[string]any)
	if !ok {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "updates: must be an object")
	}
	changes, err := embActionListChanges(m, "updates.")
	if err != nil {
		return 0, nil, err
	}
	if err := tx.checkProject(changes, "updates."); err != nil {
		return 0, nil, err
	}
	if len(changes) == 0 {
		return 0, nil, embErrf(http.StatusUnprocessableEntity, "updates: must contain at least one field to change")
	}
	for _, id := range ids {
		if _, err := tx.get(tx.s.ActionLists, "action list", id); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ids {
		ent := tx.s.ActionLists[id]
		tx.replace(tx.s.ActionLists, ent, embApplyChanges(ent.Record, changes))
	}
	return http.StatusOK, map[string]any{"success": true, "updated_count": len(ids), "action_list_ids": ids}, nil
}

// handleSearchActionLists answers GET /action-lists/search.
func (e *embedded) handleSearchActionLists(tx *embTx, r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	query := q.Get("q")
	if query == "" {
		return 0, nil, embErrf(http.StatusBadRequest, "q: is required")
	}
	all := []string{"title", "description", "notes"}
	fields, err := embQueryFields(q, all, all)
	if err != nil {
		return 0, nil, err
	}
	equal, err := embEqualFilters(q, embActionListEnumParams, "project_id", "sprint_id")
	if err != nil {
		return 0, nil, err
	}
	lower := strings.ToLower(query)
	entries := embSorted(tx.s.ActionLists, func(rec map[string]any) bool {
		return embMatches(rec, equal) && embMatchFields(rec, fields, lower)
	})
	return embSearchAnswer(q, query, embRecords(entries, embActionListView), embMaxListLimit)
}
