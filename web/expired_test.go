package web

import (
	"html"
	"net/url"
	"strings"
	"testing"
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
