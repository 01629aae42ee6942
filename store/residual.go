package store

import "errors"

// Residual reports whether any object of the study that shows selects was
// kept as received: its de-identification left something behind, so only
// the patient, behind a password, may see it. An unknown study has none.
func (s *Store) Residual(studyUID string, shows func(sopInstanceUID string) bool) (bool, error) {
	insts, err := s.Instances(studyUID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, in := range insts {
		if !in.Missing && !in.Conflict && shows(in.SOPInstanceUID) && in.Deid != nil && !in.Deid.Clean {
			return true, nil
		}
	}
	return false, nil
}
