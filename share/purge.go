package share

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/logid"
)

// EventStudyPurged: retention removed a study (its detail says why, how
// old and how large; never patient data).
const EventStudyPurged = "study.purged"

// StudyPurge is what the audit log says of a purged study.
type StudyPurge struct {
	ID     string // this purge of the study (the store's purge record), so a retry is not audited twice
	Actor  string // "retention" or the technician who ran `sonolink purge`
	Detail string // study number, reason, age, objects and size; no patient data
}

// ActiveLinks reports how many of a study's links are live at the
// service's time (not expired, not revoked) and when the last of the
// others ended (expired or was revoked); zero when it has none.
func (s *Service) ActiveLinks(studyUID string) (active int, lastEnded time.Time, total int, err error) {
	now := s.now()
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, r := range s.studyLinks(tx, studyUID) {
			total++
			switch r.Status(now) {
			case StatusActive:
				active++
			case StatusRevoked:
				if r.RevokedAt.After(lastEnded) {
					lastEnded = r.RevokedAt
				}
			default:
				if r.Expires.After(lastEnded) {
					lastEnded = r.Expires
				}
			}
		}
		return nil
	})
	return active, lastEnded, total, err
}

// ErrLiveLink: a study still has a live link; it is not forgotten.
var ErrLiveLink = errors.New("share: the study has a live link")

// bktPurged: study UID \x00 purge ID → nil, for every purge ForgetStudy
// has done, so that a purge finished again after a crash is audited once.
var bktPurged = []byte("purged")

// ForgetStudy removes everything share.db keeps of a purged study, in one
// transaction with its audit entry: its links, their token hashes and
// sealed tokens, contact index entries, renewal requests and attention
// index entries, the outbox records of their messages and the auto-share
// decision. The message files
// of the local outbox go afterwards. It refuses with ErrLiveLink while a
// link of the study is live. A purge (p.ID) already done is not done or
// audited again. It returns how many links went.
func (s *Service) ForgetStudy(studyUID string, p StudyPurge) (int, error) {
	var msgs []string
	links := 0
	now := s.now()
	// Batch: purges running side by side share a commit. fn may run
	// again alone; it starts its counts afresh.
	err := s.batch(func(tx *bolt.Tx) error {
		msgs, links = nil, 0
		done, err := tx.CreateBucketIfNotExists(bktPurged)
		if err != nil {
			return err
		}
		pk := []byte(studyUID + "\x00" + p.ID)
		if done.Get(pk) != nil {
			return nil
		}
		recs := s.studyLinks(tx, studyUID)
		for _, r := range recs {
			if r.Status(now) == StatusActive {
				return ErrLiveLink
			}
		}
		for _, r := range recs {
			ids, err := s.forgetLink(tx, r)
			if err != nil {
				return err
			}
			msgs = append(msgs, ids...)
			links++
		}
		if err := tx.Bucket(bktAutoShare).Delete([]byte(studyUID)); err != nil {
			return err
		}
		if err := tx.Bucket(bktAttnNoContact).Delete([]byte(studyUID)); err != nil {
			return err
		}
		if err := done.Put(pk, nil); err != nil {
			return err
		}
		return s.audit(tx, AuditEvent{Type: EventStudyPurged, StudyUID: studyUID, Actor: p.Actor, Detail: p.Detail})
	})
	if err != nil {
		if errors.Is(err, ErrLiveLink) {
			return 0, err
		}
		return 0, fmt.Errorf("share: forgetting study %s: %w", logid.ID(studyUID), err)
	}
	s.updateQueueGauge()
	s.removeOutboxFiles(msgs)
	return links, nil
}

// forgetLink deletes one link and what hangs off it, returning the IDs of
// its outbox messages.
func (s *Service) forgetLink(tx *bolt.Tx, r *linkRecord) ([]string, error) {
	var msgs []string
	if len(r.TokenHash) > 0 {
		if err := tx.Bucket(bktTokens).Delete(r.TokenHash); err != nil {
			return nil, err
		}
	}
	cb := tx.Bucket(bktLinkContacts)
	for _, k := range contactKeys(r) {
		if err := cb.Delete(k); err != nil {
			return nil, err
		}
	}
	lm := tx.Bucket(bktLinkMsgs)
	prefix := []byte(r.ID + "\x00")
	var keys [][]byte
	c := lm.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		id := k[len(prefix):]
		msgs = append(msgs, string(id))
		for _, b := range [][]byte{bktOutbox, bktPending} {
			if err := tx.Bucket(b).Delete(id); err != nil {
				return nil, err
			}
		}
		if err := lm.Delete(k); err != nil {
			return nil, err
		}
	}
	for _, del := range []struct{ b, k []byte }{
		{bktRequests, []byte(r.ID)},
		{bktAttnFailed, []byte(r.ID)},
		{bktStudyLinks, studyKey(r.StudyUID, r.ID)},
		{bktLinks, []byte(r.ID)}, // with the sealed token
	} {
		if err := tx.Bucket(del.b).Delete(del.k); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// removeOutboxFiles removes the local outbox's files of these messages
// (they carry the contact and the link).
func (s *Service) removeOutboxFiles(ids []string) {
	dir := s.OutboxDir()
	for _, id := range ids {
		for _, ext := range []string{".eml", ".sms"} {
			if err := os.Remove(filepath.Join(dir, id+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("outbox: removing a purged study's message file", "message", id, "err", err)
			}
		}
	}
}
