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

	choices, _ := s.OTPContacts(l.ID)
	if len(choices) != 2 || choices[0].Masked != "p•••@example.com" || choices[1].Ref != "sms:0" || strings.Contains(choices[1].Masked, "0123") {
		t.Fatalf("choices %+v", choices)
	}
	if err := s.RequestOTP(ctx, l.ID, "+34612345678"); !errors.Is(err, ErrNoContact) {
		t.Fatalf("code to a stranger: %v", err)
	}
	if _, err := s.VerifyOTP(l.ID, "123456"); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("verify before request: %v", err)
	}
	if err := s.RequestOTP(ctx, l.ID, "sms:0"); err != nil {
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
	if _, err := s.VerifyOTP(l.ID, wrong); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("wrong code: %v", err)
	}
	proof, err := s.VerifyOTP(l.ID, code[:3]+" "+code[3:])
	if err != nil || proof == "" {
		t.Fatalf("right code: %v", err)
	}
	if _, err := s.VerifyOTP(l.ID, code); !errors.Is(err, ErrWrongOTP) {
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

	if err := s.CheckPassword(l.ID, "correct horse"); err != nil {
		t.Fatal(err)
	}
	var err2 error
	for i := 0; i < PasswordMaxFailures; i++ {
		err2 = s.CheckPassword(l.ID, "guess")
		if i < PasswordMaxFailures-1 && !errors.Is(err2, ErrWrongPassword) {
			t.Fatalf("failure %d: %v", i+1, err2)
		}
	}
	var le *LockedError
	if !errors.As(err2, &le) || !le.Until.Equal(c.Now().Add(LockoutDuration)) {
		t.Fatalf("after %d failures: %v", PasswordMaxFailures, err2)
	}
	if err := s.CheckPassword(l.ID, "correct horse"); !errors.Is(err, ErrLocked) {
		t.Fatalf("right password while locked: %v", err)
	}
	c.Add(LockoutDuration + time.Second)
	if err := s.CheckPassword(l.ID, "correct horse"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}

	// A code expires after OTPLifetime.
	if err := s.RequestOTP(ctx, l.ID, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	var eml string
	waitFor(t, "code e-mail", func() bool { e := outboxFiles(t, s, ".eml"); eml = e[len(e)-1]; return len(e) == 2 })
	code = codeRE.FindString(eml)
	c.Add(OTPLifetime + time.Second)
	if _, err := s.VerifyOTP(l.ID, code); !errors.Is(err, ErrWrongOTP) {
		t.Fatalf("expired code: %v", err)
	}

	// A code is void after OTPMaxAttempts wrong guesses.
	s.RequestOTP(ctx, l.ID, "sms:0")
	code = lastCode(t, s, 3)
	for i := 0; i < OTPMaxAttempts; i++ {
		s.VerifyOTP(l.ID, "999999x"[:6])
	}
	if code != "999999" {
		if _, err := s.VerifyOTP(l.ID, code); !errors.Is(err, ErrWrongOTP) {
			t.Fatalf("code after %d wrong guesses: %v", OTPMaxAttempts, err)
		}
	}
	// Requests are limited.
	var rerr error
	for i := 0; i < OTPMaxRequests; i++ {
		rerr = s.RequestOTP(ctx, l.ID, "sms:0")
	}
	if !errors.Is(rerr, ErrLocked) {
		t.Fatalf("request %d: %v", OTPMaxRequests+2, rerr)
	}
	ev, _ := s.Audit(AuditFilter{LinkID: l.ID})
	seen := map[string]bool{}
	for _, e := range ev {
		seen[e.Type] = true
		if strings.Contains(e.Detail, code) && e.Type != EventLinkCreated {
			t.Fatalf("audit holds a code: %+v", e)
		}
	}
	for _, want := range []string{EventOTPRequested, EventOTPVerified, EventOTPFailed, EventPasswordSet, EventPasswordFailed, EventPasswordLocked, EventPasswordOK} {
		if !seen[want] {
			t.Errorf("audit lacks %s", want)
		}
	}
	// Revoked links cannot ask for codes.
	s.Revoke(ctx, l.ID, "", "")
	c.Add(2 * time.Hour)
	if err := s.RequestOTP(ctx, l.ID, "sms:0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("code for a revoked link: %v", err)
	}
}
