package store

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

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
	if r := s.Recovery(); r.Incomplete != 3 || r.Missing != 0 || r.Reindexed != 0 || r.Unreadable != 0 {
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
// not reach the disk whole, is removed rather than indexed.
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
	if rc := s.Recovery(); rc.Incomplete != 1 || rc.Reindexed != 0 {
		t.Errorf("recovery %+v", rc)
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
	if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); StatusFor(err) != StatusOutOfResources {
		t.Fatalf("want A700, got %v", err)
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
