package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// purgeFixture stores two studies of one patient (the first with a
// conflict version and derived files) and returns the store.
func purgeFixture(t *testing.T, dir string) *Store {
	t.Helper()
	s := openTest(t, dir)
	for i, o := range []obj{
		{SOP: "1.2.3.1.1", Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Muñoz^Ana", PatientID: "P1", Acc: "ACC1", Date: "20260101", Pixels: 8, Fill: 1},
		{SOP: "1.2.3.1.2", Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Muñoz^Ana", PatientID: "P1", Acc: "ACC1", Date: "20260101", Pixels: 8, Fill: 2},
		{SOP: "1.2.3.1.2", Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Muñoz^Ana", PatientID: "P1", Acc: "ACC1", Date: "20260101", Pixels: 8, Fill: 3}, // conflict
		{SOP: "1.2.3.2.1", Study: "1.2.3.2", Series: "1.2.3.2.9", Name: "Muñoz^Ana", PatientID: "P1", Acc: "ACC2", Date: "20260202", Pixels: 8, Fill: 4},
	} {
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
	}
	for _, sop := range []string{"1.2.3.1.1", "1.2.3.1.2", "1.2.3.2.1"} {
		if _, err := s.PutDerived(sop, "render/f0001.jpg", func(w io.Writer) error { _, err := w.Write([]byte("jpg")); return err }); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// A purge takes the study out of the index at once and then removes its
// files, conflict versions and derived data; the other study of the same
// patient stays whole and findable.
func TestPurgeStudy(t *testing.T) {
	dir := t.TempDir()
	s := purgeFixture(t, dir)
	before := objectFiles(t, dir)
	if len(before) != 4 {
		t.Fatalf("%d object files before, want 4", len(before))
	}
	info, err := s.PurgeInfo("1.2.3.1")
	if err != nil || info.Objects != 3 || info.Bytes <= 0 || info.Pending {
		t.Fatalf("PurgeInfo: %+v %v", info, err)
	}
	rec, err := s.MarkPurge("1.2.3.1", "test")
	if err != nil || rec.Objects != 3 || rec.Bytes != info.Bytes || rec.ShortID != info.Study.ShortID {
		t.Fatalf("MarkPurge: %+v %v", rec, err)
	}
	// Gone for every reader at once, though the files are still there.
	if _, err := s.Study("1.2.3.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Study after mark: %v", err)
	}
	for _, k := range []string{rec.ShortID, "ACC1"} {
		if _, err := s.Study(k); !errors.Is(err, ErrNotFound) {
			t.Errorf("Study(%q) after mark: %v", k, err)
		}
	}
	if _, err := s.Instance("1.2.3.1.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Instance after mark: %v", err)
	}
	for _, q := range []string{"muñoz", "P1", ""} {
		got, err := s.Studies(Query{Text: q})
		if err != nil || len(got) != 1 || got[0].StudyUID != "1.2.3.2" {
			t.Errorf("search %q after mark: %v %v", q, got, err)
		}
	}
	if len(objectFiles(t, dir)) != 4 {
		t.Errorf("files removed before PurgeFiles")
	}
	if p, _ := s.PendingPurges(); len(p) != 1 || p[0].StudyUID != "1.2.3.1" || p[0].Note != "test" {
		t.Errorf("pending purges: %+v", p)
	}
	// The scrub does not index the files a purge has yet to remove.
	if r, err := s.Scrub(context.Background(), ScrubOptions{Restart: true}); err != nil || r.Reindexed != 0 {
		t.Errorf("scrub during a purge: %+v %v", r, err)
	}
	if err := s.FinishPurge("1.2.3.1"); err != nil {
		t.Fatal(err)
	}
	after := objectFiles(t, dir)
	if len(after) != 1 {
		t.Errorf("object files after purge: %v", after)
	}
	for _, sop := range []string{"1.2.3.1.1", "1.2.3.1.2"} {
		if _, err := os.Stat(s.DerivedPath(sop, "")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("derived data of %s: %v", sop, err)
		}
	}
	if _, err := os.Stat(s.DerivedPath("1.2.3.2.1", "render/f0001.jpg")); err != nil {
		t.Errorf("the other study's render: %v", err)
	}
	if p, _ := s.PendingPurges(); len(p) != 0 {
		t.Errorf("pending purges after finish: %+v", p)
	}
	// The index holds nothing of the study: a full scrub finds nothing.
	r, err := s.Scrub(context.Background(), ScrubOptions{Restart: true})
	if err != nil || r.Problems() != 0 || r.Reindexed != 0 || r.Missing != 0 {
		t.Errorf("scrub after purge: %+v %v", r, err)
	}
	// Received again, the study comes back as a new one.
	o := obj{SOP: "1.2.3.1.1", Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Muñoz^Ana", PatientID: "P1", Acc: "ACC1", Pixels: 8, Fill: 1}
	if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Study("1.2.3.1"); err != nil || st.NumInstances != 1 || st.ShortID == rec.ShortID {
		t.Errorf("study received again: %+v %v", st, err)
	}
}

// A crash after the mark (here: a failing removal, then a reopen) leaves
// the study invisible; the purge is listed and finishing it removes the
// files. A file the same object brought back in between is kept.
func TestPurgeInterrupted(t *testing.T) {
	dir := t.TempDir()
	s := purgeFixture(t, dir)
	if _, err := s.MarkPurge("1.2.3.1", "age"); err != nil {
		t.Fatal(err)
	}
	purgeFault = func(rel string) error {
		if strings.HasPrefix(rel, derivedDir) {
			return errors.New("injected")
		}
		return nil
	}
	t.Cleanup(func() { purgeFault = nil })
	if err := s.PurgeFiles("1.2.3.1"); err == nil {
		t.Fatal("PurgeFiles did not report the injected failure")
	}
	purgeFault = nil
	s.Close()

	s2 := openTest(t, dir)
	if _, err := s2.Study("1.2.3.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("study visible after the crash: %v", err)
	}
	p, err := s2.PendingPurges()
	if err != nil || len(p) != 1 || p[0].Note != "age" {
		t.Fatalf("pending purges after reopen: %+v %v", p, err)
	}
	// The first object is sent again before the purge is finished.
	o := obj{SOP: "1.2.3.1.1", Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Muñoz^Ana", PatientID: "P1", Acc: "ACC1", Date: "20260101", Pixels: 8, Fill: 1}
	if _, err := s2.Ingest(spool(t, s2, o.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	if err := s2.FinishPurge("1.2.3.1"); err != nil {
		t.Fatal(err)
	}
	inst, err := s2.Instance("1.2.3.1.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s2.ObjectPath(inst)); err != nil {
		t.Errorf("the object received again lost its file: %v", err)
	}
	if got := objectFiles(t, dir); len(got) != 2 {
		t.Errorf("object files: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, derivedDir, InstanceKey("1.2.3.1.2"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("derived data left: %v", err)
	}
}

// Objects of a study arriving while it is purged: each either went with
// the purge or is indexed with its file; a scrub finds nothing amiss.
func TestPurgeWhileReceiving(t *testing.T) {
	dir := t.TempDir()
	s := purgeFixture(t, dir)
	done := make(chan error, 1)
	go func() {
		for i := range 40 {
			o := obj{SOP: "1.2.3.1.9." + strconv.Itoa(i), Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Muñoz^Ana", PatientID: "P1", Pixels: 8, Fill: byte(i)}
			if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 5 {
		if _, err := s.MarkPurge("1.2.3.1", "race"); err == nil {
			if err := s.FinishPurge("1.2.3.1"); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r, err := s.Scrub(context.Background(), ScrubOptions{Restart: true})
	if err != nil || r.Problems() != 0 || r.Missing != 0 || r.Reindexed != 0 {
		t.Errorf("scrub after purging while receiving: %+v %v", r, err)
	}
	if insts, err := s.Instances("1.2.3.1"); err == nil {
		for _, in := range insts {
			if _, err := os.Stat(s.ObjectPath(&in)); err != nil {
				t.Errorf("indexed object without its file: %v", err)
			}
		}
	}
}
