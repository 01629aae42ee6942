package anonymize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
	"sonolink/dicom/uid"
)

// ErrDICOMDIR refuses Media Storage Directory objects: a DICOMDIR lists
// other files (and their patients) and is never forwarded.
var ErrDICOMDIR = errors.New("anonymize: DICOMDIR (Media Storage Directory) is never de-identified or forwarded")

// Verdict says whether a de-identified copy may be shown without the
// patient's password. Reasons never contain patient data.
type Verdict struct {
	Clean   bool
	Reasons []string
}

// Result describes one de-identified copy.
type Result struct {
	Verdict Verdict
	// New UIDs of the copy.
	SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string
	// Size is the number of bytes written.
	Size int64
}

// Well-known tags used below.
var (
	tagSpecificCharacterSet = tagOf(0x0008, 0x0005)
	tagPatientIdentityRem   = tagOf(0x0012, 0x0062)
	tagDeidMethod           = tagOf(0x0012, 0x0063)
	tagDeidMethodCodeSeq    = tagOf(0x0012, 0x0064)
	tagLongitudinalModified = tagOf(0x0028, 0x0303)
	tagBurnedInAnnotation   = tagOf(0x0028, 0x0301)
	tagTextValue            = tagOf(0x0040, 0xA160)
	tagTrailingPadding      = tagOf(0xFFFC, 0xFFFC)
	tagCodeValue            = tagOf(0x0008, 0x0100)
	tagCodingScheme         = tagOf(0x0008, 0x0102)
	tagCodeMeaning          = tagOf(0x0008, 0x0104)
	tagSOPClassUID          = tagOf(0x0008, 0x0016)
	tagSOPInstanceUID       = tagOf(0x0008, 0x0018)
	tagStudyInstanceUID     = tagOf(0x0020, 0x000D)
	tagSeriesInstanceUID    = tagOf(0x0020, 0x000E)
	tagPatientID            = tagOf(0x0010, 0x0020)
	tagPatientName          = tagOf(0x0010, 0x0010)
)

const (
	tsImplicitLE = uid.ImplicitVRLittleEndian
	tsExplicitLE = uid.ExplicitVRLittleEndian
	tsDeflated   = uid.DeflatedExplicitVRLE
	tsExplicitBE = uid.ExplicitVRBigEndian
)

