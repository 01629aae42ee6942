package settings

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's "Clinic settings" table lists exactly the declared keys
// with their defaults (in an order of its own), so the documentation
// cannot drift.
func TestReadmeTable(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### Clinic settings\n")
	if !ok {
		t.Fatal(`README.md has no "### Clinic settings" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([^|]*) \\|")
	var got, want []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		def := strings.TrimSpace(m[2])
		if def == "–" {
			def = ""
		}
		got = append(got, m[1]+" = "+def)
	}
	for _, s := range testRegistry().Declared() {
		want = append(want, s.Key+" = "+s.Default)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("README.md Clinic settings table lists (key = default, – as empty)\n  %s\nthe registry declares\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
