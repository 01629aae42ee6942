package anonymize

import (
	"errors"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
)

// TestVerifyRereadsThroughDicomfile: the re-read of the copy takes the same
// structural checks as a received file, so a copy whose element declares a
// length far beyond the data is an error, not a 4 GiB allocation.
func TestVerifyRereadsThroughDicomfile(t *testing.T) {
	j := &job{needles: []needle{{kind: kindName, text: "doe^jane"}}}
	_, err := j.verify(testdicom.HugeLength(), 0, 0)
	if !errors.Is(err, dicomfile.ErrInvalid) {
		t.Fatalf("verify of a copy declaring a 4 GiB value: err = %v, want dicomfile.ErrInvalid", err)
	}
}