// File de-identifies the DICOM file at inPath (read through
// dicom/dicomfile) and writes the copy to w. The verdict is in the Result;
// an error means nothing usable was written.
//
// The pixel data is not read into memory: it is read from inPath, cleaned
// and written one frame at a time (encapsulated frames are re-encoded
// before anything is written), so memory use does not grow with the
// number of frames. The copy is written to w as it is made; on error w
// may hold part of it, which the caller discards.
func (a *Anonymizer) File(inPath string, w io.Writer) (*Result, error) {
	f, err := dicomfile.Open(inPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return a.dataset(f.Dataset, f.Pixels, w)
}

// Dataset de-identifies a dataset read by dicom/dicomfile.ReadFile (pixel
// data unprocessed) and writes the copy to w. ds is modified.
func (a *Anonymizer) Dataset(ds *dicom.Dataset, w io.Writer) (*Result, error) {
	return a.dataset(ds, nil, w)
}

// dataset de-identifies ds, whose pixel data is read through ref (nil: it
// is the value of the dataset's Pixel Data element), and writes the copy
// to w.
func (a *Anonymizer) dataset(ds *dicom.Dataset, ref *dicomfile.PixelRef, w io.Writer) (*Result, error) {
	sopClass := dicomfile.String(ds, tagSOPClassUID)
	if sopClass == "" {
		sopClass = dicomfile.String(ds, tag.MediaStorageSOPClassUID)
	}
	if sopClass == mediaStorageDirectory || dicomfile.String(ds, tag.MediaStorageSOPClassUID) == mediaStorageDirectory {
		return nil, ErrDICOMDIR
	}
	if sopClass == "" {
		return nil, errors.New("anonymize: object without SOP Class UID")
	}
	origSOP := dicomfile.String(ds, tagSOPInstanceUID)
	if origSOP == "" {
		return nil, errors.New("anonymize: object without SOP Instance UID")
	}
	j := &job{a: a, kind: kindOf(sopClass)}
	if a.opts.ShiftDates {
		j.shift = a.dayShift(dicomfile.String(ds, tagPatientID), dicomfile.String(ds, tagPatientName))
	}
	j.needles = collectNeedles(ds)

	switch j.kind {
	case iodSR:
		j.residual("SR content")
	case iodPDF:
		if sopClass == uid.EncapsulatedPDF {
			j.residual("Encapsulated PDF")
		} else {
			j.residual("encapsulated document")
		}
	}

	// Pixels first: cleaning reads the regions and rewrites the attributes
	// describing the encoding in ds; the Pixel Data value is written by
	// encode, from px.
	pixelsClean := false
	var px *pixels.Value
	if pe, err := ds.FindElementByTag(tag.PixelData); err == nil && pe.Value != nil {
		px, pixelsClean = j.cleanPixels(ds, ref)
		if px == nil {
			v, err := pixels.OriginalValue(ds, ref)
			if err != nil {
				return nil, fmt.Errorf("anonymize: pixel data: %w", err)
			}
			px = v
		}
		if err := px.LittleEndian(ds); err != nil {
			return nil, fmt.Errorf("anonymize: big endian pixel data: %w", err)
		}
	}
	outTS := dicomfile.String(ds, tag.TransferSyntaxUID)
	switch outTS {
	case "", tsDeflated, tsExplicitBE:
		outTS = tsExplicitLE
	}

	elems := j.items(ds.Elements, tag.Tag{}, 0)

	newSOP := a.mapUID(origSOP)
	res := &Result{
		SOPInstanceUID:    newSOP,
		StudyInstanceUID:  a.mapUID(dicomfile.String(ds, tagStudyInstanceUID)),
		SeriesInstanceUID: a.mapUID(dicomfile.String(ds, tagSeriesInstanceUID)),
	}

	elems = j.addDeidentification(elems, pixelsClean)
	sortElements(elems)
	if outTS != tsImplicitLE {
		fixShortLengths(elems)
	}

	meta := []*dicom.Element{
		mustElem(tag.FileMetaInformationVersion, "OB", []byte{0, 1}),
		mustElem(tag.MediaStorageSOPClassUID, "UI", []string{sopClass}),
		mustElem(tag.MediaStorageSOPInstanceUID, "UI", []string{newSOP}),
		mustElem(tag.TransferSyntaxUID, "UI", []string{outTS}),
		mustElem(tag.ImplementationClassUID, "UI", []string{uid.ImplementationClassUID}),
		mustElem(tag.ImplementationVersionName, "SH", []string{uid.ImplementationVersionName}),
	}
	cw := &countWriter{w: w}
	out, err := encode(cw, meta, elems, outTS, px)
	res.Size = cw.n
	if err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return nil, we.err
		}
		return nil, fmt.Errorf("anonymize: write: %w", err)
	}
	if hits, err := j.verifyCopy(out); err != nil {
		return nil, fmt.Errorf("anonymize: verify output: %w", err)
	} else {
		for _, h := range hits {
			j.residual("verification: " + h + " found")
		}
	}
	res.Verdict = Verdict{Clean: len(j.reasons) == 0, Reasons: j.reasons}
	return res, nil
}

// job is the state of one object's de-identification.
type job struct {
	a       *Anonymizer
	kind    iodKind
	shift   int // days, ShiftDates only
	needles []needle
	reasons []string
}

func (j *job) residual(reason string) {
	for _, r := range j.reasons {
		if r == reason {
			return
		}
	}
	j.reasons = append(j.reasons, reason)
}

