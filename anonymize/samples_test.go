package anonymize

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/uid"
	"sonolink/internal/testenv"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newTest(t testing.TB, o Options) *Anonymizer {
	t.Helper()
	if o.Secret == nil {
		o.Secret = testSecret(7)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTableEmbedded(t *testing.T) {
	if table.rows != 621 {
		t.Fatalf("Table E.1-1 rows = %d, want 621", table.rows)
	}
	count := map[string]int{}
	for _, r := range table.rules {
		count[r.basic]++
	}
	for _, r := range []*rule{table.curve, table.overlay, table.ovComment, table.private} {
		count[r.basic]++
	}
	want := map[string]int{"X": 384, "D": 92, "U": 54, "Z": 42, "X/D": 22, "X/Z": 11, "X/Z/D": 8, "Z/D": 6, "X/Z/U*": 2}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("action %s: %d rows, want %d", k, count[k], v)
		}
	}
	if r := table.lookup(tag.Tag{Group: 0x6002, Element: 0x3000}); r != table.overlay {
		t.Error("60xx,3000 pattern not matched")
	}
	if r := table.lookup(tag.Tag{Group: 0x0029, Element: 0x1010}); r != table.private {
		t.Error("private pattern not matched")
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		act  string
		typ  int
		want string
	}{
		{"X/Z/D", 3, "X"}, {"X/Z/D", 2, "Z"}, {"X/Z/D", 1, "D"},
		{"Z/D", 3, "Z"}, {"Z/D", 2, "Z"}, {"Z/D", 1, "D"},
		{"X/D", 3, "X"}, {"X/D", 2, "D"}, {"X/D", 1, "D"},
		{"X/Z", 2, "Z"}, {"X/Z/U*", 3, "X"}, {"X/Z/U*", 2, "Z"}, {"X/Z/U*", 1, "U"},
		{"X", 1, "D"}, {"X", 2, "Z"}, {"U", 1, "U"}, {"K", 3, "K"},
	} {
		if got := resolve(c.act, c.typ); got != c.want {
			t.Errorf("resolve(%s, type %d) = %s, want %s", c.act, c.typ, got, c.want)
		}
	}
}

// anonymizeTo de-identifies in into dir and returns the output path.
func anonymizeTo(t *testing.T, a *Anonymizer, in, dir string) (string, *Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := a.File(in, &buf)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(in), err)
	}
	if res.Size != int64(buf.Len()) {
		t.Errorf("%s: Size %d, wrote %d", filepath.Base(in), res.Size, buf.Len())
	}
	out := filepath.Join(dir, filepath.Base(in))
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out, res
}

func TestSamples(t *testing.T) {
	files := testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset")
	a := newTest(t, Options{})
	dir := t.TempDir()
	for _, in := range files {
		group := filepath.Base(filepath.Dir(in))
		t.Run(group+"/"+filepath.Base(in), func(t *testing.T) {
			out, res := anonymizeTo(t, a, in, dir)
			t.Logf("clean=%v reasons=%q", res.Verdict.Clean, res.Verdict.Reasons)
			if (group == "sr" || group == "pdf") && res.Verdict.Clean {
				t.Errorf("%s object came out clean", group)
			}
			if res.Verdict.Clean && len(res.Verdict.Reasons) > 0 {
				t.Errorf("clean with reasons %q", res.Verdict.Reasons)
			}
			ds, err := dicomfile.ReadFile(out)
			if err != nil {
				t.Fatalf("output does not read back: %v", err)
			}
			if got := dicomfile.String(ds, tag.MediaStorageSOPInstanceUID); got != res.SOPInstanceUID || !strings.HasPrefix(got, "2.25.") {
				t.Errorf("Media Storage SOP Instance UID %q, want %q", got, res.SOPInstanceUID)
			}
			if got := dicomfile.String(ds, tag.SOPInstanceUID); got != res.SOPInstanceUID {
				t.Errorf("SOP Instance UID %q, want %q", got, res.SOPInstanceUID)
			}
			if got := dicomfile.String(ds, tag.ImplementationClassUID); got != uid.ImplementationClassUID {
				t.Errorf("Implementation Class UID %q", got)
			}
			for _, tg := range []tag.Tag{tag.SourceApplicationEntityTitle, {Group: 0x0002, Element: 0x0017}, {Group: 0x0002, Element: 0x0018}} {
				if _, err := ds.FindElementByTag(tg); err == nil {
					t.Errorf("%v kept in file meta", tg)
				}
			}
			if got := dicomfile.String(ds, tagPatientIdentityRem); got != "YES" {
				t.Errorf("Patient Identity Removed %q", got)
			}
			if got := dicomfile.String(ds, tagSpecificCharacterSet); got != "ISO_IR 192" {
				t.Errorf("Specific Character Set %q", got)
			}
			raw, _ := os.ReadFile(out)
			if !bytes.Equal(raw[:128], make([]byte, 128)) {
				t.Error("preamble not zero")
			}
			for _, e := range ds.Elements {
				if e.Tag.Group&1 == 1 {
					t.Errorf("private attribute %v kept", e.Tag)
				}
			}
		})
	}
}

var valuesInErr = regexp.MustCompile(`"[^"]*"|Value = .*|[0-9]+(\.[0-9]+)+`)

var dciodvfyErr = regexp.MustCompile(`(?m)^Error - (.*)$`)

// dciodvfyErrors returns the distinct error lines dciodvfy prints for a
// file, with the parts that name values or positions blanked.
func dciodvfyErrors(t *testing.T, tool, path string) []string {
	t.Helper()
	out, _ := exec.Command(tool, path).CombinedOutput()
	seen := map[string]bool{}
	var errs []string
	for _, m := range dciodvfyErr.FindAllStringSubmatch(string(out), -1) {
		line := valuesInErr.ReplaceAllString(m[1], "…")
		if !seen[line] {
			seen[line] = true
			errs = append(errs, line)
		}
	}
	sort.Strings(errs)
	return errs
}

func TestDciodvfyNoNewErrors(t *testing.T) {
	testenv.Long(t, "long dciodvfy run over every sample")
	tool := testenv.Tool(t, "dciodvfy")
	files := testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset")
	a := newTest(t, Options{})
	dir := t.TempDir()
	for _, in := range files {
		t.Run(filepath.Base(in), func(t *testing.T) {
			out, _ := anonymizeTo(t, a, in, dir)
			before := map[string]bool{}
			for _, e := range dciodvfyErrors(t, tool, in) {
				before[e] = true
			}
			for _, e := range dciodvfyErrors(t, tool, out) {
				if !before[e] {
					t.Errorf("new dciodvfy error: %s", e)
				}
			}
		})
	}
}
