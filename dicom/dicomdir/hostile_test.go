package dicomdir

import (
	"bytes"
	"errors"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
)

func TestReadFileRefusesHostileLength(t *testing.T) {
	b := testdicom.HugeLength()
	_, err := ReadFile(bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, dicomfile.ErrInvalid) {
		t.Fatalf("ReadFile of a file declaring a 4 GiB element: err = %v, want dicomfile.ErrInvalid", err)
	}
}
