package store

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BulkObject is an object for LoadUnsynced.
type BulkObject struct {
	// Spool, when set, is a file in SpoolDir to parse as Ingest parses a
	// received object and move into objects/: the entry comes from it, and
	// Instance gives only Source, ReceivedAt (zero: now), Deid and Render.
	// Without it, Instance, Patient and the study fields are the entry,
	// and the object has no file (the scrub marks it Missing).
	Spool                              string
	Instance                           Instance
	Patient                            Patient
	Date, Time, Description, Accession string
}

// LoadUnsynced indexes many objects in one index transaction, as Ingest
// indexes received ones, for building test and benchmark archives
// quickly: nothing is flushed (no fsync of files, directories or the index
// beyond bbolt's commit), so it gives none of Ingest's guarantees and is
// not for received objects. Objects whose SOP Instance UID is already
// indexed are dropped. Objects loaded with a render are not in the work
// set, and studies whose last object arrived more than a day ago are not
// in the arriving set (inflight.go): an archive loaded with old, processed
// objects looks like one the pipeline has finished with.
func (s *Store) LoadUnsynced(objs []BulkObject) error {
	for i := range objs {
		o := &objs[i]
		if o.Spool == "" {
			if o.Instance.SOPInstanceUID == "" || o.Instance.StudyUID == "" {
				return fmt.Errorf("%w: bulk object %d lacks a UID", ErrInvalidObject, i)
			}
			o.Instance.Key = InstanceKey(o.Instance.SOPInstanceUID)
			if o.Instance.File == "" {
				o.Instance.File = "seed/" + o.Instance.Key
			}
			continue
		}
		meta, _, err := s.describeFile(o.Spool)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(o.Spool), err)
		}
		inst := meta.inst
		inst.Source, inst.ReceivedAt, inst.Deid, inst.Render = o.Instance.Source, o.Instance.ReceivedAt, o.Instance.Deid, o.Instance.Render
		inst.File = objectFile(inst.SOPInstanceUID, inst.Hash)
		if err := os.Rename(o.Spool, filepath.Join(s.dir, filepath.FromSlash(inst.File))); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		o.Instance, o.Patient = *inst, meta.patient
		o.Date, o.Time, o.Description, o.Accession = meta.study.Date, meta.study.Time, meta.study.Description, meta.study.Accession
	}
	now := time.Now().UTC()
	return s.db.Update(func(tx *bolt.Tx) error {
		for i := range objs {
			o := &objs[i]
			if o.Instance.ReceivedAt.IsZero() {
				o.Instance.ReceivedAt = now
			}
			if tx.Bucket(bInstances).Get([]byte(o.Instance.SOPInstanceUID)) != nil {
				continue
			}
			sf := studyFields{Date: o.Date, Time: o.Time, Description: o.Description, Accession: o.Accession}
			if err := indexInstance(tx, &o.Instance, o.Patient, sf); err != nil {
				return err
			}
			if now.Sub(o.Instance.ReceivedAt) > arrivingHorizon {
				if err := settleOld(tx, o.Instance.StudyUID, now.Add(-arrivingHorizon)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
