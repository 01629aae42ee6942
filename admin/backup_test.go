package admin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/anonymize"
	"sonolink/share"
	"sonolink/store"
)

// TestBackupOverSocketAndRestore: a running server writes the backup the
// client asks for; restore checks it and fills only an empty directory.
func TestBackupOverSocketAndRestore(t *testing.T) {
	dir, munoz, _ := seededDir(t)
	svc := serverService(t, dir)
	if _, err := anonymize.LoadOrCreateSecret(dir); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(svc, SocketPath(dir), discardLogger())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	c := NewClient(SocketPath(dir))
	defer c.Close()
	if _, err := c.Send(ctx, SendRequest{Study: munoz, To: "a@example.com"}); err != nil {
		t.Fatal(err)
	}

	base := filepath.Dir(dir)
	if _, err := c.Backup(ctx, BackupRequest{Dir: "relative"}); KindOf(err) != KindInvalid {
		t.Errorf("relative backup directory: %v, want invalid", err)
	}
	if _, err := c.Backup(ctx, BackupRequest{Dir: filepath.Join(dir, "b")}); KindOf(err) != KindInvalid {
		t.Errorf("backup inside the data directory: %v, want invalid", err)
	}
	full := filepath.Join(base, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	if _, err := c.Backup(ctx, BackupRequest{Dir: full}); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("backup into a non-empty directory: %v, want invalid, not empty", err)
	}

	bk := filepath.Join(base, "bk")
	m, err := c.Backup(ctx, BackupRequest{Dir: bk})
	if err != nil {
		t.Fatal(err)
	}
	if m.Store.Studies != 2 || m.Store.Instances != 4 || m.Store.Objects != 4 || m.Share.Links != 1 ||
		m.IndexSchema != store.Schema() || m.ShareSchema != share.Schema() || m.Format != BackupFormat {
		t.Fatalf("manifest %+v", m)
	}
	for _, f := range []string{ManifestName, SumsName, store.IndexFile, share.DBFile, share.KeyFile, anonymize.SecretFile} {
		if _, err := os.Stat(filepath.Join(bk, f)); err != nil {
			t.Errorf("backup lacks %s: %v", f, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(base, ".bk.partial-*")); len(left) != 0 {
		t.Errorf("temporary directories left: %v", left)
	}

	// Restore refuses a directory in use, and a damaged backup.
	if _, err := Restore(ctx, bk, dir); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore over the live data directory: %v", err)
	}
	tampered := filepath.Join(base, "tampered")
	copyDir(t, bk, tampered)
	raw, _ := os.ReadFile(filepath.Join(tampered, ManifestName))
	var mm map[string]any
	json.Unmarshal(raw, &mm)
	mm["index_schema"] = store.Schema() + 1
	raw, _ = json.Marshal(mm)
	os.WriteFile(filepath.Join(tampered, ManifestName), raw, 0o600)
	if _, err := Restore(ctx, tampered, filepath.Join(base, "r0")); err == nil || !strings.Contains(err.Error(), "newer sonolink") {
		t.Errorf("restore of a backup from a newer sonolink: %v", err)
	}
	copyDir(t, bk, filepath.Join(base, "cut"))
	os.Remove(filepath.Join(base, "cut", share.KeyFile))
	target := filepath.Join(base, "r1")
	if _, err := Restore(ctx, filepath.Join(base, "cut"), target); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("restore of a backup without its key file: %v", err)
	}
	// The half-restored directory is refused by the store, and a second
	// restore (of a whole backup) finishes it.
	if _, err := store.Open(target, store.Options{Logger: discardLogger()}); !errors.Is(err, store.ErrRestoreUnfinished) {
		t.Errorf("store.Open of a half-restored directory: %v, want ErrRestoreUnfinished", err)
	}
	if _, err := Restore(ctx, bk, target); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, target, LocalOptions{}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	list, err := r.ListStudies(ctx, StudyQuery{})
	if err != nil || len(list) != 2 {
		t.Fatalf("restored studies: %v %v", list, err)
	}
	d, err := r.StudyDetail(ctx, munoz)
	if err != nil || len(d.Shares) != 1 || len(d.Objects) != 3 {
		t.Fatalf("restored study: %+v %v", d, err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
