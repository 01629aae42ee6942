package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"sonolink/share"
)

// A study auto-share held back because its exam was discontinued on the
// scanner (MPPS) is flagged in the list and explained in its detail, until
// a link is sent by hand.
func TestDiscontinuedExamNeedsAttention(t *testing.T) {
	ctx := context.Background()
	dir, _, berg := seededDir(t)
	svc, err := Open(ctx, dir, fileOutbox, discardLogger()) // an outbox chosen on purpose: the CLI may deliver
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.be.sh.RecordAutoShareDecision("1.2.4", time.Now(), share.OutcomeDiscontinued); err != nil {
		t.Fatal(err)
	}
	list, err := svc.ListStudies(ctx, StudyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if want := s.ShortID == berg; (s.Attention != "") != want {
			t.Errorf("study %s: attention %q, want it set: %v", s.ShortID, s.Attention, want)
		}
	}
	d, err := svc.StudyDetail(ctx, berg)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "discontinued") || !strings.Contains(d.Notes[0], "sonolink send "+berg) {
		t.Errorf("notes %q: want the discontinued exam explained first", d.Notes)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: berg, To: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := svc.StudyDetail(ctx, berg); d.Attention != "" {
		t.Errorf("attention %q after a link was sent by hand", d.Attention)
	}
}
