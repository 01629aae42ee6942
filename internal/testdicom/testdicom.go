// Package testdicom is the one builder of DICOM test objects: it writes
// tiny, valid Part 10 files (Explicit VR Little Endian) for every package's
// tests: an 8-bit MONOCHROME2 ultrasound image (single or multi-frame), a
// header-only object, or a Basic Text SR, with the given header strings.
// Empty strings are left out of the data set, so a Spec lists only what a
// test cares about.
//
// Malformed or big endian streams (the parser's own tests) and in-memory
// data sets are out of its scope.
package testdicom

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"testing"
)

// Spec describes one generated object.
type Spec struct {
	PatientName, PatientID         string
	StudyUID, SeriesUID, SOPUID    string
	StudyDate, StudyTime, StudyID  string
	StudyDescription, SeriesNumber string
	InstanceNumber                 int
	Rows, Columns, Frames          int
	FrameTimeMS                    float64
	// Region, when not empty, is written as the one item of the Sequence
	// of Ultrasound Regions (0018,6011): X0, Y0, X1, Y1 (X1, Y1 inclusive).
	// De-identification keeps the pixels inside it and can call the image
	// clean.
	Region [4]uint32

	AccessionNumber, PatientBirthDate string
	SpecificCharacterSet              string
	// SOPClassUID replaces the class the kind of object implies
	// (US Image, US Multi-frame Image or Basic Text SR).
	SOPClassUID string
	// NoSOPInstanceUID leaves (0008,0018) out of the data set (the file
	// meta still names SOPUID): an object a store must refuse.
	NoSOPInstanceUID bool

	// NoPixelData makes a header-only object (no image module).
	NoPixelData bool
	// PixelData replaces the generated pixels (byte(i)+Fill, i counting
	// from 0) as is; Rows, Columns and Frames still describe them.
	PixelData []byte
	Fill      byte
	// Fragments, when not nil, are written as encapsulated pixel data (an
	// empty Basic Offset Table, then one item per fragment) under
	// TransferSyntax, e.g. a video bitstream; Photometric then names the
	// colour model of 3 samples per pixel (default YBR_PARTIAL_420).
	Fragments      [][]byte
	TransferSyntax string
	Photometric    string

	// Extra elements, e.g. the patient's telephone numbers.
	Extra []Element

	// SR makes a Basic Text SR instead of an image: a CONTAINER titled
	// SRTitle holding one TEXT item per SRTexts pair (label, value).
	SR      bool
	SRTitle string
	SRTexts [][2]string
}

// Element is one extra string element of a Spec.
type Element struct {
	Group, Element uint16
	VR, Value      string
}

const (
	usImage      = "1.2.840.10008.5.1.4.1.1.6.1"
	usMultiframe = "1.2.840.10008.5.1.4.1.1.3.1"
	basicTextSR  = "1.2.840.10008.5.1.4.1.1.88.11"
	explicitLE   = "1.2.840.10008.1.2.1"
)

type el struct {
	g, e uint16
	vr   string
	v    []byte
}

// WriteFile writes the encoded object to path.
func WriteFile(t testing.TB, path string, s Spec) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, s); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Write streams the encoded object to w. Generated pixel data goes out a
// frame at a time, so a large object (say 300 MB of 800×600 frames) takes
// little memory.
func Write(w io.Writer, s Spec) error {
	sop, ds, pixels := build(s)
	bw := bufio.NewWriterSize(w, 1<<16)
	ts := explicitLE
	if s.Fragments != nil && s.TransferSyntax != "" {
		ts = s.TransferSyntax
	}
	bw.Write(encode(sop, s.SOPUID, ts, ds))
	if pixels != nil {
		pixels(bw)
	}
	return bw.Flush()
}

// Bytes returns the encoded file.
func Bytes(s Spec) []byte {
	var b bytes.Buffer
	Write(&b, s)
	return b.Bytes()
}

