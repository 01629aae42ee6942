package uid

import (
	"strings"
	"testing"
)

// New gives valid, distinct UIDs under 2.25 that fit in a UI value.
func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := New()
		if !validUID.MatchString(u) || len(u) > 64 || !strings.HasPrefix(u, "2.25.") {
			t.Fatalf("New() = %q: not a valid 2.25 UID of at most 64 characters", u)
		}
		if seen[u] {
			t.Fatalf("New() gave %q twice", u)
		}
		seen[u] = true
	}
}
