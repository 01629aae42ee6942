package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	bolt "go.etcd.io/bbolt"

	"sonolink/internal/logid"
)

// Purging a study (retention) in three steps, each safe to interrupt:
//
//  1. MarkPurge takes every index entry of the study out in one
//     transaction (instances, conflict versions, files, series, the study
//     with its short id, accession and search entries, its place in the
//     patient's record) and, in the same transaction, writes a purge
//     record listing the files and derived directories to remove. From
//     that commit on the study is gone for search, pages and the CLI.
//  2. PurgeFiles removes those files and directories, flushes their
//     directories, and only then drops them from the record.
//  3. FinishPurge drops the record, once the caller has done its own part
//     (share: links, tokens, outbox; the audit entry).
//
// A crash after step 1 leaves files nobody indexes, listed in the purge
// record: the scrub leaves them alone (it would otherwise index them
// again), and PendingPurges tells the caller which purges to finish.
// A file whose name an ingest reused meanwhile (the same object sent
// again) is indexed again, and is kept.

// bPurge: "s\0" study UID → purgeRec; "f\0" file (relative) → study UID,
// for the files and derived directories still to remove.
var bPurge = []byte("purge")

// ErrBusy: the study is still being received (an object's flushes are in
// flight); it is not purged now.
var ErrBusy = errors.New("study is being received")

// PurgeRecord is a study taken out of the index and not yet fully removed.
type PurgeRecord struct {
	StudyUID string    `json:"uid"`
	ShortID  string    `json:"short"`
	Objects  int       `json:"objects"` // received objects, conflict versions included
	Bytes    int64     `json:"bytes"`   // of the received files
	Marked   time.Time `json:"marked"`
	// Note is the caller's, kept so that a purge finished after a crash
	// is reported as it was decided (no patient data).
	Note string `json:"note,omitempty"`
	// Files are the object files (relative paths) and derived directories
	// (derived/<key>) still to remove.
	Files []purgeFile `json:"files,omitempty"`
}

type purgeFile struct {
	Path string `json:"p"`   // relative to the data directory, slash-separated
	SOP  string `json:"sop"` // the instance it belonged to
}

// purgeFault, when set (tests), runs before each file or directory a
// purge removes; its error is the removal's.
var purgeFault func(rel string) error

var (
	metricPurgeMarked = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_store_purge_marked_total",
		Help: "Studies taken out of the index to be purged.",
	})
	metricPurged = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_store_purge_finished_total",
		Help: "Purges finished: files, copies and renders removed.",
	})
)

func purgeStudyKey(uid string) []byte { return key("s", uid) }
func purgeFileKey(rel string) []byte  { return key("f", rel) }

// PurgeCandidate is what retention needs to know of a study.
type PurgeCandidate struct {
	Study   Study
	Objects int   // received objects, conflict versions included
	Bytes   int64 // of their files
	// Pending: an object of it is still being made durable.
	Pending bool
}

