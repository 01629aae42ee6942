package share

import (
	"html"
	"slices"
	"strings"
	"testing"
	"time"

	"sonolink/i18n"
)

// TestSMSFitsOneSegment measures the link SMS in every language with a
// 30-character clinic name, a phone number, the longest date of the year
// and every combination of gates; a gated link's SMS says what the page
// will ask for.
func TestSMSFitsOneSegment(t *testing.T) {
	until := time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC) // "30 September"/"30 de septiembre"
	url := "http://localhost:8080/p/" + strings.Repeat("A", 43)
	mentions := map[string][2]string{ // what says "link code", "one-time code"
		"en": {"code", "one-time code"}, "sv": {"kod", "engångskod"}, "es": {"codigo de la clinica", "codigo"},
	}
	for _, lang := range i18n.Languages() {
		for _, clinic := range []string{"Ultraljudsmottagningen Söder", "Clínica de Ecografía Málaga SL", "Sonolink"} {
			for _, g := range []gates{{}, {LinkCode: true}, {Password: true}, {LinkCode: true, Password: true}} {
				r := renderer{lang: i18n.Lookup(lang), clinic: clinic, phone: "+46 31 123 45 67", loc: time.UTC}
				m := r.linkSMS(url, until, g)
				n, gsm := smsSegments(m.Text)
				t.Logf("%s %-32q %+v %3d chars, %d segment(s), gsm7=%v: %s", lang, clinic, g, len([]rune(m.Text)), n, gsm, m.Text)
				if n != 1 || !gsm {
					t.Errorf("%s/%s %+v: %d segments, gsm7 %v: %q", lang, clinic, g, n, gsm, m.Text)
				}
				if !strings.Contains(m.Text, url) {
					t.Errorf("%s: link missing: %q", lang, m.Text)
				}
				low := strings.ToLower(m.Text)
				if g.LinkCode && !strings.Contains(low, mentions[lang][0]) || g.Password && !g.LinkCode && !strings.Contains(low, mentions[lang][1]) {
					t.Errorf("%s %+v: the SMS does not say what the page asks for: %q", lang, g, m.Text)
				}
			}
			r := renderer{lang: i18n.Lookup(lang), clinic: clinic, loc: time.UTC}
			o := r.otpSMS("123456", 10)
			if n, gsm := smsSegments(o.Text); n != 1 || !gsm {
				t.Errorf("%s otp: %d segments, gsm7 %v: %q", lang, n, gsm, o.Text)
			}
		}
	}
}

func TestMessagesPerLanguage(t *testing.T) {
	until := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	url := "http://localhost:8080/p/tok"
	want := map[string][2]string{
		"en": {"Your ultrasound images from Klinik", "available until 1 October 2026"},
		"sv": {"Dina ultraljudsbilder från Klinik", "tillgänglig till och med 1 oktober 2026"},
		"es": {"Sus imágenes de ecografía de Klinik", "disponible hasta el 1 de octubre de 2026"},
	}
	for lang, w := range want {
		r := renderer{lang: i18n.Lookup(lang), clinic: "Klinik", loc: time.UTC}
		m := r.linkEmail(url, until, gates{})
		if m.Subject != w[0] || !strings.Contains(m.Text, w[1]) || !strings.Contains(m.Text, url) || !strings.Contains(m.HTML, `href="`+url+`"`) {
			t.Errorf("%s: subject %q text %q html %q", lang, m.Subject, m.Text, m.HTML)
		}
		if m.FromName != "Klinik" {
			t.Errorf("from name %q", m.FromName)
		}
	}
	// HTML escapes the clinic's name.
	r := renderer{lang: i18n.Lookup("en"), clinic: `A&B <Clinic>`, loc: time.UTC}
	if h := r.linkEmail(url, until, gates{}).HTML; !strings.Contains(h, "A&amp;B &lt;Clinic&gt;") {
		t.Fatalf("html not escaped: %s", h)
	}
}

// TestMessageKeys checks that the catalogue has every message text, in
// every language, as a template that renders with the fields a message
// has, and no message text the service does not send.
func TestMessageKeys(t *testing.T) {
	for _, lang := range i18n.Languages() {
		l := i18n.Lookup(lang)
		for _, n := range messageNames {
			if !l.Has("message." + n) {
				t.Errorf("%s: no message.%s in the catalogue", lang, n)
				continue
			}
			if err := checkTemplate(n, l.T("message."+n)); err != nil {
				t.Errorf("%s: message.%s: %v", lang, n, err)
			}
		}
	}
	for _, k := range i18n.Keys() {
		if n, ok := strings.CutPrefix(k, "message."); ok && !slices.Contains(messageNames, n) {
			t.Errorf("catalogue key %q is no message the service sends", k)
		}
	}
}

// TestOverride: a clinic's text (branding.text.<name>) replaces the
// catalogue's, and one that no longer renders falls back to it.
func TestOverride(t *testing.T) {
	until := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	r := renderer{lang: i18n.Lookup("sv"), clinic: "Klinik", loc: time.UTC,
		texts: map[string]string{"sms": "{{.Clinic}} {{.Until}}: {{.Link}}", "email_subject": "{{.Patient}}"}}
	if got := r.linkSMS("http://x/p/t", until, gates{}).Text; got != "Klinik 1 oktober 2026: http://x/p/t" {
		t.Errorf("override: %q", got)
	}
	if got := r.linkEmail("http://x/p/t", until, gates{}).Subject; got != "Dina ultraljudsbilder från Klinik" {
		t.Errorf("broken override: %q", got)
	}
}

