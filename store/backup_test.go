package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBackupCopiesWhatTheSnapshotNames: files that change between the
// snapshot and their copy are never trusted by the copy of the index, and
// what arrives after the snapshot is not in the backup.
func TestBackupCopiesWhatTheSnapshotNames(t *testing.T) {
	s := openTest(t, t.TempDir())
	uids := []string{"1.9.1.1", "1.9.1.2", "1.9.1.3", "1.9.1.4"}
	put := func(uid string) {
		t.Helper()
		o := obj{SOP: uid, Study: "1.9.1", Series: "1.9.1.0", Name: "Backup^Bo", PatientID: "B1", Pixels: 64, Fill: uid[len(uid)-1]}
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
			t.Fatal(err)
		}
	}
	derive := func(uid string) {
		t.Helper()
		for _, name := range []string{DeidName, "render/thumb.jpg"} {
			if _, err := s.PutDerived(uid, name, func(w io.Writer) error { _, err := io.WriteString(w, name+uid); return err }); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetDeid(uid, Deid{Path: DeidName, Clean: true, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRender(uid, Render{Frames: 1, Thumbnail: "render/thumb.jpg"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range uids[:3] {
		put(u)
	}
	derive(uids[0])
	derive(uids[1])
	s.flushConfirmed() // their pending markers gone, as a quiet second after ingest

	backupAfterSnapshot = func() {
		lost, _ := s.Instance(uids[2])
		os.Remove(s.ObjectPath(lost)) // gone from under the store
		if err := s.RemoveDerived(uids[1]); err != nil {
			t.Error(err)
		}
		put(uids[3]) // arrives after the snapshot
	}
	backupBatch = 1 // every instance its own batch
	t.Cleanup(func() { backupAfterSnapshot, backupBatch = nil, 256 })
	dst := t.TempDir()
	sums := map[string]string{}
	r, err := s.Backup(context.Background(), dst, func(rel string, _ int64, h string) { sums[rel] = h }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Instances != 3 || r.Objects != 2 || r.Missing != 1 || r.Purged != 0 || r.Redo != 1 || r.Derived != 2 || r.Schema != Schema() {
		t.Fatalf("result %+v; want 3 instances, 2 objects copied, 1 missing, 1 redo, 2 derived files", r)
	}
	for rel, want := range sums {
		_, got, err := hashFile(filepath.Join(dst, filepath.FromSlash(rel)))
		if err != nil || got != want {
			t.Errorf("%s: checksum %s (%v), reported %s", rel, got, err, want)
		}
	}
	if _, ok := sums[IndexFile]; !ok || len(sums) != 5 {
		t.Errorf("sums for %d files (%v); want the index, 2 objects and 2 derived files", len(sums), sums)
	}

	b := openTest(t, dst) // a backup is a data directory
	if in, err := b.Instance(uids[0]); err != nil || in.Deid == nil || in.Render == nil || in.Missing {
		t.Errorf("untouched instance: %+v %v; want its records kept", in, err)
	}
	if in, err := b.Instance(uids[1]); err != nil || in.Deid != nil || in.Render != nil {
		t.Errorf("instance whose derived files went: %+v %v; want its records dropped, to be made again", in, err)
	}
	if in, err := b.Instance(uids[2]); err != nil || !in.Missing {
		t.Errorf("instance whose file went: %+v %v; want it marked missing", in, err)
	}
	if _, err := b.Instance(uids[3]); !errors.Is(err, ErrNotFound) {
		t.Errorf("object that arrived after the snapshot: %v; want not in the backup", err)
	}
}