// build returns the object's SOP Class UID, its data set up to the pixel
// data, and what writes the pixel data (nil when there is none).
func build(s Spec) (string, []el, func(*bufio.Writer)) {
	if s.Rows == 0 {
		s.Rows, s.Columns = 8, 8
	}
	if s.Frames == 0 {
		s.Frames = 1
	}
	sop := usImage
	if s.Frames > 1 {
		sop = usMultiframe
	}
	str := func(v string) []byte { return []byte(v) }
	us := func(v int) []byte { b := make([]byte, 2); binary.LittleEndian.PutUint16(b, uint16(v)); return b }
	var ds []el
	add := func(g, e uint16, vr string, v []byte) { ds = append(ds, el{g, e, vr, v}) }
	// addStr leaves empty values out.
	addStr := func(g, e uint16, vr, v string) {
		if v != "" {
			add(g, e, vr, str(v))
		}
	}
	if s.SR {
		sop = basicTextSR
	}
	if s.SOPClassUID != "" {
		sop = s.SOPClassUID
	}
	modality := "US"
	if s.SR {
		modality = "SR"
	}
	addStr(0x0008, 0x0005, "CS", s.SpecificCharacterSet)
	addStr(0x0008, 0x0016, "UI", sop)
	if !s.NoSOPInstanceUID {
		addStr(0x0008, 0x0018, "UI", s.SOPUID)
	}
	addStr(0x0008, 0x0020, "DA", s.StudyDate)
	addStr(0x0008, 0x0030, "TM", s.StudyTime)
	addStr(0x0008, 0x0050, "SH", s.AccessionNumber)
	addStr(0x0008, 0x0060, "CS", modality)
	addStr(0x0008, 0x1030, "LO", s.StudyDescription)
	addStr(0x0010, 0x0010, "PN", s.PatientName)
	addStr(0x0010, 0x0020, "LO", s.PatientID)
	addStr(0x0010, 0x0030, "DA", s.PatientBirthDate)
	addStr(0x0020, 0x000D, "UI", s.StudyUID)
	addStr(0x0020, 0x000E, "UI", s.SeriesUID)
	addStr(0x0020, 0x0010, "SH", s.StudyID)
	addStr(0x0020, 0x0011, "IS", s.SeriesNumber)
	if s.InstanceNumber > 0 {
		addStr(0x0020, 0x0013, "IS", strconv.Itoa(s.InstanceNumber))
	}
	for _, x := range s.Extra {
		addStr(x.Group, x.Element, x.VR, x.Value)
	}
	if s.SR {
		add(0x0008, 0x0023, "DA", str(s.StudyDate))
		add(0x0008, 0x0033, "TM", str(s.StudyTime))
		add(0x0040, 0xA040, "CS", str("CONTAINER"))
		add(0x0040, 0xA043, "SQ", seq(code(s.SRTitle)))
		add(0x0040, 0xA050, "CS", str("SEPARATE"))
		add(0x0040, 0xA491, "CS", str("COMPLETE"))
		add(0x0040, 0xA493, "CS", str("UNVERIFIED"))
		var its [][]byte
		for _, t := range s.SRTexts {
			its = append(its, item(
				el{0x0040, 0xA010, "CS", str("CONTAINS")},
				el{0x0040, 0xA040, "CS", str("TEXT")},
				el{0x0040, 0xA043, "SQ", seq(code(t[0]))},
				el{0x0040, 0xA160, "UT", str(t[1])},
			))
		}
		add(0x0040, 0xA730, "SQ", seq(its...))
		return sop, ds, nil
	}
	if s.NoPixelData {
		return sop, ds, nil
	}
	if s.Region != [4]uint32{} {
		ul := func(v uint32) []byte { b := make([]byte, 4); binary.LittleEndian.PutUint32(b, v); return b }
		add(0x0018, 0x6011, "SQ", seq(item(
			el{0x0018, 0x6018, "UL", ul(s.Region[0])},
			el{0x0018, 0x601A, "UL", ul(s.Region[1])},
			el{0x0018, 0x601C, "UL", ul(s.Region[2])},
			el{0x0018, 0x601E, "UL", ul(s.Region[3])},
		)))
	}
	if s.Fragments != nil {
		ph := s.Photometric
		if ph == "" {
			ph = "YBR_PARTIAL_420"
		}
		add(0x0028, 0x0002, "US", us(3))
		add(0x0028, 0x0004, "CS", str(ph))
		add(0x0028, 0x0006, "US", us(0))
	} else {
		add(0x0028, 0x0002, "US", us(1))
		add(0x0028, 0x0004, "CS", str("MONOCHROME2"))
	}
	if s.Frames > 1 {
		add(0x0018, 0x1063, "DS", str(strconv.FormatFloat(s.FrameTimeMS, 'f', -1, 64)))
		add(0x0028, 0x0008, "IS", str(strconv.Itoa(s.Frames)))
		add(0x0028, 0x0009, "AT", []byte{0x18, 0x00, 0x63, 0x10})
	}
	add(0x0028, 0x0010, "US", us(s.Rows))
	add(0x0028, 0x0011, "US", us(s.Columns))
	add(0x0028, 0x0100, "US", us(8))
	add(0x0028, 0x0101, "US", us(8))
	add(0x0028, 0x0102, "US", us(7))
	add(0x0028, 0x0103, "US", us(0))
	if s.Fragments != nil {
		return sop, ds, func(w *bufio.Writer) {
			binary.Write(w, binary.LittleEndian, [2]uint16{0x7FE0, 0x0010})
			w.WriteString("OB\x00\x00")
			binary.Write(w, binary.LittleEndian, uint32(0xFFFFFFFF))
			itemOf := func(v []byte) {
				binary.Write(w, binary.LittleEndian, [2]uint16{0xFFFE, 0xE000})
				binary.Write(w, binary.LittleEndian, uint32(len(v)+len(v)%2))
				w.Write(v)
				if len(v)%2 == 1 {
					w.WriteByte(0)
				}
			}
			itemOf(nil) // the Basic Offset Table, empty
			for _, f := range s.Fragments {
				itemOf(f)
			}
			binary.Write(w, binary.LittleEndian, [2]uint16{0xFFFE, 0xE0DD})
			binary.Write(w, binary.LittleEndian, uint32(0))
		}
	}
	if s.PixelData != nil {
		add(0x7FE0, 0x0010, "OB", s.PixelData)
		return sop, ds, nil
	}
	frame, n := s.Rows*s.Columns, s.Rows*s.Columns*s.Frames
	return sop, ds, func(w *bufio.Writer) {
		binary.Write(w, binary.LittleEndian, [2]uint16{0x7FE0, 0x0010})
		w.WriteString("OB\x00\x00")
		binary.Write(w, binary.LittleEndian, uint32(n+n%2))
		buf := make([]byte, frame)
		for f := range s.Frames {
			for j := range buf {
				buf[j] = byte(f*frame+j) + s.Fill
			}
			w.Write(buf)
		}
		if n%2 == 1 {
			w.WriteByte(0)
		}
	}
}