func TestSMSSegments(t *testing.T) {
	for _, c := range []struct {
		text string
		n    int
		gsm  bool
	}{
		{strings.Repeat("a", 160), 1, true},
		{strings.Repeat("a", 161), 2, true},
		{strings.Repeat("€", 80), 1, true}, // extension characters count twice
		{strings.Repeat("€", 81), 2, true},
		{"Åäö Ñü é", 1, true},
		{strings.Repeat("á", 70), 1, false},
		{strings.Repeat("á", 71), 2, false},
	} {
		if n, gsm := smsSegments(c.text); n != c.n || gsm != c.gsm {
			t.Errorf("%q…: %d %v, want %d %v", c.text[:4], n, gsm, c.n, c.gsm)
		}
	}
	if got := gsmFold("Clínica “Málaga” — Información…"); got != `Clinica "Malaga" - Informacion...` {
		t.Fatalf("gsmFold = %q", got)
	}
	if got := gsmFold("Åre Läkarhus é"); got != "Åre Läkarhus é" {
		t.Fatalf("gsmFold changed GSM letters: %q", got)
	}
}

// TestLinkEmailSaysWhatComesNext: a gated link's e-mail says, in text and
// HTML, that the page asks for the clinic's code and for a one-time code;
// it gives the clinic's contact details, sets <html lang>, offers the
// plain URL below the button, and carries the logo inline.
func TestLinkEmailSaysWhatComesNext(t *testing.T) {
	until := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	url := "https://images.clinic.example/p/tok"
	codeWords := map[string][2]string{"en": {"clinic's code", "one-time code"}, "sv": {"klinikens kod", "engångskod"}, "es": {"código de la clínica", "código de un solo uso"}}
	for _, lang := range i18n.Languages() {
		r := renderer{lang: i18n.Lookup(lang), clinic: "Klinik", phone: "+46 31 123 45 67", web: "https://klinik.example", hours: "8–16",
			logo: []byte("\x89PNG"), logoType: "image/png", loc: time.UTC}
		plain := r.linkEmail(url, until, gates{})
		m := r.linkEmail(url, until, gates{LinkCode: true, Password: true})
		words := codeWords[lang]
		for _, body := range []string{m.Text, html.UnescapeString(m.HTML)} {
			for _, w := range append(words[:], "+46 31 123 45 67", "https://klinik.example", "8–16") {
				if !strings.Contains(body, w) {
					t.Errorf("%s: %q missing from\n%s", lang, w, body)
				}
			}
		}
		if strings.Contains(plain.Text, codeWords[lang][0]) || strings.Contains(plain.HTML, codeWords[lang][1]) {
			t.Errorf("%s: an ungated link's e-mail talks of codes:\n%s", lang, plain.Text)
		}
		if !strings.Contains(m.HTML, `<html lang="`+lang+`">`) || strings.Count(m.HTML, `href="`+url+`"`) != 2 ||
			!strings.Contains(m.HTML, `src="cid:logo@sonolink"`) || m.Logo == nil || m.Logo.ContentID != "logo@sonolink" {
			t.Errorf("%s: html lang, button and plain URL, or inline logo missing:\n%s", lang, m.HTML)
		}
	}
	// No logo: no image, the clinic's name as text.
	r := renderer{lang: i18n.Lookup("en"), clinic: "Klinik", loc: time.UTC}
	if m := r.linkEmail(url, until, gates{}); m.Logo != nil || strings.Contains(m.HTML, "<img") || !strings.Contains(m.HTML, ">Klinik</p>") {
		t.Errorf("without a logo:\n%s", m.HTML)
	}
}

// Every message a patient gets carries the clinic's phone number when the
// clinic gave one, the short texts included: a patient holding a code or a
// reminder they did not expect can call.
func TestEveryMessageGivesThePhone(t *testing.T) {
	until := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	url := "https://images.clinic.example/p/tok"
	const phone = "+46 31 123 45 67"
	for _, lang := range i18n.Languages() {
		r := renderer{lang: i18n.Lookup(lang), clinic: "Klinik", phone: phone, loc: time.UTC}
		msgs := map[string]string{
			"link sms":       r.linkSMS(url, until, gates{}).Text,
			"gated link sms": r.linkSMS(url, until, gates{Password: true}).Text,
			"reminder sms":   r.reminderSMS(url, until).Text,
			"reminder email": r.reminderEmail(url, until).Text,
			"otp sms":        r.otpSMS("123456", 10).Text,
			"otp email":      r.otpEmail("123456", 10).Text,
			"link email":     r.linkEmail(url, until, gates{}).Text,
		}
		for name, text := range msgs {
			if !strings.Contains(text, phone) {
				t.Errorf("%s %s lacks the clinic's phone: %q", lang, name, text)
			}
		}
		if n, _ := smsSegments(msgs["otp sms"]); n != 1 {
			t.Errorf("%s otp sms takes %d segments: %q", lang, n, msgs["otp sms"])
		}
		r.phone = ""
		if text := r.otpSMS("123456", 10).Text; strings.Contains(text, "Tel") {
			t.Errorf("%s otp sms without a phone: %q", lang, text)
		}
	}
}
