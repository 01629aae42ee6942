package share

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The expired page's request reaches the study's open requests, is
// limited per source and link, and a resend or a new link closes it.
func TestRenewalRequest(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", StudyKey: "7", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestRenewal(l.ID, "10.0.0.1"); !errors.Is(err, ErrNotExpired) {
		t.Fatalf("active link: %v", err)
	}
	c.Add(91 * 24 * time.Hour)
	r, err := s.RequestRenewal(l.ID, "10.0.0.1")
	if err != nil || r.Count != 1 || r.StudyKey != "7" {
		t.Fatalf("first request %+v, %v", r, err)
	}
	s.RequestRenewal(l.ID, "10.0.0.1")
	var we *WaitError
	if _, err := s.RequestRenewal(l.ID, "10.0.0.1"); !errors.As(err, &we) {
		t.Fatalf("third request from one source: %v", err)
	}
	for i := range 3 {
		s.RequestRenewal(l.ID, "10.0.1."+string(rune('1'+i)))
	}
	if _, err := s.RequestRenewal(l.ID, "10.0.2.1"); !errors.As(err, &we) {
		t.Fatalf("request beyond the link's limit: %v", err)
	}
	reqs, err := s.RenewalRequests("")
	if err != nil || len(reqs) != 1 || reqs[0].LinkID != l.ID || reqs[0].Count != RenewalsPerLink {
		t.Fatalf("open requests %+v, %v", reqs, err)
	}
	if v, _ := s.Shares("1.2.3"); v[0].RenewalAsked.IsZero() {
		t.Fatal("the shares panel does not show the request")
	}
	// A new link for the study answers it.
	if _, _, err := s.NewLink(ctx, l.ID, nil, nil, "tech"); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := s.RenewalRequests("1.2.3"); len(reqs) != 0 {
		t.Fatalf("request still open after a new link: %+v", reqs)
	}
	if _, err := s.Revoke(ctx, l.ID, "test", "tech"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestRenewal(l.ID, "10.0.0.9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked link: %v", err)
	}
}
