// Package contact reads patient contact details as a technician types them
// into a scanner: e-mail addresses and phone numbers in one free-text field,
// separated by commas, semicolons or spaces. Phone numbers are parsed with
// libphonenumber (github.com/nyaruka/phonenumbers) and normalised to E.164;
// values that are neither a valid e-mail address nor a valid phone number are
// returned with the reason, so a technician can see why nothing was sent.
package contact

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
)

// Limits on what is read (RFC 5321 for e-mail addresses). A longer field is
// not read at all; a longer address or number is refused with the reason.
const (
	MaxFieldLength = 1024 // characters of one contact field
	MaxEmailLength = 254  // characters of an e-mail address
	MaxLocalLength = 64   // characters before the @
	MaxPhoneLength = 32   // characters of a phone number as typed
	maxShown       = 64   // characters of a refused value kept in Invalid
)

// Result is what one or more contact fields held.
type Result struct {
	Emails  []string  // valid e-mail addresses, domain lower-cased, in order, deduplicated
	Phones  []string  // valid phone numbers in E.164 (+46701234567), in order, deduplicated
	Invalid []Invalid // values that were not used, with the reason
	// Lang is the patient's language when the technician typed one
	// ("lang:es", "idioma: es", "språk:sv", or a bare ISO 639-1 code such
	// as "es" as a value of its own): the lower-case ISO 639-1 code, the
	// first one typed. Whether sonolink speaks it is for the caller.
	Lang string
}

// Invalid is a value that was not used.
type Invalid struct {
	Value  string
	Reason string // why, in English (logs, the CLI)
	// Code is why, for a caller that says it in its own words (a console
	// in the clinic's language): one of the Code constants.
	Code string
}

// Codes of Invalid.Code. Reason may say more (a limit, the country).
const (
	CodeFieldTooLong      = "field_too_long"       // the whole field is longer than MaxFieldLength
	CodeNotContact        = "not_contact"          // neither an e-mail address nor a phone number
	CodeTooManyWords      = "too_many_words"       // too many words in a row for phone numbers
	CodePhoneTooLong      = "phone_too_long"       // too long for a phone number
	CodePhoneTooShort     = "phone_too_short"      // too short for a phone number
	CodeNoRegion          = "no_region"            // a national number, and the clinic's region is not set
	CodePhoneInvalid      = "phone_invalid"        // not a valid phone number
	CodePhoneCountry      = "phone_country"        // not a valid number for its +country code
	CodePhoneRegion       = "phone_region"         // not a valid national number of the clinic's region
	CodeEmailTooLong      = "email_too_long"       // longer than MaxEmailLength
	CodeEmailLocalTooLong = "email_local_too_long" // the part before @ is longer than MaxLocalLength
	CodeEmailInvalid      = "email_invalid"        // not a valid e-mail address
	CodeEmailDisplayName  = "email_display_name"   // a display name ("Name <a@b.c>") instead of the bare address
	CodeEmailNoDot        = "email_no_dot"         // the domain has no dot
	CodeEmailBadDomain    = "email_bad_domain"     // the domain has characters a domain cannot have
)

// why is a value's reason for not being used: its code and its English.
type why struct{ code, text string }

// Empty reports whether no usable contact was found.
func (r Result) Empty() bool { return len(r.Emails) == 0 && len(r.Phones) == 0 }

// Merge returns r with o's values appended (deduplicated).
func (r Result) Merge(o Result) Result {
	var out Result
	out.Emails = appendUnique(append([]string(nil), r.Emails...), o.Emails...)
	out.Phones = appendUnique(append([]string(nil), r.Phones...), o.Phones...)
	out.Invalid = append(append([]Invalid(nil), r.Invalid...), o.Invalid...)
	out.Lang = r.Lang
	if out.Lang == "" {
		out.Lang = o.Lang
	}
	seen := map[string]bool{}
	dedup := out.Invalid[:0]
	for _, iv := range out.Invalid {
		if !seen[iv.Value] {
			seen[iv.Value] = true
			dedup = append(dedup, iv)
		}
	}
	out.Invalid = dedup
	return out
}

// ParseAll parses several values (e.g. the contents of several DICOM tags)
// and merges the results.
func ParseAll(values []string, defaultRegion string) Result {
	var r Result
	for _, v := range values {
		r = r.Merge(Parse(v, defaultRegion))
	}
	return r
}