// PurgeInfo describes a study for retention: its objects, their size and
// whether one is still being made durable.
func (s *Store) PurgeInfo(studyUID string) (*PurgeCandidate, error) {
	var c PurgeCandidate
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bStudies), []byte(studyUID), &c.Study)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: study", ErrNotFound)
		}
		files, _, err := studyFiles(tx, studyUID)
		if err != nil {
			return err
		}
		pend := tx.Bucket(bPending)
		for _, f := range files {
			if f.sop == "" {
				continue // a derived directory
			}
			c.Objects++
			c.Bytes += f.size
			if pend.Get([]byte(f.path)) != nil {
				c.Pending = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

type studyFile struct {
	path string // relative
	sop  string // "" for a derived directory
	size int64
	dsop string // for a derived directory: its instance
}

// studyFiles lists the object files (primary and conflict versions) and
// derived directories of a study, and its primary instances.
func studyFiles(tx *bolt.Tx, studyUID string) ([]studyFile, []Instance, error) {
	var files []studyFile
	var insts []Instance
	ib, cb := tx.Bucket(bInstances), tx.Bucket(bConflicts)
	prefix := key(studyUID, "")
	c := tx.Bucket(bStudyInst).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		sop := string(k[len(prefix):])
		var inst Instance
		ok, err := getJSON(ib, []byte(sop), &inst)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		insts = append(insts, inst)
		files = append(files, studyFile{path: inst.File, sop: sop, size: inst.Size},
			studyFile{path: path.Join(derivedDir, InstanceKey(sop)), dsop: sop})
		cp := key(sop, "")
		cc := cb.Cursor()
		for ck, cv := cc.Seek(cp); ck != nil && bytes.HasPrefix(ck, cp); ck, cv = cc.Next() {
			var v Instance
			if err := json.Unmarshal(cv, &v); err != nil {
				return nil, nil, fmt.Errorf("%w: corrupt conflict entry: %w", ErrStorage, err)
			}
			files = append(files, studyFile{path: v.File, sop: sop, size: v.Size})
		}
	}
	return files, insts, nil
}

// MarkPurge takes a study out of the index and records what is left to
// remove (step 1 above); note is kept with the record. It fails with
// ErrNotFound, or ErrBusy while an object of the study is being made
// durable.
func (s *Store) MarkPurge(studyUID, note string) (*PurgeRecord, error) {
	var rec PurgeRecord
	// Batch: purges running side by side share a commit. fn may run
	// again alone; it sets rec afresh.
	err := s.db.Batch(func(tx *bolt.Tx) error {
		pb, err := tx.CreateBucketIfNotExists(bPurge)
		if err != nil {
			return err
		}
		var st Study
		ok, err := getJSON(tx.Bucket(bStudies), []byte(studyUID), &st)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: study", ErrNotFound)
		}
		files, insts, err := studyFiles(tx, studyUID)
		if err != nil {
			return err
		}
		rec = PurgeRecord{StudyUID: studyUID, ShortID: st.ShortID, Marked: time.Now().UTC(), Note: note}
		pend := tx.Bucket(bPending)
		for _, f := range files {
			if f.sop != "" {
				if pend.Get([]byte(f.path)) != nil {
					return ErrBusy
				}
				rec.Objects++
				rec.Bytes += f.size
				if err := tx.Bucket(bFiles).Delete([]byte(f.path)); err != nil {
					return err
				}
			}
			sop := f.sop + f.dsop
			rec.Files = append(rec.Files, purgeFile{Path: f.path, SOP: sop})
			if err := pb.Put(purgeFileKey(f.path), []byte(studyUID)); err != nil {
				return err
			}
		}
		if err := unindexStudy(tx, &st, insts); err != nil {
			return err
		}
		return putJSON(pb, purgeStudyKey(studyUID), &rec)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrBusy) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: marking study %s for purging: %w", ErrStorage, logid.ID(studyUID), err)
	}
	metricPurgeMarked.Inc()
	return &rec, nil
}

// unindexStudy removes every index entry of st, whose primary instances
// are insts, but for the files bucket (MarkPurge does that).
func unindexStudy(tx *bolt.Tx, st *Study, insts []Instance) error {
	ib, cb, sib := tx.Bucket(bInstances), tx.Bucket(bConflicts), tx.Bucket(bStudyInst)
	for _, inst := range insts {
		sop := inst.SOPInstanceUID
		cp := key(sop, "")
		var ck [][]byte
		c := cb.Cursor()
		for k, _ := c.Seek(cp); k != nil && bytes.HasPrefix(k, cp); k, _ = c.Next() {
			ck = append(ck, slices.Clone(k))
		}
		for _, k := range ck {
			if err := cb.Delete(k); err != nil {
				return err
			}
		}
		if err := ib.Delete([]byte(sop)); err != nil {
			return err
		}
		if err := choiceDone(tx, inst.StudyUID, sop); err != nil {
			return err
		}
		if err := sib.Delete(key(st.StudyUID, sop)); err != nil {
			return err
		}
		if err := uncountInSeries(tx, inst.SeriesUID); err != nil {
			return err
		}
	}
	if err := deleteStudy(tx, st); err != nil {
		return err
	}
	if err := tx.Bucket(bShortIDs).Delete([]byte(st.ShortID)); err != nil {
		return err
	}
	if st.Accession != "" {
		if err := tx.Bucket(bAccession).Delete(key(st.Accession, st.StudyUID)); err != nil {
			return err
		}
	}
	pb, pk := tx.Bucket(bPatients), patientKey(st.Patient)
	var p patientRec
	if ok, err := getJSON(pb, pk, &p); err != nil || !ok {
		return err
	}
	p.Studies = slices.DeleteFunc(p.Studies, func(u string) bool { return u == st.StudyUID })
	if len(p.Studies) == 0 {
		return pb.Delete(pk)
	}
	return putJSON(pb, pk, &p)
}

// PurgeFiles removes the files and derived directories a purge record
// lists (step 2), flushes the directories that held them and then drops
// them from the record. A file the index knows again (the same object was
// received again since) is kept.
func (s *Store) PurgeFiles(studyUID string) error {
	rec, err := s.purgeRecord(studyUID)
	if err != nil || rec == nil || len(rec.Files) == 0 {
		return err
	}
	if err := s.removeFiles(rec); err != nil {
		return err
	}
	return s.dropPurge(studyUID, false)
}

