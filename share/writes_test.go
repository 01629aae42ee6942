package share

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryWriteIsCounted: Resolve trusts a kept link while Service.writes
// is unchanged, so every write transaction of the running service goes
// through update or batch. A direct db.Update elsewhere would let a
// revoked link keep opening.
func TestEveryWriteIsCounted(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	direct := regexp.MustCompile(`\bs\.db\.(Update|Batch|Begin)\(`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "writes.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if direct.MatchString(line) {
				t.Errorf("%s:%d writes share.db directly; use s.update or s.batch: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
