package dimse

// DICOM Part 10 file header (PS3.10 section 7.1): preamble, "DICM" and the
// File Meta Information group 0002 in Explicit VR Little Endian.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"sonolink/dicom/uid"
)

// part10Header returns preamble, prefix and File Meta Information for an
// object whose data set follows in transfer syntax ts.
func part10Header(sopClass, sopInstance, ts, sourceAET string) []byte {
	var meta []byte
	el := func(elem uint16, vr string, val []byte, pad byte) {
		if len(val)%2 == 1 {
			val = append(val, pad)
		}
		meta = binary.LittleEndian.AppendUint16(meta, 0x0002)
		meta = binary.LittleEndian.AppendUint16(meta, elem)
		meta = append(meta, vr...)
		if vr == "OB" {
			meta = append(meta, 0, 0)
			meta = binary.LittleEndian.AppendUint32(meta, uint32(len(val)))
		} else {
			meta = binary.LittleEndian.AppendUint16(meta, uint16(len(val)))
		}
		meta = append(meta, val...)
	}
	el(0x0001, "OB", []byte{0, 1}, 0)
	el(0x0002, "UI", []byte(sopClass), 0)
	el(0x0003, "UI", []byte(sopInstance), 0)
	el(0x0010, "UI", []byte(ts), 0)
	el(0x0012, "UI", []byte(uid.ImplementationClassUID), 0)
	el(0x0013, "SH", []byte(uid.ImplementationVersionName), ' ')
	if sourceAET != "" {
		el(0x0016, "AE", []byte(sourceAET), ' ')
	}
	b := make([]byte, 128, 128+4+12+len(meta))
	b = append(b, "DICM"...)
	b = append(b, 0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
	return append(b, meta...)
}

// fileMeta is what the SCU needs from a Part 10 file's meta group.
type fileMeta struct {
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	DataSetOffset                                  int64
}

// readFileMeta reads the preamble and File Meta Information from r and
// leaves r positioned at the data set. It copes with a missing or wrong
// group length by reading group 0002 element by element.
func readFileMeta(r *bufio.Reader) (*fileMeta, error) {
	var pre [132]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("reading preamble: %w", err)
	}
	if string(pre[128:]) != "DICM" {
		return nil, errors.New("not a DICOM Part 10 file (no DICM prefix)")
	}
	m := &fileMeta{DataSetOffset: 132}
	for i := 0; i < 64; i++ {
		h, err := r.Peek(8)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("reading file meta: %w", err)
		}
		if binary.LittleEndian.Uint16(h) != 0x0002 {
			break
		}
		elem := binary.LittleEndian.Uint16(h[2:])
		vr := string(h[4:6])
		var n uint32
		hl := 8
		switch vr {
		case "OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV":
			h, err = r.Peek(12)
			if err != nil {
				return nil, fmt.Errorf("reading file meta: %w", err)
			}
			n = binary.LittleEndian.Uint32(h[8:])
			hl = 12
		default:
			n = uint32(binary.LittleEndian.Uint16(h[6:]))
		}
		if n > 1<<16 {
			return nil, fmt.Errorf("file meta element (0002,%04X) length %d is implausible", elem, n)
		}
		if _, err := r.Discard(hl); err != nil {
			return nil, err
		}
		v := make([]byte, n)
		if _, err := io.ReadFull(r, v); err != nil {
			return nil, fmt.Errorf("reading file meta element (0002,%04X): %w", elem, err)
		}
		m.DataSetOffset += int64(hl) + int64(n)
		s := strings.TrimRight(string(v), "\x00 ")
		switch elem {
		case 0x0002:
			m.SOPClassUID = s
		case 0x0003:
			m.SOPInstanceUID = s
		case 0x0010:
			m.TransferSyntaxUID = s
		}
	}
	if m.SOPClassUID == "" || m.SOPInstanceUID == "" || m.TransferSyntaxUID == "" {
		return nil, errors.New("file meta lacks media storage SOP class/instance or transfer syntax")
	}
	return m, nil
}
