// Package dicomdir writes a DICOMDIR (Basic Directory IOD, PS3.3 F and
// PS3.10 section 8) for a small file-set: the de-identified objects of one
// patient's share, put in a ZIP beside the DICOMDIR so another doctor's
// viewer can import them.
//
// The writer is deliberately by hand (Explicit VR Little Endian, explicit
// lengths everywhere) so that the record offsets are exact: every offset is
// the byte position of a directory record's Item tag counted from the first
// byte of the file (the preamble), as PS3.3 F.3.2.1 defines.
package dicomdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/uid"
)

const (
	mediaStorageDirectory = uid.MediaStorageDirectory
	explicitVRLittle      = uid.ExplicitVRLittleEndian
	encapsulatedPDF       = uid.EncapsulatedPDF
)

// UnknownDate and UnknownTime stand in a record's Type 1 date and time when
// the objects have none: a de-identified copy's study date and time are
// emptied (PS3.15 Table E.1-1), yet the STUDY and SR DOCUMENT records
// require them. 1 January 1900 is the value importing systems read as "no
// date"; the ZIP's README tells the patient that dates were removed.
const (
	UnknownDate = "19000101"
	UnknownTime = "000000"
)

// File is what a directory record needs from one referenced object.
// FromDataset fills it from the object's own header.
type File struct {
	ID []string // Referenced File ID components, e.g. {"DICOM", "IMG00001"}

	PatientName, PatientID string

	StudyUID, StudyDate, StudyTime, StudyDescription, StudyID, AccessionNumber string

	SeriesUID, Modality, SeriesNumber string

	SOPClassUID, SOPInstanceUID, TransferSyntaxUID, InstanceNumber string

	// Encapsulated documents (ENCAP DOC records) and structured reports
	// (SR DOCUMENT records).
	ContentDate, ContentTime, DocumentTitle, MIMEType string

	// Structured reports: flags, verification time and the code of the
	// document title (root Concept Name Code Sequence).
	CompletionFlag, VerificationFlag, VerificationDateTime string
	ConceptCode                                            Code
}

// Code is one coded entry (code value, coding scheme designator, meaning).
type Code struct{ Value, Scheme, Meaning string }

// ReadFile reads an object's header (no pixel data) through sonolink's
// structural checks and returns its directory fields.
func ReadFile(r io.ReaderAt, size int64) (File, error) {
	ds, _, err := dicomfile.Parse(r, size, dicomfile.Limits{}, true)
	if err != nil {
		return File{}, err
	}
	return FromDataset(ds), nil
}

// FromDataset takes the directory fields from a parsed data set.
func FromDataset(ds *dicom.Dataset) File {
	s := func(t tag.Tag) string { return dicomfile.String(ds, t) }
	f := File{
		PatientName: s(tag.PatientName), PatientID: s(tag.PatientID),
		StudyUID: s(tag.StudyInstanceUID), StudyDate: s(tag.StudyDate), StudyTime: s(tag.StudyTime),
		StudyDescription: s(tag.StudyDescription), StudyID: s(tag.StudyID), AccessionNumber: s(tag.AccessionNumber),
		SeriesUID: s(tag.SeriesInstanceUID), Modality: s(tag.Modality), SeriesNumber: s(tag.SeriesNumber),
		SOPClassUID: s(tag.SOPClassUID), SOPInstanceUID: s(tag.SOPInstanceUID),
		TransferSyntaxUID: s(tag.TransferSyntaxUID), InstanceNumber: s(tag.InstanceNumber),
		ContentDate: s(tag.ContentDate), ContentTime: s(tag.ContentTime),
		DocumentTitle: s(tag.DocumentTitle), MIMEType: s(tag.MIMETypeOfEncapsulatedDocument),
		CompletionFlag: s(tag.CompletionFlag), VerificationFlag: s(tag.VerificationFlag),
	}
	if IsSR(f.SOPClassUID) || IsSR(s(tag.MediaStorageSOPClassUID)) {
		f.VerificationDateTime = lastVerification(ds)
		f.ConceptCode = conceptName(ds)
	}
	if f.SOPClassUID == "" {
		f.SOPClassUID = s(tag.MediaStorageSOPClassUID)
	}
	if f.SOPInstanceUID == "" {
		f.SOPInstanceUID = s(tag.MediaStorageSOPInstanceUID)
	}
	return f
}

