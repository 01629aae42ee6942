package share

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ForgetStudy refuses a study with a live link; once its links ended it
// removes links, tokens (the old URL is unknown), sealed tokens, contact
// entries and outbox records and files, audits the purge once (without
// contacts) and leaves other studies alone.
func TestForgetStudy(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	l1, url1, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", StudyKey: "7", Emails: []string{"ana@example.com"}, Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	_, url2, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", StudyKey: "7", Emails: []string{"ana@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	other, urlOther, err := s.Create(ctx, CreateRequest{StudyUID: "9.9.9", StudyKey: "8", Emails: []string{"ana@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Flush returns when nothing is left to claim; the worker may still be
	// writing a message it claimed first.
	waitFor(t, "three e-mails in the outbox", func() bool { return len(outboxFiles(t, s, ".eml")) == 3 })
	p := StudyPurge{ID: "p1", Actor: "retention", Detail: "study 7: link ended 31d ago; 2 objects, 1 MB"}
	if _, err := s.ForgetStudy("1.2.3", p); !errors.Is(err, ErrLiveLink) {
		t.Fatalf("live links: %v", err)
	}
	if active, _, total, _ := s.ActiveLinks("1.2.3"); active != 2 || total != 2 {
		t.Fatalf("ActiveLinks: %d of %d", active, total)
	}
	if _, err := s.Revoke(ctx, l1.ID, "wrong address", "tech"); err != nil {
		t.Fatal(err)
	}
	revokedAt := c.Now()
	if active, ended, _, _ := s.ActiveLinks("1.2.3"); active != 1 || !ended.Equal(revokedAt.UTC()) {
		t.Fatalf("after revoke: %d active, ended %v", active, ended)
	}
	c.Add(100 * 24 * time.Hour) // the other link expires
	n, err := s.ForgetStudy("1.2.3", p)
	if err != nil || n != 2 {
		t.Fatalf("ForgetStudy: %d %v", n, err)
	}
	c.Add(-100 * 24 * time.Hour)
	for _, u := range []string{url1, url2} {
		if _, err := s.Resolve(tokenOf(t, u)); !errors.Is(err, ErrNotFound) {
			t.Errorf("old link after purge: %v", err)
		}
	}
	if _, err := s.Link(l1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("link after purge: %v", err)
	}
	if _, err := s.Resolve(tokenOf(t, urlOther)); err != nil {
		t.Errorf("the other study's link: %v", err)
	}
	if got, _ := s.StudiesWithContact([]string{"ana@example.com"}, nil); len(got) != 1 || got[0] != "9.9.9" {
		t.Errorf("contact index after purge: %v", got)
	}
	if n := len(outboxFiles(t, s, ".eml")); n != 1 {
		t.Errorf("%d e-mails left in the outbox, want the other study's", n)
	}
	if n := len(outboxFiles(t, s, ".sms")); n != 0 {
		t.Errorf("%d SMS left in the outbox", n)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		_ = tx.Bucket(bktOutbox).ForEach(func(k, v []byte) error {
			if strings.Contains(string(v), "1.2.3\"") {
				t.Errorf("outbox record of the purged study left: %s", k)
			}
			return nil
		})
		_ = tx.Bucket(bktLinks).ForEach(func(k, v []byte) error {
			if string(k) != other.ID {
				t.Errorf("link record left: %s", k)
			}
			return nil
		})
		return nil
	})
	// Again (a purge finished after a crash): nothing more, no second entry.
	if n, err := s.ForgetStudy("1.2.3", p); err != nil || n != 0 {
		t.Errorf("second ForgetStudy: %d %v", n, err)
	}
	ev, err := s.Audit(AuditFilter{StudyUID: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	purged := 0
	for _, e := range ev {
		if e.Type == EventStudyPurged {
			purged++
			if e.Detail != p.Detail || e.Actor != "retention" || e.To != "" || strings.Contains(e.Detail, "ana") {
				t.Errorf("purge entry: %+v", e)
			}
		}
	}
	if purged != 1 {
		t.Errorf("%d purge entries, want 1", purged)
	}
}
