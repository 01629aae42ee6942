package anonymize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"sonolink/dicom/dicomfile"
)

// TestVerifyRereadsThroughDicomfile: the re-read of the copy takes the same
// structural checks as a received file, so a copy whose element declares a
// length far beyond the data is an error, not a 4 GiB allocation.
func TestVerifyRereadsThroughDicomfile(t *testing.T) {
	le := binary.LittleEndian
	var meta bytes.Buffer
	for _, e := range []struct {
		el uint16
		v  string
	}{{0x0002, "1.2.840.10008.5.1.4.1.1.6.1\x00"}, {0x0003, "1.2.3.4\x00"}, {0x0010, "1.2.840.10008.1.2.1\x00"}} {
		binary.Write(&meta, le, [2]uint16{0x0002, e.el})
		meta.WriteString("UI")
		binary.Write(&meta, le, uint16(len(e.v)))
		meta.WriteString(e.v)
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	binary.Write(&out, le, [2]uint16{0x0002, 0x0000})
	out.WriteString("UL")
	binary.Write(&out, le, uint16(4))
	binary.Write(&out, le, uint32(meta.Len()))
	out.Write(meta.Bytes())
	binary.Write(&out, le, [2]uint16{0x0010, 0x0010}) // Patient's Name, as UT-sized
	out.WriteString("UT")
	binary.Write(&out, le, uint16(0))
	binary.Write(&out, le, uint32(0xFFFFFFF0))
	out.WriteString("DOE^JANE")

	j := &job{needles: []needle{{kind: "patient name", text: "doe^jane"}}}
	_, err := j.verify(out.Bytes(), 0, 0)
	if !errors.Is(err, dicomfile.ErrInvalid) {
		t.Fatalf("verify of a copy declaring a 4 GiB value: err = %v, want dicomfile.ErrInvalid", err)
	}
}
