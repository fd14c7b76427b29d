package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
)

// The journal makes a write cost the size of what it changed instead of the
// size of the store. Beside the data file (the snapshot) lives
// <data file>.journal: one line per acknowledged transaction, appended and
// fsynced before the answer is sent, holding the new state of every record
// the transaction touched. Loading reads the snapshot and replays the
// journal; compaction writes the snapshot afresh (crash-safely, as before)
// and empties the journal once the journal has grown as large as the
// snapshot, so the amortised cost of a write stays proportional to the
// write (docs/backend-api.md).
//
// A line is the CRC-32C of its payload in 8 hex digits, a space, the
// payload (compact JSON) and a newline. A crash can only tear the last
// line, because each line is fsynced before the next is written: a last
// line that is incomplete or fails its checksum is an unacknowledged write
// and is dropped (and the drop is logged). A damaged line with lines after
// it is not a crash's doing, so loading refuses it rather than silently
// losing the writes that follow.

// embJournalSuffix names the journal beside the data file.
const embJournalSuffix = ".journal"

// embCompactMinBytes is the journal size below which no compaction runs, so
// that a small store is not rewritten on every few writes; above it the
// journal is compacted once it outgrows the snapshot.
const embCompactMinBytes = 1 << 20

// embCRC is the checksum of journal lines (Castagnoli, hardware-assisted).
var embCRC = crc32.MakeTable(crc32.Castagnoli)

// embJournalTx is one journal line: the state after one transaction.
type embJournalTx struct {
	NextSeq int64          `json:"next_seq"`
	Ops     []embJournalOp `json:"ops"`
}

// embJournalOp is the new state of one record: Entry nil means deleted.
type embJournalOp struct {
	Table string    `json:"table"`
	ID    string    `json:"id"`
	Entry *embEntry `json:"entry"`
}

// embEncodeJournalLine returns the journal line for tx.
func embEncodeJournalLine(tx *embJournalTx) ([]byte, error) {
	payload, err := json.Marshal(tx)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(payload)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(payload, embCRC))
	line = append(line, payload...)
	return append(line, '\n'), nil
}

// embDecodeJournalLine parses one line (without its newline).
func embDecodeJournalLine(line []byte) (*embJournalTx, error) {
	sum, payload, ok := bytes.Cut(line, []byte(" "))
	var want [4]byte
	if !ok || len(sum) != hex.EncodedLen(len(want)) {
		return nil, errors.New("no checksum")
	}
	if _, err := hex.Decode(want[:], sum); err != nil {
		return nil, errors.New("no checksum")
	}
	if crc32.Checksum(payload, embCRC) != binary.BigEndian.Uint32(want[:]) {
		return nil, errors.New("checksum mismatch")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var tx embJournalTx
	if err := dec.Decode(&tx); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if dec.More() {
		return nil, errors.New("parse: unexpected data after the transaction")
	}
	return &tx, nil
}

// embReadJournal parses a journal. It returns the transactions in order and
// the number of bytes at the end that form a torn tail (an incomplete or
// damaged last line); a damaged line followed by others is an error.
func embReadJournal(data []byte) (txs []*embJournalTx, torn int, err error) {
	for n := 1; len(data) > 0; n++ {
		line, rest, complete := bytes.Cut(data, []byte("\n"))
		tx, lerr := embDecodeJournalLine(line)
		if !complete || lerr != nil {
			if len(bytes.TrimSpace(rest)) == 0 {
				return txs, len(data), nil
			}
			if lerr == nil {
				lerr = errors.New("incomplete")
			}
			return nil, 0, fmt.Errorf("journal line %d is damaged (%v) and later lines follow, so it is not an interrupted write; restore the data file and its journal from a backup", n, lerr)
		}
		txs = append(txs, tx)
		data = rest
	}
	return txs, 0, nil
}

// replay applies the transactions of a journal to s, checking each record
// the way embLoad checks the snapshot's.
func (s *embStore) replay(txs []*embJournalTx) error {
	tables := s.tables()
	for i, tx := range txs {
		for _, op := range tx.Ops {
			t := tables[op.Table]
			if t == nil {
				return fmt.Errorf("journal line %d: unknown table %q", i+1, op.Table)
			}
			if op.Entry == nil {
				delete(*t, op.ID)
				continue
			}
			if !op.Entry.consistent(op.ID, tx.NextSeq) {
				return fmt.Errorf("journal line %d: %s %s: inconsistent record", i+1, op.Table, op.ID)
			}
			(*t)[op.ID] = op.Entry
		}
		s.NextSeq = max(s.NextSeq, tx.NextSeq)
	}
	return nil
}

// embJournal is the open journal of a data file.
type embJournal struct {
	f    *os.File
	size int64 // bytes of complete lines in f
}

// embOpenJournal reads the journal of dataFile into s and opens it for
// appending. It returns the number of bytes of a torn tail it dropped; the
// tail is cut off the file, so that the next line appended follows the last
// complete one.
func embOpenJournal(dataFile string, s *embStore) (*embJournal, int, error) {
	path := dataFile + embJournalSuffix
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, err
	}
	txs, torn, err := embReadJournal(data)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.replay(txs); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	j := &embJournal{f: f, size: int64(len(data) - torn)}
	if torn > 0 {
		if err := j.reset(j.size); err != nil {
			f.Close()
			return nil, 0, err
		}
	}
	return j, torn, nil
}

// append writes line and fsyncs it, so that it survives a crash once
// append returns. On failure the file is cut back to its last complete
// line, so that a half-written line does not become a damaged line in the
// middle of the journal.
func (j *embJournal) append(line []byte) error {
	_, err := j.f.Write(line)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		if terr := j.reset(j.size); terr != nil {
			return fmt.Errorf("append to journal: %w (and cutting back the partial line failed: %v)", err, terr)
		}
		return fmt.Errorf("append to journal: %w", err)
	}
	j.size += int64(len(line))
	return nil
}

// reset cuts the journal to its first size bytes and fsyncs it: to 0 once
// a snapshot holds everything the journal said, or back to the last
// complete line.
func (j *embJournal) reset(size int64) error {
	if err := j.f.Truncate(size); err != nil {
		return fmt.Errorf("cut journal to %d bytes: %w", size, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("cut journal to %d bytes: %w", size, err)
	}
	j.size = size
	return nil
}

// close closes the journal file.
func (j *embJournal) close() error { return j.f.Close() }
