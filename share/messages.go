package share

import (
	"bytes"
	htmltemplate "html/template"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"sonolink/delivery"
	"sonolink/i18n"
	"sonolink/settings"
)

// messageNames are the message texts: each is the catalogue key
// "message.<name>" (package i18n), a Go template of msgData that a clinic
// can override with branding.text.<name>.
var messageNames = []string{"email_subject", "email_text", "email_html", "sms", "sms_short", "otp_email_subject", "otp_email_text", "otp_sms",
	"reminder_email_subject", "reminder_email_text", "reminder_sms"}

const (
	linkFields = "{{.Clinic}} {{.Link}} {{.Until}} {{.LinkCode}} {{.Password}} {{.Phone}} {{.Web}} {{.Hours}}"
	otpFields  = "{{.Clinic}} {{.Code}} {{.Minutes}} {{.Phone}} {{.Web}} {{.Hours}}"
)

var messageFields = map[string]string{
	"email_subject": linkFields, "email_text": linkFields, "email_html": linkFields + " {{.Lang}} {{.Logo}}",
	"sms": linkFields, "sms_short": linkFields,
	"otp_email_subject": otpFields, "otp_email_text": otpFields, "otp_sms": otpFields,
	"reminder_email_subject": "{{.Clinic}} {{.Link}} {{.Until}}", "reminder_email_text": "{{.Clinic}} {{.Link}} {{.Until}}", "reminder_sms": "{{.Clinic}} {{.Link}} {{.Until}}",
}

// msgData is what a message template sees. It never holds anything about
// the patient or the examination: messages go over e-mail and SMS.
type msgData struct {
	Clinic, Link, Until, Code string
	Minutes                   int
	// What the page will ask for when the link opens, so the message can
	// prepare the patient: the clinic's patient link code, and a one-time
	// code then a password of their own (the study has objects that are
	// not de-identified).
	LinkCode, Password bool
	// How to reach the clinic (settings clinic.phone, clinic.web,
	// clinic.hours); "" when not set.
	Phone, Web, Hours string
	// For email_html: the language tag (<html lang>) and the logo's
	// address in the message (cid:…), "" when the clinic has no logo.
	Lang string
	Logo htmltemplate.URL
}

var sampleData = msgData{Clinic: "Clinic", Link: "http://localhost:8080/p/x", Until: "1 October 2026", Code: "123456", Minutes: 10,
	LinkCode: true, Password: true, Phone: "+46 31 123 45 67", Web: "https://clinic.example", Hours: "Mon–Fri 8–16", Lang: "en", Logo: logoCID}

// logoCID is the address the HTML e-mail gives the clinic's logo, sent
// with it as an inline image.
const (
	logoContentID                  = "logo@sonolink"
	logoCID       htmltemplate.URL = "cid:" + logoContentID
)

// gates is what a link's page will ask for (msgData.LinkCode, Password).
type gates struct{ LinkCode, Password bool }

// renderer renders messages with the clinic's settings.
type renderer struct {
	lang              *i18n.Locale
	texts             map[string]string // overrides
	clinic            string
	phone, web, hours string
	logo              []byte
	logoType          string
	loc               *time.Location
}

func (s *Service) renderer(st settings.Values) renderer {
	return renderer{lang: i18n.Lookup(st.Language), texts: st.Texts, clinic: st.ClinicName,
		phone: st.ClinicPhone, web: st.ClinicWeb, hours: st.ClinicHours, logo: st.Logo, logoType: st.LogoType, loc: st.Zone(s.opts.Location)}
}

// rendererIn is the renderer for a link's messages in the patient's
// language lang ("" or the clinic's own: the clinic's). The clinic's
// message overrides (branding.text.*) are written in the clinic's language,
// so a message in another language uses the catalogue's text.
func (s *Service) rendererIn(st settings.Values, lang string) renderer {
	if lang != "" && lang != st.Language && slices.Contains(i18n.Languages(), lang) {
		st.Language, st.Texts = lang, nil
	}
	return s.renderer(st)
}

// defaultText is the catalogue's text of a message in the language.
func (r renderer) defaultText(name string) string { return r.lang.T("message." + name) }

func (r renderer) text(name string, d msgData) string {
	src := r.defaultText(name)
	if o := r.texts[name]; o != "" {
		src = o
	}
	d.Clinic, d.Phone, d.Web, d.Hours, d.Lang = r.clinic, r.phone, r.web, r.hours, r.lang.Lang()
	if len(r.logo) > 0 {
		d.Logo = logoCID
	}
	var b bytes.Buffer
	if strings.HasSuffix(name, "_html") {
		t, err := htmltemplate.New(name).Parse(src)
		if err == nil {
			err = t.Execute(&b, d)
		}
		if err != nil { // an override that broke after validation: fall back
			b.Reset()
			htmltemplate.Must(htmltemplate.New(name).Parse(r.defaultText(name))).Execute(&b, d)
		}
		return b.String()
	}
	t, err := template.New(name).Parse(src)
	if err == nil {
		err = t.Execute(&b, d)
	}
	if err != nil {
		b.Reset()
		template.Must(template.New(name).Parse(r.defaultText(name))).Execute(&b, d)
	}
	return b.String()
}

