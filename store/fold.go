package store

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// FoldName is the search key of a person name or of a query: lower case,
// accents removed (NFD, then nonspacing marks dropped), the DICOM component
// separators '^' and '=' turned into spaces, and runs of spaces collapsed.
// "Müller^Zoë" and "muller zoe" fold alike; so do "ΔΙΟΝΥΣΙΟΣ" and
// "Διονυσιος" (final sigma).
func FoldName(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.Map(func(r rune) rune {
		if r == '^' || r == '=' || unicode.IsSpace(r) {
			return ' '
		}
		if r == 'ς' { // Greek final sigma folds like σ, so Σ in a query matches
			return 'σ'
		}
		return unicode.ToLower(r)
	}, out)
	return strings.Join(strings.Fields(out), " ")
}
