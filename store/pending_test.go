package store

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
)

// leavePending puts the pending markers of insts back into the index, as a
// power loss during their flushes would leave them.
func leavePending(t *testing.T, s *Store, insts ...*Instance) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, in := range insts {
			pk := patientKey(Patient{Name: "A^B"})
			if _, err := s.markPending(tx, in.File, pendingRec{PatientKey: pk}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pendingCount(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bPending).Stats().KeyN; return nil })
	return n
}

// Markers of acknowledged objects go with the next commit or at Close.
func TestPendingMarkersCleared(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	for i, sop := range []string{"7.0.1", "7.0.2", "7.0.3"} {
		o := obj{SOP: sop, Study: "7.0", Series: "7.0.0", Name: "A^B", Pixels: 8, Fill: byte(i)}
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := pendingCount(t, s); n != 1 {
		t.Errorf("%d markers after three ingests, want 1 (the last object's)", n)
	}
	s.Close()
	s = openTest(t, dir)
	if n := pendingCount(t, s); n != 0 {
		t.Errorf("%d markers after Close", n)
	}
	if r := s.Recovery(); r != (Recovery{}) {
		t.Errorf("clean stop, yet the start-up check found %+v", r)
	}
}

// After a power loss during the flushes, an entry whose file is not whole
// is taken back with the file; an entry whose file is whole stays.
func TestPendingAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	ingest := func(o obj) *Instance {
		r, err := s.Ingest(spool(t, s, o.bytes()), Source{CallingAET: "US1"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Instance
	}
	kept := ingest(obj{SOP: "7.1.1", Study: "7.1", Series: "7.1.0", Name: "A^B", Pixels: 64, Fill: 1})
	torn := ingest(obj{SOP: "7.1.2", Study: "7.1", Series: "7.1.0", Name: "A^B", Pixels: 64, Fill: 2})
	alone := ingest(obj{SOP: "7.2.1", Study: "7.2", Series: "7.2.0", Name: "A^B", Pixels: 64, Fill: 3, Acc: "ACC7"})
	lost := ingest(obj{SOP: "7.2.2", Study: "7.2", Series: "7.2.0", Name: "A^B", Pixels: 64, Fill: 4})
	whole := ingest(obj{SOP: "7.1.3", Study: "7.1", Series: "7.1.0", Name: "A^B", Pixels: 64, Fill: 5})
	leavePending(t, s, torn, alone, lost, whole)
	s.Close()

	// The power loss: one file short, one empty, one gone.
	if err := os.Truncate(s.ObjectPath(torn), torn.Size/2); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.ObjectPath(alone), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.ObjectPath(lost)); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	if r := s.Recovery(); r != (Recovery{Incomplete: 3}) {
		t.Errorf("recovery %+v, want 3 incomplete and nothing else", r)
	}
	for _, in := range []*Instance{torn, alone, lost} {
		if _, err := s.Instance(in.SOPInstanceUID); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: entry kept without a whole file: %v", in.SOPInstanceUID, err)
		}
		if _, err := os.Stat(s.ObjectPath(in)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: file left behind: %v", in.SOPInstanceUID, err)
		}
	}
	for _, in := range []*Instance{kept, whole} {
		got, err := s.Instance(in.SOPInstanceUID)
		if err != nil || got.Missing || got.Source.CallingAET != "US1" {
			t.Errorf("%s: %v %+v", in.SOPInstanceUID, err, got)
		}
	}
	st, err := s.Study("7.1")
	if err != nil || st.NumInstances != 2 || st.NumFrames != 2 {
		t.Errorf("study 7.1 after the check: %v %+v", err, st)
	}
	// Study 7.2 lost every object: it is gone, with its accession.
	if _, err := s.Study("7.2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty study kept: %v", err)
	}
	if _, err := s.Study("ACC7"); !errors.Is(err, ErrNotFound) {
		t.Errorf("accession of an empty study kept: %v", err)
	}
	if n := pendingCount(t, s); n != 0 {
		t.Errorf("%d markers left", n)
	}
	// The modality resends what it never had acknowledged.
	if r := ingest(obj{SOP: "7.1.2", Study: "7.1", Series: "7.1.0", Name: "A^B", Pixels: 64, Fill: 2}); r.Hash != torn.Hash {
		t.Errorf("resend stored different content")
	}
	if st, _ := s.Study("7.1"); st.NumInstances != 3 {
		t.Errorf("after resend the study has %d instances", st.NumInstances)
	}
}

