package console

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testenv"
)

// testParams keep the tests fast; TestPasswordHash checks the real ones.
var testParams = argonParams{time: 1, memory: 1024, threads: 1}

func TestMain(m *testing.M) {
	hashWith = testParams
	os.Exit(m.Run())
}

func TestNoPageWithoutSession(t *testing.T) {
	f := newFixture(t, 2)
	for _, p := range []string{"/", "/studies", "/study/" + f.study, "/study/" + f.study + "/thumb/1", "/study/" + f.study + "/send", "/attention", "/settings"} {
		w := f.do("GET", p, "10.0.0.1", "", nil)
		if p == "/" {
			continue // redirects to /studies, which is checked
		}
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %d to %q, want 303 to /login", p, w.Code, w.Header().Get("Location"))
		}
		if strings.Contains(w.Body.String(), "Muñoz") {
			t.Errorf("GET %s without a session shows the patient", p)
		}
	}
	// A forged or ended session is no session.
	if w := f.do("GET", "/studies", "10.0.0.1", "forged", nil); w.Code != http.StatusSeeOther {
		t.Errorf("GET /studies with a forged cookie: %d", w.Code)
	}
	for _, p := range []string{"/studies", "/study/" + f.study + "/send", "/link/ABC/resend", "/link/ABC/revoke", "/settings", "/logout"} {
		w := f.do("POST", p, "10.0.0.1", "", url.Values{"to": {"x@example.com"}, "reason": {"x"}})
		if w.Code != http.StatusForbidden {
			t.Errorf("POST %s without a session: %d, want 403", p, w.Code)
		}
	}
	if sh, _ := f.ops.StudyDetail(t.Context(), f.study); len(sh.Shares) != 0 {
		t.Fatalf("a POST without a session created %d links", len(sh.Shares))
	}
}

func TestCSRFRejected(t *testing.T) {
	f := newFixture(t, 2)
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	send := "/study/" + f.study + "/send"
	form := url.Values{"to": {"jose@example.com"}, "force": {"1"}}

	if w := f.do("POST", send, "10.0.0.1", cookie, form); w.Code != http.StatusForbidden {
		t.Errorf("POST without the CSRF token: %d, want 403", w.Code)
	}
	form.Set("csrf", "A"+csrf[1:])
	if w := f.do("POST", send, "10.0.0.1", cookie, form); w.Code != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", w.Code)
	}
	// The right token from another site's page.
	form.Set("csrf", csrf)
	r := strings.NewReader(form.Encode())
	req, _ := http.NewRequest("POST", "http://console.test"+send, r)
	req.RemoteAddr = "10.0.0.1:4000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Cookie", cookiePlain+"="+cookie)
	rec := newRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("POST from another origin: %d, want 403", rec.Code)
	}
	if d, _ := f.ops.StudyDetail(t.Context(), f.study); len(d.Shares) != 0 {
		t.Fatalf("a refused POST created %d links", len(d.Shares))
	}
	// The same session's token and origin work.
	if w := f.do("POST", send, "10.0.0.1", cookie, form); w.Code != http.StatusSeeOther {
		t.Fatalf("POST with token and origin: %d %s", w.Code, w.Body.String())
	}
	// A login form posted from elsewhere is refused too.
	req, _ = http.NewRequest("POST", "http://console.test/login", strings.NewReader(url.Values{"name": {"tech"}, "password": {techPW}}.Encode()))
	req.RemoteAddr = "10.0.0.1:4000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	rec = newRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("login from another origin: %d, want 403", rec.Code)
	}
}

func TestTechnicianCannotReachAdminPages(t *testing.T) {
	f := newFixture(t, 1)
	tc, tcsrf := f.login("tech", techPW, "10.0.0.1")
	if w := f.do("GET", "/settings", "10.0.0.1", tc, nil); w.Code != http.StatusForbidden {
		t.Errorf("technician GET /settings: %d, want 403", w.Code)
	} else if b := w.Body.String(); strings.Count(b, `role="alert"`) != 1 ||
		!regexp.MustCompile(`<h1>Something is wrong</h1>\s*<p class="alert" role="alert">This page is for administrators only.</p>`).MatchString(b) {
		// The error page: its heading, then the reason, once.
		t.Errorf("error page: %s", b)
	}
	if w := f.do("POST", "/settings", "10.0.0.1", tc, url.Values{"csrf": {tcsrf}, "key": {"clinic.name"}, "value": {"Hacked"}}); w.Code != http.StatusForbidden {
		t.Errorf("technician POST /settings: %d, want 403", w.Code)
	}
	if w := f.do("GET", "/studies", "10.0.0.1", tc, nil); strings.Contains(w.Body.String(), `href="/settings"`) {
		t.Error("the technician's menu links to the settings")
	}
	ac, acsrf := f.login("boss", adminPW, "10.0.0.2")
	if w := f.do("GET", "/settings", "10.0.0.2", ac, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "link.code") {
		t.Fatalf("admin GET /settings: %d", w.Code)
	}
	w := f.do("POST", "/settings", "10.0.0.2", ac, url.Values{"csrf": {acsrf}, "key": {"clinic.name"}, "value": {"Ultraljud Söder"}})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Ultraljud Söder") {
		t.Fatalf("admin POST /settings: %d", w.Code)
	}
	ev, err := f.ops.Audit(t.Context(), admin.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range ev {
		found = found || (e.Event == "setting.changed" && e.Actor == "staff:boss")
	}
	if !found {
		t.Errorf("the audit log does not name staff:boss for the setting change: %+v", ev)
	}
}

