package i18n

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
)

// A Locale is one language's strings and date form.
type Locale struct {
	tag    language.Tag
	name   string
	date   string
	months []string
	plain  map[string]string
	plural map[string]map[string]string
}

// Lang is the language's BCP 47 tag, for <html lang> and settings.
func (l *Locale) Lang() string { return l.tag.String() }

// Name is the language's name in itself ("Svenska").
func (l *Locale) Name() string { return l.name }

// Has reports whether key is in the catalogue, as a text or plural forms.
func (l *Locale) Has(key string) bool {
	_, plain := l.plain[key]
	_, counted := l.plural[key]
	return plain || counted
}

// T translates key, filling {name} placeholders from pairs of arguments
// ("clinic", name, "date", d). A message text comes back unchanged, for
// its own template. An unknown key translates to itself.
func (l *Locale) T(key string, args ...any) string {
	s, ok := l.plain[key]
	if !ok {
		return key
	}
	return fill(s, args)
}

var pluralNames = map[plural.Form]string{plural.Zero: "zero", plural.One: "one", plural.Two: "two",
	plural.Few: "few", plural.Many: "many", plural.Other: "other"}

// N translates a counted phrase: the language's plural form for n, with
// {n} and the placeholders in args filled.
func (l *Locale) N(key string, n int, args ...any) string {
	forms, ok := l.plural[key]
	if !ok {
		return key
	}
	s := forms[pluralNames[plural.Cardinal.MatchPlural(l.tag, n, 0, 0, 0, 0)]]
	if s == "" {
		s = forms["other"]
	}
	return fill(s, append([]any{"n", n}, args...))
}

// Date writes t's calendar date, as t's location has it, in the
// language's long form ("1 October 2026", "1 oktober 2026", "1 de octubre
// de 2026"). The zero time is written as "".
func (l *Locale) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fill(l.date, []any{"day", t.Day(), "month", l.months[t.Month()-1], "year", t.Year()})
}

// FormatDate writes t as Lookup(lang).Date does.
func FormatDate(lang string, t time.Time) string { return Lookup(lang).Date(t) }

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
