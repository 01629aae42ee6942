package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// restart replaces the fixture's console with a new one over the same data
// directory, as a restart of serve does, and returns what it logged.
func (f *fixture) restart() *bytes.Buffer {
	f.t.Helper()
	var logs bytes.Buffer
	srv, err := New(Config{Ops: f.ops, Accounts: NewAccounts(AccountsPath(f.dir)), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = srv
	return &logs
}

// stored returns the session rows in staff.db.
func stored(t *testing.T, dir string) map[[32]byte]storedSession {
	t.Helper()
	m, bad, err := NewAccounts(AccountsPath(dir)).loadSessions()
	if err != nil || len(bad) > 0 {
		t.Fatalf("reading the stored sessions: %v (%d unreadable)", err, len(bad))
	}
	return m
}

func TestSessionSurvivesRestart(t *testing.T) {
	f := newFixture(t, 1)
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	// A search (patient names) is kept in the session, in memory only.
	if w := f.do("POST", "/studies", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "q": {"Muñoz"}}); w.Code >= 400 {
		t.Fatalf("search: %d", w.Code)
	}
	path := AccountsPath(f.dir)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{cookie, "Muñoz", "Mu\\u00f1oz", csrf} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("staff.db holds %q", leak)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("staff.db mode %v, want 0600", st.Mode().Perm())
	}
	rows := stored(t, f.dir)
	row, ok := rows[sha256.Sum256([]byte(cookie))]
	if len(rows) != 1 || !ok || row.Name != "tech" || row.Role != RoleTechnician || row.Gen != 1 || row.Created.IsZero() {
		t.Fatalf("stored sessions = %+v, want tech's under the SHA-256 of the cookie", rows)
	}

	logs := f.restart()
	w := f.do("GET", "/studies", "10.0.0.1", cookie, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /studies with the cookie after a restart: %d", w.Code)
	}
	if !strings.Contains(w.Body.String(), `name="csrf" value="`+csrf+`"`) {
		t.Error("the CSRF token changed across the restart")
	}
	if strings.Contains(w.Body.String(), `value="Muñoz"`) {
		t.Error("the search survived the restart")
	}
	// A form from a page loaded before the restart still posts.
	if w := f.do("POST", "/studies", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "q": {"Berg"}}); w.Code >= 400 {
		t.Fatalf("POST with the CSRF token of before the restart: %d", w.Code)
	}
	if w := f.do("POST", "/studies", "10.0.0.1", cookie, url.Values{"csrf": {csrfToken("another cookie")}, "q": {"Berg"}}); w.Code != http.StatusForbidden {
		t.Fatalf("POST with another session's CSRF token: %d", w.Code)
	}
	if !strings.Contains(logs.String(), "sessions=1") {
		t.Errorf("the restart does not say it restored one session:\n%s", logs)
	}
	sum := sha256.Sum256([]byte(cookie))
	for _, leak := range []string{cookie, hex.EncodeToString(sum[:])} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the log names a session:\n%s", logs)
		}
	}

	// After a restart the idle time counts from the restart.
	now := time.Now().Add(IdleTimeout + time.Second)
	f.srv.auth.now = func() time.Time { return now }
	if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("session alive %s idle after the restart: %d", IdleTimeout, w.Code)
	}
	if len(stored(t, f.dir)) != 0 {
		t.Error("the session that ended idle is still in staff.db")
	}
}

func TestLogoutSurvivesRestart(t *testing.T) {
	f := newFixture(t, 1)
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	other, _ := f.login("boss", adminPW, "10.0.0.2")
	if w := f.do("POST", "/logout", "10.0.0.1", cookie, url.Values{"csrf": {csrf}}); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if rows := stored(t, f.dir); len(rows) != 1 {
		t.Fatalf("after a logout staff.db holds %d sessions, want 1", len(rows))
	}
	f.restart()
	if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("a logged-out cookie works after a restart: %d", w.Code)
	}
	if w := f.do("GET", "/studies", "10.0.0.2", other, nil); w.Code != http.StatusOK {
		t.Fatalf("the colleague's session after the restart: %d", w.Code)
	}
}

// TestAccountChangesEndStoredSessions: disable and passwd end sessions
// across a restart too, and remove them from staff.db at once.
func TestAccountChangesEndStoredSessions(t *testing.T) {
	f := newFixture(t, 1)
	acc := NewAccounts(AccountsPath(f.dir))
	tech, _ := f.login("tech", techPW, "10.0.0.1")
	boss, _ := f.login("boss", adminPW, "10.0.0.2")
	if _, err := acc.Disable("tech"); err != nil {
		t.Fatal(err)
	}
	if rows := stored(t, f.dir); len(rows) != 1 || rows[sha256.Sum256([]byte(boss))].Name != "boss" {
		t.Fatalf("after disabling tech staff.db holds %+v", rows)
	}
	// A row left behind (written by a serve that had not seen the
	// disable, say) is dropped at start by its old generation.
	if err := acc.saveSessions(map[[32]byte]storedSession{sha256.Sum256([]byte(tech)): {Name: "tech", Role: RoleTechnician, Gen: 1, Created: time.Now()}}, nil); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if w := f.do("GET", "/studies", "10.0.0.1", tech, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("the session of a disabled account works after a restart: %d", w.Code)
	}
	if w := f.do("GET", "/studies", "10.0.0.2", boss, nil); w.Code != http.StatusOK {
		t.Fatalf("the admin's session after the restart: %d", w.Code)
	}
	if rows := stored(t, f.dir); len(rows) != 1 {
		t.Errorf("the stale row is still in staff.db: %+v", rows)
	}
	if _, err := acc.SetPassword("boss", "another-admin-password"); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if w := f.do("GET", "/studies", "10.0.0.2", boss, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("a session made with the old password works after a restart: %d", w.Code)
	}
}

