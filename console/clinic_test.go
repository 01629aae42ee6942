package console

import (
	"bytes"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/i18n"
)

// TestDatesOnTheClinicsClockAndLogo: dates are in the clinic's language's
// long form and times on the clinic's clock (clinic.timezone), not the
// server's and not ISO; the clinic's logo is in the header, also on the
// login page.
func TestDatesOnTheClinicsClockAndLogo(t *testing.T) {
	f := newFixture(t, 1)
	var logo bytes.Buffer
	if err := png.Encode(&logo, image.NewGray(image.Rect(0, 0, 8, 4))); err != nil {
		t.Fatal(err)
	}
	lp := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(lp, logo.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"clinic.language": "es", "clinic.timezone": "Asia/Tokyo", "branding.logo": lp} {
		if _, err := f.ops.SetSetting(t.Context(), admin.SettingRequest{Key: k, Value: v}); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	res, err := f.ops.Send(t.Context(), admin.SendRequest{Study: f.study, To: "jose@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	login := f.do("GET", "/login", "10.0.0.1", "", nil).Body.String()
	if !strings.Contains(login, `<img class="logo" src="/logo"`) {
		t.Errorf("login page has no logo:\n%s", login)
	}
	lw := f.do("GET", "/logo", "10.0.0.1", "", nil)
	if lw.Code != http.StatusOK || lw.Header().Get("Content-Type") != "image/png" || !bytes.Equal(lw.Body.Bytes(), logo.Bytes()) {
		t.Errorf("/logo: %d %s, %d bytes", lw.Code, lw.Header().Get("Content-Type"), lw.Body.Len())
	}

	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	d, err := f.ops.StudyDetail(t.Context(), f.study)
	if err != nil {
		t.Fatal(err)
	}
	var link admin.Link
	for _, l := range d.Shares {
		if l.ID == res.ID {
			link = l
		}
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone database on this machine: ", err)
	}
	es := i18n.Lookup("es")
	created := link.Created.In(tokyo)
	body := html.UnescapeString(f.do("GET", "/study/"+f.study, "10.0.0.1", cookie, nil).Body.String())
	for _, want := range []string{
		es.Date(created) + " " + created.Format("15:04"), // the link's creation, on the clinic's clock
		"20 de noviembre de 2026",                        // the study date (20261120) in the long form
		`<img class="logo" src="/logo"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("study page lacks %q", want)
		}
	}
	if strings.Contains(body, link.Created.Format("2006-01-02")) || strings.Contains(body, "2026-11-20") {
		t.Errorf("study page still writes ISO dates:\n%s", body)
	}
	studies := html.UnescapeString(f.do("GET", "/studies", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(studies, "20 de noviembre de 2026") {
		t.Errorf("studies list lacks the long date:\n%s", studies)
	}
	// The share status's stamp too ("… not sent 2026-12-02 09:05" from admin).
	stamp := link.LastSent
	if stamp.IsZero() {
		stamp = link.Created
	}
	stamp = stamp.In(tokyo)
	if !strings.Contains(studies, es.Date(stamp)+" "+stamp.Format("15:04")) || isoStamp.MatchString(studies) {
		t.Errorf("studies list's share status is not on the clinic's clock in the long form:\n%s", studies)
	}
}

// isoStamp is a date, maybe with a time, as admin writes them into the
// English share status ("sent 2026-11-20 14:03").
var isoStamp = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?\b`)

// TestLinkCodeDryCount: before a patient link code is saved, the settings
// page says how many active links will start asking for it, and reading
// the page changes nothing.
func TestLinkCodeDryCount(t *testing.T) {
	f := newFixture(t, 1)
	for _, to := range []string{"jose@example.com", "+46701234567"} {
		if _, err := f.ops.Send(t.Context(), admin.SendRequest{Study: f.study, To: to}); err != nil {
			t.Fatal(err)
		}
	}
	cookie, csrf := f.login("boss", adminPW, "10.0.0.1")
	note := func(body string) string {
		_, after, _ := strings.Cut(html.UnescapeString(body), `id="code-reach">`)
		before, _, _ := strings.Cut(after, "<")
		return before
	}
	// Scope "new": links sent while no code was set keep opening without one.
	if got := note(f.do("GET", "/settings", "10.0.0.1", cookie, nil).Body.String()); !strings.Contains(got, "0 of the 2 active links will ask") {
		t.Errorf("note before saving a code (scope new): %q", got)
	}
	if w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"link.code_scope"}, "value": {"all"}}); w.Code != http.StatusOK {
		t.Fatalf("link.code_scope all: %d", w.Code)
	}
	if got := note(f.do("GET", "/settings", "10.0.0.1", cookie, nil).Body.String()); !strings.Contains(got, "2 of the 2 active links will ask") {
		t.Errorf("note before saving a code (scope all): %q", got)
	}
	if r, err := f.ops.LinkCodeReach(t.Context()); err != nil || r.CodeSet || r.AskNow != 0 {
		t.Fatalf("the dry count changed something: %+v %v", r, err)
	}
	w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"link.code"}, "value": {"4711"}})
	if got := note(w.Body.String()); !strings.Contains(got, "2 of the 2 active links ask for a code now") {
		t.Errorf("note once a code is set: %q", got)
	}
}
