// Package testenv finds what sonolink's tests need outside the repository:
// the shared DICOM samples and peer tools such as DCMTK. Locally a missing
// piece skips the test with the reason; under CI (CI=true) it fails, so a
// green CI run means the tests really ran.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Samples returns the directory of the shared DICOM samples
// (shared/dicom-samples beside the repository, or $SONOLINK_SAMPLES).
func Samples(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SONOLINK_SAMPLES"); d != "" {
		return d
	}
	if d := findUp("shared/dicom-samples"); d != "" {
		return d
	}
	missing(t, "shared DICOM samples not found (shared/dicom-samples beside the repository, or set SONOLINK_SAMPLES)")
	return ""
}

// SampleFiles returns every .dcm file in the named sample groups
// (e.g. "us", "sr", "pdf", "sc", "charset", "odd").
func SampleFiles(t testing.TB, groups ...string) []string {
	t.Helper()
	root := Samples(t)
	var out []string
	for _, g := range groups {
		m, _ := filepath.Glob(filepath.Join(root, g, "*.dcm"))
		out = append(out, m...)
	}
	if len(out) == 0 {
		missing(t, "no samples in "+root)
	}
	return out
}

// Standard returns the directory with the PS3.15 table (shared/dicom-standard).
func Standard(t testing.TB) string {
	t.Helper()
	if d := findUp("shared/dicom-standard"); d != "" {
		return d
	}
	missing(t, "shared/dicom-standard not found")
	return ""
}

// Tool returns the path of an external program the test needs, e.g.
// "storescu" (Debian package dcmtk) or "chromium".
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" not installed (.ci/run installs it)")
	}
	return p
}

// Long skips t under -short (make test-short, the edit loop), saying what
// it is: a browser scenario, an end-to-end scenario or a long run of a peer
// tool. make test runs it.
func Long(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + "; runs in make test")
	}
}

// CI reports whether the tests run under CI.
func CI() bool { return os.Getenv("CI") == "true" }

func missing(t testing.TB, why string) {
	t.Helper()
	if CI() {
		t.Fatalf("required under CI: %s", why)
	}
	t.Skip(why)
}

func findUp(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		cand := filepath.Join(dir, rel)
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
