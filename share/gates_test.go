package share

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// lastCode waits for n SMS files and returns the code in the newest.
func lastCode(t *testing.T, s *Service, n int) string {
	t.Helper()
	var files []string
	waitFor(t, "code message", func() bool { files = outboxFiles(t, s, ".sms"); return len(files) >= n })
	var newest string
	for _, f := range files { // IDs sort by time; Glob sorts by name
		newest = f
	}
	code := codeRE.FindString(newest)
	if code == "" {
		t.Fatalf("no code in %q", newest)
	}
	return code
}

func TestOTPAndPassword(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1", Emails: []string{"pat@example.com"}, Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link messages", func() bool { return len(outboxFiles(t, s, "")) == 2 })
	const pat = "198.51.100.7"

	choices, _ := s.OTPContacts(l.ID)
	if len(choices) != 2 || choices[0].Masked != "p•••@example.com" || choices[1].Ref != "sms:0" || strings.Contains(choices[1].Masked, "0123") {
		t.Fatalf("choices %+v", choices)
	}
	if err := s.RequestOTP(ctx, l.ID, pat, "+34612345678", ""); !errors.Is(err, ErrNoContact) {
		t.Fatalf("code to a stranger: %v", err)
	}
	if _, err := s.VerifyOTP(l.ID, pat, "123456"); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("verify before request: %v", err)
	}
	if err := s.RequestOTP(ctx, l.ID, pat, "sms:0", ""); err != nil {
		t.Fatal(err)
	}
	code := lastCode(t, s, 2)
	sms := outboxFiles(t, s, ".sms")[1]
	if n, gsm := smsSegments(strings.SplitN(sms, "\n\n", 2)[1]); n != 1 || !gsm {
		t.Fatalf("code SMS takes %d segments (gsm7 %v): %q", n, gsm, sms)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := s.VerifyOTP(l.ID, pat, wrong); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("wrong code: %v", err)
	}
	proof, err := s.VerifyOTP(l.ID, pat, code[:3]+" "+code[3:])
	if err != nil || proof == "" {
		t.Fatalf("right code: %v", err)
	}
	if _, err := s.VerifyOTP(l.ID, pat, code); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("code used twice: %v", err)
	}
	if err := s.SetPassword(l.ID, proof, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
	if err := s.SetPassword(l.ID, "forged", "correct horse"); !errors.Is(err, ErrBadProof) {
		t.Fatalf("forged proof: %v", err)
	}
	if ok, _ := s.HasPassword(l.ID); ok {
		t.Fatal("password before set")
	}
	if err := s.SetPassword(l.ID, proof, "correct horse"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(l.ID, proof, "another one!"); !errors.Is(err, ErrBadProof) {
		t.Fatalf("proof used twice: %v", err)
	}
	if ok, _ := s.HasPassword(l.ID); !ok {
		t.Fatal("HasPassword false after set")
	}
	rec, _ := s.readLink(l.ID)
	if !strings.HasPrefix(rec.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(rec.PasswordHash, "correct horse") {
		t.Fatalf("stored password %q", rec.PasswordHash)
	}
	// The database file holds neither the password nor the code in clear.
	var dump bytes.Buffer
	s.db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&dump); return err })
	if bytes.Contains(dump.Bytes(), []byte("correct horse")) {
		t.Fatal("password in clear in share.db")
	}

	if err := s.CheckPassword(l.ID, pat, "correct horse"); err != nil {
		t.Fatal(err)
	}
	// A code expires after OTPLifetime.
	if err := s.RequestOTP(ctx, l.ID, pat, "pat@example.com", ""); err != nil {
		t.Fatal(err)
	}
	var eml string
	waitFor(t, "code e-mail", func() bool { e := outboxFiles(t, s, ".eml"); eml = e[len(e)-1]; return len(e) == 2 })
	code = codeRE.FindString(eml)
	c.Add(OTPLifetime + time.Second)
	if _, err := s.VerifyOTP(l.ID, pat, code); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("expired code: %v", err)
	}

	// A code is void after OTPMaxAttempts wrong guesses.
	s.RequestOTP(ctx, l.ID, pat, "sms:0", "")
	code = lastCode(t, s, 3)
	for i := 0; i < OTPMaxAttempts; i++ {
		_, err := s.VerifyOTP(l.ID, pat, "999999")
		var we *WaitError
		if errors.As(err, &we) && we.Cause == nil {
			t.Fatalf("guess %d not checked: %v", i+1, err)
		} else if we != nil {
			c.Add(we.Until.Sub(c.Now()))
		}
	}
	if code != "999999" {
		if _, err := s.VerifyOTP(l.ID, pat, code); !errors.Is(err, ErrWrongOTP) {
			t.Fatalf("code after %d wrong guesses: %v", OTPMaxAttempts, err)
		}
	}
	// Code messages are limited: this address has had its three.
	if left, next, _ := s.CodeMessages(l.ID, pat); left != 0 || next.IsZero() {
		t.Fatalf("CodeMessages after %d: %d left, next %v", OTPSendsPerSource, left, next)
	}
	var cle *CodeLimitError
	if err := s.RequestOTP(ctx, l.ID, pat, "sms:0", ""); !errors.As(err, &cle) || !errors.Is(err, ErrCodeLimit) {
		t.Fatalf("request %d: %v", OTPSendsPerSource+1, err)
	}
	ev, _ := s.Audit(AuditFilter{LinkID: l.ID})
	seen := map[string]bool{}
	for _, e := range ev {
		seen[e.Type] = true
		if strings.Contains(e.Detail, code) && e.Type != EventLinkCreated {
			t.Fatalf("audit holds a code: %+v", e)
		}
	}
	for _, want := range []string{EventOTPRequested, EventOTPVerified, EventOTPFailed, EventPasswordSet, EventPasswordOK} {
		if !seen[want] {
			t.Errorf("audit lacks %s", want)
		}
	}
	// Revoked links cannot ask for codes.
	s.Revoke(ctx, l.ID, "", "")
	c.Add(2 * time.Hour)
	if err := s.RequestOTP(ctx, l.ID, pat, "sms:0", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("code for a revoked link: %v", err)
	}
}