// Parse reads e-mail addresses and phone numbers from raw.
//
// Values are separated by commas, semicolons, line breaks or tabs; within
// such a part, words with an '@' are e-mail addresses and runs of other
// words are phone numbers, which may contain spaces, dashes, dots and
// parentheses ("+46 70 123 45 67", "070-123 45 67"). A run that holds
// several numbers separated by spaces ("0701234567 0709876543") is split
// into the longest valid numbers.
//
// A number with "+" or "00" is international; any other number is national
// in defaultRegion (ISO 3166 alpha-2, e.g. "SE"; the clinic's setting).
func Parse(raw, defaultRegion string) Result {
	var r Result
	if n := utf8.RuneCountInString(raw); n > MaxFieldLength {
		r.addInvalid(raw, why{CodeFieldTooLong, "the contact field has " + strconv.Itoa(n) + " characters; at most " + strconv.Itoa(MaxFieldLength) + " are read"})
		return r
	}
	defaultRegion = strings.ToUpper(strings.TrimSpace(defaultRegion))
	parts := strings.FieldsFunc(raw, func(c rune) bool {
		return c == ',' || c == ';' || c == '\n' || c == '\r' || c == '\t' || c == '|'
	})
	for _, part := range parts {
		if lang, ok := languageValue(part); ok {
			if r.Lang == "" {
				r.Lang = lang
			}
			continue
		}
		words := strings.Fields(part)
		var run []string // consecutive phone-ish words
		flush := func() {
			if len(run) > 0 {
				parsePhoneRun(&r, run, defaultRegion)
				run = nil
			}
		}
		for _, w := range words {
			w = trimLabel(w)
			if w == "" {
				continue
			}
			switch {
			case strings.Contains(w, "@"):
				flush()
				if e, reason := parseEmail(w); reason.code != "" {
					r.addInvalid(w, reason)
				} else {
					r.Emails = appendUnique(r.Emails, e)
				}
			case phoneish(w):
				run = append(run, w)
			default:
				flush()
				r.addInvalid(w, why{CodeNotContact, "not an e-mail address or a phone number"})
			}
		}
		flush()
	}
	return r
}

func (r *Result) addInvalid(v string, reason why) {
	if rs := []rune(v); len(rs) > maxShown {
		v = string(rs[:maxShown]) + "…"
	}
	for _, iv := range r.Invalid {
		if iv.Value == v {
			return
		}
	}
	r.Invalid = append(r.Invalid, Invalid{Value: v, Reason: reason.text, Code: reason.code})
}

// languageLabels are the labels a technician may type before a language
// code, in the languages sonolink speaks.
var languageLabels = []string{"lang", "language", "språk", "sprak", "idioma", "lengua"}

// languageValue reads a value of its own that names a language: a label
// ("lang:es", "idioma = es", "språk sv") followed by an ISO 639-1 code, or
// the bare code ("es"). Only two-letter codes that ISO 639-1 assigns count,
// so "ok" or "xx" are not taken for languages.
func languageValue(part string) (string, bool) {
	v := strings.ToLower(strings.TrimSpace(part))
	for _, l := range languageLabels {
		if rest, ok := strings.CutPrefix(v, l); ok {
			rest = strings.TrimSpace(rest)
			rest = strings.TrimSpace(strings.TrimLeft(rest, ":="))
			if rest != v {
				v = rest
			}
			break
		}
	}
	if len(v) != 2 || v[0] < 'a' || v[0] > 'z' || v[1] < 'a' || v[1] > 'z' {
		return "", false
	}
	b, err := language.ParseBase(v)
	if err != nil || b.String() != v {
		return "", false
	}
	return v, true
}

// LanguageOfPhone is the main language of the country of an E.164 number
// (ISO 639-1: "+34…" → "es", "+46…" → "sv", "+44…" → "en"), or "" when
// the number has no single country or the country no known language.
func LanguageOfPhone(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	region := phonenumbers.GetRegionCodeForNumber(num)
	if region == "" || region == "ZZ" || region == "001" {
		return ""
	}
	r, err := language.ParseRegion(region)
	if err != nil {
		return ""
	}
	tag, err := language.Compose(language.Und, r)
	if err != nil {
		return ""
	}
	b, conf := tag.Base()
	if conf == language.No {
		return ""
	}
	return b.String()
}

// trimLabel removes "mailto:"/"tel:" prefixes and labels such as "Tel:",
// "E-mail:" that technicians sometimes type, and surrounding brackets.
func trimLabel(w string) string {
	lw := strings.ToLower(w)
	for _, p := range []string{"mailto:", "tel:", "phone:", "mobile:", "mobil:", "email:", "e-mail:", "mail:", "móvil:", "movil:", "telefon:", "teléfono:", "telefono:"} {
		if strings.HasPrefix(lw, p) {
			w = w[len(p):]
			break
		}
	}
	w = strings.Trim(w, "<>\"'")
	if strings.Contains(w, "@") {
		w = strings.TrimRight(w, ".")
	}
	return w
}

// phoneish reports whether w may be (part of) a phone number: digits and the
// punctuation people put in numbers, with at least one digit.
func phoneish(w string) bool {
	digit := false
	for _, c := range w {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case strings.ContainsRune("+-().[]/ ", c):
		default:
			return false
		}
	}
	return digit
}

// parsePhoneRun splits a run of phone-ish words into numbers: from each
// position it takes the longest sequence of words that is a valid number.
func parsePhoneRun(r *Result, words []string, region string) {
	if len(words) > 24 { // no field holds that many numbers; bound the work
		r.addInvalid(strings.Join(words, " "), why{CodeTooManyWords, "too many words for phone numbers"})
		return
	}
	i := 0
	var bad []string
	flushBad := func() {
		if len(bad) > 0 {
			v := strings.Join(bad, " ")
			_, reason := parsePhone(v, region)
			if reason.code == "" {
				reason = why{CodePhoneInvalid, "not a valid phone number"}
			}
			r.addInvalid(v, reason)
			bad = nil
		}
	}
	for i < len(words) {
		best := -1
		var bestNum string
		for j := len(words); j > i; j-- {
			if n, reason := parsePhone(strings.Join(words[i:j], " "), region); reason.code == "" {
				best, bestNum = j, n
				break
			}
		}
		if best < 0 {
			bad = append(bad, words[i])
			i++
			continue
		}
		flushBad()
		r.Phones = appendUnique(r.Phones, bestNum)
		i = best
	}
	flushBad()
}

