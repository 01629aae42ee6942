package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/dbschema"
	"sonolink/internal/testenv"
	"sonolink/share"
	"sonolink/store"
)

// TestE2EUpgradeFromPreviousRelease: a data directory written by the
// release before schema versions (testdata/datadir-cfee779, see
// testdata/README.md) is opened by this build: `sonolink check` finds
// nothing wrong, `studies` finds its study, its databases are upgraded to
// this build's schema versions, and the link it had sent opens, with its
// images, on `sonolink serve`.
func TestE2EUpgradeFromPreviousRelease(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir := shortTempDir(t)
	data := filepath.Join(dir, "data")
	copyTree(t, filepath.Join("..", "testdata", "datadir-cfee779"), data)
	if v := schemaOf(t, filepath.Join(data, store.IndexFile)); v != 0 {
		t.Fatalf("the old data directory already has index schema %d; it should predate versions", v)
	}
	link := outboxLinkIn(t, data)

	mustCLI(t, 0, data, "check")
	r := mustCLI(t, 0, data, "studies", "ulla", "--json")
	var found []struct {
		Patient string `json:"patient_name"`
		Images  int    `json:"images"`
	}
	if err := json.Unmarshal([]byte(r.out), &found); err != nil || len(found) != 1 || found[0].Images != 2 || !strings.Contains(found[0].Patient, "Ulla") {
		t.Fatalf("studies ulla: want the one study of Ulla with 2 images, got %+v (%v)\n%s", found, err, r)
	}
	for name, want := range map[string]int{store.IndexFile: store.Schema(), share.DBFile: share.Schema()} {
		if v := schemaOf(t, filepath.Join(data, name)); v != want || v < 1 {
			t.Errorf("%s: schema %d after the upgrade, want %d", name, v, want)
		}
	}

	lg := &shareE2ELog{}
	n := shareE2EStart(t, data, lg)
	page := shareE2EWithBase(link, n.httpURL)
	code, body := shareE2EGet(t, nil, page)
	if code != 200 {
		t.Fatalf("the old link's landing page: HTTP %d\n%s", code, lg)
	}
	thumbs := regexp.MustCompile(`/p/[A-Za-z0-9_-]+/i/\d+/thumb\.jpg`).FindAllString(string(body), -1)
	if len(thumbs) != 2 {
		t.Fatalf("landing page shows %d thumbnails, want the 2 images the old node rendered", len(thumbs))
	}
	for _, th := range thumbs {
		if code, img := shareE2EGet(t, nil, n.httpURL+th); code != 200 || len(img) < 100 {
			t.Errorf("thumbnail: HTTP %d, %d bytes", code, len(img))
		}
	}
	n.stop(t)
	if !strings.Contains(lg.String(), "sonolink serving") {
		t.Errorf("serve never said it was serving:\n%s", lg)
	}
}

// schemaOf reads a stopped node's database's schema version.
func schemaOf(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.View(func(tx *bolt.Tx) (err error) { v, err = dbschema.Version(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return v
}

// outboxLinkIn returns the first patient link in a data directory's outbox.
func outboxLinkIn(t *testing.T, dataDir string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://[^\s"<>]+/p/[A-Za-z0-9_-]+`)
	for f := range shareE2EOutboxFiles(dataDir) {
		b, _ := os.ReadFile(f)
		if m := re.Find(b); m != nil {
			return string(m)
		}
	}
	t.Fatalf("no link in %s/outbox", dataDir)
	return ""
}

// copyTree copies a directory (files owner-only, as a node keeps them).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
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

// TestE2ENewerDataDirectoryRefused: a data directory whose index a newer
// sonolink wrote is refused, with what to do, and left as it was.
func TestE2ENewerDataDirectoryRefused(t *testing.T) {
	testenv.Long(t, "drives the built binary")
	data := filepath.Join(shortTempDir(t), "data")
	copyTree(t, filepath.Join("..", "testdata", "datadir-cfee779"), data)
	db, err := bolt.Open(filepath.Join(data, store.IndexFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return dbschema.SetVersion(tx, store.Schema()+1) })
	db.Close()
	for _, args := range [][]string{{"check"}, {"studies"}, {"serve", "--dicom-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}} {
		r := runCLI(t, data, args...)
		if r.code != 2 || !strings.Contains(r.err, "newer sonolink") {
			t.Errorf("sonolink %s on a newer data directory: want exit 2 saying a newer sonolink wrote it, got %s", args[0], r)
		}
	}
	if v := schemaOf(t, filepath.Join(data, store.IndexFile)); v != store.Schema()+1 {
		t.Errorf("schema %d after the refusals, want it left at %d", v, store.Schema()+1)
	}
}