// A file moved into place whose index commit never happened, and which did
// not reach the disk whole, is removed rather than indexed (by the scrub:
// start-up does not look for files the index does not know).
func TestOrphanNotWhole(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	o := obj{SOP: "7.3.1", Study: "7.3", Series: "7.3.0", Name: "A^B", Pixels: 64, Fill: 1}
	r, err := s.Ingest(spool(t, s, o.bytes()), Source{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Keep the file, lose the index entry: an older index without it.
	p := s.ObjectPath(r.Instance)
	b, _ := os.ReadFile(p)
	os.Remove(filepath.Join(dir, indexFile))
	if err := os.WriteFile(p, b[:len(b)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	if rc, err := s.Scrub(t.Context(), ScrubOptions{}); err != nil || rc.Incomplete != 1 || rc.Reindexed != 0 {
		t.Errorf("scrub %+v %v", rc, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("torn orphan left in place: %v", err)
	}
}

// A conflict version whose flush fails is taken back from its primary.
func TestConflictTakenBack(t *testing.T) {
	s := openTest(t, t.TempDir())
	o := obj{SOP: "7.4.1", Study: "7.4", Series: "7.4.0", Name: "A^B", Pixels: 16, Fill: 1}
	if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	s.faultSync = func(string) error {
		if calls.Add(1) == 1 { // the file's own fsync
			return syscall.EIO
		}
		return nil
	}
	o.Fill = 2
	if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("want a storage error, got %v", err)
	}
	s.faultSync = nil
	prim, err := s.Instance(o.SOP)
	if err != nil || prim.Conflicts != 0 {
		t.Errorf("primary after a failed conflict version: %v %+v", err, prim)
	}
	if vs, _ := s.ConflictVersions(o.SOP); len(vs) != 0 {
		t.Errorf("conflict versions %+v", vs)
	}
	if n := pendingCount(t, s); n != 0 {
		t.Errorf("%d markers left", n)
	}
}

// receiverOpts is what dimse tells Ingest about a spool file: the data
// set's hash and size and the request's SOP Instance UID.
func receiverOpts(t *testing.T, p, requestUID string) IngestOptions {
	t.Helper()
	sum, size := datasetSum(t, p)
	return IngestOptions{DatasetSHA256: sum, DatasetSize: size, SOPInstanceUID: requestUID}
}

// objectFiles lists the files under objects/.
func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, objectsDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// With the receiver's guess of its name, a file is moved into place
// before it is parsed; every outcome leaves objects/ holding exactly the
// indexed files.
func TestIngestWithGuessedName(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	o := obj{SOP: "7.5.1", Study: "7.5", Series: "7.5.0", Name: "A^B", Pixels: 32, Fill: 1}
	ingest := func(b []byte, requestUID string) (*IngestResult, error) {
		p := spool(t, s, b)
		return s.IngestWith(p, Source{}, receiverOpts(t, p, requestUID))
	}
	check := func(what string, want int) {
		t.Helper()
		if got := objectFiles(t, dir); len(got) != want {
			t.Errorf("%s: %d files in objects/, want %d: %v", what, len(got), want, got)
		}
		if n := dirEntries(t, s.SpoolDir()); n != 0 {
			t.Errorf("%s: %d files left in the spool", what, n)
		}
	}
	r, err := ingest(o.bytes(), o.SOP)
	if err != nil || r.Duplicate || r.Instance.File != objectFile(o.SOP, r.Instance.Hash) {
		t.Fatalf("first: %v %+v", err, r)
	}
	check("first", 1)
	// A resend: the name is known, the file stays in the spool until
	// found a duplicate.
	if r, err := ingest(o.bytes(), o.SOP); err != nil || !r.Duplicate {
		t.Fatalf("resend: %v %+v", err, r)
	}
	check("resend", 1)
	// The request names another SOP Instance UID than the data set: it is
	// refused, and the file moved under the guessed name goes.
	o2 := obj{SOP: "7.5.2", Study: "7.5", Series: "7.5.0", Name: "A^B", Pixels: 32, Fill: 2}
	if _, err := ingest(o2.bytes(), "7.5.999"); !errors.Is(err, ErrDataSetMismatch) || !errors.Is(err, ErrInvalidObject) {
		t.Fatalf("mismatched request UID: want a data set mismatch, got %v", err)
	}
	check("mismatched request UID", 1)
	r, err = ingest(o2.bytes(), o2.SOP)
	if err != nil || r.Instance.SOPInstanceUID != o2.SOP || r.Instance.File != objectFile(o2.SOP, r.Instance.Hash) {
		t.Fatalf("second object: %v %+v", err, r)
	}
	check("second object", 2)
	// An object the check refuses leaves nothing behind.
	bad := obj{SOP: "7.5.3", Study: "7.5", Name: "A^B", Pixels: 32}.bytes() // no Series Instance UID
	if _, err := ingest(bad, "7.5.3"); !errors.Is(err, ErrInvalidObject) {
		t.Fatalf("object without series: want an invalid object, got %v", err)
	}
	check("refused", 2)
	// A flush failure leaves nothing behind either.
	s.faultSync = func(string) error { return syscall.EIO }
	if _, err := ingest(obj{SOP: "7.5.4", Study: "7.5", Series: "7.5.0", Name: "A^B", Pixels: 32}.bytes(), "7.5.4"); !errors.Is(err, ErrStorage) {
		t.Fatalf("failed flush: want a storage error, got %v", err)
	}
	s.faultSync = nil
	check("failed flush", 2)
	// So does a failure of the receiver's own flush (IngestOptions.Flushed),
	// even though Ingest's fsync succeeds; the resend is then stored.
	o5 := obj{SOP: "7.5.5", Study: "7.5", Series: "7.5.0", Name: "A^B", Pixels: 32}
	p := spool(t, s, o5.bytes())
	opt := receiverOpts(t, p, o5.SOP)
	waited := false
	opt.Flushed = func() error { waited = true; return syscall.EIO }
	if _, err := s.IngestWith(p, Source{}, opt); !errors.Is(err, ErrStorage) || !waited {
		t.Fatalf("failed receiver flush: want a storage error after waiting for it, got %v (waited %v)", err, waited)
	}
	check("failed receiver flush", 2)
	if _, err := s.Instance(o5.SOP); err == nil {
		t.Errorf("an object whose flush failed is indexed")
	}
	if r, err := ingest(o5.bytes(), o5.SOP); err != nil || r.Duplicate {
		t.Fatalf("resend after a failed receiver flush: %v %+v", err, r)
	}
	check("resend after a failed receiver flush", 3)
	if st, _ := s.Study("7.5"); st.NumInstances != 3 {
		t.Errorf("study has %d instances, want 3", st.NumInstances)
	}
}

// An entry taken back leaves its study as the other instances make it:
// its AE title and received time go with it.
//
// It runs in a synctest bubble, whose clock moves only by the sleep: the
// second object's received time is later by exactly that.
func TestTakenBackStudyRecounted(t *testing.T) {
	synctest.Test(t, testTakenBackStudyRecounted)
}

func testTakenBackStudyRecounted(t *testing.T) {
	s := openTest(t, t.TempDir())
	a := obj{SOP: "7.6.1", Study: "7.6", Series: "7.6.0", Name: "A^B", Pixels: 16, Frames: 1, Fill: 1}
	ra, err := s.Ingest(spool(t, s, a.bytes()), Source{CalledAET: "SONOLINK"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // a later received time
	var calls atomic.Int32
	s.faultSync = func(string) error {
		if calls.Add(1) == 1 { // the file's own fsync
			return syscall.EIO
		}
		return nil
	}
	b := obj{SOP: "7.6.2", Study: "7.6", Series: "7.6.0", Name: "A^B", Pixels: 16, Frames: 1, Fill: 2}
	if _, err := s.Ingest(spool(t, s, b.bytes()), Source{CalledAET: "OTHER"}); !errors.Is(err, ErrStorage) {
		t.Fatalf("want a storage error, got %v", err)
	}
	s.faultSync = nil
	st, err := s.Study("7.6")
	if err != nil {
		t.Fatal(err)
	}
	if st.NumInstances != 1 || len(st.CalledAETs) != 1 || st.CalledAETs[0] != "SONOLINK" ||
		!st.LastReceived.Equal(ra.Instance.ReceivedAt) || !st.FirstReceived.Equal(ra.Instance.ReceivedAt) {
		t.Errorf("study after a taken-back instance: %d instances, AEs %v, received %v..%v; want 1, [SONOLINK], %v",
			st.NumInstances, st.CalledAETs, st.FirstReceived, st.LastReceived, ra.Instance.ReceivedAt)
	}
}
