package i18n

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"

	"golang.org/x/text/language"
)

//go:embed catalogue/*.json
var catalogueFS embed.FS

// builtin is the embedded catalogue. A broken catalogue cannot be built
// into a working binary: TestCatalogue loads it, and so does every program
// that imports this package, at start-up.
var builtin = mustLoad()

func mustLoad() *Catalogue {
	sub, err := fs.Sub(catalogueFS, "catalogue")
	if err != nil {
		panic(err)
	}
	c, err := Load(sub)
	if err != nil {
		panic(err)
	}
	return c
}

// ErrCatalogue is wrapped by every error Load returns.
var ErrCatalogue = errors.New("i18n: bad catalogue")

// A Catalogue is every language's translations.
type Catalogue struct {
	byTag map[string]*Locale
	tags  []language.Tag // sorted by tag, for a stable matcher order

	mu       sync.Mutex
	matchers map[string]language.Matcher // by default tag

	// matched remembers Match's answers: every page view asks, with one
	// of a few Accept-Language values, and parsing and matching cost more
	// than the rest of a cached page. Bounded: past matchMemo entries it
	// starts again empty (the header is the client's to choose).
	matchMu sync.RWMutex
	matched map[[2]string]*Locale
}

// matchMemo bounds Catalogue.matched.
const matchMemo = 512

// catalogueFile is the JSON form of one language; see the package doc.
type catalogueFile struct {
	Name string `json:"name"`
	Date struct {
		Pattern string   `json:"pattern"`
		Months  []string `json:"months"`
	} `json:"date"`
	Strings map[string]json.RawMessage `json:"strings"`
}

// Load reads the catalogue from the <tag>.json files at the root of fsys.
func Load(fsys fs.FS) (*Catalogue, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCatalogue, err)
	}
	c := &Catalogue{byTag: map[string]*Locale{}, matchers: map[string]language.Matcher{}}
	for _, name := range names {
		l, err := loadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCatalogue, name, err)
		}
		c.byTag[l.tag.String()] = l
		c.tags = append(c.tags, l.tag)
	}
	slices.SortFunc(c.tags, func(a, b language.Tag) int { return strings.Compare(a.String(), b.String()) })
	en := c.byTag["en"]
	if en == nil {
		return nil, fmt.Errorf("%w: en.json missing", ErrCatalogue)
	}
	for _, l := range c.byTag {
		if err := sameKeys(en, l); err != nil {
			return nil, fmt.Errorf("%w: %s.json: %w", ErrCatalogue, l.tag, err)
		}
	}
	return c, nil
}

func loadFile(fsys fs.FS, name string) (*Locale, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var f catalogueFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	tag, err := language.Parse(strings.TrimSuffix(path.Base(name), ".json"))
	if err != nil {
		return nil, err
	}
	if len(f.Date.Months) != 12 || f.Date.Pattern == "" {
		return nil, errors.New("a date pattern and 12 months are needed")
	}
	l := &Locale{tag: tag, name: f.Name, date: f.Date.Pattern, months: f.Date.Months,
		plain: map[string]string{}, plural: map[string]map[string]string{}}
	for k, raw := range f.Strings {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if err := checkMessage(k, s); err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			l.plain[k] = s
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(raw, &forms); err != nil || forms["other"] == "" {
			return nil, fmt.Errorf("%q must be a string or plural forms with \"other\"", k)
		}
		l.plural[k] = forms
	}
	return l, nil
}

// checkMessage parses a message text as the template it is.
func checkMessage(key, s string) error {
	name, ok := strings.CutPrefix(key, "message.")
	if !ok {
		return nil
	}
	if strings.HasSuffix(name, "_html") {
		_, err := htmltemplate.New(name).Parse(s)
		return err
	}
	_, err := template.New(name).Parse(s)
	return err
}

