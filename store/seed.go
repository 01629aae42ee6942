package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SeedObject is an object for Seed: its index entry and the patient and
// study fields Ingest would read from its data set.
type SeedObject struct {
	Instance                           Instance
	Patient                            Patient
	Date, Time, Description, Accession string
}

// Seed indexes objects that have no file, all in one transaction, as
// Ingest indexes received ones. It is for benchmarks that need a large
// archive in seconds; the background scrub marks such objects Missing.
func (s *Store) Seed(objs []SeedObject) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for i := range objs {
			o := &objs[i]
			if o.Instance.SOPInstanceUID == "" || o.Instance.StudyUID == "" {
				return fmt.Errorf("%w: seed object %d lacks a UID", ErrInvalidObject, i)
			}
			if o.Instance.File == "" {
				o.Instance.File = "seed/" + InstanceKey(o.Instance.SOPInstanceUID)
			}
			o.Instance.Key = InstanceKey(o.Instance.SOPInstanceUID)
			sf := studyFields{Date: o.Date, Time: o.Time, Description: o.Description, Accession: o.Accession}
			if err := indexInstance(tx, &o.Instance, o.Patient, sf); err != nil {
				return err
			}
		}
		return nil
	})
}
