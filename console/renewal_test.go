package console

import (
	"context"
	"html"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/share"
)

// TestRenewalRequest: a patient who asked for a new link from an expired
// page puts the study in the attention list (and a warning badge on it);
// the study page says so, Resend of the expired link is disabled with the
// reason, and a new link from the console answers the request.
func TestRenewalRequest(t *testing.T) {
	f := newFixture(t, 2)
	res, err := f.ops.Send(t.Context(), admin.SendRequest{Study: f.study, To: "jose@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.ops.Close()

	// A hundred days later the link has expired, and the patient asks.
	later := func() time.Time { return time.Now().Add(100 * 24 * time.Hour) }
	quiet := slog.New(slog.DiscardHandler)
	sh, err := share.Open(f.dir, share.Options{Now: later, NoWorker: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sh.RequestRenewal(res.ID, "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	sh.Close()
	ops, err := admin.Open(context.Background(), f.dir, admin.LocalOptions{Share: share.Options{Now: later, Location: time.UTC, BaseURL: "https://images.clinic.example"},
		Configured: admin.Configured{BaseURL: true, EmailProvider: true, SMSProvider: true}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ops.Close() })
	if f.srv, err = New(Config{Ops: ops, Accounts: NewAccounts(AccountsPath(f.dir)), Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")

	body := html.UnescapeString(f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(body, "Muñoz, José") || !strings.Contains(body, "Patient asked for a new link") || !strings.Contains(body, `href="/study/`+f.study+`/send"`) {
		t.Fatalf("attention list lacks the renewal request:\n%s", body)
	}
	body = html.UnescapeString(f.do("GET", "/study/"+f.study, "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(body, "asked for a new link from an expired page") || !strings.Contains(body, "Expired on ") || !strings.Contains(body, "disabled") {
		t.Fatalf("study page does not show the request and the expired link:\n%s", body)
	}
	w := f.do("POST", "/study/"+f.study+"/send", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "to": {"jose@example.com"}})
	if w.Code != 303 {
		t.Fatalf("new link: %d %s", w.Code, w.Body.String())
	}
	body = html.UnescapeString(f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String())
	if strings.Contains(body, "Muñoz, José") {
		t.Errorf("the study stays in the attention list after a new link was sent")
	}
}