// removeFiles removes what rec lists and flushes the directories that
// held it, so that no unlink is undone by a crash once the record no
// longer lists the file (the scrub would index it again).
func (s *Store) removeFiles(rec *PurgeRecord) error {
	dirs := map[string]bool{}
	for _, f := range rec.Files {
		if err := s.removePurged(f, dirs); err != nil {
			return fmt.Errorf("%w: purging study %s: %w", ErrStorage, logid.ID(rec.StudyUID), err)
		}
	}
	// The directories' flushes run together: one journal commit serves
	// several of them.
	errs := make(chan error, len(dirs))
	for d := range dirs {
		go func() {
			err := s.syncDir(d)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			errs <- err
		}()
	}
	var first error
	for range dirs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("%w: purging study %s: %w", ErrStorage, logid.ID(rec.StudyUID), first)
	}
	return nil
}

// dropPurge drops the file entries of a study's purge record and, when
// all, the record itself; otherwise the record stays with no files.
func (s *Store) dropPurge(studyUID string, all bool) error {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bPurge)
		if pb == nil {
			return nil
		}
		var r PurgeRecord
		if ok, err := getJSON(pb, purgeStudyKey(studyUID), &r); err != nil || !ok {
			return err
		}
		for _, f := range r.Files {
			if string(pb.Get(purgeFileKey(f.Path))) == studyUID {
				if err := pb.Delete(purgeFileKey(f.Path)); err != nil {
					return err
				}
			}
		}
		if all {
			return pb.Delete(purgeStudyKey(studyUID))
		}
		r.Files = nil
		return putJSON(pb, purgeStudyKey(studyUID), &r)
	})
	if err != nil {
		return fmt.Errorf("%w: purging study %s: %w", ErrStorage, logid.ID(studyUID), err)
	}
	return nil
}

// removePurged removes one listed file or derived directory unless the
// index knows it again, noting the directory to flush.
func (s *Store) removePurged(f purgeFile, dirs map[string]bool) error {
	abs := filepath.Join(s.dir, filepath.FromSlash(f.Path))
	derived := path.Dir(f.Path) == derivedDir
	// Ingest holds this lock while a file of this UID is in flight.
	mu := s.uidLock(f.SOP)
	mu.Lock()
	defer mu.Unlock()
	var known bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		if derived {
			known = tx.Bucket(bInstances).Get([]byte(f.SOP)) != nil
		} else {
			known = tx.Bucket(bFiles).Get([]byte(f.Path)) != nil
		}
		return nil
	}); err != nil {
		return err
	}
	if known {
		return nil
	}
	if purgeFault != nil {
		if err := purgeFault(f.Path); err != nil {
			return err
		}
	}
	var err error
	if derived {
		err = os.RemoveAll(abs)
		s.forgetDir(abs)
	} else {
		err = os.Remove(abs)
	}
	switch {
	case err == nil:
		dirs[filepath.Dir(abs)] = true
	case errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	return nil
}

// FinishPurge removes what is left of a marked study (step 2, if
// PurgeFiles did not) and drops its purge record (step 3): the purge is
// done. A study with no purge record is left alone.
func (s *Store) FinishPurge(studyUID string) error {
	rec, err := s.purgeRecord(studyUID)
	if err != nil || rec == nil {
		return err
	}
	if err := s.removeFiles(rec); err != nil {
		return err
	}
	if err := s.dropPurge(studyUID, true); err != nil {
		return err
	}
	metricPurged.Inc()
	return nil
}

// PendingPurges lists the purges marked and not finished (a crash, or a
// failure, came between), oldest first.
func (s *Store) PendingPurges() ([]PurgeRecord, error) {
	var out []PurgeRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bPurge)
		if pb == nil {
			return nil
		}
		prefix := key("s", "")
		c := pb.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r PurgeRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: corrupt purge record: %w", ErrStorage, err)
			}
			out = append(out, r)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b PurgeRecord) int { return a.Marked.Compare(b.Marked) })
	return out, err
}

func (s *Store) purgeRecord(studyUID string) (*PurgeRecord, error) {
	var r *PurgeRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bPurge)
		if pb == nil {
			return nil
		}
		var rec PurgeRecord
		ok, err := getJSON(pb, purgeStudyKey(studyUID), &rec)
		if ok {
			r = &rec
		}
		return err
	})
	return r, err
}

// purgeListed reports whether a file (relative) waits to be removed by a
// purge: the scrub must not index it again.
func purgeListed(tx *bolt.Tx, rel string) bool {
	pb := tx.Bucket(bPurge)
	return pb != nil && pb.Get(purgeFileKey(rel)) != nil
}