// date writes t as a date in the language, on the clinic's calendar.
func (r renderer) date(t time.Time) string { return r.lang.Date(t.In(r.loc)) }

// rendered is a message ready for a provider.
type rendered struct {
	FromName string `json:"from_name,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Text     string `json:"text"`
	HTML     string `json:"html,omitempty"`
	// Logo is the image the HTML shows as logoCID.
	Logo *delivery.Inline `json:"logo,omitempty"`
}

func (r renderer) linkEmail(url string, until time.Time, g gates) rendered {
	d := msgData{Link: url, Until: r.date(until), LinkCode: g.LinkCode, Password: g.Password}
	m := rendered{FromName: r.clinic, Subject: oneLine(r.text("email_subject", d)), Text: r.text("email_text", d), HTML: r.text("email_html", d)}
	if len(r.logo) > 0 && strings.Contains(m.HTML, string(logoCID)) {
		m.Logo = &delivery.Inline{ContentID: logoContentID, Type: r.logoType, Data: r.logo}
	}
	return m
}

// linkSMS is the first of these that fits one segment: the sms text, then
// sms_short, then each without the clinic's phone number (the page the
// link opens gives it); else the shortest. Characters outside GSM-7 are
// folded to their unaccented letters first.
func (r renderer) linkSMS(url string, until time.Time, g gates) rendered {
	d := msgData{Link: url, Until: r.date(until), LinkCode: g.LinkCode, Password: g.Password}
	var best string
	phones := []string{r.phone}
	if r.phone != "" {
		phones = append(phones, "")
	}
	for _, phone := range phones {
		rr := r
		rr.phone = phone
		for _, name := range []string{"sms", "sms_short"} {
			text := gsmFold(oneLine(rr.text(name, d)))
			if n, _ := smsSegments(text); n == 1 {
				return rendered{Text: text}
			}
			if best == "" || len(text) < len(best) {
				best = text
			}
		}
	}
	return rendered{Text: best}
}

func (r renderer) reminderEmail(url string, until time.Time) rendered {
	d := msgData{Link: url, Until: r.date(until)}
	return rendered{FromName: r.clinic, Subject: oneLine(r.text("reminder_email_subject", d)), Text: r.text("reminder_email_text", d)}
}

func (r renderer) reminderSMS(url string, until time.Time) rendered {
	return rendered{Text: gsmFold(oneLine(r.text("reminder_sms", msgData{Link: url, Until: r.date(until)})))}
}

func (r renderer) otpEmail(code string, minutes int) rendered {
	d := msgData{Code: code, Minutes: minutes}
	return rendered{FromName: r.clinic, Subject: oneLine(r.text("otp_email_subject", d)), Text: r.text("otp_email_text", d)}
}

func (r renderer) otpSMS(code string, minutes int) rendered {
	return rendered{Text: gsmFold(oneLine(r.text("otp_sms", msgData{Code: code, Minutes: minutes})))}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// GSM 03.38 default alphabet (one septet each) and its extension table
// (two septets each: escape + character).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExt   = "^{}\\[~]|€\f"
)

// smsSegments counts the SMS segments text needs: GSM-7 holds 160
// septets in one segment and 153 per part when split; otherwise UCS-2
// holds 70 UTF-16 units, 67 per part.
func smsSegments(text string) (segments int, gsm7 bool) {
	septets := 0
	gsm7 = true
	for _, c := range text {
		switch {
		case strings.ContainsRune(gsmBasic, c):
			septets++
		case strings.ContainsRune(gsmExt, c):
			septets += 2
		default:
			gsm7 = false
		}
	}
	if gsm7 {
		if septets <= 160 {
			return 1, true
		}
		return (septets + 152) / 153, true
	}
	units := 0
	for _, c := range text {
		units += utf8.RuneLen(c) / 4 // 4-byte runes need a surrogate pair
		units++
	}
	if units <= 70 {
		return 1, false
	}
	return (units + 66) / 67, false
}

// gsmFold replaces characters outside GSM-7 with the nearest GSM-7 text
// (á → a, “ → ", – → -), so a Spanish message does not fall back to UCS-2
// and 70 characters per segment. Characters with no equivalent are kept.
func gsmFold(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(gsmBasic, c) || strings.ContainsRune(gsmExt, c) {
			b.WriteRune(c)
			continue
		}
		switch c {
		case '‘', '’', '´', '`':
			b.WriteByte('\'')
			continue
		case '“', '”', '«', '»':
			b.WriteByte('"')
			continue
		case '–', '—', '‐':
			b.WriteByte('-')
			continue
		case '…':
			b.WriteString("...")
			continue
		case '\u00a0':
			b.WriteByte(' ')
			continue
		}
		base := strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Mn, r) {
				return -1
			}
			return r
		}, norm.NFD.String(string(c)))
		ok := base != ""
		for _, r := range base {
			if !strings.ContainsRune(gsmBasic, r) {
				ok = false
			}
		}
		if ok {
			b.WriteString(base)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}