func TestAbsoluteTimeoutAcrossRestart(t *testing.T) {
	f := newFixture(t, 1)
	start := time.Now().Add(-AbsoluteTimeout + 10*time.Minute)
	f.srv.auth.now = func() time.Time { return start }
	young, _ := f.login("tech", techPW, "10.0.0.1")
	start = time.Now().Add(-AbsoluteTimeout - time.Minute)
	old, _ := f.login("boss", adminPW, "10.0.0.2")

	f.restart()
	if w := f.do("GET", "/studies", "10.0.0.2", old, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("a session older than %s works after a restart: %d", AbsoluteTimeout, w.Code)
	}
	if w := f.do("GET", "/studies", "10.0.0.1", young, nil); w.Code != http.StatusOK {
		t.Fatalf("a session 10 minutes short of the limit after a restart: %d", w.Code)
	}
	// Used a minute ago, but 12 hours old: it ends.
	now := time.Now().Add(11 * time.Minute)
	f.srv.auth.now = func() time.Time { return now }
	if w := f.do("GET", "/studies", "10.0.0.1", young, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("session alive past %s in all after a restart: %d", AbsoluteTimeout, w.Code)
	}
	if rows := stored(t, f.dir); len(rows) != 0 {
		t.Errorf("ended sessions left in staff.db: %+v", rows)
	}
}

// TestEndedSessionsPruned: a session that ended while nobody used it
// leaves staff.db with the next login.
func TestEndedSessionsPruned(t *testing.T) {
	f := newFixture(t, 1)
	now := time.Now()
	f.srv.auth.now = func() time.Time { return now }
	f.login("tech", techPW, "10.0.0.1")
	now = now.Add(IdleTimeout + time.Minute)
	boss, _ := f.login("boss", adminPW, "10.0.0.2")
	if rows := stored(t, f.dir); len(rows) != 1 || rows[sha256.Sum256([]byte(boss))].Name != "boss" {
		t.Fatalf("staff.db holds %+v, want boss's session only", rows)
	}
}

func TestDamagedSessions(t *testing.T) {
	f := newFixture(t, 1)
	good, _ := f.login("tech", techPW, "10.0.0.1")
	acc := NewAccounts(AccountsPath(f.dir))
	if err := acc.updateTx(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSessions)
		if err := b.Put(bytes.Repeat([]byte{1}, 32), []byte("{not json")); err != nil {
			return err
		}
		return b.Put([]byte("short key"), []byte(`{"name":"tech"}`))
	}); err != nil {
		t.Fatal(err)
	}
	logs := f.restart()
	if !strings.Contains(logs.String(), "could not be read") || !strings.Contains(logs.String(), "count=2") {
		t.Errorf("no warning for two unreadable rows:\n%s", logs)
	}
	if w := f.do("GET", "/studies", "10.0.0.1", good, nil); w.Code != http.StatusOK {
		t.Fatalf("a readable session beside damaged rows: %d", w.Code)
	}
	if rows := stored(t, f.dir); len(rows) != 1 {
		t.Errorf("the unreadable rows are still in staff.db: %+v", rows)
	}

	// A file that is not a database at all: serve starts, with a warning
	// and no session.
	if err := os.WriteFile(AccountsPath(f.dir), bytes.Repeat([]byte("damaged "), 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	logs = f.restart()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "could not read the saved staff sessions") {
		t.Errorf("no warning for a damaged staff.db:\n%s", logs)
	}
	if strings.Contains(logs.String(), good) {
		t.Errorf("the warning names a session:\n%s", logs)
	}
	if w := f.do("GET", "/studies", "10.0.0.1", good, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("a session from a damaged file: %d", w.Code)
	}
	if len(f.srv.auth.sessions) != 0 {
		t.Errorf("%d sessions from a damaged file", len(f.srv.auth.sessions))
	}
}

// TestPageViewsDoNotWrite: pages, thumbnails and searches of a live
// session leave staff.db as it was (the idle timer is in memory).
func TestPageViewsDoNotWrite(t *testing.T) {
	f := newFixture(t, 2)
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	path := AccountsPath(f.dir)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for range 3 {
		for _, p := range []string{"/studies", "/study/" + f.study, "/study/" + f.study + "/thumb/1", "/attention"} {
			if w := f.do("GET", p, "10.0.0.1", cookie, nil); w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d", p, w.Code)
			}
		}
		if w := f.do("POST", "/studies", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "q": {"Muñoz"}}); w.Code >= 400 {
			t.Fatalf("search: %d", w.Code)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(path)
	if !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() || !bytes.Equal(raw, raw2) {
		t.Errorf("page views wrote staff.db: %v %d -> %v %d", before.ModTime(), before.Size(), after.ModTime(), after.Size())
	}
}

// TestDisableInTheSameClockTick: serve writes staff.db at a login; a
// disable in the same tick of a coarse file clock (same time, same size)
// still ends the session at its next request.
func TestDisableInTheSameClockTick(t *testing.T) {
	f := newFixture(t, 1)
	cookie, _ := f.login("tech", techPW, "10.0.0.1") // the login's page view caches the accounts
	path := AccountsPath(f.dir)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAccounts(path).Disable("tech"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); after.Size() != before.Size() {
		t.Skipf("the disable changed staff.db's size (%d to %d): not the case under test", before.Size(), after.Size())
	}
	if w := f.do("GET", "/studies", "10.0.0.1", cookie, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("session of an account disabled in the same clock tick still works: %d", w.Code)
	}
}
