package layout

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "sonolink"

// allowed lists, for each top-level folder, the top-level folders its
// production code may import. "dicom" stands for every package under dicom/.
// cmd, e2e and bench wire or drive everything and are not listed.
var allowed = map[string][]string{
	"dicom":     {"dicom"},
	"dimse":     {"dicom"},
	"contact":   {"dicom"},
	"delivery":  {},
	"i18n":      {},
	"settings":  {"dicom", "anonymize", "contact", "i18n"},
	"store":     {"dicom"},
	"anonymize": {"dicom"},
	"render":    {"dicom", "i18n"},
	"share":     {"dicom", "anonymize", "contact", "delivery", "settings", "i18n"},
	"pipeline":  {"dicom", "dimse", "store", "anonymize", "render", "share", "contact", "settings"},
	"web":       {"dicom", "store", "render", "share", "settings", "i18n"},
	"admin":     {"dicom", "store", "anonymize", "render", "share", "contact", "settings", "i18n", "retention"},
	"retention": {"dicom", "store", "share", "settings"},
	"console":   {"admin", "contact", "i18n"},
	"internal":  {"dicom"},
}

// shared folders: their sub-packages are meant to be imported from
// anywhere (dicom/ is the framework; internal/ is guarded by Go).
var shared = []string{"dicom", "internal"}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// split returns the top-level folder of a module path and whether the path
// is below it (a sub-package), or ok=false outside the module.
func split(path string) (top string, sub bool, ok bool) {
	rest, found := strings.CutPrefix(path, module+"/")
	if !found {
		return "", false, false
	}
	top, tail, deeper := strings.Cut(rest, "/")
	if top == "cmd" { // cmd/sonolink is a program, not a subtree of a package
		return rest, false, true
	}
	return top, deeper && tail != "", true
}

func TestNoSidewaysImports(t *testing.T) {
	for _, p := range packages(t) {
		from, _, _ := split(p.ImportPath)
		all := append(append(slices.Clone(p.Imports), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			to, sub, ok := split(imp)
			if !ok || !sub || to == from || slices.Contains(shared, to) {
				continue
			}
			t.Errorf("%s imports %s: a package inside %s/ is that folder's own business; import %s/%s itself or move the code", p.ImportPath, imp, to, module, to)
		}
	}
}

func TestImportsFollowTheFlow(t *testing.T) {
	for _, p := range packages(t) {
		from, _, _ := split(p.ImportPath)
		rules, listed := allowed[from]
		if !listed {
			continue
		}
		for _, imp := range p.Imports {
			to, _, ok := split(imp)
			if !ok || to == from {
				continue
			}
			if to == "internal" {
				if strings.Contains(imp, "/testenv") || strings.Contains(imp, "/testdicom") {
					t.Errorf("%s imports the test helper %s in production code", p.ImportPath, imp)
				}
				continue // the other internal packages serve everyone
			}
			if !slices.Contains(rules, to) {
				t.Errorf("%s imports %s, which its row in allowed does not list: %v", p.ImportPath, imp, rules)
			}
		}
	}
}

// TestEveryFolderHasARow makes a new top-level folder a decision too.
func TestEveryFolderHasARow(t *testing.T) {
	for _, p := range packages(t) {
		top, _, _ := split(p.ImportPath)
		switch {
		case strings.HasPrefix(top, "cmd/"), top == "e2e", top == "bench":
		default:
			if _, ok := allowed[top]; !ok {
				t.Errorf("%s: top-level folder %q has no row in allowed", p.ImportPath, top)
			}
		}
	}
}

// TestReadmeTableMatchesTree keeps README.md's development table honest:
// every folder it names exists, and every top-level folder is named.
func TestReadmeTableMatchesTree(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| folder | what lives there |")
	if !ok {
		t.Fatal("README.md has no development table (| folder | what lives there |)")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	named := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		for _, f := range strings.Split(cell, ",") {
			f = strings.Trim(strings.TrimSpace(f), "`")
			f = strings.TrimSuffix(f, "/")
			if f == "" || strings.HasPrefix(f, "-") || strings.HasPrefix(f, "|") {
				continue
			}
			if st, err := os.Stat(filepath.Join("../..", f)); err != nil || !st.IsDir() {
				t.Errorf("README.md's development table names %s/, which is not a folder", f)
			}
			top, _, _ := strings.Cut(f, "/")
			named[top] = true
		}
	}
	entries, err := os.ReadDir("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || e.Name() == "bin" || e.Name() == "sonolink-data" || e.Name() == "artifacts" {
			continue
		}
		if !named[e.Name()] {
			t.Errorf("top-level folder %s/ is missing from README.md's development table", e.Name())
		}
	}
}
