package dicomfile

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"
)

const deflatedUID = "1.2.840.10008.1.2.1.99"

// deflate compresses b as raw deflate (RFC 1951), as PS3.5 A.5 asks.
func deflate(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A deflated data set is read inflated: every element is there, the data
// set keeps its own transfer syntax, and the pixel data is read from the
// inflated bytes.
func TestDeflatedParse(t *testing.T) {
	le := binary.LittleEndian
	pix := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	ds := minimal(le, false).str(0x0010, 0x0020, "LO", "PID-1").hdr(0x7FE0, 0x0010, "OW", uint32(len(pix))).raw(pix).bytes()
	file := part10(deflatedUID, deflate(t, ds))

	parsed, lay, err := Parse(bytes.NewReader(file), int64(len(file)), Limits{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := String(parsed, tag.PatientID); got != "PID-1" {
		t.Errorf("Patient ID %q, want PID-1", got)
	}
	if got := String(parsed, tag.TransferSyntaxUID); got != deflatedUID || lay.TransferSyntaxUID != deflatedUID {
		t.Errorf("transfer syntax %q (layout %q), want the file's own %s", got, lay.TransferSyntaxUID, deflatedUID)
	}

	_, ref, _, err := ParseRef(bytes.NewReader(file), int64(len(file)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if ref == nil || ref.Encapsulated || len(ref.Spans) != 1 {
		t.Fatalf("pixel reference %+v, want one native span", ref)
	}
	got := make([]byte, ref.Spans[0].Length)
	if _, err := ref.R.ReadAt(got, ref.Spans[0].Offset); err != nil || !bytes.Equal(got, pix) {
		t.Errorf("pixel data %v (%v), want %v", got, err, pix)
	}
}

// A deflate bomb is refused before it is inflated past the limit.
func TestDeflatedBomb(t *testing.T) {
	le := binary.LittleEndian
	ds := minimal(le, false).hdr(0x7FE0, 0x0010, "OW", 8<<20).raw(make([]byte, 8<<20)).bytes()
	file := part10(deflatedUID, deflate(t, ds))
	if len(file) > 64<<10 {
		t.Fatalf("the bomb is %d bytes, want it small", len(file))
	}
	err := Check(bytes.NewReader(file), int64(len(file)), Limits{MaxInflated: 1 << 20})
	if !errors.Is(err, ErrInflatedTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInflatedTooLarge wrapping ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), "1048576 bytes") {
		t.Errorf("error %q does not name the limit", err)
	}
	// Under the default limit it is a valid object.
	if err := Check(bytes.NewReader(file), int64(len(file)), Limits{}); err != nil {
		t.Errorf("default limit: %v", err)
	}
}

// HTJ2K syntaxes, unknown to the DICOM library, are parsed as the
// encapsulated explicit VR little endian syntaxes they are, and keep their
// UID.
func TestHTJ2KParse(t *testing.T) {
	le := binary.LittleEndian
	frag := []byte{0xFF, 0x4F, 0xFF, 0x51, 0, 0}
	ds := minimal(le, false).hdr(0x7FE0, 0x0010, "OB", undefinedLength).item(0).item(uint32(len(frag))).raw(frag).seqEnd().bytes()
	for _, ts := range []string{"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"} {
		file := part10(ts, ds)
		parsed, ref, lay, err := ParseRef(bytes.NewReader(file), int64(len(file)), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", ts, err)
		}
		if got := String(parsed, tag.TransferSyntaxUID); got != ts || lay.TransferSyntaxUID != ts {
			t.Errorf("%s: transfer syntax %q in the data set", ts, got)
		}
		if ref == nil || !ref.Encapsulated || len(ref.Spans) != 2 {
			t.Fatalf("%s: pixel reference %+v, want an offset table and one fragment", ts, ref)
		}
		got := make([]byte, ref.Spans[1].Length)
		if _, err := ref.R.ReadAt(got, ref.Spans[1].Offset); err != nil || !bytes.Equal(got, frag) {
			t.Errorf("%s: fragment %x, want %x", ts, got, frag)
		}
		full, _, err := Parse(bytes.NewReader(file), int64(len(file)), Limits{}, false)
		if err != nil {
			t.Fatalf("%s: full parse: %v", ts, err)
		}
		if String(full, tag.TransferSyntaxUID) != ts || String(full, tag.SOPInstanceUID) != sopUID {
			t.Errorf("%s: full parse lost the transfer syntax or the SOP Instance UID", ts)
		}
	}
}
