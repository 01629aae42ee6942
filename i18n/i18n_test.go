package i18n

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// TestCatalogueKeys reads the catalogue files as plain JSON, apart from
// the loader, and checks that every language has exactly English's keys,
// in the same shape (text or plural forms).
func TestCatalogueKeys(t *testing.T) {
	shapes := map[string]map[string]string{}
	files, err := fs.Glob(catalogueFS, "catalogue/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		b, err := catalogueFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Strings map[string]any `json:"strings"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		shape := map[string]string{}
		for k, v := range f.Strings {
			if _, ok := v.(string); ok {
				shape[k] = "text"
			} else {
				shape[k] = "plural"
			}
		}
		shapes[strings.TrimSuffix(strings.TrimPrefix(name, "catalogue/"), ".json")] = shape
	}
	en := shapes["en"]
	if len(en) == 0 {
		t.Fatal("en.json missing or empty")
	}
	for _, lang := range []string{"en", "sv", "es"} {
		if shapes[lang] == nil {
			t.Errorf("%s.json missing", lang)
		}
	}
	for lang, shape := range shapes {
		for _, k := range slices.Sorted(maps.Keys(en)) {
			if shape[k] != en[k] {
				t.Errorf("%s.json: %q is %q, English has %q", lang, k, shape[k], en[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(shape)) {
			if _, ok := en[k]; !ok {
				t.Errorf("%s.json: %q is not in en.json", lang, k)
			}
		}
	}
	if got, want := Languages(), slices.Sorted(maps.Keys(shapes)); !slices.Equal(got, want) {
		t.Errorf("Languages() = %v, want %v", got, want)
	}
	if len(Keys()) != len(en) {
		t.Errorf("Keys() has %d keys, en.json %d", len(Keys()), len(en))
	}
}

func TestLoadRejects(t *testing.T) {
	const en = `{"name":"English","date":{"pattern":"{day} {month} {year}","months":["1","2","3","4","5","6","7","8","9","10","11","12"]},
		"strings":{"a":"A","n":{"one":"{n} thing","other":"{n} things"},"message.x":"{{.Clinic}}"}}`
	for name, files := range map[string]map[string]string{
		"no English":        {"sv.json": en},
		"key missing":       {"en.json": en, "sv.json": strings.Replace(en, `"a":"A",`, ``, 1)},
		"extra key":         {"en.json": en, "sv.json": strings.Replace(en, `"a":"A",`, `"a":"A","b":"B",`, 1)},
		"text for plural":   {"en.json": en, "sv.json": strings.Replace(en, `{"one":"{n} thing","other":"{n} things"}`, `"saker"`, 1)},
		"no other form":     {"en.json": strings.Replace(en, `"other"`, `"few"`, 1)},
		"eleven months":     {"en.json": strings.Replace(en, `"12"`, ``, 1)},
		"broken template":   {"en.json": strings.Replace(en, `{{.Clinic}}`, `{{.Clinic`, 1)},
		"not a language":    {"en.json": en, "xx-yy-zz-1.json": en},
		"not a json object": {"en.json": "[]"},
	} {
		fsys := fstest.MapFS{}
		for n, s := range files {
			fsys[n] = &fstest.MapFile{Data: []byte(s)}
		}
		if _, err := Load(fsys); !errors.Is(err, ErrCatalogue) {
			t.Errorf("%s: Load = %v, want ErrCatalogue", name, err)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct{ accept, clinic, want string }{
		{"sv-SE,sv;q=0.9,en;q=0.8", "en", "sv"},
		{"es-ES,es;q=0.9", "en", "es"},
		{"en-US,en;q=0.9", "sv", "en"},
		{"sv-FI", "", "sv"},
		{"", "sv", "sv"},
		{"de-DE,de;q=0.9", "es", "es"},
		{"de-DE,de;q=0.9", "es-MX", "es"},
		{"fr", "", "en"},
		{"fr", "de", "en"},
		{"not a header;;", "sv", "sv"},
	} {
		if got := Match(c.accept, c.clinic).Lang(); got != c.want {
			t.Errorf("Match(%q, %q) = %s, want %s", c.accept, c.clinic, got, c.want)
		}
	}
	for lang, want := range map[string]string{"sv": "sv", "es": "es", "en": "en", "": "en", "de": "en", "sv-SE": "sv", "!": "en"} {
		if got := Lookup(lang).Lang(); got != want {
			t.Errorf("Lookup(%q) = %s, want %s", lang, got, want)
		}
	}
}

func TestTranslate(t *testing.T) {
	sv := Lookup("sv")
	if got := sv.T("landing.footer", "clinic", "Kliniken"); !strings.HasPrefix(got, "Skickat till dig av Kliniken.") {
		t.Errorf("T = %q", got)
	}
	if got := sv.T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key = %q", got)
	}
	if got := Lookup("en").N("landing.frames", 1); got != "1 frame" {
		t.Errorf("N(1) = %q", got)
	}
	if got := Lookup("en").N("landing.frames", 12); got != "12 frames" {
		t.Errorf("N(12) = %q", got)
	}
	if got := sv.T("message.sms", "Clinic", "x"); !strings.Contains(got, "{{.Clinic}}") {
		t.Errorf("message text filled as a page text: %q", got)
	}
	if !sv.Has("landing.count") || !sv.Has("landing.title") || sv.Has("landing") {
		t.Error("Has")
	}
}

func TestFormatDate(t *testing.T) {
	d := time.Date(2026, 10, 1, 23, 30, 0, 0, time.UTC)
	for lang, want := range map[string]string{"en": "1 October 2026", "sv": "1 oktober 2026", "es": "1 de octubre de 2026", "de": "1 October 2026"} {
		if got := FormatDate(lang, d); got != want {
			t.Errorf("FormatDate(%q) = %q, want %q", lang, got, want)
		}
	}
	// The date is the one where t is: 23:30 UTC is the next day in Stockholm.
	if got := FormatDate("sv", d.In(time.FixedZone("CEST", 2*3600))); got != "2 oktober 2026" {
		t.Errorf("in CEST: %q", got)
	}
	if FormatDate("en", time.Time{}) != "" {
		t.Error("zero time not empty")
	}
}
