package share

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// bktLinkContacts finds links by contact: lower-case e-mail address or
// E.164 phone \x00 link ID → study UID. putLink keeps it in step.
var bktLinkContacts = []byte("link_contacts")

// StudiesWithContact returns the Study Instance UIDs of studies with a link
// sent to any of the given e-mail addresses (compared case-insensitively)
// or E.164 phone numbers, for the technician's search (`sonolink studies`).
// It reads the contact index, not every link.
func (s *Service) StudiesWithContact(emails, phones []string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktLinkContacts).Cursor()
		for _, v := range append(lowered(emails), phones...) {
			p := []byte(v + "\x00")
			for k, uid := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, uid = c.Next() {
				if !slices.Contains(out, string(uid)) {
					out = append(out, string(uid))
				}
			}
		}
		return nil
	})
	return out, err
}

// SettingStored reports whether the clinic setting key was set (by
// `sonolink settings set`) rather than left at its default.
func (s *Service) SettingStored(key string) (bool, error) {
	var set bool
	err := s.db.View(func(tx *bolt.Tx) error {
		set = tx.Bucket(bktSettings).Get([]byte(key)) != nil
		return nil
	})
	return set, err
}

func lowered(l []string) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i] = strings.ToLower(v)
	}
	return out
}

func contactKeys(l *linkRecord) [][]byte {
	var out [][]byte
	for _, v := range append(lowered(l.Emails), l.Phones...) {
		out = append(out, []byte(v+"\x00"+l.ID))
	}
	return out
}

// indexLinkContacts replaces the contact index entries of the link's
// previous record (the one stored under r.ID, if any) by r's.
func indexLinkContacts(tx *bolt.Tx, r *linkRecord) error {
	b := tx.Bucket(bktLinkContacts)
	if raw := tx.Bucket(bktLinks).Get([]byte(r.ID)); raw != nil {
		var old linkRecord
		if json.Unmarshal(raw, &old) == nil {
			for _, k := range contactKeys(&old) {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
	}
	for _, k := range contactKeys(r) {
		if err := b.Put(k, []byte(r.StudyUID)); err != nil {
			return err
		}
	}
	return nil
}

// openContactIndex creates the contact index, filling it from the links
// when share.db was written by a version without it.
func openContactIndex(tx *bolt.Tx) error {
	if tx.Bucket(bktLinkContacts) != nil {
		return nil
	}
	b, err := tx.CreateBucket(bktLinkContacts)
	if err != nil {
		return err
	}
	return tx.Bucket(bktLinks).ForEach(func(_, v []byte) error {
		var l linkRecord
		if json.Unmarshal(v, &l) != nil {
			return nil // unreadable, as it was to the scan
		}
		for _, k := range contactKeys(&l) {
			if err := b.Put(k, []byte(l.StudyUID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordVersionChoice adds to the audit log that actor chose which of the
// objects received under one SOP Instance UID the study serves; detail
// says which (object and version numbers, no patient data).
func (s *Service) RecordVersionChoice(studyUID, actor, detail string) error {
	return s.update(func(tx *bolt.Tx) error {
		return s.audit(tx, AuditEvent{Type: EventVersionChosen, StudyUID: studyUID, Actor: actor, Detail: detail})
	})
}
