package pipeline

import (
	"errors"

	"sonolink/dimse"
	"sonolink/store"
)

// storeStatus is the C-STORE response status for what store.Ingest
// returned (PS3.4 B.2.3), the one place where store errors become DICOM
// statuses: Success for a stored object, a duplicate or a conflict version;
// A900 (data set does not match SOP class) for a data set whose SOP Class
// or SOP Instance UID is not the request's, as DCMTK's storescp answers;
// C000 (cannot understand) for an object the store refuses as broken or
// hostile, which resending will not help; A700 (out of resources) for
// anything else, a full disk included, which the sender may retry.
func storeStatus(err error) dimse.Status {
	switch {
	case err == nil:
		return dimse.StatusSuccess
	case errors.Is(err, store.ErrDataSetMismatch):
		return dimse.StatusDataSetMismatch
	case errors.Is(err, store.ErrInvalidObject):
		return dimse.StatusCannotUnderstand
	default:
		return dimse.StatusOutOfResources
	}
}