// cleanPixels blacks out everything outside the ultrasound regions: it
// returns the cleaned Pixel Data value, or nil when the pixels cannot be
// cleaned (the reason is recorded), and whether they were cleaned.
func (j *job) cleanPixels(ds *dicom.Dataset, ref *dicomfile.PixelRef) (*pixels.Value, bool) {
	if ts := dicomfile.String(ds, tag.TransferSyntaxUID); pixels.VideoCodec(ts) != "" {
		j.residual(pixels.VideoReason(ts))
		return nil, false
	}
	regions, err := pixels.Regions(ds)
	switch {
	case err != nil:
		j.residual("pixels not cleaned: " + reasonOf(err))
		return nil, false
	case len(regions) == 0 && j.kind == iodSC:
		j.residual("pixels not cleaned: secondary capture without ultrasound regions")
		return nil, false
	case len(regions) == 0:
		j.residual("pixels not cleaned: no ultrasound regions")
		return nil, false
	}
	v, err := pixels.CleanValue(ds, ref, regions)
	if err != nil {
		j.residual("pixels not cleaned: " + reasonOf(err))
		return nil, false
	}
	return v, true
}

func reasonOf(err error) string {
	s := err.Error()
	if errors.Is(err, pixels.ErrUnsupported) {
		s = strings.TrimPrefix(s, pixels.ErrUnsupported.Error()+": ")
		return "unsupported encoding (" + s + ")"
	}
	return s
}

// effective returns the table action under the Anonymizer's options.
func (a *Anonymizer) effective(r *rule) string {
	act := r.basic
	if a.opts.RetainPatientCharacteristics && r.retainPatChars == "K" {
		act = "K"
	}
	if a.opts.RetainFullDates && r.retainFullDates == "K" {
		act = "K"
	}
	if a.opts.ShiftDates && r.retainModifDates == "C" {
		act = "C"
	}
	return act
}

// items de-identifies the elements of the dataset or of one sequence item
// (parent is the sequence's tag; zero at the top level).
func (j *job) items(elems []*dicom.Element, parent tag.Tag, depth int) []*dicom.Element {
	top := parent == (tag.Tag{})
	creators := map[[2]uint16]string{}
	for _, e := range elems {
		if e.Tag.Group&1 == 1 && e.Tag.Element >= 0x10 && e.Tag.Element <= 0xFF {
			creators[[2]uint16{e.Tag.Group, e.Tag.Element}] = firstString(e)
		}
	}
	keepCreator := map[tag.Tag]bool{}
	out := make([]*dicom.Element, 0, len(elems))
	for _, e := range elems {
		g := e.Tag.Group
		switch {
		case g == 0x0002 || g == 0x0000:
			continue // File Meta Information is rebuilt; command group never belongs here
		case e.Tag.Element == 0x0000:
			continue // group lengths (retired, and wrong after editing)
		case e.Tag == tagTrailingPadding, g == 0xFFFE:
			continue // padding; items or delimiters misplaced in a data set
		case g&1 == 1:
			if e.Tag.Element <= 0xFF || g < 0x0009 {
				continue // creators are kept only for kept attributes
			}
			block := e.Tag.Element >> 8
			cr := creators[[2]uint16{g, block}]
			if cr != "" && j.a.safe[safePrivate{creator: cr, group: g, elem: uint8(e.Tag.Element)}] {
				out = append(out, e)
				keepCreator[tagOf(g, block)] = true
			}
			continue
		case g >= 0x6000 && g <= 0x60FF, g >= 0x5000 && g <= 0x50FF:
			// Overlays (which can carry burned text) and curves go as a
			// whole group: an overlay plane without its data is invalid.
			continue
		}
		if top && (e.Tag == tagPatientIdentityRem || e.Tag == tagDeidMethod || e.Tag == tagDeidMethodCodeSeq || e.Tag == tagLongitudinalModified) {
			continue // rewritten below
		}
		if j.a.skip[e.Tag] {
			out = append(out, e)
			continue
		}
		if e.Tag == tagSpecificCharacterSet {
			out = append(out, mustElem(e.Tag, "CS", []string{"ISO_IR 192"}))
			continue
		}
		var act string
		if r := table.lookup(e.Tag); r != nil {
			act = j.a.effective(r)
		} else if e.Tag == tagTextValue {
			act = "D" // SR TEXT content: free text the table leaves alone
		} else {
			act = "K"
		}
		act = resolve(act, attrType(j.kind, parent, e.Tag))
		if ne := j.apply(e, act, depth); ne != nil {
			out = append(out, ne)
		}
	}
	for ct := range keepCreator {
		for _, e := range elems {
			if e.Tag == ct {
				out = append(out, e)
			}
		}
	}
	sortElements(out)
	return out
}

