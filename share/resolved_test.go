package share

import (
	"context"
	"errors"
	"testing"
)

// TestResolveSeesEveryChange: Resolve keeps decoded links, but a change to
// the link's record (a resend's new expiry, a revocation) is seen by the
// very next Resolve, and what one caller does to the Link it got does not
// reach the next caller.
func TestResolveSeesEveryChange(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l, url, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", Emails: []string{"name@example.com"}, Origin: OriginAuto, Actor: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenOf(t, url)
	first, err := s.Resolve(tok)
	if err != nil {
		t.Fatal(err)
	}
	first.Emails[0] = "changed@example.com"
	first.Emails = append(first.Emails, "more@example.com")
	again, err := s.Resolve(tok)
	if err != nil || len(again.Emails) != 1 || again.Emails[0] != "name@example.com" {
		t.Fatalf("second Resolve = %+v, %v: the first caller's change reached it", again, err)
	}

	c.Add(24 * 3600e9)
	if _, err := s.Resend(ctx, l.ID, "anna"); err != nil {
		t.Fatal(err)
	}
	after, err := s.Resolve(tok)
	if err != nil || !after.Expires.After(first.Expires) || after.SendCount != 2 {
		t.Fatalf("after resend: %+v, %v (before: expires %v)", after, err, first.Expires)
	}

	if _, err := s.Revoke(ctx, l.ID, "wrong address", "anna"); err != nil {
		t.Fatal(err)
	}
	var rev *RevokedError
	if _, err := s.Resolve(tok); !errors.As(err, &rev) {
		t.Fatalf("after revoke: %v, want RevokedError", err)
	}
}
