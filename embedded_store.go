package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// embFormatVersion is the version of the data file layout; a file with
// another version is refused rather than misread. Version 2 has a journal
// beside it (embedded_journal.go), which a version-1 reader would ignore;
// version-1 files load unchanged.
const embFormatVersion = 2

// embStore is everything the embedded backend knows; it is also the layout
// of the data file. Every table is a field here and a row of tables.
type embStore struct {
	Version     int      `json:"version"`
	NextSeq     int64    `json:"next_seq"` // last creation sequence number handed out
	Tasks       embTable `json:"tasks"`
	Projects    embTable `json:"projects"`
	ActionLists embTable `json:"action_lists"`
	Comments    embTable `json:"comments"`
	Blockers    embTable `json:"blockers"`
	Sprints     embTable `json:"sprints"`
}

// tables returns every table of s by the name the data file and the
// journal give it.
func (s *embStore) tables() map[string]*embTable {
	return map[string]*embTable{
		"tasks": &s.Tasks, "projects": &s.Projects, "action_lists": &s.ActionLists,
		"comments": &s.Comments, "blockers": &s.Blockers, "sprints": &s.Sprints,
	}
}

// tableName returns the name of t, one of the tables of s. Tables are maps,
// which Go does not compare, so they are told apart by identity.
func (s *embStore) tableName(t embTable) string {
	p := reflect.ValueOf(t).UnsafePointer()
	for name, tp := range s.tables() {
		if reflect.ValueOf(*tp).UnsafePointer() == p {
			return name
		}
	}
	panic("embedded store: a table that is not in embStore.tables")
}

// embTable maps a record id to its entry.
type embTable map[string]*embEntry

// embEntry is one stored record. Entries and their records are never
// modified once stored: a change stores a new entry holding a modified copy,
// which makes rollback a pointer swap and lets answers be encoded after the
// store lock is released.
type embEntry struct {
	Seq    int64          `json:"seq"` // creation order, the key of cursor paging
	Record map[string]any `json:"record"`
}

// consistent reports whether ent can be stored under id in a store whose
// last sequence number is nextSeq.
func (ent *embEntry) consistent(id string, nextSeq int64) bool {
	return ent != nil && ent.Record != nil && embStr(ent.Record, "id") == id && ent.Seq >= 1 && ent.Seq <= nextSeq
}

