package share

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// passwordLink returns a link whose patient password is "correct horse".
func passwordLink(t *testing.T, s *Service) *Link {
	t.Helper()
	ctx := context.Background()
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link message", func() bool { return len(outboxFiles(t, s, ".sms")) == 1 })
	const pat = "198.51.100.7"
	if err := s.RequestOTP(ctx, l.ID, pat, "sms:0", ""); err != nil {
		t.Fatal(err)
	}
	proof, err := s.VerifyOTP(l.ID, pat, lastCode(t, s, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(l.ID, proof, "correct horse"); err != nil {
		t.Fatal(err)
	}
	return l
}

// An attacker holding the link cannot keep the patient out: wrong
// passwords slow their own address only, and even that address gets in
// with the right password once its wait is over.
func TestWrongPasswordsDoNotLockThePatientOut(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	l := passwordLink(t, s)
	const attacker, patient = "203.0.113.66", "192.0.2.10"

	var err error
	for i := 0; i < 5; i++ {
		err = s.CheckPassword(l.ID, attacker, "guess")
		var we *WaitError
		if errors.As(err, &we) && we.Cause == nil {
			c.Add(we.Until.Sub(c.Now())) // not checked: wait as asked and try again
			err = s.CheckPassword(l.ID, attacker, "guess")
		}
		if !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	var we *WaitError
	if !errors.As(err, &we) || !we.Until.Equal(c.Now().Add(FailureDelay(5))) {
		t.Fatalf("after 5 wrong passwords: %v, want a wait of %v", err, FailureDelay(5))
	}
	if err := s.CheckPassword(l.ID, patient, "correct horse"); err != nil {
		t.Fatalf("right password from another address, at once: %v", err)
	}
	if err := s.CheckPassword(l.ID, attacker, "correct horse"); !errors.Is(err, ErrTooSoon) || errors.Is(err, ErrWrongPassword) {
		t.Fatalf("right password from the same address before its wait: %v", err)
	}
	c.Add(FailureDelay(5))
	if err := s.CheckPassword(l.ID, attacker, "correct horse"); err != nil {
		t.Fatalf("right password from the same address after its wait: %v", err)
	}
	// Success clears the address's failures.
	if err := s.CheckPassword(l.ID, attacker, "guess"); !errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrTooSoon) {
		t.Fatalf("first wrong password after a success: %v", err)
	}
}

// Past the link's ceiling every address is slowed, a new one included, but
// a right password is still accepted once the wait is over.
func TestLinkCeilingSlowsButAdmits(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	l := passwordLink(t, s)
	for i := 0; i < LinkCeiling; i++ {
		addr := fmt.Sprintf("203.0.113.%d", i)
		if err := s.CheckPassword(l.ID, addr, "guess"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	const patient = "192.0.2.10"
	err := s.CheckPassword(l.ID, patient, "correct horse")
	var we *WaitError
	if !errors.As(err, &we) || we.Cause != nil || we.Until.Sub(c.Now()) != FailureDelay(CeilingFailures) {
		t.Fatalf("new address past the ceiling: %v, want a wait of %v", err, FailureDelay(CeilingFailures))
	}
	c.Add(FailureDelay(CeilingFailures))
	if err := s.CheckPassword(l.ID, patient, "correct horse"); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// An attacker asking for code after code gets few messages sent to the
// patient: OTPSendsPerSource from one address, OTPSendsPerLink from any
// number of them.
func TestCodeRequestsBounded(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for i := 0; i < 20; i++ {
		err := s.RequestOTP(ctx, l.ID, "203.0.113.66", "sms:0", "")
		if err == nil {
			sent++
		} else if !errors.Is(err, ErrCodeLimit) {
			t.Fatal(err)
		}
	}
	if sent != OTPSendsPerSource {
		t.Fatalf("20 requests from one address sent %d codes, want %d", sent, OTPSendsPerSource)
	}
	if left, _, _ := s.CodeMessages(l.ID, "192.0.2.10"); left != OTPSendsPerSource {
		t.Fatalf("another address may ask for %d codes, want %d", left, OTPSendsPerSource)
	}
	for i := 0; i < 20; i++ {
		addr := fmt.Sprintf("198.51.100.%d", i)
		for j := 0; j < 20; j++ {
			if s.RequestOTP(ctx, l.ID, addr, "sms:0", "") == nil {
				sent++
			}
		}
	}
	if sent != OTPSendsPerLink {
		t.Fatalf("400 requests from 21 addresses sent %d codes, want %d", sent, OTPSendsPerLink)
	}
	left, next, _ := s.CodeMessages(l.ID, "192.0.2.10")
	if left != 0 || !next.Equal(newClock().Now().Add(SourceMemory)) {
		t.Fatalf("CodeMessages: %d left, next %v", left, next)
	}
	c.Add(SourceMemory)
	if left, _, _ := s.CodeMessages(l.ID, "192.0.2.10"); left != OTPSendsPerSource {
		t.Fatalf("a day later: %d left", left)
	}
	waitFor(t, "code messages", func() bool { return len(outboxFiles(t, s, ".sms")) == 1+OTPSendsPerLink })
}

// Online guessing stays infeasible: the delays grow to MaxDelay, so one
// address gets about a hundred tries a day at any secret, and a one-time
// code (1,000,000 values) at most OTPSendsPerLink × OTPMaxAttempts guesses
// a day.
func TestGuessingStaysInfeasible(t *testing.T) {
	for n := 1; n <= 40; n++ {
		if d, prev := FailureDelay(n), FailureDelay(n-1); d < prev || d > MaxDelay {
			t.Fatalf("FailureDelay(%d) = %v after %v", n, d, prev)
		}
	}
	if FailureDelay(FreeFailures+4) != 16*FirstDelay || FailureDelay(100) != MaxDelay {
		t.Fatalf("delays: %v, %v", FailureDelay(FreeFailures+4), FailureDelay(100))
	}

	// One address guessing as fast as it is let, for a day.
	guesses := func(tr *throttleState, key string, start time.Time) int {
		now, n := start, 0
		for now.Before(start.Add(SourceMemory)) {
			if d, register := tr.wait(key, now); d > 0 {
				if register {
					tr.source(key, now)
				}
				now = now.Add(d)
				continue
			}
			tr.fail(key, now)
			n++
		}
		return n
	}
	start := newClock().Now()
	perAddr := guesses(&throttleState{}, "a", start)
	want := FreeFailures + 10 + int(SourceMemory/MaxDelay)
	if perAddr > want {
		t.Fatalf("one address gets %d guesses a day, want at most %d", perAddr, want)
	}
	t.Logf("one address: %d guesses a day", perAddr)

	// A password of 8 random lower-case letters against 1,000 addresses:
	// expected years to guess it.
	space := math.Pow(26, MinPasswordLength)
	years := space / 2 / float64(1000*perAddr) / 365
	if years < 10 {
		t.Fatalf("8 letters fall to 1,000 addresses in %.1f years", years)
	}
	// A one-time code, whatever the number of addresses.
	perDay := OTPSendsPerLink * OTPMaxAttempts
	if p := float64(perDay) / 1e6; p > 1e-4 {
		t.Fatalf("a one-time code is guessed with probability %g a day", p)
	}
}