// apply performs one resolved action on e and returns the element to write
// (nil: removed).
func (j *job) apply(e *dicom.Element, act string, depth int) *dicom.Element {
	if e.Value == nil {
		return e
	}
	vt := e.Value.ValueType()
	switch act {
	case "X":
		return nil
	case "Z":
		return emptied(e)
	case "D":
		if vt == dicom.Sequences {
			return j.recurse(e, depth)
		}
		return dummy(e, j.a)
	case "U":
		switch vt {
		case dicom.Strings:
			vals := e.Value.GetValue().([]string)
			nv := make([]string, len(vals))
			for i, v := range vals {
				nv[i] = j.a.mapUID(v)
			}
			return withValue(e, nv)
		case dicom.Sequences:
			return j.recurse(e, depth)
		}
		return e
	case "C":
		if vt == dicom.Strings && (e.RawValueRepresentation == "DA" || e.RawValueRepresentation == "DT") {
			vals := e.Value.GetValue().([]string)
			nv := make([]string, 0, len(vals))
			for _, v := range vals {
				if s, ok := shiftDate(v, j.shift); ok {
					nv = append(nv, s)
				}
			}
			if len(nv) == 0 {
				return emptied(e)
			}
			return withValue(e, nv)
		}
		if vt == dicom.Sequences {
			return j.recurse(e, depth)
		}
		return e // times and ages keep their value under whole-day shifts
	default: // K
		if vt == dicom.Sequences {
			return j.recurse(e, depth)
		}
		return e
	}
}

// recurse cleans every item of a sequence.
func (j *job) recurse(e *dicom.Element, depth int) *dicom.Element {
	items, _ := e.Value.GetValue().([]*dicom.SequenceItemValue)
	nitems := make([][]*dicom.Element, 0, len(items))
	for _, it := range items {
		el, _ := it.GetValue().([]*dicom.Element)
		nitems = append(nitems, j.items(el, e.Tag, depth+1))
	}
	v, err := dicom.NewValue(nitems)
	if err != nil {
		return nil
	}
	return &dicom.Element{Tag: e.Tag, ValueRepresentation: e.ValueRepresentation, RawValueRepresentation: e.RawValueRepresentation, ValueLength: tag.VLUndefinedLength, Value: v}
}

// shiftDate moves a DA or DT value by days; a value that is not a date
// cannot be shifted and is dropped (ok false).
func shiftDate(v string, days int) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 8 {
		return "", false
	}
	d, err := time.Parse("20060102", v[:8])
	if err != nil {
		return "", false
	}
	return d.AddDate(0, 0, days).Format("20060102") + v[8:], true
}

func firstString(e *dicom.Element) string {
	if e.Value == nil {
		return ""
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		if len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
	case []byte:
		return strings.TrimRight(string(v), " \x00")
	}
	return ""
}

func withValue(e *dicom.Element, data any) *dicom.Element {
	v, err := dicom.NewValue(data)
	if err != nil {
		panic(err)
	}
	return &dicom.Element{Tag: e.Tag, ValueRepresentation: e.ValueRepresentation, RawValueRepresentation: e.RawValueRepresentation, Value: v}
}

// emptied returns e with a zero-length value of the same kind.
func emptied(e *dicom.Element) *dicom.Element {
	switch e.Value.ValueType() {
	case dicom.Strings:
		return withValue(e, []string{})
	case dicom.Ints:
		return withValue(e, []int{})
	case dicom.Floats:
		return withValue(e, []float64{})
	case dicom.Sequences:
		ne := withValue(e, [][]*dicom.Element{})
		ne.ValueLength = tag.VLUndefinedLength
		return ne
	}
	return withValue(e, []byte{})
}

