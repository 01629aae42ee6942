package dicomdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"sonolink/dicom/dicomfile"
)

// hostilePart10 is a Part 10 file whose one data set element declares a
// value of almost 4 GiB while the file holds eight bytes of it: the DICOM
// library allocates what an element declares, so a raw parse of these 200
// bytes asks for gigabytes.
func hostilePart10() []byte {
	le := binary.LittleEndian
	var meta bytes.Buffer
	str := func(b *bytes.Buffer, el uint16, v string) {
		binary.Write(b, le, [2]uint16{0x0002, el})
		b.WriteString("UI")
		binary.Write(b, le, uint16(len(v)))
		b.WriteString(v)
	}
	str(&meta, 0x0002, "1.2.840.10008.5.1.4.1.1.6.1\x00")
	str(&meta, 0x0003, "1.2.3.4\x00")
	str(&meta, 0x0010, "1.2.840.10008.1.2.1\x00")
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	binary.Write(&out, le, [2]uint16{0x0002, 0x0000})
	out.WriteString("UL")
	binary.Write(&out, le, uint16(4))
	binary.Write(&out, le, uint32(meta.Len()))
	out.Write(meta.Bytes())
	binary.Write(&out, le, [2]uint16{0x0009, 0x1010}) // private OB
	out.WriteString("OB")
	binary.Write(&out, le, uint16(0))
	binary.Write(&out, le, uint32(0xFFFFFFF0))
	out.Write(make([]byte, 8))
	return out.Bytes()
}

func TestReadFileRefusesHostileLength(t *testing.T) {
	b := hostilePart10()
	_, err := ReadFile(bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, dicomfile.ErrInvalid) {
		t.Fatalf("ReadFile of a file declaring a 4 GiB element: err = %v, want dicomfile.ErrInvalid", err)
	}
}
