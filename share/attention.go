package share

import (
	"bytes"
	"encoding/json"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The attention indexes: what the staff's "needs attention" list wants of
// share.db, kept small and changed in the transaction that changes the
// facts they describe, so that the list reads them and never every link
// or study.
//
//	attn_failed     link ID → study UID       the link's latest message to some contact failed for good, and it is its study's current link
//	attn_nocontact  study UID → decision time  auto-share found no usable contact for the study, and no link was issued for it since
//
// A link is its study's current link when no other link of the study is
// better: an active link beats one that is not, and then the one sent (or
// created) last wins, as in the technician's share status. attn_failed
// changes when a link message is final (deliver: set or cleared from the
// link's deliveries), when a link is issued or resent for the study (every
// entry of the study goes: that link is the current one now and its
// messages are queued), when the link is revoked (then the study's next
// current link is decided from its deliveries), and when the study is
// purged. A link that expired stays until the hourly prune (PruneAttention,
// which then decides the study's next current link) and is skipped by the
// readers meanwhile. attn_nocontact changes with the auto-share decision
// (RecordAutoShareDecision), when a link is issued for the study, and when
// the study is purged.
//
// Schema 2 fills both from what share.db already holds (backfillAttention).
var (
	bktAttnFailed    = []byte("attn_failed")
	bktAttnNoContact = []byte("attn_nocontact")
)

// OutcomeNoContact is the auto-share decision for a complete study none of
// whose contact values is a usable e-mail address or phone number: nothing
// was sent, and the study is in the attention list until a link is issued.
const OutcomeNoContact = "no-contact"

// better reports whether link a is a better current link of its study
// than b: active before anything else, then the one sent (or created) last.
func better(a, b *linkRecord, now time.Time) bool {
	aa, ba := a.Status(now) == StatusActive, b.Status(now) == StatusActive
	if aa != ba {
		return aa
	}
	return lastSent(a).After(lastSent(b))
}

func lastSent(l *linkRecord) time.Time {
	if l.LastSent.After(l.Created) {
		return l.LastSent
	}
	return l.Created
}

// deliveryFailed reports whether the latest message of link id to some
// contact failed for good.
func deliveryFailed(tx *bolt.Tx, id string) bool {
	for _, d := range linkDeliveries(tx, id, kindLink) {
		if d.State == stateFailed {
			return true
		}
	}
	return false
}

// noteDeliveries puts rec in attn_failed, or takes it out, from its
// deliveries at now.
func noteDeliveries(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
	b := tx.Bucket(bktAttnFailed)
	if rec.Status(now) == StatusActive && deliveryFailed(tx, rec.ID) {
		current := true
		for _, o := range studyLinkRecords(tx, rec.StudyUID) {
			if o.ID != rec.ID && better(o, rec, now) {
				current = false
				break
			}
		}
		if current {
			return b.Put([]byte(rec.ID), []byte(rec.StudyUID))
		}
	}
	return b.Delete([]byte(rec.ID))
}

// linkSentForStudy clears the attention indexes of a study for which a
// link was just issued or resent: the patient has a link on its way, and
// its delivery decides again.
func linkSentForStudy(tx *bolt.Tx, studyUID string) error {
	b := tx.Bucket(bktAttnFailed)
	prefix := []byte(studyUID + "\x00")
	c := tx.Bucket(bktStudyLinks).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if err := b.Delete(k[len(prefix):]); err != nil {
			return err
		}
	}
	return tx.Bucket(bktAttnNoContact).Delete([]byte(studyUID))
}

// linkRevoked takes a revoked link out of attn_failed; another link of its
// study may be the current one now, and its deliveries decide.
func linkRevoked(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
	if err := tx.Bucket(bktAttnFailed).Delete([]byte(rec.ID)); err != nil {
		return err
	}
	return noteCurrent(tx, rec.StudyUID, now)
}

// noteCurrent decides the attention entry of the study's current link.
func noteCurrent(tx *bolt.Tx, studyUID string, now time.Time) error {
	var best *linkRecord
	for _, r := range studyLinkRecords(tx, studyUID) {
		if best == nil || better(r, best, now) {
			best = r
		}
	}
	if best == nil {
		return nil
	}
	return noteDeliveries(tx, best, now)
}