// dummyText replaces free text, names and codes that must stay present.
const dummyText = "ANONYMIZED"

var tagEncapsulatedDocument = tagOf(0x0042, 0x0011)

// dummyPDF replaces an Encapsulated Document (action D): a valid one-page
// PDF saying the document was removed.
var dummyPDF = []byte(`%PDF-1.4
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 70>>stream
BT /F1 14 Tf 72 770 Td (Document removed by de-identification.) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
%%EOF
`)

// dummy returns e with a harmless value of its VR.
func dummy(e *dicom.Element, a *Anonymizer) *dicom.Element {
	if e.Tag == tagEncapsulatedDocument {
		return withValue(e, dummyPDF)
	}
	switch e.Value.ValueType() {
	case dicom.Ints:
		return withValue(e, []int{0})
	case dicom.Floats:
		return withValue(e, []float64{0})
	case dicom.Bytes:
		return withValue(e, []byte{0, 0})
	case dicom.Strings:
	default:
		return emptied(e)
	}
	switch e.RawValueRepresentation {
	case "DA":
		return withValue(e, []string{"19000101"})
	case "DT":
		return withValue(e, []string{"19000101000000"})
	case "TM":
		return withValue(e, []string{"000000"})
	case "AS":
		return withValue(e, []string{"000Y"})
	case "DS", "IS":
		return withValue(e, []string{"0"})
	case "UI":
		return withValue(e, []string{a.mapUID("sonolink dummy " + e.Tag.String())})
	case "UR":
		return withValue(e, []string{"urn:none"})
	}
	return withValue(e, []string{dummyText})
}

func mustElem(tg tag.Tag, vr string, data any) *dicom.Element {
	v, err := dicom.NewValue(data)
	if err != nil {
		panic(err)
	}
	return &dicom.Element{Tag: tg, ValueRepresentation: tag.GetVRKind(tg, vr), RawValueRepresentation: vr, Value: v}
}

func sortElements(elems []*dicom.Element) {
	sort.SliceStable(elems, func(i, k int) bool {
		a, b := elems[i].Tag, elems[k].Tag
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Element < b.Element
	})
}

// fixShortLengths rewrites values too long for a 16-bit explicit VR length
// (e.g. a 65536-entry palette read from Implicit VR as US) as OW.
func fixShortLengths(elems []*dicom.Element) {
	for i, e := range elems {
		if e.Value == nil {
			continue
		}
		switch e.RawValueRepresentation {
		case "US", "SS":
			if v, ok := e.Value.GetValue().([]int); ok && len(v)*2 > 0xFFFE {
				b := make([]byte, 2*len(v))
				for k, x := range v {
					binary.LittleEndian.PutUint16(b[2*k:], uint16(x))
				}
				elems[i] = mustElem(e.Tag, "OW", b)
			}
		}
		if items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue); ok {
			for _, it := range items {
				if el, ok := it.GetValue().([]*dicom.Element); ok {
					fixShortLengths(el)
				}
			}
		}
	}
}

// CID 7050 De-identification Method codes (DCM).
var (
	codeBasic          = [2]string{"113100", "Basic Application Confidentiality Profile"}
	codeCleanPixel     = [2]string{"113101", "Clean Pixel Data Option"}
	codeFullDates      = [2]string{"113106", "Retain Longitudinal Temporal Information Full Dates Option"}
	codeModifiedDates  = [2]string{"113107", "Retain Longitudinal Temporal Information Modified Dates Option"}
	codePatientChars   = [2]string{"113108", "Retain Patient Characteristics Option"}
	codeRetainSafePriv = [2]string{"113111", "Retain Safe Private Option"}
)

