package admin

import (
	"context"
	"errors"

	"sonolink/store"
)

// Thumbnail returns the file of object n's thumbnail (the render the
// patient page shows) in a study, for the staff console. It is a
// KindNotFound error when the study or object does not exist or has no
// thumbnail yet (documents have none; renders come after de-identification).
func (s *Service) Thumbnail(ctx context.Context, study string, n int) (string, error) {
	r, err := s.resolve(ctx, study)
	if err != nil {
		return "", err
	}
	insts, err := s.be.st.Instances(r.UID)
	if errors.Is(err, store.ErrNotFound) {
		return "", errorf(KindNotFound, "study %s has no objects", displayKey(r))
	}
	if err != nil {
		return "", s.internal("list objects", err)
	}
	for _, in := range insts {
		if in.Position != n {
			continue
		}
		if in.Render == nil || in.Render.Thumbnail == "" || in.Deid == nil {
			break
		}
		return s.be.st.DerivedPath(in.SOPInstanceUID, in.Render.Thumbnail), nil
	}
	return "", errorf(KindNotFound, "object %d of study %s has no thumbnail", n, displayKey(r))
}
