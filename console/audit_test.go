package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
)

// TestLoginsInAuditLog: a login, wrong passwords, the lockout they start
// and a logout are in the audit log with the person and the client
// address, never the password; a password typed into the name field does
// not reach the log either.
func TestLoginsInAuditLog(t *testing.T) {
	f := newFixture(t, 1)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.srv.auth.now = func() time.Time { return now }
	for i := 0; i < freeFailures; i++ {
		if w := f.do("POST", "/login", "10.6.6.6", "", url.Values{"name": {"tech"}, "password": {"wrong-guess-" + string(rune('a'+i))}}); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, w.Code)
		}
	}
	f.do("POST", "/login", "10.6.6.7", "", url.Values{"name": {"Secret Password 1"}, "password": {"x"}})
	cookie, csrf := f.login("boss", adminPW, "10.0.0.7")
	if w := f.do("POST", "/logout", "10.0.0.7", cookie, url.Values{"csrf": {csrf}}); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	ev, err := f.ops.Audit(context.Background(), admin.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		if !strings.HasPrefix(e.Event, "staff.") {
			continue
		}
		for _, secret := range []string{"wrong-guess", adminPW, "Secret Password"} {
			if strings.Contains(e.Detail+e.Actor, secret) {
				t.Errorf("audit event %s holds what was typed as a password: %q", e.Event, e.Detail)
			}
		}
		got = append(got, e.Event+" "+e.Actor+" "+clientOf(e.Detail))
	}
	want := []string{
		"staff.login.failed staff:tech 10.6.6.6", "staff.login.failed staff:tech 10.6.6.6", "staff.login.failed staff:tech 10.6.6.6",
		"staff.login.failed staff:tech 10.6.6.6", "staff.login.locked staff:tech 10.6.6.6",
		"staff.login.failed staff:(not an account name) 10.6.6.7",
		"staff.login staff:boss 10.0.0.7", "staff.logout staff:boss 10.0.0.7",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// clientOf picks the "from ADDRESS" admin adds to an event's detail.
func clientOf(detail string) string {
	_, after, ok := cutLast(detail, "from ")
	if !ok {
		return "(no address)"
	}
	return strings.Fields(after)[0]
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
