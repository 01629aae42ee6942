package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/dbschema"
)

// The technician chooses which of two objects received under one SOP
// Instance UID is the instance: the chosen one becomes the primary (its
// file, series and frames count), the former primary stays as a conflict
// version, the derived files made from the former primary go, and a resend
// of either is still a duplicate. Version numbers do not move.
func TestUseVersion(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	o := obj{SOP: "1.2.3.7.1", Study: "1.2.3.7", Series: "1.2.3.7.9", Name: "Doe^Jane", Pixels: 64, Fill: 1}
	o2 := o
	o2.Series, o2.Fill, o2.Frames = "1.2.3.7.8", 2, 2
	r1, err := s.Ingest(spool(t, s, o.bytes()), Source{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Ingest(spool(t, s, o2.bytes()), Source{})
	if err != nil || !r2.Conflict {
		t.Fatalf("second object: %v %+v", err, r2)
	}
	if _, err := s.PutDerived(o.SOP, DeidName, func(w io.Writer) error { _, err := w.Write([]byte("copy of v1")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeid(o.SOP, Deid{Path: DeidName, Clean: true, Profile: "p"}); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions(o.SOP)
	if err != nil || len(vs) != 2 || vs[0].Hash != r1.Instance.Hash || vs[0].Conflict || !vs[1].Conflict {
		t.Fatalf("versions before: %v %+v", err, vs)
	}

	inst, changed, err := s.UseVersion(o.SOP, r2.Instance.Hash)
	if err != nil || !changed || inst.Hash != r2.Instance.Hash || inst.Conflict || inst.Conflicts != 1 || inst.Deid != nil {
		t.Fatalf("UseVersion: %v %v %+v", err, changed, inst)
	}
	prim, _ := s.Instance(o.SOP)
	if prim.Hash != r2.Instance.Hash || prim.SeriesUID != o2.Series || prim.Deid != nil {
		t.Errorf("primary after the switch: %+v", prim)
	}
	if b, err := os.ReadFile(s.ObjectPath(prim)); err != nil || !bytes.Equal(b[132:], o2.bytes()[132:]) {
		t.Errorf("the primary's file is not the chosen object's: %v", err)
	}
	if _, err := os.Stat(s.DerivedPath(o.SOP, DeidName)); !os.IsNotExist(err) {
		t.Errorf("the former primary's de-identified copy is still there: %v", err)
	}
	vs, err = s.Versions(o.SOP)
	if err != nil || len(vs) != 2 || vs[0].Hash != r1.Instance.Hash || !vs[0].Conflict || vs[1].Conflict {
		t.Fatalf("versions after: %v %+v", err, vs)
	}
	st, _ := s.Study(o.Study)
	if st.NumInstances != 1 || st.NumFrames != 2 {
		t.Errorf("study counts %d/%d, want 1/2", st.NumInstances, st.NumFrames)
	}
	for _, b := range [][]byte{o.bytes(), o2.bytes()} {
		if r, err := s.Ingest(spool(t, s, b), Source{}); err != nil || !r.Duplicate {
			t.Errorf("resend after the switch: %v %+v", err, r)
		}
	}
	if _, changed, err := s.UseVersion(o.SOP, r2.Instance.Hash); err != nil || changed {
		t.Errorf("choosing the primary again: %v changed=%v", err, changed)
	}
	if _, _, err := s.UseVersion(o.SOP, "00"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown version: %v", err)
	}
	// The index survives a restart as it is.
	s.Close()
	s = openTest(t, dir)
	if prim, err := s.Instance(o.SOP); err != nil || prim.Hash != r2.Instance.Hash || prim.Missing {
		t.Errorf("after restart: %v %+v", err, prim)
	}
	if vs, err := s.ConflictVersions(o.SOP); err != nil || len(vs) != 1 || vs[0].Hash != r1.Instance.Hash || vs[0].Missing {
		t.Errorf("conflict versions after restart: %v %+v", err, vs)
	}
}

// ConflictStudies lists the studies with an object in two versions that
// no technician has chosen between, from the choice index: a study without
// conflicts is not in it; a choice, even of the version already in use,
// takes the study out; a new version puts it back; a purge takes it out.
func TestConflictStudies(t *testing.T) {
	s := openTest(t, t.TempDir())
	if got, err := s.ConflictStudies(); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}
	a := obj{SOP: "1.2.5.1.1", Study: "1.2.5", Series: "1.2.5.9", Name: "Doe^Jane", Pixels: 64, Fill: 1}
	a2, a3 := a, a
	a2.Fill, a3.Fill = 2, 3
	b := obj{SOP: "1.2.6.1.1", Study: "1.2.6", Series: "1.2.6.9", Name: "Roe^Rita", Pixels: 64, Fill: 1}
	b2 := b
	b2.Fill = 2
	var first string
	for _, o := range []obj{a, b, a2, a2} {
		r, err := s.Ingest(spool(t, s, o.bytes()), Source{})
		if err != nil {
			t.Fatal(err)
		}
		if o.SOP == a.SOP && first == "" {
			first = r.Instance.Hash
		}
	}
	want := func(what string, studies ...string) {
		t.Helper()
		got, err := s.ConflictStudies()
		if err != nil || strings.Join(got, ",") != strings.Join(studies, ",") {
			t.Fatalf("%s: ConflictStudies = %v %v, want %v", what, got, err, studies)
		}
	}
	want("two versions of one object", "1.2.5")
	if p, err := s.VersionChoicePending("1.2.5"); err != nil || len(p) != 1 || p[0] != a.SOP {
		t.Fatalf("pending choices of 1.2.5: %v %v", p, err)
	}
	if _, changed, err := s.UseVersion(a.SOP, first); err != nil || changed {
		t.Fatalf("keeping the first version: %v changed=%v", err, changed)
	}
	want("after keeping the version in use")
	if p, err := s.VersionChoicePending("1.2.5"); err != nil || len(p) != 0 {
		t.Fatalf("pending choices after the choice: %v %v", p, err)
	}
	if _, err := s.Ingest(spool(t, s, a3.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	want("after a third version arrived", "1.2.5")
	if _, err := s.Ingest(spool(t, s, b2.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	want("after b got a second version", "1.2.5", "1.2.6")
	if _, err := s.MarkPurge("1.2.5", "test"); err != nil {
		t.Fatal(err)
	}
	want("after 1.2.5 was purged", "1.2.6")
}

// An index from before the choice index (schema 1) gets it at open: every
// object kept in two versions awaits a choice.
func TestChoiceIndexMigration(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	a := obj{SOP: "1.2.7.1.1", Study: "1.2.7", Series: "1.2.7.9", Name: "Doe^Jane", Pixels: 64, Fill: 1}
	a2 := a
	a2.Fill = 2
	for _, o := range []obj{a, a2} {
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, indexFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bChoose); err != nil {
			return err
		}
		return dbschema.SetVersion(tx, 1)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	if v, err := s.SchemaVersion(); err != nil || v != Schema() {
		t.Fatalf("schema after open: %d %v, want %d", v, err, Schema())
	}
	if got, err := s.ConflictStudies(); err != nil || len(got) != 1 || got[0] != "1.2.7" {
		t.Fatalf("ConflictStudies after the upgrade = %v %v, want [1.2.7]", got, err)
	}
}

// A study re-sent with the patient's name, ID and accession corrected on
// the scanner: each object is kept in two versions. Choosing the corrected
// version puts the corrected facts on the study at once; the search index,
// the accession index and the patient index move with them in the same
// transaction (no term of the old name is left, as a rebuild would show),
// so a search finds the corrected name and not the old one. Choosing the
// old version back brings the old facts back; the scrub finds nothing to
// repair; a purge leaves no patient or accession entry behind.
func TestUseVersionFollowsPatient(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	a := obj{SOP: "1.2.8.1.1", Study: "1.2.8", Series: "1.2.8.9", Name: "Felstavad^Anna", PatientID: "P100", Birth: "19800101",
		Date: "20260101", Acc: "ACC1", Pixels: 64, Fill: 1}
	b := a
	b.SOP, b.InstNo = "1.2.8.1.2", 2
	var fixed []obj
	for _, o := range []obj{a, b} {
		o.Name, o.PatientID, o.Acc = "Rättstavad^Anna", "P200", "ACC2"
		fixed = append(fixed, o)
	}
	hashes := map[string]string{}
	for _, o := range append([]obj{a, b}, fixed...) {
		r, err := s.Ingest(spool(t, s, o.bytes()), Source{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Conflict {
			hashes[o.SOP] = r.Instance.Hash
		}
	}
	first, _ := s.Instance(a.SOP)
	found := func(text string) bool {
		t.Helper()
		got, err := s.Studies(Query{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		scan, err := scanStudies(s, Query{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(uidsOf(got), uidsOf(scan)) {
			t.Fatalf("search %q: index %v, scan %v", text, uidsOf(got), uidsOf(scan))
		}
		return len(got) == 1
	}
	want := func(what, name, id, acc string, gone ...string) {
		t.Helper()
		st, err := s.Study(a.Study)
		if err != nil || st.Patient.Name != name || st.Patient.ID != id || st.Accession != acc || st.Patient.BirthDate != a.Birth || st.NameKey != FoldName(name) {
			t.Fatalf("%s: study %v %+v", what, err, st)
		}
		for _, q := range []string{FoldName(name), "anna", id, acc} {
			if !found(q) {
				t.Errorf("%s: search %q does not find the study", what, q)
			}
		}
		for _, q := range gone {
			if found(q) {
				t.Errorf("%s: search %q still finds the study", what, q)
			}
		}
		if byAcc, err := s.Study(acc); err != nil || byAcc.StudyUID != a.Study {
			t.Errorf("%s: accession %s: %v", what, acc, err)
		}
		wantIndexes(t, s, map[string][]string{string(patientKey(st.Patient)): {a.Study}})
	}
	want("before a choice", "Felstavad^Anna", "P100", "ACC1", "rättstavad", "rattstavad", "P200", "ACC2")

	if _, changed, err := s.UseVersion(a.SOP, hashes[a.SOP]); err != nil || !changed {
		t.Fatalf("choosing the corrected version: %v %v", err, changed)
	}
	want("after the first object's corrected version is chosen", "Rättstavad^Anna", "P200", "ACC2", "felstavad", "P100", "ACC1")
	if _, err := s.Study("ACC1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old accession still names the study: %v", err)
	}
	if _, _, err := s.UseVersion(b.SOP, hashes[b.SOP]); err != nil {
		t.Fatal(err)
	}
	want("after every corrected version is chosen", "Rättstavad^Anna", "P200", "ACC2", "felstavad", "P100", "ACC1")

	// Choosing the old version back: the most recent choice names the study.
	if _, _, err := s.UseVersion(a.SOP, first.Hash); err != nil {
		t.Fatal(err)
	}
	want("after the old version is chosen back", "Felstavad^Anna", "P100", "ACC1", "rättstavad", "P200", "ACC2")
	if _, _, err := s.UseVersion(a.SOP, hashes[a.SOP]); err != nil {
		t.Fatal(err)
	}

	if r, err := s.Scrub(context.Background(), ScrubOptions{Restart: true}); err != nil || r.Problems() != 0 || r.Repaired() != 0 {
		t.Errorf("scrub after the choices: %v %+v", err, r)
	}
	// After a restart the study is as chosen.
	s.Close()
	s = openTest(t, dir)
	if st, err := s.Study(a.Study); err != nil || st.Patient.Name != "Rättstavad^Anna" {
		t.Fatalf("after restart: %v %+v", err, st)
	}
	if _, err := s.MarkPurge(a.Study, "test"); err != nil {
		t.Fatal(err)
	}
	wantIndexes(t, s, map[string][]string{})
	if found("rättstavad") || found("felstavad") {
		t.Error("a purged study is still found")
	}
}

// wantIndexes checks the secondary indexes against the study records: the
// search terms are exactly those a rebuild would write, every accession
// entry names a study with that accession, and the patient index is
// patients (key → studies).
func wantIndexes(t *testing.T, s *Store, patients map[string][]string) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		want := map[string]bool{}
		if err := tx.Bucket(bStudies).ForEach(func(k, v []byte) error {
			var st Study
			if err := json.Unmarshal(v, &st); err != nil {
				return err
			}
			r := studyRow(&st)
			for _, term := range r.terms() {
				want[string(termKey(term, &st))] = true
			}
			if st.Accession != "" && tx.Bucket(bAccession).Get(key(st.Accession, st.StudyUID)) == nil {
				t.Errorf("accession %q of study %s is not indexed", st.Accession, st.StudyUID)
			}
			return nil
		}); err != nil {
			return err
		}
		got := map[string]bool{}
		if err := tx.Bucket(bSearchTerms).ForEach(func(k, _ []byte) error { got[string(k)] = true; return nil }); err != nil {
			return err
		}
		if !maps.Equal(got, want) {
			t.Errorf("search terms: %d indexed, %d expected from the study records", len(got), len(want))
			for k := range got {
				if !want[k] {
					t.Errorf("stale term %q", k)
				}
			}
		}
		if err := tx.Bucket(bAccession).ForEach(func(k, _ []byte) error {
			acc, uid, _ := strings.Cut(string(k), "\x00")
			var st Study
			if ok, err := getJSON(tx.Bucket(bStudies), []byte(uid), &st); err != nil || !ok || st.Accession != acc {
				t.Errorf("accession entry %q names no study with that accession", acc)
			}
			return nil
		}); err != nil {
			return err
		}
		pats := map[string][]string{}
		if err := tx.Bucket(bPatients).ForEach(func(k, v []byte) error {
			var p patientRec
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			pats[string(k)] = p.Studies
			return nil
		}); err != nil {
			return err
		}
		if !maps.EqualFunc(pats, patients, slices.Equal) {
			t.Errorf("patient index %q, want %q", pats, patients)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
