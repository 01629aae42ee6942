package console

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"sonolink/i18n"
)

// TestCatalogueHasEveryKey: every staff.* key the console names, in its
// templates and its code, is in the catalogue (a missing key would show as
// the key itself), and so are the keys it builds from a value.
func TestCatalogueHasEveryKey(t *testing.T) {
	re := regexp.MustCompile(`"(staff\.[a-z.]*[a-z])"`)
	keys := map[string]bool{}
	read := func(b []byte) {
		for _, m := range re.FindAllSubmatch(b, -1) {
			keys[string(m[1])] = true
		}
	}
	if err := fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		read(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	gos, _ := filepath.Glob("*.go")
	for _, p := range gos {
		if b, err := os.ReadFile(p); err == nil && filepath.Base(p) != "i18n_test.go" {
			read(b)
		}
	}
	delete(keys, "staff.db") // the accounts file's name, not a text
	for _, v := range []string{"clean", "residual", "pending", "missing"} {
		keys["staff.deid."+v] = true
	}
	for _, v := range []string{"active", "expired", "revoked"} {
		keys["staff.status."+v] = true
	}
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the scan is broken", len(keys))
	}
	for _, lang := range i18n.Languages() {
		l := i18n.Lookup(lang)
		for k := range keys {
			if !l.Has(k) {
				t.Errorf("%s: the catalogue has no %q", lang, k)
			}
		}
	}
}
