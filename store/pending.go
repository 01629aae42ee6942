package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/logid"
)

// An object is made durable with three flushes: its file's data, its
// directory entry, and its index entry. Ingest renames the file into place
// first and then runs the three at the same time, so the modality waits for
// the slowest one rather than for all three in a row. Until all three are
// done the index entry carries a pending marker, written in the same
// transaction: after a power loss in that window the entry may be on disk
// while the file is not (or not whole). The start-up check verifies the file
// of every marked entry against its hash and takes back the entries whose
// file fails: those objects were never acknowledged, because the response
// waits for all three flushes. Markers of acknowledged objects are deleted
// with the next index commit, or by one of their own after a quiet second.

// pendingRec is the value of a pending marker (key: the object's file).
type pendingRec struct {
	// Restored: the entry was Missing and this file put it back; taking it
	// back marks it Missing again rather than removing it.
	Restored bool `json:"restored,omitempty"`
	// PatientKey is the patients-bucket key the entry was added under.
	PatientKey []byte `json:"pk,omitempty"`
}

// pendingQuiet is how long acknowledged markers may wait for another index
// commit before they get one of their own.
const pendingQuiet = time.Second

// markPending records file as pending in tx and deletes the markers of
// objects acknowledged since the last commit. It returns those, for
// dropConfirmed once tx has committed.
func (s *Store) markPending(tx *bolt.Tx, file string, rec pendingRec) ([]string, error) {
	v, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	b := tx.Bucket(bPending)
	if err := b.Put([]byte(file), v); err != nil {
		return nil, err
	}
	done := s.confirmedFiles()
	for _, f := range done {
		if f != file {
			if err := b.Delete([]byte(f)); err != nil {
				return nil, err
			}
		}
	}
	return done, nil
}

// confirm notes that file's object is durable and acknowledged: its marker
// may go.
func (s *Store) confirm(file string) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if s.closed {
		return
	}
	s.confirmed[file] = true
	if s.pendTimer == nil {
		s.pendTimer = time.AfterFunc(pendingQuiet, s.flushConfirmed)
	} else {
		s.pendTimer.Reset(pendingQuiet)
	}
}

func (s *Store) confirmedFiles() []string {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	out := make([]string, 0, len(s.confirmed))
	for f := range s.confirmed {
		out = append(out, f)
	}
	return out
}

// dropConfirmed forgets markers a committed transaction deleted.
func (s *Store) dropConfirmed(files []string) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	for _, f := range files {
		delete(s.confirmed, f)
	}
}

// flushConfirmed deletes the markers of acknowledged objects in a
// transaction of its own (after a quiet second, and at Close).
func (s *Store) flushConfirmed() {
	s.pendMu.Lock()
	closed := s.closed
	s.pendMu.Unlock()
	if closed {
		return
	}
	done := s.confirmedFiles()
	if len(done) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPending)
		for _, f := range done {
			if err := b.Delete([]byte(f)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Harmless: the start-up check verifies them and deletes them.
		s.log.Warn("cannot clear pending markers; the start-up check will", "n", len(done), "err", err)
		return
	}
	s.dropConfirmed(done)
}

// takeBack removes the index entry of file, added with a pending marker,
// after its flushes failed: the entry goes (or, when it had been restored,
// is marked Missing again) and so does the marker. The caller removes the
// file afterwards.
func takeBack(tx *bolt.Tx, file string) error {
	pb := tx.Bucket(bPending)
	var rec pendingRec
	if v := pb.Get([]byte(file)); v != nil {
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("corrupt pending marker: %w", err)
		}
	}
	if err := pb.Delete([]byte(file)); err != nil {
		return err
	}
	fb := tx.Bucket(bFiles)
	ref := fb.Get([]byte(file))
	if ref == nil {
		return nil
	}
	ref = append([]byte(nil), ref...)
	if err := fb.Delete([]byte(file)); err != nil {
		return err
	}
	if rec.Restored {
		var inst Instance
		ib := tx.Bucket(bInstances)
		if ok, err := getJSON(ib, ref, &inst); err != nil || !ok {
			return err
		}
		inst.Missing = true
		return putJSON(ib, ref, &inst)
	}
	return unindexInstance(tx, ref, rec.PatientKey)
}

// checkPending is the start-up check of the entries left pending by a
// crash: a marked file that is intact keeps its entry; one that is missing,
// short or differs from its hash is removed with its entry.
func (s *Store) checkPending(r *Recovery) error {
	type marked struct {
		file string
		inst Instance
		ok   bool
	}
	var all []marked
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bPending).ForEach(func(k, _ []byte) error {
			m := marked{file: string(k)}
			if ref := tx.Bucket(bFiles).Get(k); ref != nil {
				var err error
				m.ok, err = lookupRef(tx, ref, &m.inst)
				if err != nil {
					return err
				}
			}
			all = append(all, m)
			return nil
		})
	})
	if err != nil || len(all) == 0 {
		return err
	}
	var bad []string
	for _, m := range all {
		if !m.ok {
			continue
		}
		p := filepath.Join(s.dir, filepath.FromSlash(m.file))
		if whole, err := s.intact(p, &m.inst); err != nil {
			return err
		} else if !whole {
			bad = append(bad, m.file)
			s.log.Warn("object received just before the stop is not whole on disk; taken out of the index (it was never acknowledged)",
				logid.Object(m.inst.SOPInstanceUID))
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, f := range bad {
			if err := takeBack(tx, f); err != nil {
				return err
			}
		}
		pb := tx.Bucket(bPending)
		for _, m := range all {
			if err := pb.Delete([]byte(m.file)); err != nil {
				return err
			}
		}
		return nil
	})
	r.Incomplete += len(bad)
	return err
}

// intact reports whether the file at p holds exactly inst's object.
func (s *Store) intact(p string, inst *Instance) (bool, error) {
	meta, fi, err := s.describeFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrInvalidObject):
		return false, nil
	case err != nil:
		return false, err
	}
	return fi.Size() == inst.Size && meta.inst.Hash == inst.Hash && meta.inst.SOPInstanceUID == inst.SOPInstanceUID, nil
}

// lookupRef reads the entry a files-bucket value names: a SOP Instance UID
// (primary version) or UID \0 hash (conflict version).
func lookupRef(tx *bolt.Tx, ref []byte, inst *Instance) (bool, error) {
	if bytes.IndexByte(ref, 0) >= 0 {
		return getJSON(tx.Bucket(bConflicts), ref, inst)
	}
	return getJSON(tx.Bucket(bInstances), ref, inst)
}

// receiving reports whether objects are arriving: an ingest is committing,
// or one was acknowledged less than a quiet second ago (its marker waits).
// The scrub yields to them.
func (s *Store) receiving() bool {
	if s.committing.Load() > 0 {
		return true
	}
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	return len(s.confirmed) > 0
}
