package share

import (
	"encoding/json"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutcomeDiscontinued is the decision recorded for a study whose exam the
// modality reported DISCONTINUED (MPPS): auto-share holds it back, and the
// technician is shown why.
const OutcomeDiscontinued = "discontinued"

// AutoShareDecision is what the auto-share rule made of a complete study,
// kept so that a restart does not apply the rule to it again (the rule, or
// the contacts' validity, may have changed since; the technician's choice
// at the time stands). The outcome is a short word such as "shared",
// "joined", "rule" or OutcomeNoContact, with no patient data.
type AutoShareDecision struct {
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
}

// RecordAutoShareDecision records that the auto-share rule was applied to
// the study at time at (objects received later make it undecided again).
// OutcomeNoContact puts a study without links in the attention list; any
// other outcome takes it out.
func (s *Service) RecordAutoShareDecision(studyUID string, at time.Time, outcome string) error {
	if strings.TrimSpace(studyUID) == "" {
		return nil
	}
	v, err := json.Marshal(AutoShareDecision{At: at.UTC(), Outcome: outcome})
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := noteDecision(tx, studyUID, outcome, at); err != nil {
			return err
		}
		return tx.Bucket(bktAutoShare).Put([]byte(studyUID), v)
	})
}

// AutoShareDecided returns the last decision recorded for the study.
func (s *Service) AutoShareDecided(studyUID string) (AutoShareDecision, bool) {
	var d AutoShareDecision
	found := false
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktAutoShare).Get([]byte(studyUID)); v != nil {
			found = json.Unmarshal(v, &d) == nil
		}
		return nil
	})
	return d, found
}
