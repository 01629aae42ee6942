package web

import (
	"html"
	"net/url"
	"strings"
	"testing"

	"sonolink/i18n"
)

// The expired page names the clinic and asks for a new link in one tap:
// a form with the session's CSRF token, recorded once per session, in the
// patient's language; without the token nothing is recorded.
func TestExpiredAskForNewLink(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
	base := fx.srv.URL + "/p/" + tokExpired
	c := clientAt("10.1.1.1", "sv")
	res, body := getc(t, c, base)
	body = html.UnescapeString(body)
	if res.StatusCode != 410 || !strings.Contains(body, fx.b.clinic.Name) || !strings.Contains(body, "Be om en ny länk") {
		t.Fatalf("expired page %d:\n%s", res.StatusCode, body)
	}
	if res, _ := post(t, c, base+"/renew", url.Values{"csrf": {"forged"}}); res.StatusCode != 403 {
		t.Fatalf("request without the form token: %d", res.StatusCode)
	}
	csrf := csrfRe.FindStringSubmatch(body)[1]
	for range 2 { // a second tap (or a reload) records nothing more
		if res, _ := post(t, c, base+"/renew", url.Values{"csrf": {csrf}}); res.StatusCode != 303 {
			t.Fatalf("request: %d", res.StatusCode)
		}
	}
	_, body = getc(t, c, base)
	if !strings.Contains(html.UnescapeString(body), "Tack, din förfrågan är skickad") || strings.Contains(body, `action="`) {
		t.Fatalf("after the request:\n%s", body)
	}
	fx.b.mu.Lock()
	n := fx.b.renewals["L-expired"]
	fx.b.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d requests recorded, want 1", n)
	}
	// Other browsers may ask too; past the backend's limit they are told
	// the clinic already has the request.
	for i, want := range []string{"ha recibido su solicitud", "tiene su solicitud"} {
		c := clientAt("10.1.2."+string(rune('1'+i)), "es")
		_, body := getc(t, c, base)
		post(t, c, base+"/renew", url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]}})
		if _, body = getc(t, c, base); !strings.Contains(html.UnescapeString(body), want) {
			t.Errorf("browser %d after asking:\n%s", i, body)
		}
	}
	// A link that still works has nothing to ask for.
	if res, _ := post(t, client(), fx.srv.URL+"/p/"+tokOpen+"/renew", nil); res.StatusCode != 303 {
		t.Errorf("renew on an active link: %d", res.StatusCode)
	}
}