// parsePhone returns the E.164 form of s, or the reason it is not valid.
func parsePhone(s, region string) (string, why) {
	if utf8.RuneCountInString(s) > MaxPhoneLength {
		return "", why{CodePhoneTooLong, "too long for a phone number (at most " + strconv.Itoa(MaxPhoneLength) + " characters)"}
	}
	digits := 0
	for _, c := range s {
		if unicode.IsDigit(c) {
			digits++
		}
	}
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "00") {
		t = "+" + t[2:]
	}
	if !strings.HasPrefix(t, "+") && region == "" {
		return "", why{CodeNoRegion, "national number but no default country is set (set the clinic's region, or type the number with +country code)"}
	}
	if digits < 6 {
		return "", why{CodePhoneTooShort, "too short for a phone number"}
	}
	if digits > 17 {
		return "", why{CodePhoneTooLong, "too long for a phone number"}
	}
	num, err := phonenumbers.Parse(t, region)
	if err != nil {
		return "", why{CodePhoneInvalid, "not a valid phone number"}
	}
	if !phonenumbers.IsValidNumber(num) {
		if strings.HasPrefix(t, "+") {
			return "", why{CodePhoneCountry, "not a valid phone number for country code +" + strconv.Itoa(int(num.GetCountryCode()))}
		}
		return "", why{CodePhoneRegion, "not a valid phone number in " + region}
	}
	return phonenumbers.Format(num, phonenumbers.E164), why{}
}

// parseEmail validates a bare address: no display name, a domain with a dot.
func parseEmail(w string) (string, why) {
	if n := utf8.RuneCountInString(w); n > MaxEmailLength {
		return "", why{CodeEmailTooLong, "e-mail address has " + strconv.Itoa(n) + " characters; at most " + strconv.Itoa(MaxEmailLength) + " are allowed"}
	}
	if at := strings.LastIndexByte(w, '@'); utf8.RuneCountInString(w[:max(at, 0)]) > MaxLocalLength {
		return "", why{CodeEmailLocalTooLong, "the part of the e-mail address before @ is longer than " + strconv.Itoa(MaxLocalLength) + " characters"}
	}
	a, err := mail.ParseAddress(w)
	if err != nil || a.Address != w {
		return "", why{CodeEmailInvalid, "not a valid e-mail address"}
	}
	if a.Name != "" {
		return "", why{CodeEmailDisplayName, "display names are not accepted; type the bare address"}
	}
	at := strings.LastIndexByte(a.Address, '@')
	local, domain := a.Address[:at], a.Address[at+1:]
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", why{CodeEmailNoDot, "e-mail address needs a domain with a dot (name@example.com)"}
	}
	for _, c := range domain {
		if !(c == '-' || c == '.' || unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return "", why{CodeEmailBadDomain, "e-mail domain has characters a domain cannot have"}
		}
	}
	return local + "@" + strings.ToLower(domain), why{}
}

// Mask hides most of a contact for display to someone who must not learn it
// (the landing page's "send a code to …" choice, the audit log):
// "n•••@example.com", "+46•••••••67".
func Mask(v string) string {
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		local := []rune(v[:at])
		if len(local) == 0 {
			return "•••" + v[at:]
		}
		return string(local[0]) + "•••" + v[at:]
	}
	r := []rune(v)
	if len(r) <= 5 {
		return strings.Repeat("•", len(r))
	}
	keep := 3
	if !strings.HasPrefix(v, "+") {
		keep = 1
	}
	return string(r[:keep]) + strings.Repeat("•", len(r)-keep-2) + string(r[len(r)-2:])
}

// ValidRegion reports whether region is an ISO 3166 alpha-2 code
// libphonenumber knows (e.g. "SE", "ES", "US").
func ValidRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[strings.ToUpper(region)]
}

// RegionForCallingCode returns the main region of a calling code such as
// "46" or "+46" ("SE"), or "" if unknown.
func RegionForCallingCode(code string) string {
	code = strings.TrimPrefix(strings.TrimSpace(code), "+")
	n := 0
	for _, c := range code {
		if c < '0' || c > '9' {
			return ""
		}
		n = n*10 + int(c-'0')
		if n > 999 {
			return ""
		}
	}
	r := phonenumbers.GetRegionCodeForCountryCode(n)
	if r == "ZZ" || r == "001" {
		return ""
	}
	return r
}

func appendUnique(list []string, vs ...string) []string {
	for _, v := range vs {
		dup := false
		for _, x := range list {
			if strings.EqualFold(x, v) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, v)
		}
	}
	return list
}
