package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// ErrOtherStudy: a conflict version names another study than its primary,
// so it cannot take the primary's place in that study.
var ErrOtherStudy = errors.New("the version belongs to another study")

// Versions returns every object kept under sopUID, the primary (Conflict
// false) and its conflict versions, oldest first, so that a version's
// place in the list stays the same when another one becomes the primary.
func (s *Store) Versions(sopUID string) ([]Instance, error) {
	prim, err := s.Instance(sopUID)
	if err != nil {
		return nil, err
	}
	others, err := s.ConflictVersions(sopUID)
	if err != nil {
		return nil, err
	}
	out := append([]Instance{*prim}, others...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReceivedAt.Before(out[j].ReceivedAt) })
	return out, nil
}

// UseVersion makes the conflict version of sopUID whose data set hash is
// hash its primary version, the one every view and link serves, and keeps
// the former primary as a conflict version. Both lose their
// de-identification and render records, and the instance's derived files
// are removed: they were made from the former primary, and the pipeline
// makes new ones from the new primary (it queues instances without a copy
// at start; a running node is told by its caller). The study's counts and
// the series follow the new primary; the study's patient and descriptive
// fields, set by the first object received, stay. A version of another
// study is refused (ErrOtherStudy); choosing the primary changes nothing
// and returns it with changed false.
func (s *Store) UseVersion(sopUID, hash string) (inst *Instance, changed bool, err error) {
	mu := s.uidLock(sopUID)
	mu.Lock()
	defer mu.Unlock()
	var nw Instance
	err = s.db.Update(func(tx *bolt.Tx) error {
		ib, cb, fb := tx.Bucket(bInstances), tx.Bucket(bConflicts), tx.Bucket(bFiles)
		var prim Instance
		if ok, err := getJSON(ib, []byte(sopUID), &prim); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: instance", ErrNotFound)
			}
			return err
		}
		if prim.Hash == hash {
			nw = prim
			return nil
		}
		if ok, err := getJSON(cb, key(sopUID, hash), &nw); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("%w: no such version", ErrNotFound)
			}
			return err
		}
		if nw.StudyUID != prim.StudyUID {
			return ErrOtherStudy
		}
		old := prim
		old.Conflict, old.Conflicts, old.Deid, old.Render = true, 0, nil, nil
		nw.Conflict, nw.Conflicts, nw.Deid, nw.Render = false, prim.Conflicts, nil, nil
		changed = true
		if err := cb.Delete(key(sopUID, nw.Hash)); err != nil {
			return err
		}
		if err := putJSON(cb, key(sopUID, old.Hash), &old); err != nil {
			return err
		}
		if err := putJSON(ib, []byte(sopUID), &nw); err != nil {
			return err
		}
		for file, ref := range map[string][]byte{old.File: key(sopUID, old.Hash), nw.File: []byte(sopUID)} {
			if file == "" {
				continue
			}
			if err := fb.Put([]byte(file), ref); err != nil {
				return err
			}
		}
		if err := moveSeries(tx, &old, &nw); err != nil {
			return err
		}
		st, ok, err := recountedStudy(tx, nw.StudyUID)
		if err != nil || !ok {
			return err
		}
		return putStudy(tx, &st)
	})
	if err != nil {
		return nil, false, err
	}
	if changed {
		if err := s.RemoveDerived(sopUID); err != nil {
			return &nw, true, err
		}
	}
	return &nw, changed, nil
}

// moveSeries counts an instance in the new primary's series instead of the
// former primary's, when they differ.
func moveSeries(tx *bolt.Tx, old, nw *Instance) error {
	if old.SeriesUID == nw.SeriesUID {
		return nil
	}
	if err := uncountInSeries(tx, old.SeriesUID); err != nil {
		return err
	}
	return countInSeries(tx, nw)
}

// ConflictStudies returns the Study Instance UIDs of the studies holding an
// instance received in more than one version, in UID order. It reads the
// conflict index (conflict versions only, usually empty) and one primary
// per instance in it, never the whole study table.
func (s *Store) ConflictStudies() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		ib := tx.Bucket(bInstances)
		c := tx.Bucket(bConflicts).Cursor()
		var last string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			sop, _, _ := strings.Cut(string(k), "\x00")
			if sop == last {
				continue
			}
			last = sop
			var prim Instance
			ok, err := getJSON(ib, []byte(sop), &prim)
			if err != nil {
				return err
			}
			if ok && !seen[prim.StudyUID] {
				seen[prim.StudyUID] = true
				out = append(out, prim.StudyUID)
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
