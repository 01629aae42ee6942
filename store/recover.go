package store

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Recovery is what the start-up check found and did. The check looks only
// at what a crash can have caught in flight, so its cost does not grow with
// the archive: the spool, the temporary files of tmp/ and the entries whose
// flushes were running (pending.go). The rest (every entry against its
// file, every file against the index) is the scrub's (scrub.go).
type Recovery struct {
	SpoolRemoved int // leftover spool files removed
	TempRemoved  int // temporary files removed from tmp/
	Incomplete   int // objects a crash kept from reaching the disk whole (removed with any entry; never acknowledged)
}

// Recovery reports the start-up check of Open.
func (s *Store) Recovery() Recovery { return s.recovery }

func (s *Store) recover() (Recovery, error) {
	var r Recovery
	t0 := time.Now()

	// 1. Spool: nothing in it was acknowledged.
	n, err := emptyDir(s.SpoolDir())
	r.SpoolRemoved = n
	if err != nil {
		return r, fmt.Errorf("%w: cleaning spool: %w", ErrStorage, err)
	}

	// 2. Temporary files of interrupted writes: all of them are in tmp/.
	n, err = emptyDir(filepath.Join(s.dir, tmpDir))
	r.TempRemoved = n
	if err != nil {
		return r, fmt.Errorf("%w: removing temporary files: %w", ErrStorage, err)
	}

	// 3. Entries a crash caught while their flushes ran: keep them only
	// when their file is whole. A file renamed into place whose commit
	// never happened (so never acknowledged) has no entry to check: a
	// resend replaces it, and the scrub indexes or removes it otherwise.
	if err := s.checkPending(&r); err != nil {
		return r, fmt.Errorf("%w: checking objects received just before the stop: %w", ErrStorage, err)
	}

	// The findings of the last scrub pass stand until the next one.
	if last, ok, err := s.LastScrub(); err != nil {
		return r, err
	} else if ok {
		scrubReport(last)
	}
	s.recovery = r
	s.log.Info("start-up check done", "spool_removed", r.SpoolRemoved, "temp_removed", r.TempRemoved,
		"incomplete", r.Incomplete, "ms", time.Since(t0).Milliseconds(), "index_open_ms", s.openTook.Milliseconds())
	return r, nil
}

// emptyDir removes everything in dir and says how many entries it removed.
func emptyDir(dir string) (int, error) {
	ents, err := readDir(dir)
	if err != nil {
		return 0, err
	}
	for i, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return i, err
		}
	}
	return len(ents), nil
}

// objectName is how Ingest names files: instance key, "-", the first 64 bits
// of the data set's SHA-256, ".dcm".
var objectName = regexp.MustCompile(`^[0-9a-f]{32}-[0-9a-f]{16}\.dcm$`)

// errNotWhole: a file Ingest moved into place but a crash kept from
// reaching the disk whole. It was never acknowledged.
var errNotWhole = errors.New("object file is not whole")

// reindex indexes a file found in objects/ without an index entry. A file
// named by Ingest whose content does not match its name is errNotWhole.
func (s *Store) reindex(p string) error {
	meta, fi, err := s.describeFile(p)
	named := objectName.MatchString(filepath.Base(p))
	if err != nil {
		if named && errors.Is(err, ErrInvalidObject) {
			// Ingest moves only checked objects into place.
			return fmt.Errorf("%w: %w", errNotWhole, err)
		}
		if !errors.Is(err, ErrInvalidObject) && !errors.Is(err, ErrStorage) {
			err = fmt.Errorf("%w: %w", ErrStorage, err)
		}
		return err
	}
	inst := meta.inst
	if named && path.Base(objectFile(inst.SOPInstanceUID, inst.Hash)) != filepath.Base(p) {
		return fmt.Errorf("%w: its content does not match its name", errNotWhole)
	}
	inst.ReceivedAt = fi.ModTime().UTC()
	rel, _ := filepath.Rel(s.dir, p)
	inst.File = filepath.ToSlash(rel)
	return s.db.Update(func(tx *bolt.Tx) error {
		var prim Instance
		ok, err := getJSON(tx.Bucket(bInstances), []byte(inst.SOPInstanceUID), &prim)
		if err != nil {
			return err
		}
		if ok && prim.Hash == inst.Hash {
			// Same content already indexed under another file name: this
			// copy is redundant.
			return os.Remove(p)
		}
		if ok && tx.Bucket(bConflicts).Get(key(inst.SOPInstanceUID, inst.Hash)) != nil {
			return os.Remove(p)
		}
		inst.Conflict = ok
		return indexInstance(tx, inst, meta.patient, meta.study)
	})
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
