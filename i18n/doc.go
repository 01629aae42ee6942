// Package i18n holds every string sonolink shows or sends to a patient, in
// every language it speaks, and the rules for choosing the language.
//
// # Format
//
// The catalogue is one JSON file per language, catalogue/<tag>.json, named
// by its BCP 47 tag (en.json, sv.json, es.json) and embedded in the binary:
//
//	{
//	  "name": "Svenska",
//	  "date": {"pattern": "{day} {month} {year}", "months": ["januari", …]},
//	  "strings": {
//	    "landing.title": "Dina ultraljudsbilder",
//	    "landing.count": {"one": "{n} objekt", "other": "{n} objekt"},
//	    "message.sms": "{{.Clinic}}: dina ultraljudsbilder {{.Link}} …"
//	  }
//	}
//
// "strings" maps a key to a text or, for a counted phrase, to its CLDR
// plural forms ("zero", "one", "two", "few", "many", "other"; "other" is
// required). Page texts carry {name} placeholders, filled by [Locale.T] and
// [Locale.N] or, for the viewer's "{i} of {n}", by the page's script. Keys
// under "message." are the e-mail and SMS texts: Go templates
// ({{.Clinic}}, {{.Link}}, …) that the share package executes, and that a
// clinic may replace with its own (setting branding.text.<name>); the
// loader checks that they parse, html/template for names ending in _html.
// "date" is the long date form: the pattern with {day}, {month} and {year},
// and the twelve month names, January first. Dates are written only by
// [Locale.Date] and [FormatDate].
//
// # Guarantees
//
// English (en.json) is the reference: the catalogue does not load unless
// every language has exactly the keys English has, with plural forms where
// English has them, twelve months and a date pattern. A key that is not in
// the catalogue translates to itself, so a mistake shows as a key on the
// page rather than as an empty string; tests in the packages that use the
// catalogue check that every key they name exists.
//
// # Fallback
//
// A page ([Match]) is in the language the browser prefers most
// (Accept-Language) among those the catalogue has, matched as BCP 47 tags
// (sv-SE and sv-FI get Swedish). When none of the browser's languages is
// available, or it sent none, the page is in the clinic's language
// (setting clinic.language); when that is empty or not available, English.
// Messages ([Lookup]) have no browser to ask: they are in the clinic's
// language, else English.
package i18n
