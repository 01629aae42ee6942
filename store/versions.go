package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/logid"
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
// the series follow the new primary, and so do the study's patient and
// descriptive fields (followVersion): the version chosen most recently
// names the study, so a corrected name re-sent and chosen shows in the
// studies list and is found by a search at once, and the old name is not.
// Those fields come from the chosen version's file, read before the
// transaction; when it cannot be read (Missing, damaged) the study keeps
// its fields and the choice is still made. A version of another
// study is refused (ErrOtherStudy); choosing the primary changes nothing
// and returns it with changed false. Either way the object no longer awaits
// a choice (VersionChoicePending): the technician has made one.
func (s *Store) UseVersion(sopUID, hash string) (inst *Instance, changed bool, err error) {
	mu := s.uidLock(sopUID)
	mu.Lock()
	defer mu.Unlock()
	facts := s.versionFacts(sopUID, hash)
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
			return tx.Bucket(bChoose).Delete(key(prim.StudyUID, sopUID))
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
		if err := tx.Bucket(bChoose).Delete(key(prim.StudyUID, sopUID)); err != nil {
			return err
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
		if facts != nil {
			if err := followVersion(tx, &st, facts); err != nil {
				return err
			}
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

// versionFacts reads the patient and the study's descriptive fields from
// the file of the conflict version of sopUID with data set hash hash; nil
// when there is no such version or its file cannot be read (UseVersion
// then keeps the study's fields). Callers hold the UID's lock.
func (s *Store) versionFacts(sopUID, hash string) *described {
	var v Instance
	var ok bool
	if err := s.db.View(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(tx.Bucket(bConflicts), key(sopUID, hash), &v)
		return err
	}); err != nil || !ok || v.Missing {
		return nil
	}
	ds, err := dicomfile.Read(s.ObjectPath(&v), s.lim, true)
	if err != nil {
		s.log.Warn("cannot read the chosen version's header; the study keeps its patient and study fields", logid.Object(sopUID), "err", err)
		return nil
	}
	return &described{patient: patientOf(ds), study: studyFieldsOf(ds)}
}

// followVersion gives st the patient (name, ID, birth date) and the
// descriptive fields (date, time, description, accession) of the version
// just put in use, field by field: an empty value keeps the study's, as
// later objects only fill what the first left empty in indexInstance. The
// accession and patient indexes move with them in the same transaction,
// and putStudy then moves the study's search entries.
func followVersion(tx *bolt.Tx, st *Study, f *described) error {
	oldPK, oldAcc := patientKey(st.Patient), st.Accession
	take := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	take(&st.Patient.Name, f.patient.Name)
	take(&st.Patient.ID, f.patient.ID)
	take(&st.Patient.BirthDate, f.patient.BirthDate)
	take(&st.Date, f.study.Date)
	take(&st.Time, f.study.Time)
	take(&st.Description, f.study.Description)
	take(&st.Accession, f.study.Accession)
	st.NameKey = FoldName(st.Patient.Name)
	if st.Accession != oldAcc {
		ab := tx.Bucket(bAccession)
		if oldAcc != "" {
			if err := ab.Delete(key(oldAcc, st.StudyUID)); err != nil {
				return err
			}
		}
		if err := ab.Put(key(st.Accession, st.StudyUID), nil); err != nil {
			return err
		}
	}
	pk := patientKey(st.Patient)
	if bytes.Equal(pk, oldPK) {
		return nil
	}
	pb := tx.Bucket(bPatients)
	var p patientRec
	if ok, err := getJSON(pb, oldPK, &p); err != nil {
		return err
	} else if ok {
		p.Studies = slices.DeleteFunc(p.Studies, func(u string) bool { return u == st.StudyUID })
		if len(p.Studies) == 0 {
			err = pb.Delete(oldPK)
		} else {
			err = putJSON(pb, oldPK, &p)
		}
		if err != nil {
			return err
		}
	}
	p = patientRec{}
	if _, err := getJSON(pb, pk, &p); err != nil {
		return err
	}
	p.Patient = st.Patient
	p.Studies = addUnique(p.Studies, st.StudyUID)
	return putJSON(pb, pk, &p)
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

// The choice index: the objects received in more than one version whose
// version in use no technician has chosen yet, in one small bucket, so that
// the attention list reads those and not every conflict version ever kept.
//
//	choose   study UID \0 SOP Instance UID → ""
//
// It changes in the transaction that changes what it describes:
// indexInstance adds an object when it gets a conflict version (again,
// after a choice: there is a new version to choose from); UseVersion takes
// it out; unindexInstance and unindexStudy take it out when the conflict
// versions or the object go. The key carries the primary's study, which a
// choice never changes (ErrOtherStudy).
var bChoose = []byte("choose")

// awaitChoice records that the object sopUID of studyUID has versions to
// choose from.
func awaitChoice(tx *bolt.Tx, studyUID, sopUID string) error {
	return tx.Bucket(bChoose).Put(key(studyUID, sopUID), nil)
}

// choiceDone takes the object out of the choice index.
func choiceDone(tx *bolt.Tx, studyUID, sopUID string) error {
	return tx.Bucket(bChoose).Delete(key(studyUID, sopUID))
}

// ConflictStudies returns the Study Instance UIDs of the studies holding an
// object received in more than one version whose version in use no
// technician has chosen, in UID order. It reads the choice index only.
func (s *Store) ConflictStudies() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bChoose).Cursor()
		for k, _ := c.First(); k != nil; {
			study, _, _ := strings.Cut(string(k), "\x00")
			out = append(out, study)
			k, _ = c.Seek(key(study, "\xff"))
		}
		return nil
	})
	return out, err
}

// VersionChoicePending returns the SOP Instance UIDs of the study's objects
// that were received in more than one version and await a technician's
// choice of the one in use (none: nil).
func (s *Store) VersionChoicePending(studyUID string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := key(studyUID, "")
		c := tx.Bucket(bChoose).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	return out, err
}