// addDeidentification records what was done: Patient Identity Removed,
// De-identification Method (and Code Sequence), Longitudinal Temporal
// Information Modified and, when the pixels were cleaned, Burned In
// Annotation NO.
func (j *job) addDeidentification(elems []*dicom.Element, pixelsClean bool) []*dicom.Element {
	o := j.a.opts
	codes := [][2]string{codeBasic}
	method := []string{"SONOLINK_1 PS3.15 E.1-1 " + TableEdition + " Basic Profile"}
	if pixelsClean {
		codes = append(codes, codeCleanPixel)
		method = append(method, "Clean Pixel Data: outside US regions")
	}
	longi := "REMOVED"
	switch {
	case o.RetainFullDates:
		codes = append(codes, codeFullDates)
		method = append(method, "Retain Full Dates")
		longi = "UNMODIFIED"
	case o.ShiftDates:
		codes = append(codes, codeModifiedDates)
		method = append(method, "Retain Modified Dates (per-patient shift)")
		longi = "MODIFIED"
	}
	if o.RetainPatientCharacteristics {
		codes = append(codes, codePatientChars)
		method = append(method, "Retain Patient Characteristics")
	}
	if len(o.SafePrivate) > 0 {
		codes = append(codes, codeRetainSafePriv)
		method = append(method, "Retain Safe Private")
	}
	var items [][]*dicom.Element
	for _, c := range codes {
		items = append(items, []*dicom.Element{
			mustElem(tagCodeValue, "SH", []string{c[0]}),
			mustElem(tagCodingScheme, "SH", []string{"DCM"}),
			mustElem(tagCodeMeaning, "LO", []string{c[1]}),
		})
	}
	seq := mustElem(tagDeidMethodCodeSeq, "SQ", items)
	seq.ValueLength = tag.VLUndefinedLength
	elems = append(elems,
		mustElem(tagPatientIdentityRem, "CS", []string{"YES"}),
		mustElem(tagDeidMethod, "LO", method),
		seq,
		mustElem(tagLongitudinalModified, "CS", []string{longi}),
	)
	hasCS := false
	for i, e := range elems {
		switch e.Tag {
		case tagSpecificCharacterSet:
			hasCS = true
		case tagBurnedInAnnotation:
			if pixelsClean {
				elems[i] = mustElem(tagBurnedInAnnotation, "CS", []string{"NO"})
				pixelsClean = false // done
			}
		}
	}
	if !hasCS {
		elems = append(elems, mustElem(tagSpecificCharacterSet, "CS", []string{"ISO_IR 192"}))
	}
	if pixelsClean {
		elems = append(elems, mustElem(tagBurnedInAnnotation, "CS", []string{"NO"}))
	}
	return elems
}

// ourTexts are the strings the engine itself writes; a needle inside one
// of them would only ever find the engine's own words.
var ourTexts = []string{
	dummyText, "ISO_IR 192", "SONOLINK_1 PS3.15 E.1-1 " + TableEdition + " Basic Profile",
	"Clean Pixel Data: outside US regions", "Retain Full Dates", "Retain Modified Dates (per-patient shift)",
	"Retain Patient Characteristics", "Retain Safe Private", "UNMODIFIED", "MODIFIED", "REMOVED", "YES", "DCM",
	codeBasic[1], codeCleanPixel[1], codeFullDates[1], codeModifiedDates[1], codePatientChars[1], codeRetainSafePriv[1],
	uid.ImplementationVersionName, "urn:none", string(dummyPDF),
}

// written is what encode wrote, kept for the verification: everything
// but the value of native Pixel Data, which is only counted (the
// verification does not search it, and it may be gigabytes).
type written struct {
	pre  []byte // up to the Pixel Data value (everything without one)
	hdr  int    // the Pixel Data element's header, at the end of pre
	val  []byte // the Pixel Data value when encapsulated (its items)
	hole int64  // the length of a native Pixel Data value, not kept
	post []byte // after the Pixel Data element
}

func (c *written) size() int64 {
	return int64(len(c.pre)+len(c.val)+len(c.post)) + c.hole
}