// TestLockoutPerClient: wrong passwords from one address slow down that
// address for that account only; the colleague at another computer logs
// in with the same account at once.
func TestLockoutPerClient(t *testing.T) {
	f := newFixture(t, 1)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.srv.auth.now = func() time.Time { return now }
	for i := 0; i < freeFailures; i++ {
		if w := f.do("POST", "/login", "10.6.6.6", "", url.Values{"name": {"tech"}, "password": {"guess-" + string(rune('a'+i))}}); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, w.Code)
		}
	}
	// The outsider's address now waits, even with the right password.
	w := f.do("POST", "/login", "10.6.6.6", "", url.Values{"name": {"tech"}, "password": {techPW}})
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("right password from the throttled address: %d, want 429", w.Code)
	}
	// The colleague at another address is not affected.
	f.login("tech", techPW, "10.0.0.7")
	// Another account from the throttled address is not affected either.
	f.login("boss", adminPW, "10.6.6.6")
	// After the wait, the throttled address may try again.
	now = now.Add(firstWait + time.Second)
	f.login("tech", techPW, "10.6.6.6")
}

func TestAccountChangesEndSessions(t *testing.T) {
	f := newFixture(t, 1)
	acc := NewAccounts(AccountsPath(f.dir))
	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	if _, err := acc.Disable("tech"); err != nil {
		t.Fatal(err)
	}
	bump(t, f.dir)
	if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("session of a disabled account still works: %d", w.Code)
	}
	if w := f.do("POST", "/login", "10.0.0.1", "", url.Values{"name": {"tech"}, "password": {techPW}}); w.Code != http.StatusUnauthorized {
		t.Fatalf("a disabled account logs in: %d", w.Code)
	}
	if _, err := acc.SetPassword("tech", "a-new-password!"); err != nil {
		t.Fatal(err)
	}
	bump(t, f.dir)
	f.login("tech", "a-new-password!", "10.0.0.1")
	if _, err := acc.Add("tech", RoleAdmin, "whatever-long"); err != ErrExists {
		t.Errorf("adding an existing name: %v", err)
	}
	if _, err := acc.Add("Bad Name", RoleAdmin, "whatever-long"); err != ErrBadName {
		t.Errorf("adding a bad name: %v", err)
	}
	if _, err := acc.Add("short", RoleAdmin, "short"); err != ErrWeakPassword {
		t.Errorf("a short password: %v", err)
	}
	list, err := acc.List()
	if err != nil || len(list) != 2 || list[1].Name != "tech" || list[1].Disabled {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// bump moves staff.db's modification time forward, as a change a second
// later would, so that a cache keyed on it cannot miss the change on file
// systems with coarse timestamps.
func bump(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "staff.db")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	later := st.ModTime().Add(time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !checkPassword(h, "correct horse battery") || checkPassword(h, "correct horse batterY") {
		t.Error("checkPassword does not tell the right password from a wrong one")
	}
	if h2, _ := hashPassword("correct horse battery"); h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if len(strings.Split(h, "$")[4]) != 22 {
		t.Errorf("hash %q: the salt is not 16 bytes", h)
	}
}

// TestPasswordHashParameters hashes with the production parameters.
func TestPasswordHashParameters(t *testing.T) {
	testenv.Long(t, "argon2id with 64 MiB and 3 passes takes seconds on a busy machine")
	hashWith = rfc9106
	defer func() { hashWith = testParams }()
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %q: not argon2id with RFC 9106's second parameters", h)
	}
	if !checkPassword(h, "correct horse battery") {
		t.Error("checkPassword refuses the right password")
	}
}

func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t, 1)
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	f.srv.auth.now = func() time.Time { return now }
	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	// Used every 20 minutes, it lives until the absolute limit.
	for used := time.Duration(0); used+20*time.Minute < AbsoluteTimeout; used += 20 * time.Minute {
		now = now.Add(20 * time.Minute)
		if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusOK {
			t.Fatalf("session in use ended after %s: %d", used+20*time.Minute, w.Code)
		}
	}
	now = now.Add(21 * time.Minute)
	if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("session alive after %s in all: %d", AbsoluteTimeout, w.Code)
	}
	cookie, _ = f.login("tech", techPW, "10.0.0.1")
	now = now.Add(IdleTimeout + time.Second)
	if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("session alive after %s idle: %d", IdleTimeout, w.Code)
	}
}

// TestCookieSecureBehindProxy: through a trusted proxy saying https the
// session cookie is Secure (and __Host-); on plain http it cannot be.
func TestCookieSecureBehindProxy(t *testing.T) {
	f := newFixture(t, 1)
	f.srv.proxies = []netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")}
	login := func(remote, proto string) *http.Cookie {
		req := httptest.NewRequest("POST", "http://console.test/login", strings.NewReader(url.Values{"name": {"tech"}, "password": {techPW}}.Encode()))
		req.RemoteAddr = remote + ":1234"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://console.test")
		req.Header.Set("X-Forwarded-Proto", proto)
		req.Header.Set("X-Forwarded-For", "192.168.1.20")
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, req)
		if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
			t.Fatalf("login via %s: %d", remote, w.Code)
		}
		return w.Result().Cookies()[0]
	}
	if c := login("10.9.9.9", "https"); !c.Secure || c.Name != cookieSecure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("through the trusted proxy: %+v", c)
	}
	// An untrusted client claiming https gets no Secure cookie it could not use.
	if c := login("10.0.0.5", "https"); c.Secure || c.Name != cookiePlain {
		t.Errorf("from an untrusted client: %+v", c)
	}
	// The throttle keys on the address the proxy names.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.9.9.9:1"
	r.Header.Set("X-Forwarded-For", "192.168.1.20, 10.9.9.9")
	if got := f.srv.client(r); got != "192.168.1.20" {
		t.Errorf("client behind the proxy = %q", got)
	}
}
