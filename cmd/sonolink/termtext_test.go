package main

import (
	"bytes"
	"errors"
	"testing"
)

func TestTermText(t *testing.T) {
	for in, want := range map[string]string{
		"Muñoz^José":                "Muñoz^José",
		"a\x1b]52;c;SGk=\ab":        `a\x1b]52;c;SGk=\x07b`,
		"\x1b[2J":                   `\x1b[2J`,
		"tab\there\nnew\rline":      `tab\x09here\x0anew\x0dline`,
		"c1 \u009b31m del \x7f":     `c1 \x9b31m del \x7f`,
		"rlo\u202eexe.pdf \u2028":   `rlo\u202eexe.pdf \u2028`,
		"bad \xff\xfe utf8":         `bad \xff\xfe utf8`,
		"emoji 👍🏽 and ZWJ 👩\u200d💻": "emoji 👍🏽 and ZWJ 👩\u200d💻",
	} {
		if got := termText(in); got != want {
			t.Errorf("termText(%q) = %q, want %q", in, got, want)
		}
	}
	var b bytes.Buffer
	termf(&b, "%s|%v|%s|%d\n", "x\x1b", []string{"\a"}, errors.New("e\x1b[2J"), 7)
	if got, want := b.String(), "x\\x1b|[\\x07]|e\\x1b[2J|7\n"; got != want {
		t.Errorf("termf: %q, want %q", got, want)
	}
}
