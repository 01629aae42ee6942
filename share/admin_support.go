package share

import (
	"encoding/json"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// StudiesWithContact returns the Study Instance UIDs of studies with a link
// sent to any of the given e-mail addresses (compared case-insensitively)
// or E.164 phone numbers, for the technician's search (`sonolink studies`).
// It scans every link: fine for a clinic's volume.
func (s *Service) StudiesWithContact(emails, phones []string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktLinks).ForEach(func(_, v []byte) error {
			var l Link
			if json.Unmarshal(v, &l) != nil || slices.Contains(out, l.StudyUID) {
				return nil
			}
			hit := slices.ContainsFunc(l.Emails, func(e string) bool {
				return slices.ContainsFunc(emails, func(q string) bool { return strings.EqualFold(q, e) })
			}) || slices.ContainsFunc(l.Phones, func(p string) bool { return slices.Contains(phones, p) })
			if hit {
				out = append(out, l.StudyUID)
			}
			return nil
		})
	})
	return out, err
}

// RecordVersionChoice adds to the audit log that actor chose which of the
// objects received under one SOP Instance UID the study serves; detail
// says which (object and version numbers, no patient data).
func (s *Service) RecordVersionChoice(studyUID, actor, detail string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return s.audit(tx, AuditEvent{Type: EventVersionChosen, StudyUID: studyUID, Actor: actor, Detail: detail})
	})
}
