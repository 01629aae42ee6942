package share

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/logid"
)

// How often the expired page's "ask for a new link" is recorded: at most
// RenewalsPerSource times per link from one source and RenewalsPerLink
// times per link within SourceMemory. Beyond that the request stands and
// nothing more is recorded.
const (
	RenewalsPerLink   = 5
	RenewalsPerSource = 2
)

// RenewalRequest is a patient's open request for a new link, from the
// expired page of link LinkID. It is the technician's to answer: a resend
// of the link, a new link for the study or revoking the link closes it.
type RenewalRequest struct {
	LinkID   string    `json:"link_id"`
	StudyUID string    `json:"study_uid"`
	StudyKey string    `json:"study_key,omitempty"`
	First    time.Time `json:"first"` // when the patient first asked
	Last     time.Time `json:"last"`
	Count    int       `json:"count"` // how many times (within the limits)
}

// RequestRenewal records that the patient of expired link id asked for a
// new link, from source (the client's address): an audit event and an
// open RenewalRequest the technician's study list shows. Revoked or
// unknown links give ErrNotFound; an active link, ErrNotExpired. Beyond
// the RenewalsPerSource and RenewalsPerLink limits nothing is recorded
// and a *WaitError says when the source may ask again (the earlier
// request stands).
func (s *Service) RequestRenewal(id, source string) (*RenewalRequest, error) {
	var out RenewalRequest
	err := s.updateLink(id, func(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
		switch rec.Status(now) {
		case StatusRevoked:
			return ErrNotFound
		case StatusActive:
			return ErrNotExpired
		}
		key := s.sourceKey(rec.ID, source)
		t := rec.throttle(now)
		rec.Renewals = recent(rec.Renewals, now)
		var mine []time.Time
		if src := t.Sources[key]; src != nil {
			mine = src.Renewals
		}
		if left, next := quotaLeft(rec.Renewals, mine, RenewalsPerLink, RenewalsPerSource); left <= 0 {
			return &WaitError{What: "new link request", Until: next}
		}
		src := t.source(key, now)
		src.Renewals = append(src.Renewals, now)
		rec.Renewals = append(rec.Renewals, now)
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		b := tx.Bucket(bktRequests)
		out = RenewalRequest{LinkID: rec.ID, StudyUID: rec.StudyUID, StudyKey: rec.StudyKey, First: now}
		if v := b.Get([]byte(rec.ID)); v != nil {
			if err := json.Unmarshal(v, &out); err != nil {
				return fmt.Errorf("share: request of link %s is damaged: %w", rec.ID, err)
			}
		}
		out.Last = now
		out.Count++
		data, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(rec.ID), data); err != nil {
			return err
		}
		return s.audit(tx, AuditEvent{Type: EventRenewalRequested, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient",
			Detail: fmt.Sprintf("expired %s; request %d", rec.Expires.Format("2006-01-02"), out.Count)})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("patient asked for a new link", logid.Study(out.StudyUID), "link", out.LinkID)
	return &out, nil
}

// RenewalRequests lists the open requests for a new link, oldest first;
// with studyUID set, only that study's.
func (s *Service) RenewalRequests(studyUID string) ([]RenewalRequest, error) {
	var out []RenewalRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktRequests).ForEach(func(_, v []byte) error {
			var r RenewalRequest
			if json.Unmarshal(v, &r) == nil && (studyUID == "" || r.StudyUID == studyUID) {
				out = append(out, r)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].First.Before(out[j].First) })
	return out, err
}

// closeRequests closes the open requests a technician's action answers:
// of link id (resend, revoke), or of every link of studyUID (a new link
// for the study). It audits each as answered by what.
func (s *Service) closeRequests(tx *bolt.Tx, studyUID, id, what, actor string) error {
	b := tx.Bucket(bktRequests)
	var done []RenewalRequest
	err := b.ForEach(func(_, v []byte) error {
		var r RenewalRequest
		if json.Unmarshal(v, &r) == nil && ((id != "" && r.LinkID == id) || (studyUID != "" && r.StudyUID == studyUID)) {
			done = append(done, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range done {
		if err := b.Delete([]byte(r.LinkID)); err != nil {
			return err
		}
		if err := s.audit(tx, AuditEvent{Type: EventRenewalAnswered, LinkID: r.LinkID, StudyUID: r.StudyUID, Actor: actor,
			Detail: fmt.Sprintf("asked %s; %s", r.First.Format("2006-01-02 15:04"), what)}); err != nil {
			return err
		}
	}
	return nil
}
