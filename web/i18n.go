package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// Translations live in locales/<tag>.json, one file per language, edited
// by translators: "messages" maps a key to a string, or to an object of
// CLDR plural forms ("one", "other", …) for counted phrases; {name}
// placeholders are filled in by the pages. "date" gives the date pattern
// and month names.
//
//go:embed locales/*.json
var localeFS embed.FS

type localeFile struct {
	Name string `json:"name"`
	Date struct {
		Pattern string   `json:"pattern"` // "{day} {month} {year}"
		Months  []string `json:"months"`
	} `json:"date"`
	Messages map[string]json.RawMessage `json:"messages"`
}

type locale struct {
	tag    language.Tag
	name   string
	date   string
	months []string
	plain  map[string]string
	plural map[string]map[string]string
}

type locales struct {
	byTag    map[string]*locale
	tags     []language.Tag
	mu       sync.Mutex
	matchers map[string]language.Matcher
}

func loadLocales() (*locales, error) {
	ents, err := localeFS.ReadDir("locales")
	if err != nil {
		return nil, err
	}
	ls := &locales{byTag: map[string]*locale{}, matchers: map[string]language.Matcher{}}
	for _, e := range ents {
		b, err := localeFS.ReadFile(path.Join("locales", e.Name()))
		if err != nil {
			return nil, err
		}
		var f localeFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("web: locales/%s: %w", e.Name(), err)
		}
		tag, err := language.Parse(strings.TrimSuffix(e.Name(), ".json"))
		if err != nil {
			return nil, fmt.Errorf("web: locales/%s: %w", e.Name(), err)
		}
		if len(f.Date.Months) != 12 || f.Date.Pattern == "" {
			return nil, fmt.Errorf("web: locales/%s: date pattern and 12 months needed", e.Name())
		}
		l := &locale{tag: tag, name: f.Name, date: f.Date.Pattern, months: f.Date.Months,
			plain: map[string]string{}, plural: map[string]map[string]string{}}
		for k, raw := range f.Messages {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				l.plain[k] = s
				continue
			}
			var forms map[string]string
			if err := json.Unmarshal(raw, &forms); err != nil || forms["other"] == "" {
				return nil, fmt.Errorf("web: locales/%s: %q must be a string or plural forms with \"other\"", e.Name(), k)
			}
			l.plural[k] = forms
		}
		ls.byTag[tag.String()] = l
		ls.tags = append(ls.tags, tag)
	}
	sort.Slice(ls.tags, func(i, j int) bool { return ls.tags[i].String() < ls.tags[j].String() })
	// Every language must translate what English does.
	en := ls.byTag["en"]
	if en == nil {
		return nil, fmt.Errorf("web: locales/en.json missing")
	}
	for _, l := range ls.byTag {
		for k := range en.plain {
			if _, ok := l.plain[k]; !ok {
				return nil, fmt.Errorf("web: locale %s lacks %q", l.tag, k)
			}
		}
		for k := range en.plural {
			if _, ok := l.plural[k]; !ok {
				return nil, fmt.Errorf("web: locale %s lacks %q", l.tag, k)
			}
		}
	}
	return ls, nil
}

// pick chooses the page language from Accept-Language, falling back to
// the clinic's language, then English.
func (ls *locales) pick(r *http.Request, clinicLang string) *locale {
	def := "en"
	if t, err := language.Parse(clinicLang); err == nil {
		if _, i, conf := ls.matcher("en").Match(t); conf != language.No {
			def = ls.tags[ls.order("en")[i]].String()
		}
	}
	m := ls.matcher(def)
	want, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := m.Match(want...)
	return ls.byTag[ls.tags[ls.order(def)[i]].String()]
}

// order lists tag indexes with def first (the matcher's fallback).
func (ls *locales) order(def string) []int {
	out := make([]int, 0, len(ls.tags))
	for i, t := range ls.tags {
		if t.String() == def {
			out = append([]int{i}, out...)
		} else {
			out = append(out, i)
		}
	}
	return out
}

func (ls *locales) matcher(def string) language.Matcher {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if m, ok := ls.matchers[def]; ok {
		return m
	}
	var tags []language.Tag
	for _, i := range ls.order(def) {
		tags = append(tags, ls.tags[i])
	}
	m := language.NewMatcher(tags)
	ls.matchers[def] = m
	return m
}

// Lang is the page's language tag for <html lang>.
func (l *locale) Lang() string { return l.tag.String() }

// T translates key, filling {name} placeholders from pairs of arguments.
func (l *locale) T(key string, args ...any) string {
	s, ok := l.plain[key]
	if !ok {
		return key
	}
	return fill(s, args)
}

// N translates a counted phrase: the plural form for n, with {n} filled.
func (l *locale) N(key string, n int, args ...any) string {
	forms, ok := l.plural[key]
	if !ok {
		return key
	}
	cat := map[plural.Form]string{plural.Zero: "zero", plural.One: "one", plural.Two: "two",
		plural.Few: "few", plural.Many: "many", plural.Other: "other"}[plural.Cardinal.MatchPlural(l.tag, n, 0, 0, 0, 0)]
	s := forms[cat]
	if s == "" {
		s = forms["other"]
	}
	return fill(s, append([]any{"n", n}, args...))
}

// Date formats a date in the language's long form.
func (l *locale) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strings.NewReplacer("{day}", strconv.Itoa(t.Day()), "{month}", l.months[t.Month()-1],
		"{year}", strconv.Itoa(t.Year())).Replace(l.date)
}

func fill(s string, args []any) string {
	if len(args) < 2 || !strings.Contains(s, "{") {
		return s
	}
	var pairs []string
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}