// ReadAt reads the written copy, with zeros for the native pixel data.
func (c *written) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		switch {
		case pos < int64(len(c.pre)):
			n += copy(p[n:], c.pre[pos:])
		case pos < int64(len(c.pre)+len(c.val)):
			n += copy(p[n:], c.val[pos-int64(len(c.pre)):])
		case pos < int64(len(c.pre)+len(c.val))+c.hole:
			k := min(int64(len(p)-n), int64(len(c.pre)+len(c.val))+c.hole-pos)
			clear(p[n : n+int(k)])
			n += int(k)
		case pos < c.size():
			n += copy(p[n:], c.post[pos-int64(len(c.pre)+len(c.val))-c.hole:])
		default:
			return n, io.EOF
		}
	}
	return n, nil
}

// writeError is a failure of the destination writer (as opposed to one
// encoding the copy); it is returned as it is.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = &writeError{err}
	}
	return n, c.err
}

// encode writes the Part 10 file to w: the elements before Pixel Data
// through the DICOM library, the Pixel Data element from px (frame by
// frame for native data), then the elements after it. It returns what the
// verification needs of the copy.
func encode(w io.Writer, meta, elems []*dicom.Element, ts string, px *pixels.Value) (*written, error) {
	var head, tail []*dicom.Element
	var pix *dicom.Element
	for _, e := range elems {
		switch {
		case e.Tag == tag.PixelData:
			pix = e
		case pix == nil:
			head = append(head, e)
		default:
			tail = append(tail, e)
		}
	}
	out := &written{}
	var buf bytes.Buffer
	ds := dicom.Dataset{Elements: append(append([]*dicom.Element{}, meta...), head...)}
	if err := dicom.Write(&buf, ds, dicom.SkipVRVerification()); err != nil {
		return nil, err
	}
	hlen := buf.Len()
	if pix != nil && px != nil {
		if err := pixelHeader(&buf, pix, ts, px); err != nil {
			return nil, err
		}
	}
	out.pre = bytes.Clone(buf.Bytes())
	if pix != nil && px != nil {
		out.hdr = buf.Len() - hlen
	}
	if _, err := w.Write(out.pre); err != nil {
		return nil, err
	}
	if pix != nil && px != nil {
		pw := w
		var val bytes.Buffer
		if px.Encapsulated() {
			pw = io.MultiWriter(w, &val)
		}
		n, err := px.WriteTo(pw)
		if err != nil {
			return nil, err
		}
		if px.Encapsulated() {
			out.val = val.Bytes()
		} else {
			out.hole = n
		}
	}
	if len(tail) > 0 {
		buf.Reset()
		wr, err := dicom.NewWriter(&buf, dicom.SkipVRVerification())
		if err != nil {
			return nil, err
		}
		wr.SetTransferSyntax(binary.LittleEndian, ts == tsImplicitLE)
		for _, e := range tail {
			if err := wr.WriteElement(e); err != nil {
				return nil, err
			}
		}
		out.post = bytes.Clone(buf.Bytes())
		if _, err := w.Write(out.post); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pixelHeader writes the header of the Pixel Data element as the DICOM
// library would for the value px: tag, VR and length (undefined when
// encapsulated) under the output transfer syntax (little endian).
func pixelHeader(b *bytes.Buffer, pix *dicom.Element, ts string, px *pixels.Value) error {
	length := uint32(tag.VLUndefinedLength)
	if !px.Encapsulated() {
		n := px.Length()
		if n%2 != 0 || n >= int64(tag.VLUndefinedLength) {
			return fmt.Errorf("pixel data value of %d bytes cannot be written (a length must be even and below 4 GiB)", n)
		}
		length = uint32(n)
	}
	vr := pix.RawValueRepresentation
	if vr == "" {
		vr = "OW"
	}
	le := binary.LittleEndian
	h := le.AppendUint16(nil, tag.PixelData.Group)
	h = le.AppendUint16(h, tag.PixelData.Element)
	if ts != tsImplicitLE {
		if len(vr) != 2 {
			return fmt.Errorf("pixel data with VR %q cannot be written", vr)
		}
		h = append(h, vr...)
		h = append(h, 0, 0)
	}
	h = le.AppendUint32(h, length)
	b.Write(h)
	return nil
}