// IsSR reports whether a SOP class is a structured report document
// (PS3.4 B.5: the 1.2.840.10008.5.1.4.1.1.88 family), which gets an SR
// DOCUMENT record. Key Object Selection (88.59) is not one: it would need
// a KEY OBJECT DOC record, and sonolink does not accept it.
func IsSR(sopClass string) bool {
	return strings.HasPrefix(sopClass, srPrefix) && sopClass != keyObjectSelection
}

const (
	srPrefix           = "1.2.840.10008.5.1.4.1.1.88."
	keyObjectSelection = "1.2.840.10008.5.1.4.1.1.88.59"
)

// conceptName is the root Concept Name Code Sequence (0040,A043) of an SR.
func conceptName(ds *dicom.Dataset) Code {
	e, err := ds.FindElementByTag(tag.ConceptNameCodeSequence)
	if err != nil || e.Value == nil {
		return Code{}
	}
	items, _ := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if len(items) == 0 || items[0] == nil {
		return Code{}
	}
	els, _ := items[0].GetValue().([]*dicom.Element)
	item := &dicom.Dataset{Elements: els}
	return Code{
		Value:   dicomfile.String(item, tag.CodeValue),
		Scheme:  dicomfile.String(item, tag.CodingSchemeDesignator),
		Meaning: dicomfile.String(item, tag.CodeMeaning),
	}
}

// lastVerification is the latest Verification DateTime (0040,A030) of the
// Verifying Observer Sequence (0040,A073).
func lastVerification(ds *dicom.Dataset) string {
	e, err := ds.FindElementByTag(tag.VerifyingObserverSequence)
	if err != nil || e.Value == nil {
		return ""
	}
	items, _ := e.Value.GetValue().([]*dicom.SequenceItemValue)
	last := ""
	for _, it := range items {
		if it == nil {
			continue
		}
		els, _ := it.GetValue().([]*dicom.Element)
		if v := dicomfile.String(&dicom.Dataset{Elements: els}, tag.VerificationDateTime); v > last {
			last = v
		}
	}
	return last
}

var fileIDComponent = regexp.MustCompile(`^[A-Z0-9_]{1,8}$`)

// FileName returns the ISO 9660-compatible name of the n-th file (1-based):
// IMG00001, IMG00002, …
func FileName(n int) string { return fmt.Sprintf("IMG%05d", n) }

// Write writes a DICOMDIR for files to w. fileSetID is up to 16 characters
// of A–Z, 0–9, space and underscore. Records are grouped PATIENT → STUDY →
// SERIES → IMAGE (or ENCAP DOC, or SR DOCUMENT) by the files' own identifiers, in the order
// the files are given.
func Write(w io.Writer, fileSetID string, files []File) error {
	if len(fileSetID) > 16 {
		return errors.New("dicomdir: file-set ID longer than 16 characters")
	}
	tree, err := buildTree(files)
	if err != nil {
		return err
	}

	// Flatten depth-first; each record's body length does not depend on
	// offset values (all UL), so positions are known before encoding.
	var recs []*record
	var walk func(rs []*record)
	walk = func(rs []*record) {
		for _, r := range rs {
			recs = append(recs, r)
			walk(r.children)
		}
	}
	walk(tree)

	meta := metaGroup(fileSetUID(fileSetID, files))
	var head bytes.Buffer // data set elements before the record sequence
	putStr(&head, 0x0004, 0x1130, "CS", fileSetID)
	// Root offsets (two UL) and the consistency flag (US) follow.
	const rootOffsetsLen = (8 + 4) + (8 + 4) + (8 + 2)

	start := int64(128 + 4 + len(meta) + head.Len() + rootOffsetsLen + 12) // + SQ header (explicit VR, 12 bytes)
	pos := start
	for _, r := range recs {
		r.pos = pos
		pos += 8 + int64(len(r.encode()))
	}
	seqLen := pos - start
	if seqLen > 0xFFFFFFFE {
		return errors.New("dicomdir: directory too large")
	}

	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	out.Write(meta)
	out.Write(head.Bytes())
	first, last := uint32(0), uint32(0)
	if len(tree) > 0 {
		first, last = uint32(tree[0].pos), uint32(tree[len(tree)-1].pos)
	}
	putUL(&out, 0x0004, 0x1200, first)
	putUL(&out, 0x0004, 0x1202, last)
	putUS(&out, 0x0004, 0x1212, 0)
	// Directory Record Sequence, explicit length.
	putHeader(&out, 0x0004, 0x1220, "SQ", uint32(seqLen))
	for _, r := range recs {
		body := r.encode()
		binary.Write(&out, binary.LittleEndian, [2]uint16{0xFFFE, 0xE000})
		binary.Write(&out, binary.LittleEndian, uint32(len(body)))
		out.Write(body)
	}
	_, err = w.Write(out.Bytes())
	return err
}

