package share

import (
	"context"
	"testing"
)

// TestSharesMarksTheCurrentLink: of a study's links, Shares marks one as
// current, the one the share status and the attention list speak of:
// active before revoked, then the one sent last.
func TestSharesMarksTheCurrentLink(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	a, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", Emails: []string{"a@example.com"}, Actor: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(3600e9)
	b, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", Emails: []string{"b@example.com"}, Actor: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	current := func() string {
		t.Helper()
		views, err := s.Shares("1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		id, n := "", 0
		for _, v := range views {
			if v.Current {
				id, n = v.ID, n+1
			}
		}
		if n != 1 {
			t.Fatalf("%d links marked current, want 1", n)
		}
		return id
	}
	if got := current(); got != b.ID {
		t.Fatalf("current = %s, want the newer link %s", got, b.ID)
	}
	if _, err := s.Revoke(ctx, b.ID, "wrong address", "anna"); err != nil {
		t.Fatal(err)
	}
	if got := current(); got != a.ID {
		t.Fatalf("after revoking the newer link, current = %s, want the active %s", got, a.ID)
	}
}
