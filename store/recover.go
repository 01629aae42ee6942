package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/logid"
)

// Recovery is what the start-up check found and did.
type Recovery struct {
	SpoolRemoved int // leftover spool files removed
	TempRemoved  int // temporary files removed from objects/ and derived/
	Missing      int // indexed entries whose file is gone (marked Missing, kept)
	Found        int // entries marked Missing whose file is back
	Incomplete   int // objects a crash kept from reaching the disk whole (removed with any entry; never acknowledged)
	Reindexed    int // files in objects/ that were not indexed (crash after rename, before commit)
	Unreadable   int // files in objects/ that could not be re-indexed (left in place, logged)
}

// Recovery reports the start-up check of Open.
func (s *Store) Recovery() Recovery { return s.recovery }

func (s *Store) recover() (Recovery, error) {
	var r Recovery
	t0 := time.Now()

	// 1. Spool: nothing in it was acknowledged.
	ents, err := os.ReadDir(s.SpoolDir())
	if err != nil {
		return r, fmt.Errorf("%w: reading spool: %w", ErrStorage, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(s.SpoolDir(), e.Name())); err != nil {
			return r, fmt.Errorf("%w: cleaning spool: %w", ErrStorage, err)
		}
		r.SpoolRemoved++
	}

	// 2. Temporary files of interrupted writes.
	for _, top := range []string{objectsDir, derivedDir} {
		err := filepath.WalkDir(filepath.Join(s.dir, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
				if err := os.Remove(p); err != nil {
					return err
				}
				r.TempRemoved++
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("%w: removing temporary files: %w", ErrStorage, err)
		}
	}

	// 3. Entries a crash caught while their flushes ran: keep them only
	// when their file is whole.
	if err := s.checkPending(&r); err != nil {
		return r, fmt.Errorf("%w: checking objects received just before the stop: %w", ErrStorage, err)
	}

	// 4. Index → files: an entry without its file is kept and marked.
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, bn := range [][]byte{bInstances, bConflicts} {
			b := tx.Bucket(bn)
			type upd struct {
				k    []byte
				inst Instance
			}
			var updates []upd
			err := b.ForEach(func(k, v []byte) error {
				var inst Instance
				if err := json.Unmarshal(v, &inst); err != nil {
					return fmt.Errorf("corrupt index entry: %w", err)
				}
				_, serr := os.Stat(s.ObjectPath(&inst))
				switch {
				case serr != nil && !errors.Is(serr, fs.ErrNotExist):
					return serr
				case serr != nil && !inst.Missing:
					inst.Missing = true
					r.Missing++
					s.log.Error("indexed object's file is missing; entry kept and marked missing", logid.Object(inst.SOPInstanceUID), "conflict_version", inst.Conflict)
					updates = append(updates, upd{append([]byte(nil), k...), inst})
				case serr != nil:
					r.Missing++
				case inst.Missing:
					inst.Missing = false
					r.Found++
					updates = append(updates, upd{append([]byte(nil), k...), inst})
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, u := range updates {
				if err := putJSON(b, u.k, &u.inst); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("%w: checking index against files: %w", ErrStorage, err)
	}
	metricMissing.Set(float64(r.Missing))

	// 5. Files → index: a file renamed into place whose commit never
	// happened is indexed now (its source is unknown).
	var orphans []string
	err = s.db.View(func(tx *bolt.Tx) error {
		files := tx.Bucket(bFiles)
		return filepath.WalkDir(filepath.Join(s.dir, objectsDir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".dcm") {
				return err
			}
			rel, err := filepath.Rel(s.dir, p)
			if err != nil {
				return err
			}
			if files.Get([]byte(filepath.ToSlash(rel))) == nil {
				orphans = append(orphans, p)
			}
			return nil
		})
	})
	if err != nil {
		return r, fmt.Errorf("%w: scanning objects: %w", ErrStorage, err)
	}
	for _, p := range orphans {
		if err := s.reindex(p); err != nil {
			if errors.Is(err, errNotWhole) {
				s.log.Warn("object file received just before the stop is not whole on disk; removed (it was never acknowledged)", "file", filepath.Base(p), "err", err)
				if err := os.Remove(p); err != nil {
					return r, fmt.Errorf("%w: %w", ErrStorage, err)
				}
				r.Incomplete++
				continue
			}
			if errors.Is(err, ErrStorage) {
				return r, err
			}
			r.Unreadable++
			s.log.Error("object file not in the index could not be re-indexed; left in place", "file", filepath.Base(p), "err", err)
			continue
		}
		r.Reindexed++
	}
	s.recovery = r
	s.log.Info("start-up check done", "spool_removed", r.SpoolRemoved, "temp_removed", r.TempRemoved,
		"incomplete", r.Incomplete, "missing", r.Missing, "found", r.Found, "reindexed", r.Reindexed, "unreadable", r.Unreadable,
		"ms", time.Since(t0).Milliseconds())
	return r, nil
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
