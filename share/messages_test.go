package share

import (
	"slices"
	"strings"
	"testing"
	"time"

	"sonolink/i18n"
)

// TestSMSFitsOneSegment measures the link SMS in every language with a
// 30-character clinic name and the longest date of the year.
func TestSMSFitsOneSegment(t *testing.T) {
	until := time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC) // "30 September"/"30 de septiembre"
	url := "http://localhost:8080/p/" + strings.Repeat("A", 43)
	for _, lang := range i18n.Languages() {
		for _, clinic := range []string{"Ultraljudsmottagningen Söder", "Clínica de Ecografía Málaga SL", "Sonolink"} {
			r := renderer{lang: i18n.Lookup(lang), clinic: clinic, loc: time.UTC}
			m := r.linkSMS(url, until)
			n, gsm := smsSegments(m.Text)
			t.Logf("%s %-32q %3d chars, %d segment(s), gsm7=%v: %s", lang, clinic, len([]rune(m.Text)), n, gsm, m.Text)
			if n != 1 || !gsm {
				t.Errorf("%s/%s: %d segments, gsm7 %v: %q", lang, clinic, n, gsm, m.Text)
			}
			if !strings.Contains(m.Text, url) {
				t.Errorf("%s: link missing: %q", lang, m.Text)
			}
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
		m := r.linkEmail(url, until)
		if m.Subject != w[0] || !strings.Contains(m.Text, w[1]) || !strings.Contains(m.Text, url) || !strings.Contains(m.HTML, `href="`+url+`"`) {
			t.Errorf("%s: subject %q text %q html %q", lang, m.Subject, m.Text, m.HTML)
		}
		if m.FromName != "Klinik" {
			t.Errorf("from name %q", m.FromName)
		}
	}
	// HTML escapes the clinic's name.
	r := renderer{lang: i18n.Lookup("en"), clinic: `A&B <Clinic>`, loc: time.UTC}
	if h := r.linkEmail(url, until).HTML; !strings.Contains(h, "A&amp;B &lt;Clinic&gt;") {
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
	if got := r.linkSMS("http://x/p/t", until).Text; got != "Klinik 1 oktober 2026: http://x/p/t" {
		t.Errorf("override: %q", got)
	}
	if got := r.linkEmail("http://x/p/t", until).Subject; got != "Dina ultraljudsbilder från Klinik" {
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
