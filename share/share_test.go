package share

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"sonolink/delivery"
	"sonolink/i18n"
	"sonolink/settings"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC)} }

func open(t *testing.T, dir string, c *clock, mod func(*Options)) *Service {
	t.Helper()
	o := Options{Now: c.Now, Location: time.UTC}
	if mod != nil {
		mod(&o)
	}
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// outboxFiles returns the outbox's files by extension.
func outboxFiles(t *testing.T, s *Service, ext string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(s.OutboxDir(), "M*"+ext)) // not the temporary files
	var out []string
	for _, f := range m {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

var linkRE = regexp.MustCompile(`http://localhost:8080/p/[A-Za-z0-9_-]{43}`)

func tokenOf(t *testing.T, url string) string {
	t.Helper()
	i := strings.LastIndex(url, "/p/")
	if i < 0 {
		t.Fatalf("not a link: %q", url)
	}
	return url[i+3:]
}

// TestOutboxEndToEnd: an e-mail and a phone give one .eml and one .sms with
// the same link; the token resolves; revoke → not found; expiry → expired.
func TestOutboxEndToEnd(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	if err := s.UpdateSetting(settings.KeyClinicName, "Ultraljud Söder"); err != nil {
		t.Fatal(err)
	}
	l, url, err := s.Create(context.Background(), CreateRequest{StudyUID: "1.2.3", Emails: []string{"name@example.com"}, Phones: []string{"+46 70 123 45 67"}, Origin: OriginAuto, Actor: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^L[0-9A-HJKMNP-TV-Z]{6}$`).MatchString(l.ID) {
		t.Fatalf("link id %q", l.ID)
	}
	if !linkRE.MatchString(url) || l.Expires != c.Now().Add(90*24*time.Hour) {
		t.Fatalf("url %q expires %v", url, l.Expires)
	}
	waitFor(t, "two outbox files", func() bool { return len(outboxFiles(t, s, ".eml")) == 1 && len(outboxFiles(t, s, ".sms")) == 1 })
	eml, sms := outboxFiles(t, s, ".eml")[0], outboxFiles(t, s, ".sms")[0]
	if got := linkRE.FindAllString(strings.ReplaceAll(eml, "=\r\n", ""), -1); len(got) == 0 || got[0] != url {
		t.Fatalf("e-mail link %q, want %q", got, url)
	}
	if !strings.HasPrefix(sms, "To: +46701234567\n\n") || linkRE.FindString(sms) != url {
		t.Fatalf("sms file %q", sms)
	}
	msg, err := mail.ReadMessage(strings.NewReader(eml))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	// The phone number is Swedish, so the patient's messages are in
	// Swedish though the clinic's language is English.
	if msg.Header.Get("To") != "<name@example.com>" || subject != "Dina ultraljudsbilder från Ultraljud Söder" {
		t.Fatalf("e-mail headers %v, subject %q", msg.Header, subject)
	}
	if !strings.Contains(sms, "tillgängliga till 1 oktober 2026") {
		t.Fatalf("sms lacks the expiry: %q", sms)
	}
	got, err := s.Resolve(tokenOf(t, url))
	if err != nil || got.ID != l.ID || got.StudyUID != "1.2.3" {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
	if _, err := s.Resolve(tokenOf(t, url) + "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	// The file is in place just before the delivery is recorded as sent.
	var views []LinkView
	waitFor(t, "deliveries recorded", func() bool {
		views, _ = s.Shares("1.2.3")
		return len(views) == 1 && len(views[0].Deliveries) == 2 && views[0].Deliveries[0].State == "sent" && views[0].Deliveries[1].State == "sent"
	})
	if views[0].Status != StatusActive {
		t.Fatalf("shares %+v", views)
	}
	for _, d := range views[0].Deliveries {
		if d.State != "sent" || d.Attempts != 1 || d.SentAt.IsZero() {
			t.Fatalf("delivery %+v", d)
		}
	}

	// Expiry, by the injected clock.
	c.Add(90*24*time.Hour + time.Second)
	_, err = s.Resolve(tokenOf(t, url))
	var ee *ExpiredError
	if !errors.As(err, &ee) || !errors.Is(err, ErrExpired) || ee.Expired != l.Expires {
		t.Fatalf("after expiry: %v", err)
	}
	c.Add(-90 * 24 * time.Hour)

	if _, err := s.Revoke(context.Background(), strings.ToLower(l.ID), "wrong address", "anna"); err != nil {
		t.Fatal(err)
	}
	var re *RevokedError
	if _, err := s.Resolve(tokenOf(t, url)); !errors.As(err, &re) || !errors.Is(err, ErrRevoked) || re.Revoked.IsZero() {
		t.Fatalf("after revoke: %v", err)
	}
	views, _ = s.Shares("1.2.3")
	if views[0].Status != StatusRevoked || views[0].RevokedReason != "wrong address" {
		t.Fatalf("after revoke: %+v", views[0])
	}
}

func TestResendAndNewLink(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	_, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", Instances: []string{"1.2.3.1", "1.2.3.2"}, Emails: []string{"a@example.com"}, Phones: []string{"0701234567"}})
	if err == nil || !strings.Contains(err.Error(), "0701234567") {
		t.Fatalf("national number without a region accepted: %v", err)
	}
	if err := s.UpdateSetting(settings.KeyRegion, "+46"); err != nil {
		t.Fatal(err)
	}
	l, url, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", Instances: []string{"1.2.3.1", "1.2.3.2"}, Emails: []string{"a@example.com"}, Phones: []string{"0701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	if l.Phones[0] != "+46701234567" || !l.Shows("1.2.3.2") || l.Shows("1.2.3.9") {
		t.Fatalf("link %+v", l)
	}
	waitFor(t, "first messages", func() bool { return len(outboxFiles(t, s, "")) == 2 })

	c.Add(30 * 24 * time.Hour)
	r, err := s.Resend(ctx, l.ID, "anna")
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(90 * 24 * time.Hour); !r.Expires.Equal(want) || r.SendCount != 2 || !r.LastSent.Equal(c.Now()) {
		t.Fatalf("after resend: expires %v (want %v), count %d, last sent %v", r.Expires, want, r.SendCount, r.LastSent)
	}
	waitFor(t, "resent messages", func() bool { return len(outboxFiles(t, s, "")) == 4 })
	emls, smss := outboxFiles(t, s, ".eml"), outboxFiles(t, s, ".sms")
	for _, m := range append(emls, smss...) {
		if linkRE.FindString(strings.ReplaceAll(m, "=\r\n", "")) != url {
			t.Fatalf("resent message lacks the same URL %s:\n%s", url, m)
		}
	}
	for _, m := range smss {
		if !strings.HasPrefix(m, "To: +46701234567\n") {
			t.Fatalf("sms to another contact: %q", m)
		}
	}
	if !strings.Contains(strings.Join(smss, ""), "till 31 oktober 2026") { // a Swedish number: Swedish
		t.Fatalf("resent sms lacks the new expiry: %q", smss)
	}

	// A new link to other contacts leaves the old one working.
	n, nurl, err := s.NewLink(ctx, l.ID, []string{"other@example.org"}, nil, "anna")
	if err != nil {
		t.Fatal(err)
	}
	if n.ID == l.ID || nurl == url || len(n.Instances) != 2 || n.Emails[0] != "other@example.org" || len(n.Phones) != 0 {
		t.Fatalf("new link %+v %s", n, nurl)
	}
	for _, u := range []string{url, nurl} {
		if _, err := s.Resolve(tokenOf(t, u)); err != nil {
			t.Fatalf("resolve %s: %v", u, err)
		}
	}
	views, _ := s.Shares("1.2.3")
	if len(views) != 2 || views[0].ID != n.ID || views[1].ID != l.ID {
		t.Fatalf("shares order %+v", views)
	}

	// Expired → documented error.
	c.Add(91 * 24 * time.Hour)
	_, err = s.Resend(ctx, l.ID, "anna")
	want := "link " + l.ID + " expired on " + r.Expires.Format("2006-01-02") + "; use `sonolink send` to issue a new link"
	if !errors.Is(err, ErrExpired) || err.Error() != want {
		t.Fatalf("resend expired: %v\nwant %s", err, want)
	}
	c.Add(-91 * 24 * time.Hour)

	// Revoked → documented error.
	if _, err := s.Revoke(ctx, n.ID, "", "anna"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Resend(ctx, n.ID, "anna")
	if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "link "+n.ID+" was revoked on ") || !strings.Contains(err.Error(), "use `sonolink send` to issue a new link") {
		t.Fatalf("resend revoked: %v", err)
	}
	if _, err := s.Resend(ctx, "L000000", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown link: %v", err)
	}
}

func TestAutoShareJoinsExistingLink(t *testing.T) {
	s := open(t, t.TempDir(), newClock(), nil)
	ctx := context.Background()
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "9.9", Phones: []string{"+34612345678"}, Origin: OriginAuto})
	if err != nil {
		t.Fatal(err)
	}
	again, url, err := s.Create(ctx, CreateRequest{StudyUID: "9.9", Phones: []string{"+34612345678"}, Origin: OriginAuto})
	if !errors.Is(err, ErrAlreadyShared) || again.ID != l.ID || url != "" {
		t.Fatalf("second auto create: %v %+v", err, again)
	}
	a, ok := s.ActiveLinkForStudy("9.9")
	if !ok || a.ID != l.ID || !a.WholeStudy() || !a.Shows("any.instance") {
		t.Fatalf("ActiveLinkForStudy = %+v %v", a, ok)
	}
	views, _ := s.Shares("9.9")
	if len(views) != 1 || !views[0].NeedsEmailHint {
		t.Fatalf("phone-only link should carry the e-mail hint: %+v", views)
	}
	waitFor(t, "one sms", func() bool { return len(outboxFiles(t, s, ".sms")) == 1 })
}

func TestLinkCode(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	mk := func() *Link {
		l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1", Emails: []string{"a@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	before := mk()
	if needsLinkCode(t, s, before) {
		t.Fatal("no code set, but a code is needed")
	}
	if err := s.UpdateSetting(settings.KeyLinkCode, "abc"); !errors.Is(err, ErrInvalidSetting) {
		t.Fatalf("3-character code: %v", err)
	}
	if err := s.UpdateSetting(settings.KeyLinkCode, "SOL-2026"); err != nil {
		t.Fatal(err)
	}
	// A code set after a link was issued does not gate that link: its
	// patient was never told it.
	if needsLinkCode(t, s, before) || !currentSettings(t, s).LinkCodeSet {
		t.Fatal("code set after the link was issued, but the link asks for it")
	}
	if err := s.CheckLinkCode(before.ID, "10.0.0.1", ""); err != nil {
		t.Fatalf("link issued before the code, no code: %v", err)
	}
	old := mk() // issued under SOL-2026
	if !needsLinkCode(t, s, old) {
		t.Fatal("link issued under a code does not ask for it")
	}
	// The clinic may apply the code to every link.
	if err := s.UpdateSetting(settings.KeyLinkCodeScope, "all"); err != nil {
		t.Fatal(err)
	}
	if !needsLinkCode(t, s, before) {
		t.Fatal("link.code_scope all, but the older link does not ask for the code")
	}
	if err := s.CheckLinkCode(before.ID, "10.0.0.1", "sol 2026"); err != nil {
		t.Fatalf("link issued before the code, scope all: %v", err)
	}
	if err := s.CheckLinkCode(old.ID, "10.0.0.1", "wrong"); !errors.Is(err, ErrWrongLinkCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if err := s.UpdateSetting(settings.KeyLinkCode, "NEW-777"); err != nil {
		t.Fatal(err)
	}
	fresh := mk()
	for _, tc := range []struct {
		l    *Link
		code string
		ok   bool
	}{
		{old, "SOL-2026", true}, {old, "NEW-777", true}, {fresh, "NEW-777", true}, {fresh, "SOL-2026", false}, {before, "SOL-2026", false}, {before, "new777", true},
	} {
		// (link.code_scope is all: before asks too)
		err := s.CheckLinkCode(tc.l.ID, "10.0.0.1", tc.code)
		if (err == nil) != tc.ok {
			t.Errorf("link %s code %q: %v, want ok=%v", tc.l.ID, tc.code, err, tc.ok)
		}
	}
	if err := s.UpdateSetting(settings.KeyLinkCode, "clear"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Link{before, old, fresh} {
		if needsLinkCode(t, s, l) || s.CheckLinkCode(l.ID, "10.0.0.1", "") != nil {
			t.Fatal("code cleared, but still asked for")
		}
	}
	// Wrong codes slow their source down, not the link.
	s.UpdateSetting(settings.KeyLinkCode, "SOL-2026")
	var err error
	for i := 0; i < 10; i++ {
		err = s.CheckLinkCode(old.ID, "10.6.6.6", "nope")
		if we := (*WaitError)(nil); errors.As(err, &we) && we.Cause == nil {
			c.Add(we.Until.Sub(c.Now())) // not checked: wait as asked and try again
			err = s.CheckLinkCode(old.ID, "10.6.6.6", "nope")
		}
	}
	var we *WaitError
	if !errors.As(err, &we) || !errors.Is(err, ErrWrongLinkCode) {
		t.Fatalf("after 10 wrong codes: %v", err)
	}
	if err := s.CheckLinkCode(old.ID, "10.6.6.6", "SOL-2026"); !errors.Is(err, ErrTooSoon) {
		t.Fatalf("right code before the wait is over: %v", err)
	}
	if err := s.CheckLinkCode(old.ID, "10.0.0.2", "SOL-2026"); err != nil {
		t.Fatalf("right code from another address: %v", err)
	}
	c.Add(we.Until.Sub(c.Now()))
	if err := s.CheckLinkCode(old.ID, "10.6.6.6", "SOL-2026"); err != nil {
		t.Fatalf("right code after the wait: %v", err)
	}
}

// flaky fails the first n sends, then delegates.
type flaky struct {
	mu    sync.Mutex
	fail  int
	calls int
	sent  []string // message IDs delivered
	next  delivery.SMSSender
}

func (f *flaky) SendSMS(ctx context.Context, m delivery.SMS) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fail {
		return errors.New("provider down for +46701234567")
	}
	f.sent = append(f.sent, m.ID)
	if f.next != nil {
		return f.next.SendSMS(ctx, m)
	}
	return nil
}

func (f *flaky) snapshot() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]string(nil), f.sent...)
}

// The outbox tests run in a synctest bubble: the worker's retry timers
// fire as soon as every goroutine waits, so a backoff costs no real time and
// the elapsed time is exact.

func TestRetryWithBackoff(t *testing.T) { synctest.Test(t, testRetryWithBackoff) }

func testRetryWithBackoff(t *testing.T) {
	dir := t.TempDir()
	f := &flaky{fail: 2, next: &delivery.FileOutbox{Dir: filepath.Join(dir, "outbox")}}
	s := open(t, dir, newClock(), func(o *Options) {
		o.SMSSender = f
		o.Backoff = Backoff{Initial: 20 * time.Millisecond, Max: time.Second}
	})
	l, _, err := s.Create(context.Background(), CreateRequest{StudyUID: "1", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var d []DeliveryStatus
	waitFor(t, "delivery", func() bool { d, _ = s.Deliveries(l.ID); return len(d) == 1 && d[0].State == "sent" })
	calls, sent := f.snapshot()
	if calls != 3 || len(sent) != 1 || d[0].Attempts != 3 || d[0].Reason != "" {
		t.Fatalf("calls %d sent %v status %+v", calls, sent, d[0])
	}
	// Two backoffs, 20 ms and 40 ms with ±20 % jitter; waitFor looks
	// every 5 ms of the bubble's clock.
	if el := time.Since(start); el < 48*time.Millisecond || el > 72*time.Millisecond+5*time.Millisecond {
		t.Fatalf("delivered after %v, want two backoffs (48–72 ms)", el)
	}
	if n := len(outboxFiles(t, s, ".sms")); n != 1 {
		t.Fatalf("%d sms files", n)
	}
	ev, _ := s.Audit(AuditFilter{LinkID: l.ID})
	var types []string
	for _, e := range ev {
		types = append(types, e.Type)
		if strings.Contains(e.Detail, "+46701234567") || strings.Contains(e.To, "01234") {
			t.Fatalf("audit holds the phone number: %+v", e)
		}
	}
	if strings.Join(types, ",") != "link.created,delivery.retry,delivery.retry,delivery.sent" {
		t.Fatalf("audit %v", types)
	}
}

func TestRestartDuringBackoffDeliversOnce(t *testing.T) {
	synctest.Test(t, testRestartDuringBackoffDeliversOnce)
}

func testRestartDuringBackoffDeliversOnce(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	first := &flaky{fail: 1000}
	s1, err := Open(dir, Options{Now: c.Now, SMSSender: first, Backoff: Backoff{Initial: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := s1.Create(context.Background(), CreateRequest{StudyUID: "1", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first failure", func() bool { d, _ := s1.Deliveries(l.ID); return d[0].State == "retrying" })
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if calls, sent := first.snapshot(); calls < 1 || len(sent) != 0 {
		t.Fatalf("first process: %d calls, sent %v", calls, sent)
	}

	second := &flaky{next: &delivery.FileOutbox{Dir: filepath.Join(dir, "outbox")}}
	s2 := open(t, dir, c, func(o *Options) { o.SMSSender = second; o.Backoff = Backoff{Initial: time.Second} })
	if d, _ := s2.Deliveries(l.ID); d[0].State != "retrying" || d[0].NextAttempt.IsZero() {
		t.Fatalf("after restart the message should wait for its retry: %+v", d[0])
	}
	var d []DeliveryStatus
	waitFor(t, "delivery after restart", func() bool { d, _ = s2.Deliveries(l.ID); return d[0].State == "sent" })
	// A duplicate would be sent within the longest backoff (the default
	// 30 min, plus jitter).
	time.Sleep(36 * time.Minute)
	synctest.Wait()
	calls, sent := second.snapshot()
	if calls != 1 || len(sent) != 1 || d[0].Attempts < 2 {
		t.Fatalf("after restart: calls %d, sent %v, status %+v", calls, sent, d[0])
	}
	if n := len(outboxFiles(t, s2, ".sms")); n != 1 {
		t.Fatalf("%d sms files", n)
	}
}

func TestRestartWhileSendingRequeues(t *testing.T) {
	// A process that stopped between "sending" and "sent" leaves the message
	// "sending"; the next Open queues it again and the file outbox, keyed by
	// message ID, still holds one file.
	dir := t.TempDir()
	c := newClock()
	s1, err := Open(dir, Options{Now: c.Now, NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	l, _, _ := s1.Create(context.Background(), CreateRequest{StudyUID: "1", Emails: []string{"a@example.com"}})
	m, _, err := s1.claim() // "sending", then the process dies
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	(&delivery.FileOutbox{Dir: s1.OutboxDir()}).SendEmail(context.Background(), delivery.Email{ID: m.ID, To: m.To, Subject: "x", Text: "x"})
	s1.Close()
	s2 := open(t, dir, c, nil)
	waitFor(t, "redelivery", func() bool { d, _ := s2.Deliveries(l.ID); return d[0].State == "sent" })
	if n := len(outboxFiles(t, s2, ".eml")); n != 1 {
		t.Fatalf("%d eml files", n)
	}
}

func TestSecondProcessFailsFast(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, newClock(), nil)
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use by another sonolink process") {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("second open was slow")
	}
}

func TestFlushWithoutWorker(t *testing.T) {
	s := open(t, t.TempDir(), newClock(), func(o *Options) { o.NoWorker = true })
	l, _, _ := s.Create(context.Background(), CreateRequest{StudyUID: "1", Emails: []string{"a@example.com"}})
	if d, _ := s.Deliveries(l.ID); d[0].State != "queued" {
		t.Fatalf("without a worker: %+v", d)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Deliveries(l.ID); d[0].State != "sent" {
		t.Fatalf("after flush: %+v", d)
	}
}

func TestAuditAndViews(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l, url, _ := s.Create(ctx, CreateRequest{StudyUID: "5.5", Emails: []string{"a@example.com"}, Actor: "anna"})
	waitFor(t, "sent", func() bool { d, _ := s.Deliveries(l.ID); return d[0].State == "sent" })
	c.Add(time.Hour)
	if err := s.RecordView(l.ID, "192.0.2.7:5555", "Mozilla/5.0 (iPhone)"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Link(l.ID); got.Views != 0 {
		t.Fatalf("a view was written before the flush: %+v", got)
	}
	if err := s.FlushViews(); err != nil {
		t.Fatal(err)
	}
	s.Revoke(ctx, l.ID, "typo in address", "anna")
	got, _ := s.Link(l.ID)
	if got.Views != 1 || !got.LastView.Equal(c.Now()) {
		t.Fatalf("views %+v", got)
	}
	ev, err := s.Audit(AuditFilter{StudyUID: "5.5"})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range ev {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "link.created,delivery.sent,link.viewed,link.revoked" {
		t.Fatalf("audit %v", types)
	}
	if v := ev[2]; v.RemoteAddr != "192.0.2.7:5555" || v.UserAgent != "Mozilla/5.0 (iPhone)" || v.LinkID != l.ID {
		t.Fatalf("view event %+v", v)
	}
	since, _ := s.Audit(AuditFilter{Since: c.Now()})
	if len(since) != 2 {
		t.Fatalf("since: %+v", since)
	}
	// Nothing anywhere in the audit log holds the token.
	all, _ := s.Audit(AuditFilter{})
	for _, e := range all {
		if strings.Contains(e.Detail+e.To+e.UserAgent, tokenOf(t, url)) || strings.Contains(e.To+e.Detail, "a@example.com") {
			t.Fatalf("audit leaks: %+v", e)
		}
	}
}

// LinkCodeReach counts what a change of the link code or its scope
// affects among the active links.
func TestLinkCodeReach(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	for range 2 {
		if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "1", Emails: []string{"a@example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	s.UpdateSetting(settings.KeyLinkCode, "SOL-2026")
	if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "2", Emails: []string{"a@example.com"}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.LinkCodeReach()
	if err != nil || r != (CodeReach{Active: 3, WithCode: 1, AskFor: 1, WouldAskAll: 3}) {
		t.Fatalf("reach %+v, %v", r, err)
	}
	s.UpdateSetting(settings.KeyLinkCodeScope, "all")
	if r, _ := s.LinkCodeReach(); r.AskFor != 3 {
		t.Fatalf("scope all: reach %+v", r)
	}
	c.Add(100 * 24 * time.Hour)
	if r, _ := s.LinkCodeReach(); r.Active != 0 {
		t.Fatalf("expired links counted: %+v", r)
	}
}

// A link's messages are in the patient's language: the technician's choice,
// else one typed with the contacts, else the phone's country's when
// sonolink speaks it, else the clinic's. The one-time code follows the
// page that asked for it, a reminder the link.
func TestPatientLanguage(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	if err := s.UpdateSetting(settings.KeyLanguage, "sv"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSetting(settings.KeyTextPrefix+"sms", "{{.Clinic}} (svensk text): {{.Link}}"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  CreateRequest
		want string // Link.Lang
		sms  string // a word of the SMS
	}{
		{"chosen", CreateRequest{Phones: []string{"+46701234567"}, Lang: "ES"}, "es", "ecografias"},
		{"typed", CreateRequest{Phones: []string{"+46701234567"}, TypedLang: "en"}, "en", "ultrasound images"},
		{"typed, not spoken", CreateRequest{Phones: []string{"+34612345678"}, TypedLang: "de"}, "es", "ecografias"},
		{"phone", CreateRequest{Phones: []string{"+34612345678"}}, "es", "ecografias"},
		{"phone, not spoken", CreateRequest{Phones: []string{"+4915112345678", "+34612345678"}}, "", "svensk text"},
		{"e-mail only", CreateRequest{Emails: []string{"p@example.com"}}, "", ""},
	}
	for i, tc := range cases {
		tc.req.StudyUID = fmt.Sprintf("1.2.%d", i)
		l, _, err := s.Create(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if l.Lang != tc.want {
			t.Errorf("%s: link language %q, want %q", tc.name, l.Lang, tc.want)
		}
		if tc.sms == "" {
			continue
		}
		waitFor(t, tc.name+" sms", func() bool {
			for _, m := range outboxFiles(t, s, ".sms") {
				if strings.Contains(m, tc.sms) {
					return true
				}
			}
			return false
		})
	}
	// Only the link in the clinic's language uses its Swedish override: two
	// SMS, one per number.
	waitFor(t, "the override in exactly the two Swedish SMS", func() bool {
		n := 0
		for _, m := range outboxFiles(t, s, ".sms") {
			if strings.Contains(m, "svensk text") {
				n++
			}
		}
		return n == 2 && len(outboxFiles(t, s, ".sms")) == 6
	})
	if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.9", Phones: []string{"+46701234567"}, Lang: "fi"}); !errors.Is(err, ErrUnknownLanguage) || !strings.Contains(err.Error(), strings.Join(i18n.Languages(), ", ")) {
		t.Errorf("a language sonolink does not speak: %v", err)
	}

	// The one-time code: in the page's language, else the link's.
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.10", Phones: []string{"+34612345678"}})
	if err != nil {
		t.Fatal(err)
	}
	before := len(outboxFiles(t, s, ".sms"))
	if err := s.RequestOTP(ctx, l.ID, "198.51.100.7", "sms:0", "en"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "otp in English", func() bool {
		fs := outboxFiles(t, s, ".sms")
		return len(fs) > before && strings.Contains(strings.Join(fs, ""), "is your one-time code")
	})
	if err := s.RequestOTP(ctx, l.ID, "198.51.100.8", "sms:0", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "otp in the link's Spanish", func() bool {
		return strings.Contains(strings.Join(outboxFiles(t, s, ".sms"), ""), "es su codigo de un solo uso")
	})

	// A new link to the same contacts keeps the language; to others, not.
	links, err := s.StudyLinks("1.2.0")
	if err != nil || len(links) == 0 {
		t.Fatalf("links of 1.2.0: %v %v", links, err)
	}
	same, _, err := s.NewLink(ctx, links[0].ID, nil, nil, "anna")
	if err != nil || same.Lang != "es" {
		t.Errorf("new link to the same contacts: %+v %v", same, err)
	}
	other, _, err := s.NewLink(ctx, links[0].ID, []string{"x@example.com"}, nil, "anna")
	if err != nil || other.Lang != "" {
		t.Errorf("new link to other contacts: lang %q %v", other.Lang, err)
	}
}

// A reloading phone is one audit event per second, not one per request,
// and its views all count; Close writes what is pending.
func TestViewsCoalesced(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	s := open(t, dir, c, nil)
	ctx := context.Background()
	l, _, _ := s.Create(ctx, CreateRequest{StudyUID: "5.6", Emails: []string{"a@example.com"}})
	for i := 0; i < 50; i++ {
		if err := s.RecordView(l.ID, "192.0.2.8", "Mozilla/5.0 (Android)"); err != nil {
			t.Fatal(err)
		}
	}
	s.RecordView(l.ID, "192.0.2.9", "Mozilla/5.0 (iPhone)")
	s.RecordView("LNOSUCH", "192.0.2.9", "x") // a purged link: not an error for the others
	waitFor(t, "views written within the second", func() bool { got, _ := s.Link(l.ID); return got.Views == 51 })
	ev, _ := s.Audit(AuditFilter{StudyUID: "5.6"})
	var views []string
	for _, e := range ev {
		if e.Type == EventLinkViewed {
			views = append(views, e.RemoteAddr+" "+e.Detail)
		}
	}
	if strings.Join(views, ",") != "192.0.2.8 50 views,192.0.2.9 " {
		t.Errorf("view audit events %q", views)
	}
	s.RecordView(l.ID, "192.0.2.8", "Mozilla/5.0 (Android)")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, c, nil)
	if got, _ := s2.Link(l.ID); got.Views != 52 {
		t.Errorf("after Close and reopening: %d views, want 52", got.Views)
	}
}