// With link.self_renew on, the expired page sends a one-time code to the
// contact the patient picks, in the page's language, and with the code a
// new link goes to the same contacts, which the page names masked. Off,
// the page offers only the request to the clinic. Wrong codes and code
// messages are limited as on the gates.
func TestExpiredSelfRenew(t *testing.T) {
	for _, tc := range []struct{ lang, offer, sent string }{
		{"sv", "Få en ny länk direkt", "Vi har skickat en ny länk till"},
		{"es", "Recibir un enlace nuevo ahora", "Hemos enviado un enlace nuevo a"},
		{"en", "Get a new link now", "We sent a new link to"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
			const tok = "SelfRenewTokenDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
			fx.b.add(tok, &fakeLink{link: Link{ID: "L-self", Contacts: []MaskedContact{{Kind: "email", Label: "n***@example.com"}, {Kind: "sms", Label: "+46 ••• •• 67"}}},
				items: study(1, nil), expired: true})
			base := fx.srv.URL + "/p/" + tok
			c := clientAt("10.3.0.1", tc.lang)
			_, body := getc(t, c, base)
			if strings.Contains(body, "/renew/code") || strings.Contains(body, "example.com") {
				t.Fatalf("self-renewal offered while off:\n%s", body)
			}
			fx.b.mu.Lock()
			fx.b.selfRenew = true
			fx.b.mu.Unlock()
			res, body := getc(t, c, base)
			body = html.UnescapeString(body)
			if res.StatusCode != 410 || !strings.Contains(body, tc.offer) || !strings.Contains(body, "n***@example.com") ||
				!strings.Contains(body, "/renew/code") || !strings.Contains(body, `id="ask"`) {
				t.Fatalf("expired page with self-renewal %d:\n%s", res.StatusCode, body)
			}
			csrf := csrfRe.FindStringSubmatch(body)[1]
			if res, _ := post(t, c, base+"/renew/code", url.Values{"csrf": {csrf}, "contact": {"7"}}); res.StatusCode != 400 {
				t.Fatalf("a contact the link does not have: %d", res.StatusCode)
			}
			if res, _ := post(t, c, base+"/renew/code", url.Values{"csrf": {csrf}, "contact": {"1"}}); res.StatusCode != 303 {
				t.Fatalf("code request: %d", res.StatusCode)
			}
			fx.b.mu.Lock()
			code, lang := fx.b.renewCodes["L-self"], fx.b.renewLang["L-self"]
			fx.b.mu.Unlock()
			if code != "654320" || lang != tc.lang {
				t.Fatalf("code %q sent in %q", code, lang)
			}
			_, body = getc(t, c, base)
			if !strings.Contains(body, "/renew/verify") {
				t.Fatalf("no code form:\n%s", body)
			}
			res, body = post(t, c, base+"/renew/verify", url.Values{"csrf": {csrf}, "code": {"000000"}})
			if res.StatusCode != 401 || !strings.Contains(html.UnescapeString(body), i18n.Lookup(tc.lang).T("gate.otp.wrong")) {
				t.Fatalf("wrong code %d:\n%s", res.StatusCode, body)
			}
			if res, _ := post(t, c, base+"/renew/verify", url.Values{"csrf": {csrf}, "code": {"654 320"}}); res.StatusCode != 303 {
				t.Fatalf("right code: %d", res.StatusCode)
			}
			_, body = getc(t, c, base)
			body = html.UnescapeString(body)
			if !strings.Contains(body, tc.sent+" n***@example.com, +46 ••• •• 67") || strings.Contains(body, "/renew/") {
				t.Fatalf("after the new link:\n%s", body)
			}
			// A second submission sends nothing more.
			post(t, c, base+"/renew/verify", url.Values{"csrf": {csrf}, "code": {"654320"}})
			fx.b.mu.Lock()
			n := fx.b.renewed["L-self"]
			fx.b.mu.Unlock()
			if n != 1 {
				t.Fatalf("%d new links sent, want 1", n)
			}

			// Another browser: code messages run out, and the page says when
			// there will be more instead of a form.
			c2 := clientAt("10.3.0.2", tc.lang)
			_, body = getc(t, c2, base)
			csrf2 := csrfRe.FindStringSubmatch(body)[1]
			for range fakeCodeMessages {
				post(t, c2, base+"/renew/code", url.Values{"csrf": {csrf2}, "contact": {"0"}})
				post(t, c2, base+"/renew/restart", url.Values{"csrf": {csrf2}})
			}
			res, body = post(t, c2, base+"/renew/code", url.Values{"csrf": {csrf2}, "contact": {"0"}})
			if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || strings.Contains(body, "/renew/code") {
				t.Fatalf("code beyond the limit %d:\n%s", res.StatusCode, body)
			}
		})
	}
}

// An expired link's page is in the patient's language when the clinic
// knew it, unless the phone asks for one sonolink speaks; so is the code
// for a new link.
func TestExpiredPatientLanguage(t *testing.T) {
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
	const tok = "ExpiredSpanishTokenFFFFFFFFFFFFFFFFFFFFFFFF"
	fx.b.add(tok, &fakeLink{link: Link{ID: "L-exp-es", Lang: "es", Contacts: []MaskedContact{{Kind: "sms", Label: "+34 ••• •• 78"}}}, items: study(1, nil), expired: true})
	fx.b.mu.Lock()
	fx.b.selfRenew = true
	fx.b.mu.Unlock()
	base := fx.srv.URL + "/p/" + tok
	c := clientAt("10.4.0.1", "de")
	_, body := getc(t, c, base)
	if !strings.Contains(body, `<html lang="es">`) || !strings.Contains(html.UnescapeString(body), "Pedir un enlace nuevo") {
		t.Fatalf("a German phone on a Spanish patient's expired link:\n%s", body)
	}
	post(t, c, base+"/renew/code", url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]}, "contact": {"0"}})
	fx.b.mu.Lock()
	lang := fx.b.renewLang["L-exp-es"]
	fx.b.mu.Unlock()
	if lang != "es" {
		t.Errorf("the code for a new link was asked in %q, want es", lang)
	}
	if _, body := getc(t, clientAt("10.4.0.2", "sv"), base); !strings.Contains(body, `<html lang="sv">`) {
		t.Error("a Swedish phone does not get the page in Swedish")
	}
}