// sameKeys reports the first key l lacks or has beyond en's.
func sameKeys(en, l *Locale) error {
	if k, ok := firstMissing(en.plain, l.plain); ok {
		return fmt.Errorf("lacks %q", k)
	}
	if k, ok := firstMissing(en.plural, l.plural); ok {
		return fmt.Errorf("lacks plural forms of %q", k)
	}
	if k, ok := firstMissing(l.plain, en.plain); ok {
		return fmt.Errorf("has %q, which en.json does not", k)
	}
	if k, ok := firstMissing(l.plural, en.plural); ok {
		return fmt.Errorf("has plural forms of %q, which en.json does not", k)
	}
	return nil
}

// firstMissing is the first key of a, in order, that b lacks.
func firstMissing[A, B any](a map[string]A, b map[string]B) (string, bool) {
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			return k, true
		}
	}
	return "", false
}

// Languages lists the tags of the catalogue's languages, sorted.
func (c *Catalogue) Languages() []string {
	out := make([]string, len(c.tags))
	for i, t := range c.tags {
		out[i] = t.String()
	}
	return out
}

// Keys lists English's keys, sorted: the keys every language has.
func (c *Catalogue) Keys() []string {
	en := c.byTag["en"]
	keys := append(slices.Collect(maps.Keys(en.plain)), slices.Collect(maps.Keys(en.plural))...)
	slices.Sort(keys)
	return keys
}

// Lookup is the locale for a clinic's language: the best match for lang,
// or English when lang is empty or no language matches it.
func (c *Catalogue) Lookup(lang string) *Locale {
	return c.Match("", lang)
}

// Match is the locale for a page: the best match for the Accept-Language
// header value accept, else Lookup(clinicLang).
func (c *Catalogue) Match(accept, clinicLang string) *Locale {
	key := [2]string{accept, clinicLang}
	c.matchMu.RLock()
	l, ok := c.matched[key]
	c.matchMu.RUnlock()
	if ok {
		return l
	}
	l = c.match(accept, clinicLang)
	c.matchMu.Lock()
	if c.matched == nil || len(c.matched) >= matchMemo {
		c.matched = map[[2]string]*Locale{}
	}
	c.matched[key] = l
	c.matchMu.Unlock()
	return l
}

func (c *Catalogue) match(accept, clinicLang string) *Locale {
	def := c.fallback(clinicLang)
	want, _, _ := language.ParseAcceptLanguage(accept)
	_, i, _ := c.matcher(def).Match(want...)
	return c.byTag[c.tags[c.order(def)[i]].String()]
}

// fallback is the tag of the language lang matches, or "en".
func (c *Catalogue) fallback(lang string) string {
	t, err := language.Parse(lang)
	if err != nil {
		return "en"
	}
	if _, i, conf := c.matcher("en").Match(t); conf != language.No {
		return c.tags[c.order("en")[i]].String()
	}
	return "en"
}

// order lists tag indexes with def first: a matcher's first tag is what
// it answers when nothing matches.
func (c *Catalogue) order(def string) []int {
	out := make([]int, 0, len(c.tags))
	for i, t := range c.tags {
		if t.String() == def {
			out = append([]int{i}, out...)
		} else {
			out = append(out, i)
		}
	}
	return out
}

func (c *Catalogue) matcher(def string) language.Matcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.matchers[def]; ok {
		return m
	}
	var tags []language.Tag
	for _, i := range c.order(def) {
		tags = append(tags, c.tags[i])
	}
	m := language.NewMatcher(tags)
	c.matchers[def] = m
	return m
}

// Languages lists the built-in catalogue's language tags, sorted.
func Languages() []string { return builtin.Languages() }

// Keys lists the built-in catalogue's keys, sorted.
func Keys() []string { return builtin.Keys() }

// Lookup is the built-in catalogue's locale for a clinic's language.
func Lookup(lang string) *Locale { return builtin.Lookup(lang) }

// Match is the built-in catalogue's locale for a page.
func Match(accept, clinicLang string) *Locale { return builtin.Match(accept, clinicLang) }
