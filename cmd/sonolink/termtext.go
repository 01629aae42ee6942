package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// termText makes a value fit to print on the technician's terminal. Values
// come from the modality (patient names, descriptions, contacts) and from
// anyone who can reach the DICOM port, so they may carry escape sequences
// that clear the screen, rewrite the window title or write the clipboard
// (OSC 52). Every control character (C0, DEL, C1, the line and paragraph
// separators and the bidirectional overrides that reorder what is shown) and
// every byte that is not UTF-8 is replaced by its escaped form, e.g. \x1b,
// so it is visible but inert, and a value can neither break a table's
// columns nor start a line of its own. Text that needs none of this is
// returned as it is. --json output is not passed through it: it stays exact.
func termText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x100 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// termf is fmt.Fprintf for human-readable output: each string, []string,
// error or fmt.Stringer argument goes through termText first, so no path
// that prints a value for people can forget to. The format itself is ours
// and keeps its tabs and newlines.
func termf(w io.Writer, format string, args ...any) {
	safe := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			safe[i] = termText(v)
		case []string:
			out := make([]string, len(v))
			for j, s := range v {
				out[j] = termText(s)
			}
			safe[i] = out
		case error:
			safe[i] = termText(v.Error())
		case fmt.Stringer:
			safe[i] = termText(v.String())
		default:
			safe[i] = a
		}
	}
	fmt.Fprintf(w, format, safe...)
}