type record struct {
	typ      string
	attrs    []attr
	children []*record
	next     *record
	pos      int64
}

type attr struct {
	group, elem uint16
	vr          string
	value       string
}

func (r *record) encode() []byte {
	var next, lower uint32
	if r.next != nil {
		next = uint32(r.next.pos)
	}
	if len(r.children) > 0 {
		lower = uint32(r.children[0].pos)
	}
	utf8 := false
	for _, a := range r.attrs {
		for i := 0; i < len(a.value) && a.vr != "SQ"; i++ {
			if a.value[i] >= 0x80 {
				utf8 = true
			}
		}
	}
	els := make([]attr, 0, len(r.attrs)+1)
	if utf8 {
		els = append(els, attr{0x0008, 0x0005, "CS", "ISO_IR 192"})
	}
	els = append(els, r.attrs...)
	// A data set's elements go in ascending tag order (PS3.5 7.1); the
	// fixed record header (group 0004, below 0004,1500) comes first.
	sort.SliceStable(els, func(i, j int) bool {
		if els[i].group != els[j].group {
			return els[i].group < els[j].group
		}
		return els[i].elem < els[j].elem
	})
	var b bytes.Buffer
	putUL(&b, 0x0004, 0x1400, next)
	putUS(&b, 0x0004, 0x1410, 0xFFFF)
	putUL(&b, 0x0004, 0x1420, lower)
	putStr(&b, 0x0004, 0x1430, "CS", r.typ)
	for _, a := range els {
		putStr(&b, a.group, a.elem, a.vr, a.value)
	}
	return b.Bytes()
}

// itemBody encodes attrs as the body of one sequence item; an attr of VR
// SQ carries it as its value.
func itemBody(attrs []attr) string {
	var b bytes.Buffer
	for _, a := range attrs {
		putStr(&b, a.group, a.elem, a.vr, a.value)
	}
	return b.String()
}