// embRemoveTemps removes the temp files a crash in the middle of a
// compaction (the rewrite of the snapshot) left beside dataFile; each is a
// whole copy of the store. Only the lock holder gets here, so none of them
// belongs to a running compaction.
func embRemoveTemps(dataFile string) {
	dir, base := filepath.Dir(dataFile), filepath.Base(dataFile)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if strings.HasPrefix(de.Name(), base+".tmp-") {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// embTx is one request's view of the store: it records every change so
// that a failed handler or a failed save leaves no trace, and so that the
// journal line holds exactly the records it touched.
type embTx struct {
	e     *embedded
	s     *embStore
	seq   int64  // s.NextSeq when the transaction began
	stamp string // the transaction's time, for created_at and updated_at

	changed []embChange // every put and remove, in order; empty when nothing changed
}

// embChange is one put or remove: where it happened and what was there
// before, which rollback restores.
type embChange struct {
	table string   // t's name in the data file and the journal
	t     embTable // the table changed
	id    string
	old   *embEntry // the entry under id before the change
	had   bool      // whether there was one
}

// embKey names one record: its table's name and its id.
type embKey struct {
	table, id string
}

// record remembers the entry now under id in t, before a change to it.
func (tx *embTx) record(t embTable, id string) {
	old, had := t[id]
	tx.changed = append(tx.changed, embChange{table: tx.s.tableName(t), t: t, id: id, old: old, had: had})
}

// put stores ent under id in t, remembering the previous entry.
func (tx *embTx) put(t embTable, id string, ent *embEntry) {
	tx.record(t, id)
	t[id] = ent
}

// replace stores rec as the new version of the entry ent under id, with
// updated_at set.
func (tx *embTx) replace(t embTable, ent *embEntry, rec map[string]any) map[string]any {
	rec["updated_at"] = tx.stamp
	tx.put(t, embStr(rec, "id"), &embEntry{Seq: ent.Seq, Record: rec})
	return rec
}

// embLinks names a record's list of linked ids: a project's sprints, an
// action list's tasks.
type embLinks struct {
	field string // the record's member holding the ids
	noun  string // the record's kind, for the 409 of a full list
	what  string // the linked things, for that 409
	max   int    // how many ids the list may hold
}

var (
	embProjectSprints = embLinks{field: "sprints", noun: "project", what: "sprints", max: embMaxSprints}
	embListTasks      = embLinks{field: "task_ids", noun: "action list", what: "linked tasks", max: embMaxLinkedTasks}
)

// link stores ent's record, of t, with id appended to its l list and
// returns the stored record. An id already linked changes nothing; a full
// list is refused with a 409.
func (tx *embTx) link(t embTable, ent *embEntry, l embLinks, id string) (map[string]any, error) {
	ids, _ := ent.Record[l.field].([]any)
	if slices.Contains(ids, any(id)) {
		return ent.Record, nil
	}
	if len(ids) >= l.max {
		return nil, embFull(l.noun, embStr(ent.Record, "id"), l.max, l.what)
	}
	rec := maps.Clone(ent.Record)
	rec[l.field] = append(slices.Clone(ids), id)
	return tx.replace(t, ent, rec), nil
}

// unlink stores ent's record, of t, without id in its l list and returns
// the stored record; linked is false, and nothing changes, when id was not
// in the list.
func (tx *embTx) unlink(t embTable, ent *embEntry, l embLinks, id string) (rec map[string]any, linked bool) {
	ids, _ := ent.Record[l.field].([]any)
	if !slices.Contains(ids, any(id)) {
		return ent.Record, false
	}
	rec = maps.Clone(ent.Record)
	rec[l.field] = slices.DeleteFunc(slices.Clone(ids), func(x any) bool { return x == any(id) })
	return tx.replace(t, ent, rec), true
}

// remove deletes id from t, remembering the entry.
func (tx *embTx) remove(t embTable, id string) {
	if _, had := t[id]; !had {
		return
	}
	tx.record(t, id)
	delete(t, id)
}

// rollback undoes every change of the transaction.
func (tx *embTx) rollback() {
	for i := len(tx.changed) - 1; i >= 0; i-- {
		c := tx.changed[i]
		if c.had {
			c.t[c.id] = c.old
		} else {
			delete(c.t, c.id)
		}
	}
	tx.changed = nil
	tx.s.NextSeq = tx.seq
}

// changes returns the new state of every record the transaction touched,
// each once, and refuses the transaction when a record it stores is larger
// than embMaxRecordBytes.
func (tx *embTx) changes() (*embJournalTx, error) {
	out := &embJournalTx{NextSeq: tx.s.NextSeq}
	seen := make(map[embKey]bool, len(tx.changed))
	for _, c := range tx.changed {
		k := embKey{c.table, c.id}
		if seen[k] {
			continue
		}
		seen[k] = true
		ent := c.t[c.id]
		if ent != nil {
			b, err := json.Marshal(ent.Record)
			if err != nil {
				return nil, fmt.Errorf("encode record %s: %w", c.id, err)
			}
			if len(b) > embMaxRecordBytes {
				return nil, embErrf(http.StatusRequestEntityTooLarge, "record %s would be %d bytes of JSON, more than the %d a record may have; shorten its text fields or split it", c.id, len(b), embMaxRecordBytes)
			}
		}
		out.Ops = append(out.Ops, embJournalOp{Table: c.table, ID: c.id, Entry: ent})
	}
	return out, nil
}

// insert gives rec an id (prefix + 8 hex characters), timestamps and the
// next creation sequence number, and stores it in t. noun names the kind in
// the message when t is full.
func (tx *embTx) insert(t embTable, noun, prefix string, rec map[string]any) (map[string]any, error) {
	if len(t) >= tx.e.maxRecords {
		return nil, embErrf(http.StatusInsufficientStorage, "the embedded backend holds at most %d %ss; delete some or use a real Task Manager API", tx.e.maxRecords, noun)
	}
	id, err := embNewID(prefix, func(id string) bool { return t[id] != nil })
	if err != nil {
		return nil, err
	}
	rec["id"] = id
	rec["created_at"] = tx.stamp
	rec["updated_at"] = tx.stamp
	tx.s.NextSeq++
	tx.put(t, id, &embEntry{Seq: tx.s.NextSeq, Record: rec})
	return rec, nil
}

// get returns the entry id of t, or a 404 naming the noun and id.
func (tx *embTx) get(t embTable, noun, id string) (*embEntry, error) {
	ent := t[id]
	if ent == nil {
		return nil, embErrf(http.StatusNotFound, "%s %s does not exist", noun, id)
	}
	return ent, nil
}

// getWithBody returns the record of t with id and the JSON object that
// body holds, read by decode (embDecodeObject, or an embSpec's createFrom):
// the two inputs of a handler that edits a record or adds to it. A missing
// record (404) is reported before a bad body (400 or 422).
func (tx *embTx) getWithBody(t embTable, noun, id string, body []byte, decode func([]byte) (map[string]any, error)) (*embEntry, map[string]any, error) {
	ent, err := tx.get(t, noun, id)
	if err != nil {
		return nil, nil, err
	}
	in, err := decode(body)
	if err != nil {
		return nil, nil, err
	}
	return ent, in, nil
}

// liveTask returns the task id unless it does not exist or is deleted.
func (tx *embTx) liveTask(id string) (*embEntry, error) {
	ent := tx.s.Tasks[id]
	if ent == nil || embDeleted(ent.Record) {
		return nil, embErrf(http.StatusNotFound, "task %s does not exist", id)
	}
	return ent, nil
}

// checkProject refuses a record or change set whose project_id names no
// project (a typo would otherwise leave an orphan), saying which tools create
// or find one. A record without a project_id passes.
func (tx *embTx) checkProject(rec map[string]any, prefix string) error {
	pid, _ := rec["project_id"].(string)
	if pid == "" || tx.s.Projects[pid] != nil {
		return nil
	}
	return embErrf(http.StatusUnprocessableEntity, "%sproject_id: project %s does not exist; create it with project_create or find it with project_list", prefix, pid)
}

// embNewID returns prefix plus 8 random lowercase hex characters that taken
// does not report as in use.
func embNewID(prefix string, taken func(string) bool) (string, error) {
	var b [4]byte
	for range embIDAttempts {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("generate id: %w", err)
		}
		id := prefix + hex.EncodeToString(b[:])
		if !taken(id) {
			return id, nil
		}
	}
	return "", fmt.Errorf("generate id: %d collisions in a row", embIDAttempts)
}

// embNewStore returns an empty store.
func embNewStore() *embStore {
	s := &embStore{Version: embFormatVersion}
	for _, t := range s.tables() {
		*t = embTable{}
	}
	return s
}

// embLoad reads the store from path. A missing file gives an empty store if
// its directory exists (so a typo in the directory is caught at start, not
// at the first write); anything else that is not a complete, consistent
// store is an error. The file is only read.
func embLoad(path string) (*embStore, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("data directory %s is not a directory", dir)
		}
		return embNewStore(), nil
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var s embStore
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse: unexpected data after the store")
	}
	if s.Version != embFormatVersion && s.Version != 1 {
		return nil, fmt.Errorf("unsupported format version %d (this build reads versions 1 and %d)", s.Version, embFormatVersion)
	}
	s.Version = embFormatVersion
	for name, t := range s.tables() {
		if *t == nil {
			*t = embTable{}
		}
		for id, ent := range *t {
			if !ent.consistent(id, s.NextSeq) {
				return nil, fmt.Errorf("%s %s: inconsistent record", name, id)
			}
		}
	}
	return &s, nil
}

