package store

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"sync"
	"testing"
)

// seeReads records the directories readDir lists until the test ends.
func seeReads(t *testing.T, also func(dir string)) func() []string {
	t.Helper()
	var mu sync.Mutex
	var dirs []string
	readDir = func(dir string) ([]os.DirEntry, error) {
		mu.Lock()
		dirs = append(dirs, dir)
		mu.Unlock()
		if also != nil {
			also(dir)
		}
		return os.ReadDir(dir)
	}
	t.Cleanup(func() { readDir = os.ReadDir })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), dirs...)
	}
}

// Start-up lists the spool and tmp/ and nothing of objects/ or derived/,
// however much is there: its cost does not grow with the archive.
func TestOpenReadsNoArchive(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	for i, sop := range []string{"8.1.1", "8.1.2", "8.1.3"} {
		o := obj{SOP: sop, Study: "8.1", Series: "8.1.0", Name: "A^B", Pixels: 8, Fill: byte(i)}
		r, err := s.Ingest(spool(t, s, o.bytes()), Source{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutDerived(sop, "thumb.jpg", func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			leavePending(t, s, r.Instance) // one object caught in flight
		}
	}
	s.Close()
	// An unindexed file stays until the scrub: start-up never looks.
	stray := filepath.Join(dir, objectsDir, "ab", "stray.dcm")
	if err := os.WriteFile(stray, []byte("not dicom"), 0o600); err != nil {
		t.Fatal(err)
	}

	reads := seeReads(t, nil)
	s = openTest(t, dir)
	for _, d := range reads() {
		rel, _ := filepath.Rel(dir, d)
		if rel != spoolDir && rel != tmpDir {
			t.Errorf("start-up listed %s", rel)
		}
	}
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("start-up touched a file it does not know: %v", err)
	}
	if n := pendingCount(t, s); n != 0 {
		t.Errorf("%d pending markers after start-up", n)
	}
	r, err := s.Scrub(t.Context(), ScrubOptions{})
	if err != nil || r.Unreadable != 1 || r.Problems() != 1 {
		t.Errorf("scrub %+v %v, want the stray file as unreadable", r, err)
	}
}

// A pass stopped between batches resumes where it stopped, after a
// restart, and reports the findings of the whole pass.
func TestScrubResumes(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	var lost *Instance
	for i := range 5 {
		o := obj{SOP: "9.1." + string(rune('1'+i)), Study: "9.1", Series: "9.1.0", Name: "A^B", Pixels: 8, Fill: byte(i)}
		r, err := s.Ingest(spool(t, s, o.bytes()), Source{})
		if err != nil {
			t.Fatal(err)
		}
		lost = r.Instance
	}
	// The last entry in key order is the one whose file is lost: the
	// first call must not reach it.
	if err := os.Remove(s.ObjectPath(lost)); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { scrubBatch = n }(scrubBatch)
	scrubBatch = 2

	ctx, cancel := context.WithCancel(t.Context())
	reads := seeReads(t, func(string) { cancel() }) // stop after the first batch
	r, err := s.Scrub(ctx, ScrubOptions{})
	if err == nil || r.Checked != 2 || r.Missing != 0 {
		t.Fatalf("first call: %+v %v, want 2 checked and ctx's error", r, err)
	}
	if _, ok, _ := s.LastScrub(); ok {
		t.Error("an unfinished pass is reported as the last one")
	}
	s.Close()

	s = openTest(t, dir)
	n0 := len(reads())
	seeReads(t, nil)
	r, err = s.Scrub(t.Context(), ScrubOptions{})
	if err != nil || r.Checked != 5+4 || r.Missing != 1 {
		t.Fatalf("resumed pass: %+v %v, want 5 entries and 4 files checked, 1 missing", r, err)
	}
	if n0 == 0 {
		t.Fatal("the seam saw nothing")
	}
	last, ok, err := s.LastScrub()
	if err != nil || !ok || last.Checked != r.Checked || last.Finished.IsZero() {
		t.Errorf("last pass %+v %v %v", last, ok, err)
	}
	if in, _ := s.Instance(lost.SOPInstanceUID); in == nil || !in.Missing {
		t.Errorf("lost file's entry not marked: %+v", in)
	}
	// The next pass begins afresh.
	if r, err := s.Scrub(t.Context(), ScrubOptions{}); err != nil || r.Checked != 9 || r.Missing != 1 || r.Repaired() != 0 {
		t.Errorf("next pass %+v %v", r, err)
	}
}
