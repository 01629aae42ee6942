package share

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/delivery"
	"sonolink/internal/dbschema"
)

// switchSMS fails every SMS for good while fail is set.
type switchSMS struct{ fail atomic.Bool }

func (s *switchSMS) SendSMS(ctx context.Context, m delivery.SMS) error {
	if s.fail.Load() {
		return delivery.Permanent(errors.New("number not reachable"))
	}
	return nil
}

func wantAttention(t *testing.T, s *Service, what string, noContact, failed []string) {
	t.Helper()
	a, err := s.Attention()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.NoContact, ",") != strings.Join(noContact, ",") || strings.Join(a.DeliveryFailed, ",") != strings.Join(failed, ",") {
		t.Fatalf("%s: attention no contact %v, delivery failed %v; want %v and %v", what, a.NoContact, a.DeliveryFailed, noContact, failed)
	}
	for _, st := range []string{"1.1", "1.2", "1.3", "1.4", "1.5"} {
		nc, f, err := s.StudyAttention(st)
		if err != nil || nc != slices.Contains(noContact, st) || f != slices.Contains(failed, st) {
			t.Fatalf("%s: StudyAttention(%s) = %v, %v, %v; disagrees with Attention", what, st, nc, f, err)
		}
	}
}

// indexed counts the entries of an attention bucket, stale ones included.
func indexed(t *testing.T, s *Service, b []byte) int {
	t.Helper()
	n := 0
	s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(b).Stats().KeyN; return nil })
	return n
}

// A link whose SMS failed for good is in the attention index while it is
// its study's current link: a resend, a new link for the study or a revoke
// takes it out, a failed resend puts it back, revoking a newer link brings
// back an older one's failure, an expired link is skipped and pruned, and a
// purge takes the study's entries with it.
func TestAttentionFailedDeliveries(t *testing.T) {
	c := newClock()
	sms := &switchSMS{}
	s := open(t, t.TempDir(), c, func(o *Options) { o.NoWorker, o.SMSSender = true, sms })
	ctx := context.Background()
	create := func(study string) *Link {
		t.Helper()
		l, _, err := s.Create(ctx, CreateRequest{StudyUID: study, Emails: []string{"ana@example.com"}, Phones: []string{"+46701234567"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return l
	}
	sms.fail.Store(true)
	l1 := create("1.1")
	wantAttention(t, s, "the SMS failed", nil, []string{"1.1"})

	if _, err := s.Resend(ctx, l1.ID, "tech"); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "resent, not delivered yet", nil, nil)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "the resend failed too", nil, []string{"1.1"})
	sms.fail.Store(false)
	if _, err := s.Resend(ctx, l1.ID, "tech"); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "the resend was delivered", nil, nil)

	sms.fail.Store(true)
	l2 := create("1.2")
	create("1.3")
	wantAttention(t, s, "two studies failed", nil, []string{"1.2", "1.3"})
	if _, err := s.Revoke(ctx, l2.ID, "wrong number", "tech"); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "1.2's link revoked", nil, []string{"1.3"})
	sms.fail.Store(false)
	create("1.3") // a new link to the study, delivered
	wantAttention(t, s, "a new link for 1.3 was delivered", nil, nil)

	// An older link's late failure does not count once a newer link is
	// the study's current one.
	sms.fail.Store(true)
	old, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.4", Phones: []string{"+46701234567"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	sms.fail.Store(false)
	newer, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.4", Emails: []string{"ana@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	sms.fail.Store(true)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Deliveries(old.ID); len(d) != 1 || d[0].State != stateFailed {
		t.Fatalf("the older link's SMS: %+v, want failed", d)
	}
	wantAttention(t, s, "an older link failed after a newer one was sent", nil, nil)
	// Revoking the newer link makes the older one current again.
	if _, err := s.Revoke(ctx, newer.ID, "sent by mistake", "tech"); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "the newer link revoked", nil, []string{"1.4"})
	if _, err := s.Revoke(ctx, old.ID, "wrong number", "tech"); err != nil {
		t.Fatal(err)
	}

	create("1.5")
	wantAttention(t, s, "1.5 failed", nil, []string{"1.5"})
	c.Add(100 * 24 * time.Hour) // every link expires
	wantAttention(t, s, "the links expired", nil, nil)
	if n, err := s.PruneAttention(); err != nil || n != 1 {
		t.Fatalf("PruneAttention: %d %v, want the expired link of 1.5 pruned", n, err)
	}
	c.Add(-100 * 24 * time.Hour)
	wantAttention(t, s, "pruned", nil, nil)

	create("1.5")
	if indexed(t, s, bktAttnFailed) != 1 {
		t.Fatal("1.5's new link is not indexed")
	}
	c.Add(100 * 24 * time.Hour)
	if _, err := s.ForgetStudy("1.5", StudyPurge{ID: "p", Actor: "retention"}); err != nil {
		t.Fatal(err)
	}
	if n := indexed(t, s, bktAttnFailed); n != 0 {
		t.Fatalf("%d entries left after the purge", n)
	}
}

// A study auto-share found no usable contact for is indexed until a link is
// issued for it, another decision is made or it is purged; one that already
// has a link is not.
func TestAttentionNoContact(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, func(o *Options) { o.NoWorker = true })
	ctx := context.Background()
	for _, st := range []string{"1.1", "1.2", "1.4"} {
		if err := s.RecordAutoShareDecision(st, c.Now(), OutcomeNoContact); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.3", Emails: []string{"ana@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAutoShareDecision("1.3", c.Now(), OutcomeNoContact); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "three decisions without a contact", []string{"1.1", "1.2", "1.4"}, nil)
	if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.1", Emails: []string{"ana@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAutoShareDecision("1.2", c.Now(), "shared"); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "a link sent, a decision changed", []string{"1.4"}, nil)
	if _, err := s.ForgetStudy("1.4", StudyPurge{ID: "p", Actor: "retention"}); err != nil {
		t.Fatal(err)
	}
	wantAttention(t, s, "purged", nil, nil)
}

// A share.db from before the attention indexes (schema 1) gets them at
// open, filled from its links' deliveries and its auto-share decisions.
func TestAttentionMigration(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	sms := &switchSMS{}
	sms.fail.Store(true)
	s := open(t, dir, c, func(o *Options) { o.NoWorker, o.SMSSender = true, sms })
	ctx := context.Background()
	if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.1", Phones: []string{"+46701234567"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, CreateRequest{StudyUID: "1.3", Emails: []string{"ana@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"1.2", "1.3"} {
		if err := s.RecordAutoShareDecision(st, c.Now(), OutcomeNoContact); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktAttnFailed, bktAttnNoContact} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		// What an older sonolink recorded: the decision, whatever links.
		if err := tx.Bucket(bktAutoShare).Put([]byte("1.3"), []byte(`{"outcome":"no-contact"}`)); err != nil {
			return err
		}
		return dbschema.SetVersion(tx, 1)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, c, func(o *Options) { o.NoWorker = true })
	if v, err := s.SchemaVersion(); err != nil || v != Schema() || v < 2 {
		t.Fatalf("schema after open: %d %v, want %d", v, err, Schema())
	}
	wantAttention(t, s, "after the upgrade", []string{"1.2"}, []string{"1.1"})
}
