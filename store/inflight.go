package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// In-flight sets: what the pipeline still has to do, kept small and
// durable in index.db so that a start reads only that, never every study.
//
//	work       SOP Instance UID → ""   objects not processed yet (no render recorded, or queued again)
//	arriving   study UID → last received (8 bytes, receivedKey)   studies whose auto-share decision is not made yet
//	work_meta  "profile" → the processing profile the work set is complete for
//
// Both sets change in the transaction that changes what they describe:
// indexInstance adds a new object to work and its study to arriving;
// SetRender (the last step of processing) takes the object out of work,
// RemoveDerived puts it back; unindexInstance removes both when the object
// or study goes. The pipeline takes a study out of arriving once it has
// decided (Settle), and puts objects back in work when its profile
// changes (MarkUnprocessed, then SetWorkProfile).
var (
	bWork      = []byte("work")
	bArriving  = []byte("arriving")
	bWorkMeta  = []byte("work_meta")
	profileKey = []byte("profile")
)

// inflightBuckets are created at Open. In an index.db written before they
// existed they start empty, and no work profile is recorded: the pipeline
// then makes one pass over every object to fill the work set, and
// seedArriving fills arriving from the studies received recently.
var inflightBuckets = [][]byte{bWork, bArriving, bWorkMeta}

// arrivingHorizon: a study whose last object is older than this when the
// arriving set is first created is not put in it (the pipeline watches
// studies of the last day only).
const arrivingHorizon = 24 * time.Hour

// openInflight creates the in-flight buckets. When arriving is new in an
// archive that has studies, it is filled from the studies received in the
// last arrivingHorizon: through the search index's arrival order when that
// is built (a seek), else by reading every study once (an upgrade from a
// version before the search index).
func (s *Store) openInflight() error {
	err := updateIfMissing(s.db, inflightBuckets, func(tx *bolt.Tx) error {
		fresh := tx.Bucket(bArriving) == nil
		for _, b := range inflightBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if !fresh {
			return nil
		}
		return seedArriving(tx, time.Now().Add(-arrivingHorizon), s.searchReady.Load())
	})
	if err != nil {
		return fmt.Errorf("%w: opening the in-flight sets: %w", ErrStorage, err)
	}
	return nil
}

// seedArriving puts the studies last received after since in arriving. It
// is the migration of an index.db from before the in-flight sets.
func seedArriving(tx *bolt.Tx, since time.Time, indexed bool) error {
	ab := tx.Bucket(bArriving)
	if indexed {
		c := tx.Bucket(bSearchRecv).Cursor()
		for k, _ := c.Seek(receivedKey(since)); k != nil; k, _ = c.Next() {
			if len(k) > 8 {
				if err := ab.Put(k[8:], k[:8]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return tx.Bucket(bStudies).ForEach(func(k, v []byte) error {
		var st Study
		if err := json.Unmarshal(v, &st); err != nil || !st.LastReceived.After(since) {
			return nil
		}
		return ab.Put(k, receivedKey(st.LastReceived))
	})
}

// Unprocessed returns the objects the pipeline has not finished: received
// and not rendered yet, queued again by RemoveDerived or MarkUnprocessed.
// Its cost is that of the set, not of the archive.
func (s *Store) Unprocessed() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bWork).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// MarkUnprocessed puts objects in the work set (the pipeline's profile
// changed and they are to be redone). Unknown UIDs are ignored.
func (s *Store) MarkUnprocessed(sopUIDs []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		ib, wb := tx.Bucket(bInstances), tx.Bucket(bWork)
		for _, u := range sopUIDs {
			if ib.Get([]byte(u)) == nil {
				continue
			}
			if err := wb.Put([]byte(u), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Processed takes an object out of the work set when the pipeline found
// nothing to do for it (SetRender does so otherwise). It writes only when
// the object is in the set.
func (s *Store) Processed(sopUID string) error {
	in := false
	if err := s.db.View(func(tx *bolt.Tx) error { in = tx.Bucket(bWork).Get([]byte(sopUID)) != nil; return nil }); err != nil || !in {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bWork).Delete([]byte(sopUID)) })
}

// WorkProfile is the processing profile the work set was last made
// complete for (SetWorkProfile); "" when none was recorded.
func (s *Store) WorkProfile() (string, error) {
	var p string
	err := s.db.View(func(tx *bolt.Tx) error { p = string(tx.Bucket(bWorkMeta).Get(profileKey)); return nil })
	return p, err
}

// SetWorkProfile records that every object not processed under profile is
// in the work set.
func (s *Store) SetWorkProfile(profile string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bWorkMeta).Put(profileKey, []byte(profile)) })
}

// ArrivingStudy is an entry of the arriving set.
type ArrivingStudy struct {
	StudyUID     string
	LastReceived time.Time
}

// Arriving returns the studies whose auto-share decision is not made yet
// (see Settle), oldest arrival first.
func (s *Store) Arriving() ([]ArrivingStudy, error) {
	var out []ArrivingStudy
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bArriving).ForEach(func(k, v []byte) error {
			out = append(out, ArrivingStudy{StudyUID: string(k), LastReceived: receivedTime(v)})
			return nil
		})
	})
	slices.SortFunc(out, func(a, b ArrivingStudy) int { return a.LastReceived.Compare(b.LastReceived) })
	return out, err
}

// Settle takes a study out of the arriving set, unless an object of it
// arrived after upTo (that object's arrival still awaits a decision).
func (s *Store) Settle(studyUID string, upTo time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket(bArriving)
		v := ab.Get([]byte(studyUID))
		if v == nil || bytes.Compare(v, receivedKey(upTo)) > 0 {
			return nil
		}
		return ab.Delete([]byte(studyUID))
	})
}

// noteArrival records in tx that an object of st arrived (arriving set).
func noteArrival(tx *bolt.Tx, st *Study) error {
	return tx.Bucket(bArriving).Put([]byte(st.StudyUID), receivedKey(st.LastReceived))
}

// noteWork keeps inst's membership of the work set in step with its
// record: in it while no render is recorded.
func noteWork(tx *bolt.Tx, inst *Instance) error {
	if inst.Conflict {
		return nil
	}
	if inst.Render == nil {
		return tx.Bucket(bWork).Put([]byte(inst.SOPInstanceUID), nil)
	}
	return tx.Bucket(bWork).Delete([]byte(inst.SOPInstanceUID))
}

// receivedTime decodes receivedKey.
func receivedTime(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	u := binary.BigEndian.Uint64(b)
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(u^(1<<63))).UTC()
}

// settleOld takes a study out of the arriving set when its last object
// arrived before t.
func settleOld(tx *bolt.Tx, studyUID string, t time.Time) error {
	ab := tx.Bucket(bArriving)
	if v := ab.Get([]byte(studyUID)); v != nil && bytes.Compare(v, receivedKey(t)) < 0 {
		return ab.Delete([]byte(studyUID))
	}
	return nil
}
