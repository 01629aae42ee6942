package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestE2EStaffConsole: serve with --staff-addr runs the console on its own
// port; an account added with `sonolink staff add` while serve runs can log
// in at once; the patient port has no console pages; and the console may
// not share the patient pages' port.
func TestE2EStaffConsole(t *testing.T) {
	dir := shortTempDir(t)
	staffAddr := shareE2EFreeAddr(t)
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dir, lg, "--staff-addr", staffAddr)
	if !lg.has("staff console listening") {
		t.Errorf("no start-up line for the staff console:\n%s", lg)
	}

	add := exec.Command(sonolinkBin, "--data-dir", dir, "staff", "add", "anna", "--role", "admin")
	add.Env = cleanEnv()
	add.Stdin = strings.NewReader("anna-password-1\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("staff add while serve runs: %v\n%s", err, out)
	}

	console := "http://" + staffAddr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(console + "/studies")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("GET /studies without a session: %s to %q", res.Status, res.Header.Get("Location"))
	}
	req, _ := http.NewRequest("POST", console+"/login", strings.NewReader(url.Values{"name": {"anna"}, "password": {"anna-password-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", console)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		cookie = c
	}
	if res.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("login: %s, cookie %v\n%s", res.Status, cookie, lg)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly and SameSite=Strict", cookie)
	}
	req, _ = http.NewRequest("GET", console+"/settings", nil)
	req.AddCookie(cookie)
	res, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "clinic.name") || !strings.Contains(string(body), "Sonolink") {
		t.Fatalf("admin's settings page: %s\n%s", res.Status, body)
	}

	// The account added while serve ran and the login are in the audit
	// log (the CLI recorded through serve's admin socket), with the person.
	aud := exec.Command(sonolinkBin, "--data-dir", dir, "audit", "--json")
	aud.Env = cleanEnv()
	out, err := aud.CombinedOutput()
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	for _, want := range []string{`"event": "staff.added"`, `"detail": "account anna (admin)"`, `"event": "staff.login"`, `"actor": "staff:anna"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("audit log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "anna-password-1") {
		t.Errorf("audit log holds a password:\n%s", out)
	}

	// The patient port has none of it.
	for _, p := range []string{"/login", "/studies", "/settings"} {
		res, err := noRedirect.Get(n.httpURL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("patient port GET %s: %s, want 404", p, res.Status)
		}
	}

	addr := shareE2EFreeAddr(t)
	r := runCLI(t, shortTempDir(t), "serve", "--dicom-addr", shareE2EFreeAddr(t), "--http-addr", addr, "--staff-addr", addr)
	if r.code != 2 || !strings.Contains(r.err, "its own port") {
		t.Errorf("serve with the console on the patient port: %s", r)
	}
}

// TestE2EConsoleSessionSurvivesRestart: a staff member logged in before a
// restart of serve (SIGTERM, start again on the same data directory) is
// still logged in after it; a logout before a restart stays a logout.
func TestE2EConsoleSessionSurvivesRestart(t *testing.T) {
	dir := shortTempDir(t)
	staffAddr := shareE2EFreeAddr(t)
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dir, lg, "--staff-addr", staffAddr)
	add := exec.Command(sonolinkBin, "--data-dir", dir, "staff", "add", "erik")
	add.Env = cleanEnv()
	add.Stdin = strings.NewReader("erik-password-1\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("staff add: %v\n%s", err, out)
	}
	console := "http://" + staffAddr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func() *http.Cookie {
		t.Helper()
		req, _ := http.NewRequest("POST", console+"/login", strings.NewReader(url.Values{"name": {"erik"}, "password": {"erik-password-1"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", console)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
			t.Fatalf("login: %s\n%s", res.Status, lg)
		}
		return res.Cookies()[0]
	}
	studies := func(c *http.Cookie) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", console+"/studies", nil)
		req.AddCookie(c)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(body)
	}
	stays, leaves := login(), login()
	code, body := studies(leaves)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("GET /studies: %d", code)
	}
	req, _ := http.NewRequest("POST", console+"/logout", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", console)
	req.AddCookie(leaves)
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", res.Status)
	}

	n.stop(t)
	lg2 := &shareE2ELog{}
	shareE2EStart(t, dir, lg2, "--staff-addr", staffAddr)
	if code, _ := studies(stays); code != http.StatusOK {
		t.Errorf("GET /studies with the cookie of before the restart: %d, want 200\n%s", code, lg2)
	}
	if code, _ := studies(leaves); code != http.StatusSeeOther {
		t.Errorf("GET /studies with a cookie logged out before the restart: %d, want 303", code)
	}
	if !lg2.has("staff sessions restored") {
		t.Errorf("no start-up line for the restored session:\n%s", lg2)
	}
	st, err := os.Stat(filepath.Join(dir, "staff.db"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("staff.db mode %v, want 0600", st.Mode().Perm())
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "staff.db")); strings.Contains(string(raw), stays.Value) {
		t.Error("staff.db holds a session cookie")
	}
}
