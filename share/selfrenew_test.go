package share

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sonolink/settings"
)

// With link.self_renew on, the patient of an expired link gets a code at
// one of its contacts and, with it, a new link to the same contacts; the
// open request closes, and everything is audited. Off, or for a live or
// revoked link, nothing is sent.
func TestSelfRenew(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	const pat = "198.51.100.7"
	old, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.9", StudyKey: "9", Emails: []string{"pat@example.com"}, Phones: []string{"+46701234567"}, Lang: "sv"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link messages", func() bool { return len(outboxFiles(t, s, "")) == 2 })

	// A live link: the narrow path refuses, and so does the old one for
	// the expired link.
	if err := s.RequestRenewalCode(ctx, old.ID, pat, "sms:0", "es"); !errors.Is(err, ErrNotExpired) {
		t.Fatalf("live link: %v", err)
	}
	c.Add(91 * 24 * time.Hour)
	var exp *ExpiredError
	if err := s.RequestOTP(ctx, old.ID, pat, "sms:0", ""); !errors.As(err, &exp) {
		t.Fatalf("RequestOTP on an expired link: %v", err)
	}
	// Off by default.
	if _, err := s.SelfRenewContacts(old.ID); !errors.Is(err, ErrSelfRenewOff) {
		t.Fatalf("contacts while off: %v", err)
	}
	if err := s.RequestRenewalCode(ctx, old.ID, pat, "sms:0", "es"); !errors.Is(err, ErrSelfRenewOff) {
		t.Fatalf("code while off: %v", err)
	}
	if err := s.UpdateSetting(settings.KeyLinkSelfRenew, "on"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestRenewal(old.ID, pat); err != nil { // the patient also asked the clinic
		t.Fatal(err)
	}
	cs, err := s.SelfRenewContacts(old.ID)
	if err != nil || len(cs) != 2 || cs[0].Masked != "p•••@example.com" || strings.Contains(cs[1].Masked, "0123") {
		t.Fatalf("contacts %+v, %v", cs, err)
	}
	if err := s.RequestRenewalCode(ctx, old.ID, pat, "+34612345678", ""); !errors.Is(err, ErrNoContact) {
		t.Fatalf("code to a stranger: %v", err)
	}
	if _, err := s.SelfRenew(ctx, old.ID, pat, "123456"); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("renew before a code: %v", err)
	}
	if err := s.RequestRenewalCode(ctx, old.ID, pat, "sms:0", "es"); err != nil {
		t.Fatal(err)
	}
	code := lastCode(t, s, 2)
	sms := outboxFiles(t, s, ".sms")
	if last := sms[len(sms)-1]; !strings.Contains(last, "codigo") {
		t.Errorf("the code message is not in the page's language (es): %q", last)
	}
	// A renewal code is no password code, and the reverse.
	if _, err := s.VerifyOTP(old.ID, pat, code); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("a renewal code verified as a password code: %v", err)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := s.SelfRenew(ctx, old.ID, pat, wrong); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("wrong code: %v", err)
	}
	c.Add(time.Minute) // three wrong tries: this source waits a little
	nl, err := s.SelfRenew(ctx, old.ID, pat, code[:3]+" "+code[3:])
	if err != nil {
		t.Fatal(err)
	}
	if nl.ID == old.ID || nl.StudyUID != old.StudyUID || nl.CreatedBy != ActorSelfRenew || nl.Lang != "sv" ||
		strings.Join(nl.Emails, ",") != "pat@example.com" || strings.Join(nl.Phones, ",") != "+46701234567" {
		t.Fatalf("new link %+v", nl)
	}
	if nl.Status(c.Now()) != StatusActive {
		t.Fatalf("new link is %s", nl.Status(c.Now()))
	}
	// The new link's messages went to both contacts (2 + 1 code + 2).
	waitFor(t, "new link messages", func() bool { return len(outboxFiles(t, s, "")) == 5 })
	if _, err := s.SelfRenew(ctx, old.ID, pat, code); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("one code renewed twice: %v", err)
	}
	if reqs, _ := s.RenewalRequests("1.2.9"); len(reqs) != 0 {
		t.Fatalf("the request is still open: %+v", reqs)
	}
	ev, _ := s.Audit(AuditFilter{StudyUID: "1.2.9"})
	var types []string
	for _, e := range ev {
		types = append(types, e.Type+"/"+e.Actor)
	}
	got := strings.Join(types, " ")
	for _, want := range []string{EventRenewalCode + "/patient", EventOTPVerified + "/patient",
		EventRenewalAnswered + "/" + ActorSelfRenew, EventLinkCreated + "/" + ActorSelfRenew} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s: %s", want, got)
		}
	}
	for _, e := range ev {
		if strings.Contains(e.To+e.Detail, "pat@") || strings.Contains(e.To+e.Detail, code) {
			t.Errorf("audit holds a contact or the code: %+v", e)
		}
	}
	if _, err := s.Revoke(ctx, old.ID, "test", "tech"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SelfRenewContacts(old.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked link: %v", err)
	}
}

// An attacker with only the expired link sends no more messages than the
// password's code limits allow, whatever mix of paths and addresses, and
// guessing the code slows the source and voids the code.
func TestSelfRenewLimits(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.10", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSetting(settings.KeyLinkSelfRenew, "on"); err != nil {
		t.Fatal(err)
	}
	c.Add(91 * 24 * time.Hour)
	sent := 0
	var limit *CodeLimitError
	for i := range 20 {
		src := "203.0.113." + string(rune('1'+i%9))
		err := s.RequestRenewalCode(ctx, l.ID, src, "sms:0", "")
		switch {
		case err == nil:
			sent++
		case !errors.As(err, &limit):
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if sent != OTPSendsPerLink {
		t.Fatalf("%d code messages sent, want the link's limit %d", sent, OTPSendsPerLink)
	}
	if left, _, _ := s.CodeMessages(l.ID, "203.0.113.99"); left != 0 {
		t.Fatalf("a new source may still have %d codes sent", left)
	}
	c.Add(SourceMemory)
	if err := s.RequestRenewalCode(ctx, l.ID, "203.0.113.1", "sms:0", ""); err != nil {
		t.Fatalf("a day later: %v", err)
	}
	var wait *WaitError
	waited := false
	for i := range OTPMaxAttempts + 3 {
		_, err := s.SelfRenew(ctx, l.ID, "203.0.113.1", "00000"+string(rune('0'+i%10)))
		if errors.As(err, &wait) {
			waited = true
			c.Add(wait.Until.Sub(c.Now()))
			continue
		}
		if !errors.Is(err, ErrWrongOTP) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if !waited {
		t.Error("wrong guesses never made the source wait")
	}
	if links, _ := s.StudyLinks("1.2.10"); len(links) != 1 {
		t.Fatalf("guessing issued a link: %d links", len(links))
	}
	var rec *linkRecord
	rec, _ = s.readLink(l.ID)
	if rec.RenewOTP != nil {
		t.Fatalf("the code survived %d wrong guesses", OTPMaxAttempts+3)
	}
}