// commit makes the changes of tx durable before they are acknowledged: it
// appends them to the journal (fsynced) and compacts the journal into the
// snapshot once it has outgrown it. Without a data file it only checks the
// record size limit; with one that close has released, it refuses the
// write, which could be neither journaled nor saved. Called with mu held.
func (e *embedded) commit(tx *embTx) error {
	if e.dataFile != "" && e.journal == nil {
		return fmt.Errorf("save %s: the embedded backend is closed", e.dataFile)
	}
	jtx, err := tx.changes()
	if err != nil {
		return err
	}
	if e.journal == nil {
		return nil
	}
	line, err := embEncodeJournalLine(jtx)
	if err != nil {
		return fmt.Errorf("save %s: %w", e.dataFile, err)
	}
	if err := e.journal.append(line); err != nil {
		return fmt.Errorf("save %s: %w", e.dataFile, err)
	}
	if e.journal.size > max(embCompactMinBytes, e.snapshotBytes) {
		// The write is durable in the journal already: a failed
		// compaction is retried at the next write, not reported to
		// this one.
		if err := e.compact(); err != nil {
			e.logger.Warn("compacting the embedded backend's journal failed; retrying at the next write", "err", err)
		}
	}
	return nil
}

// compact writes the whole store to the data file crash-safely and then
// empties the journal; a crash between the two leaves a journal whose
// replay over the new snapshot changes nothing, since each line holds the
// whole new state of the records it names. Called with mu held.
func (e *embedded) compact() error {
	data, err := json.Marshal(e.store)
	if err != nil {
		return fmt.Errorf("compact %s: %w", e.dataFile, err)
	}
	if err := embWriteFileAtomic(e.dataFile, data); err != nil {
		return fmt.Errorf("compact %s: %w", e.dataFile, err)
	}
	e.snapshotBytes = int64(len(data))
	if err := e.journal.reset(0); err != nil {
		return fmt.Errorf("compact %s: %w", e.dataFile, err)
	}
	return nil
}

// embWriteFileAtomic replaces path with data (mode 0600) so that a crash at
// any point leaves either the old or the new file: it writes and fsyncs a
// temporary file in the same directory, renames it over path, and fsyncs
// the directory so that the rename itself is durable.
func embWriteFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