// studyHasLinks reports whether any link was issued for the study.
func studyHasLinks(tx *bolt.Tx, studyUID string) bool {
	prefix := []byte(studyUID + "\x00")
	k, _ := tx.Bucket(bktStudyLinks).Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// noteDecision keeps attn_nocontact in step with a study's auto-share
// decision.
func noteDecision(tx *bolt.Tx, studyUID, outcome string, at time.Time) error {
	b := tx.Bucket(bktAttnNoContact)
	if outcome == OutcomeNoContact && !studyHasLinks(tx, studyUID) {
		return b.Put([]byte(studyUID), []byte(at.UTC().Format(time.RFC3339)))
	}
	return b.Delete([]byte(studyUID))
}

// backfillAttention fills the attention indexes from the links, their
// deliveries and the auto-share decisions of a share.db from before them
// (schema 2). It reads each study's links once, one study at a time.
func backfillAttention(tx *bolt.Tx, now time.Time) error {
	for _, b := range [][]byte{bktAttnFailed, bktAttnNoContact} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	var studies []string
	c := tx.Bucket(bktStudyLinks).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		study, _, _ := bytes.Cut(k, []byte{0})
		if n := len(studies); n == 0 || studies[n-1] != string(study) {
			studies = append(studies, string(study))
		}
	}
	for _, study := range studies {
		if err := noteCurrent(tx, study, now); err != nil {
			return err
		}
	}
	return tx.Bucket(bktAutoShare).ForEach(func(k, v []byte) error {
		var d AutoShareDecision
		if json.Unmarshal(v, &d) != nil {
			return nil
		}
		return noteDecision(tx, string(k), d.Outcome, d.At)
	})
}

// Attention is what the attention indexes hold: the studies in each, in
// study UID order.
type Attention struct {
	// NoContact: auto-share found no usable contact, and no link was
	// issued since.
	NoContact []string
	// DeliveryFailed: the current link is active and its latest message
	// to some contact failed for good.
	DeliveryFailed []string
}

// Attention reads the attention indexes. The work grows with what they
// hold, not with the number of studies or links.
func (s *Service) Attention() (Attention, error) {
	var out Attention
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktAttnNoContact).ForEach(func(k, _ []byte) error {
			out.NoContact = append(out.NoContact, string(k))
			return nil
		}); err != nil {
			return err
		}
		seen := map[string]bool{}
		return tx.Bucket(bktAttnFailed).ForEach(func(k, v []byte) error {
			if seen[string(v)] {
				return nil
			}
			if rec, err := loadLink(tx, string(k)); err == nil && rec.Status(now) == StatusActive {
				seen[string(v)] = true
				out.DeliveryFailed = append(out.DeliveryFailed, string(v))
			}
			return nil
		})
	})
	sort.Strings(out.DeliveryFailed)
	return out, err
}

// StudyAttention says what the attention indexes hold of one study.
func (s *Service) StudyAttention(studyUID string) (noContact, deliveryFailed bool, err error) {
	now := s.now()
	err = s.db.View(func(tx *bolt.Tx) error {
		noContact = tx.Bucket(bktAttnNoContact).Get([]byte(studyUID)) != nil
		failed := tx.Bucket(bktAttnFailed)
		prefix := []byte(studyUID + "\x00")
		c := tx.Bucket(bktStudyLinks).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := k[len(prefix):]
			if failed.Get(id) == nil {
				continue
			}
			if rec, err := loadLink(tx, string(id)); err == nil && rec.Status(now) == StatusActive {
				deliveryFailed = true
				return nil
			}
		}
		return nil
	})
	return noContact, deliveryFailed, err
}

// PruneAttention takes out of attn_failed the links that are no longer
// active at the service's time (expired or gone) and returns how many;
// another link of the study may be its current one now, and its deliveries
// decide. RunOutbox calls it hourly.
func (s *Service) PruneAttention() (int, error) {
	now := s.now()
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bktAttnFailed)
		var stale, studies [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if rec, err := loadLink(tx, string(k)); err != nil || rec.Status(now) != StatusActive {
				stale, studies = append(stale, bytes.Clone(k)), append(studies, bytes.Clone(v))
			}
			return nil
		}); err != nil {
			return err
		}
		for i, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
			if err := noteCurrent(tx, string(studies[i]), now); err != nil {
				return err
			}
		}
		n = len(stale)
		return nil
	})
	return n, err
}
