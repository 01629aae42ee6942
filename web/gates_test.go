package web

import (
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"sonolink/i18n"
)

// headerTransport sets headers on every request: the test's client
// address, its language.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// clientAt is a browser at addr that prefers lang.
func clientAt(addr, lang string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: headerTransport{"X-Test-Addr": addr, "Accept-Language": lang},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// gatedBrowser opens the gated link in a browser at addr that prefers
// lang, and returns it with the link's URL and the form token.
func gatedBrowser(t *testing.T, addr, lang string) (c *http.Client, base, csrf string) {
	t.Helper()
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
	base = fx.srv.URL + "/p/" + tokGated
	c = clientAt(addr, lang)
	_, body := getc(t, c, base)
	return c, base, csrfRe.FindStringSubmatch(body)[1]
}

// A client that must wait is told how long, in its language; another
// client of the same link is not held up.
func TestGateSaysHowLongToWait(t *testing.T) {
	a, base, csrf := gatedBrowser(t, "10.1.1.1", "sv")
	for i := 0; i < 5; i++ {
		if res, _ := post(t, a, base+"/code", url.Values{"code": {"RED"}, "csrf": {csrf}}); res.StatusCode != 401 {
			t.Fatalf("wrong code %d: %d", i+1, res.StatusCode)
		}
	}
	res, body := post(t, a, base+"/code", url.Values{"code": {"BLUE42"}, "csrf": {csrf}})
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(html.UnescapeString(body), "Vänta 90 sekunder innan du försöker igen.") {
		t.Fatalf("client that must wait: %d Retry-After %q\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	b := clientAt("10.1.1.2", "en") // same server: base is the same link
	_, body = getc(t, b, base)
	if res, _ := post(t, b, base+"/code", url.Values{"code": {"BLUE42"}, "csrf": {csrfRe.FindStringSubmatch(body)[1]}}); res.StatusCode != 303 {
		t.Fatalf("right code from another client: %d", res.StatusCode)
	}
}

// The page says how many code messages may still be sent, and once none
// may, when, and offers none.
func TestGateShowsCodeMessagesLeft(t *testing.T) {
	c, base, csrf := gatedBrowser(t, "10.2.2.2", "es")
	var body string
	post(t, c, base+"/code", url.Values{"code": {"BLUE42"}, "csrf": {csrf}})
	for i := fakeCodeMessages; i > 0; i-- {
		_, body = getc(t, c, base)
		body = html.UnescapeString(body)
		want := "Podemos enviarle 3 códigos más hoy."
		if i == 1 {
			want = "Podemos enviarle 1 código más hoy."
		} else if i == 2 {
			want = "Podemos enviarle 2 códigos más hoy."
		}
		if !strings.Contains(body, want) {
			t.Fatalf("%d codes left, page lacks %q:\n%s", i, want, body)
		}
		if res, _ := post(t, c, base+"/otp", url.Values{"contact": {"1"}, "csrf": {csrf}}); res.StatusCode != 303 {
			t.Fatalf("code request: %d", res.StatusCode)
		}
		post(t, c, base+"/otp/restart", url.Values{"csrf": {csrf}})
	}
	_, body = getc(t, c, base)
	if body = html.UnescapeString(body); !strings.Contains(body, "dentro de 5 horas, a partir de las ") || strings.Contains(body, `action="`+"/p/"+tokGated+`/otp"`) {
		t.Fatalf("no codes left: page wrong:\n%s", body)
	}
	if res, _ := post(t, c, base+"/otp", url.Values{"contact": {"1"}, "csrf": {csrf}}); res.StatusCode != 429 {
		t.Fatalf("code request past the limit: %d", res.StatusCode)
	}
}

// Lockout times are written on the clinic's clock, whatever the server's
// zone, rounded up to the minute, with the date when it is not today there.
func TestLockoutTimeOnClinicClock(t *testing.T) {
	kathmandu, err := time.LoadLocation("Asia/Kathmandu") // UTC+05:45: no server runs there by accident
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	rc := &reqCtx{loc: i18n.Lookup("sv"), clinic: Clinic{Location: kathmandu}}
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC) // 11:45 in Kathmandu
	if got := rc.clock(now, now.Add(30*time.Minute+10*time.Second)); got != "12:16" {
		t.Errorf("30 min 10 s later on the clinic's clock: %q, want 12:16", got)
	}
	if got := rc.clock(now, now.Add(13*time.Hour)); got != "3 december 2026 00:45" {
		t.Errorf("tomorrow on the clinic's clock: %q, want the date and 00:45", got)
	}
	rc.loc = i18n.Lookup("en")
	srv := &server{cfg: Config{Now: func() time.Time { return now }}}
	if got := srv.waitText(rc, now.Add(15*time.Minute)); got != "Please wait 15 minutes, until 12:00, before you try again." {
		t.Errorf("wait text: %q", got)
	}
}