// encode returns the preamble, the file meta and ds, in tag order.
func encode(sop, sopUID, ts string, ds []el) []byte {
	str := func(v string) []byte { return []byte(v) }
	sort.SliceStable(ds, func(i, j int) bool {
		return uint32(ds[i].g)<<16|uint32(ds[i].e) < uint32(ds[j].g)<<16|uint32(ds[j].e)
	})

	var meta bytes.Buffer
	write(&meta, el{0x0002, 0x0001, "OB", []byte{0, 1}})
	write(&meta, el{0x0002, 0x0002, "UI", str(sop)})
	write(&meta, el{0x0002, 0x0003, "UI", str(sopUID)})
	write(&meta, el{0x0002, 0x0010, "UI", str(ts)})
	write(&meta, el{0x0002, 0x0012, "UI", str("2.25.1")})
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(meta.Len()))
	write(&out, el{0x0002, 0x0000, "UL", gl})
	out.Write(meta.Bytes())
	for _, e := range ds {
		write(&out, e)
	}
	return out.Bytes()
}

func write(b *bytes.Buffer, e el) {
	v := e.v
	if len(v)%2 == 1 {
		pad := byte(' ')
		if e.vr == "UI" || e.vr == "OB" {
			pad = 0
		}
		v = append(append([]byte{}, v...), pad)
	}
	binary.Write(b, binary.LittleEndian, [2]uint16{e.g, e.e})
	b.WriteString(e.vr)
	switch e.vr {
	case "OB", "OW", "SQ", "UN", "UT":
		b.Write([]byte{0, 0})
		binary.Write(b, binary.LittleEndian, uint32(len(v)))
	default:
		if len(v) > 0xFFFF {
			panic(fmt.Sprintf("testdicom: %04x,%04x too long", e.g, e.e))
		}
		binary.Write(b, binary.LittleEndian, uint16(len(v)))
	}
	b.Write(v)
}

// code is a sequence item of one code (private scheme 99TEST).
func code(meaning string) []byte {
	return item(
		el{0x0008, 0x0100, "SH", []byte("T1")},
		el{0x0008, 0x0102, "SH", []byte("99TEST")},
		el{0x0008, 0x0104, "LO", []byte(meaning)},
	)
}

// item encodes one sequence item (explicit length).
func item(els ...el) []byte {
	var body bytes.Buffer
	for _, e := range els {
		write(&body, e)
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [2]uint16{0xFFFE, 0xE000})
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

// seq joins encoded items into a sequence value.
func seq(items ...[]byte) []byte { return bytes.Join(items, nil) }

// HugeLength returns a Part 10 file whose one data set element, a private
// OB, declares a value of almost 4 GiB while the file holds eight bytes of
// it. The DICOM library allocates what an element declares, so a raw parse
// of this small file asks for gigabytes; sonolink's readers must refuse it.
func HugeLength() []byte {
	out := encode(usImage, "2.25.4242", explicitLE, nil)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, [2]uint16{0x0009, 0x1010})
	b.WriteString("OB\x00\x00")
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFF0))
	b.Write(make([]byte, 8))
	return append(out, b.Bytes()...)
}