func buildTree(files []File) ([]*record, error) {
	var patients []*record
	byPatient := map[string]*record{}
	byStudy := map[string]*record{}
	bySeries := map[string]*record{}
	for i, f := range files {
		if len(f.ID) == 0 || len(f.ID) > 8 {
			return nil, fmt.Errorf("dicomdir: file %d: file ID needs 1 to 8 components", i+1)
		}
		for _, c := range f.ID {
			if !fileIDComponent.MatchString(c) {
				return nil, fmt.Errorf("dicomdir: file %d: file ID component %q is not ISO 9660 (A-Z 0-9 _, up to 8)", i+1, c)
			}
		}
		if f.SOPClassUID == "" || f.SOPInstanceUID == "" || f.StudyUID == "" || f.SeriesUID == "" {
			return nil, fmt.Errorf("dicomdir: file %d lacks SOP class, SOP instance, study or series UID", i+1)
		}
		pid := or(f.PatientID, "UNKNOWN")
		pkey := pid + "\x00" + f.PatientName
		p := byPatient[pkey]
		if p == nil {
			p = &record{typ: "PATIENT", attrs: []attr{
				{0x0010, 0x0010, "PN", f.PatientName},
				{0x0010, 0x0020, "LO", pid},
			}}
			byPatient[pkey] = p
			patients = appendChild(patients, p)
		}
		st := byStudy[f.StudyUID]
		if st == nil {
			st = &record{typ: "STUDY", attrs: []attr{
				{0x0008, 0x0020, "DA", or(f.StudyDate, UnknownDate)},
				{0x0008, 0x0030, "TM", or(f.StudyTime, UnknownTime)},
				{0x0008, 0x0050, "SH", f.AccessionNumber},
				{0x0008, 0x1030, "LO", f.StudyDescription},
				{0x0020, 0x000D, "UI", f.StudyUID},
				{0x0020, 0x0010, "SH", or(f.StudyID, "1")},
			}}
			byStudy[f.StudyUID] = st
			p.children = appendChild(p.children, st)
		}
		se := bySeries[f.SeriesUID]
		if se == nil {
			se = &record{typ: "SERIES", attrs: []attr{
				{0x0008, 0x0060, "CS", or(f.Modality, "OT")},
				{0x0020, 0x000E, "UI", f.SeriesUID},
				{0x0020, 0x0011, "IS", or(f.SeriesNumber, strconv.Itoa(len(st.children)+1))},
			}}
			bySeries[f.SeriesUID] = se
			st.children = appendChild(st.children, se)
		}
		ref := []attr{
			{0x0004, 0x1500, "CS", strings.Join(f.ID, `\`)},
			{0x0004, 0x1510, "UI", f.SOPClassUID},
			{0x0004, 0x1511, "UI", f.SOPInstanceUID},
			{0x0004, 0x1512, "UI", or(f.TransferSyntaxUID, explicitVRLittle)},
		}
		inst := or(f.InstanceNumber, strconv.Itoa(len(se.children)+1))
		var leaf *record
		if strings.HasPrefix(f.SOPClassUID, "1.2.840.10008.5.1.4.1.1.104.") {
			mime := f.MIMEType
			if mime == "" && f.SOPClassUID == encapsulatedPDF {
				mime = "application/pdf"
			}
			leaf = &record{typ: "ENCAP DOC", attrs: append(ref,
				attr{0x0008, 0x0023, "DA", f.ContentDate},
				attr{0x0008, 0x0033, "TM", f.ContentTime},
				attr{0x0020, 0x0013, "IS", inst},
				attr{0x0042, 0x0010, "ST", f.DocumentTitle},
				attr{0x0042, 0x0012, "LO", mime},
			)}
			// ENCAP DOC also requires an (empty) Concept Name Code Sequence;
			// encoded specially in putStr via VR "SQ".
			leaf.attrs = append(leaf.attrs, attr{0x0040, 0xA043, "SQ", ""})
		} else if IsSR(f.SOPClassUID) {
			leaf = srRecord(f, ref, inst)
		} else {
			leaf = &record{typ: "IMAGE", attrs: append(ref, attr{0x0020, 0x0013, "IS", inst})}
		}
		se.children = appendChild(se.children, leaf)
	}
	return patients, nil
}

// srRecord is the SR DOCUMENT record (PS3.3 F.5, SR Document keys):
// Instance Number, Completion and Verification Flags, Content Date and
// Time, Verification DateTime when verified, and the document's Concept
// Name Code Sequence. Type 1 values an object lacks get neutral stand-ins
// (PARTIAL, UNVERIFIED, an unknown-title code) rather than an invalid
// record.
func srRecord(f File, ref []attr, inst string) *record {
	completion := f.CompletionFlag
	if completion != "COMPLETE" {
		completion = "PARTIAL"
	}
	verification := f.VerificationFlag
	if verification != "VERIFIED" || f.VerificationDateTime == "" {
		verification = "UNVERIFIED"
	}
	attrs := append(ref,
		attr{0x0008, 0x0023, "DA", or(f.ContentDate, f.StudyDate, UnknownDate)},
		attr{0x0008, 0x0033, "TM", or(f.ContentTime, f.StudyTime, UnknownTime)},
		attr{0x0020, 0x0013, "IS", inst},
	)
	if verification == "VERIFIED" {
		attrs = append(attrs, attr{0x0040, 0xA030, "DT", f.VerificationDateTime})
	}
	code := f.ConceptCode
	if code.Value == "" || code.Scheme == "" {
		// DCM 121144 "Document Title" stands for a title we do not know.
		code = Code{Value: "121144", Scheme: "DCM", Meaning: or(code.Meaning, "Document Title")}
	}
	attrs = append(attrs,
		attr{0x0040, 0xA043, "SQ", itemBody([]attr{
			{0x0008, 0x0100, "SH", code.Value},
			{0x0008, 0x0102, "SH", code.Scheme},
			{0x0008, 0x0104, "LO", or(code.Meaning, code.Value)},
		})},
		attr{0x0040, 0xA491, "CS", completion},
		attr{0x0040, 0xA493, "CS", verification},
	)
	return &record{typ: "SR DOCUMENT", attrs: attrs}
}

func appendChild(list []*record, r *record) []*record {
	if n := len(list); n > 0 {
		list[n-1].next = r
	}
	return append(list, r)
}

// or returns the first value that is not empty.
func or(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func metaGroup(instanceUID string) []byte {
	var body bytes.Buffer
	putHeader(&body, 0x0002, 0x0001, "OB", 2)
	body.Write([]byte{0, 1})
	putStr(&body, 0x0002, 0x0002, "UI", mediaStorageDirectory)
	putStr(&body, 0x0002, 0x0003, "UI", instanceUID)
	putStr(&body, 0x0002, 0x0010, "UI", explicitVRLittle)
	putStr(&body, 0x0002, 0x0012, "UI", uid.ImplementationClassUID)
	putStr(&body, 0x0002, 0x0013, "SH", uid.ImplementationVersionName)
	var b bytes.Buffer
	putUL(&b, 0x0002, 0x0000, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

// fileSetUID returns the DICOMDIR's SOP Instance UID: a 2.25 UID (PS3.5
// B.2) from a name-based UUID of the file set's ID and its files' SOP
// instances and paths. The same file set gets the same DICOMDIR, byte for
// byte, so a download can announce its exact length before it is made.
func fileSetUID(fileSetID string, files []File) string {
	h := sha256.New()
	h.Write([]byte(fileSetID))
	for _, f := range files {
		h.Write([]byte{0})
		h.Write([]byte(f.SOPInstanceUID))
		for _, p := range f.ID {
			h.Write([]byte{1})
			h.Write([]byte(p))
		}
	}
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5: name-based
	u[8] = u[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(u).String()
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UT", "UN", "UC", "UR", "SV", "UV":
		return true
	}
	return false
}

func putHeader(b *bytes.Buffer, g, e uint16, vr string, n uint32) {
	binary.Write(b, binary.LittleEndian, [2]uint16{g, e})
	b.WriteString(vr)
	if longVR(vr) {
		b.Write([]byte{0, 0})
		binary.Write(b, binary.LittleEndian, n)
	} else {
		binary.Write(b, binary.LittleEndian, uint16(n))
	}
}

func putStr(b *bytes.Buffer, g, e uint16, vr, v string) {
	if vr == "SQ" { // empty, or one item whose encoded body is v (itemBody)
		if v == "" {
			putHeader(b, g, e, vr, 0)
			return
		}
		putHeader(b, g, e, vr, uint32(8+len(v)))
		binary.Write(b, binary.LittleEndian, [2]uint16{0xFFFE, 0xE000})
		binary.Write(b, binary.LittleEndian, uint32(len(v)))
		b.WriteString(v)
		return
	}
	// DICOM strings may not hold control characters other than the
	// few the VR allows; drop them rather than corrupt the record.
	v = strings.Map(func(r rune) rune {
		if r < 0x20 && r != 0x1b {
			return -1
		}
		return r
	}, v)
	if len(v) > 0xFFF0 {
		v = v[:0xFFF0]
	}
	if len(v)%2 == 1 {
		if vr == "UI" {
			v += "\x00"
		} else {
			v += " "
		}
	}
	putHeader(b, g, e, vr, uint32(len(v)))
	b.WriteString(v)
}

func putUL(b *bytes.Buffer, g, e uint16, v uint32) {
	putHeader(b, g, e, "UL", 4)
	binary.Write(b, binary.LittleEndian, v)
}

func putUS(b *bytes.Buffer, g, e uint16, v uint16) {
	putHeader(b, g, e, "US", 2)
	binary.Write(b, binary.LittleEndian, v)
}
