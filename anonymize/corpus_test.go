package anonymize

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"

	"sonolink/dicom/dicomfile"
)

// The planted corpus: DICOM objects generated here, carrying unique
// identifying values in every Table E.1-1 attribute with a string VR, in
// sequences three deep, in private blocks (explicit and implicit VR), in SR
// TEXT content, in the file meta, and in non-Latin character sets. None of
// them may survive in any output byte.

// corpusObject describes one generated object.
type corpusObject struct {
	name     string
	sopClass string
	ts       string
	charset  string // Specific Character Set ("" = default repertoire)
	pixels   bool
	frames   int
	sr       bool
	pdf      bool
}

var corpusObjects = []corpusObject{
	{name: "us-explicit-latin1", sopClass: "1.2.840.10008.5.1.4.1.1.6.1", ts: tsExplicitLE, charset: "ISO_IR 100", pixels: true, frames: 1},
	{name: "usmf-implicit-cyrillic", sopClass: "1.2.840.10008.5.1.4.1.1.3.1", ts: tsImplicitLE, charset: "ISO_IR 144", pixels: true, frames: 3},
	{name: "sc-explicit-utf8", sopClass: "1.2.840.10008.5.1.4.1.1.7", ts: tsExplicitLE, charset: "ISO_IR 192", pixels: true, frames: 1},
	{name: "scmf-implicit-ascii", sopClass: "1.2.840.10008.5.1.4.1.1.7.2", ts: tsImplicitLE, pixels: true, frames: 2},
	{name: "sr-comprehensive-latin1", sopClass: "1.2.840.10008.5.1.4.1.1.88.33", ts: tsExplicitLE, charset: "ISO_IR 100", sr: true},
	{name: "sr-enhanced-implicit-cyrillic", sopClass: "1.2.840.10008.5.1.4.1.1.88.22", ts: tsImplicitLE, charset: "ISO_IR 144", sr: true},
	{name: "sr-basic-utf8", sopClass: "1.2.840.10008.5.1.4.1.1.88.11", ts: tsExplicitLE, charset: "ISO_IR 192", sr: true},
	{name: "pdf-explicit", sopClass: "1.2.840.10008.5.1.4.1.1.104.1", ts: tsExplicitLE, charset: "ISO_IR 100", pdf: true},
}

func encoderOf(charset string) *encoding.Encoder {
	switch charset {
	case "ISO_IR 100":
		return charmap.ISO8859_1.NewEncoder()
	case "ISO_IR 144":
		return charmap.ISO8859_5.NewEncoder()
	}
	return nil // ASCII or UTF-8: written as is
}

// planter makes unique values and remembers them.
type planter struct {
	prefix  string
	charset string
	enc     *encoding.Encoder
	n       int
	planted []planted
}

type planted struct {
	where string // tag path, for failure messages
	value string // UTF-8
}

// word returns a unique token for a text attribute, with letters of the
// object's character set.
func (p *planter) word() string {
	p.n++
	switch p.charset {
	case "ISO_IR 100":
		return fmt.Sprintf("Qz%sÉñ%03d", p.prefix, p.n)
	case "ISO_IR 144":
		return fmt.Sprintf("Кз%sЖ%03d", p.prefix, p.n)
	case "ISO_IR 192":
		return fmt.Sprintf("Qz%s漢%03d", p.prefix, p.n)
	}
	return fmt.Sprintf("Qz%sx%03d", p.prefix, p.n)
}

// value returns a unique value valid for the VR ("" when the VR cannot
// carry a searchable value).
func (p *planter) value(vr string) string {
	switch vr {
	case "PN":
		return p.word() + "^" + p.word()
	case "LO", "SH", "ST", "LT", "UT", "UC":
		return p.word()
	case "CS", "AE":
		p.n++
		return fmt.Sprintf("QZ%s%03d", strings.ToUpper(p.prefix), p.n)
	case "DA":
		p.n++
		return fmt.Sprintf("19%02d%02d%02d", 10+p.n%80, 1+p.n%12, 1+p.n%28)
	case "DT":
		p.n++
		return fmt.Sprintf("19%02d%02d%02d2359%02d.%06d", 10+p.n%80, 1+p.n%12, 1+p.n%28, p.n%60, 700000+p.n)
	case "TM":
		p.n++
		return fmt.Sprintf("2359%02d.%06d", p.n%60, 800000+p.n)
	case "UI":
		p.n++
		return fmt.Sprintf("1.2.826.0.1.3680043.2.1125.777.%s.%d", strings.ToLower(p.prefix)[:1]+"1", p.n)
	case "UR":
		p.n++
		return fmt.Sprintf("http://qz%s%03d.example/", strings.ToLower(p.prefix), p.n)
	}
	return ""
}

// elem makes a planted string element, encoding the stored bytes in the
// object's character set (the library writes Go strings as raw bytes).
func (p *planter) elem(where string, tg tag.Tag, vr, v string) *dicom.Element {
	p.planted = append(p.planted, planted{where: where, value: v})
	stored := v
	if p.enc != nil && vr != "UI" && vr != "DA" && vr != "TM" && vr != "DT" {
		b, err := p.enc.Bytes([]byte(v))
		if err != nil {
			panic(err)
		}
		stored = string(b)
	}
	return rawElem(tg, vr, []string{stored})
}

func rawElem(tg tag.Tag, vr string, data any) *dicom.Element {
	v, err := dicom.NewValue(data)
	if err != nil {
		panic(err)
	}
	return &dicom.Element{Tag: tg, ValueRepresentation: tag.GetVRKind(tg, vr), RawValueRepresentation: vr, Value: v}
}

func seqElem(tg tag.Tag, items ...[]*dicom.Element) *dicom.Element {
	e := rawElem(tg, "SQ", items)
	e.ValueLength = tag.VLUndefinedLength
	return e
}

var stringVRs = map[string]bool{"AE": true, "CS": true, "DA": true, "DT": true, "LO": true, "LT": true, "PN": true, "SH": true, "ST": true, "TM": true, "UC": true, "UI": true, "UR": true, "UT": true}

// tableItem is the content of every planted sequence item: attributes the
// table removes, so a recursed sequence must clean them too.
func (p *planter) tableItem(where string) []*dicom.Element {
	return []*dicom.Element{
		p.elem(where+">InstitutionName", tagOf(0x0008, 0x0080), "LO", p.value("LO")),
		p.elem(where+">PatientName", tagOf(0x0010, 0x0010), "PN", p.value("PN")),
		p.elem(where+">PatientID", tagOf(0x0010, 0x0020), "LO", p.value("LO")),
	}
}

// build returns the dataset of one corpus object and its planted values.
func buildCorpusObject(o corpusObject, prefix string) (dicom.Dataset, *planter, map[string]string) {
	p := &planter{prefix: prefix, charset: o.charset, enc: encoderOf(o.charset)}
	byTag := map[tag.Tag]*dicom.Element{}
	// Every Table E.1-1 attribute with a string VR or SQ, outside the
	// command, file meta and directory groups.
	keys := make([]tag.Tag, 0, len(table.rules))
	for tg := range table.rules {
		keys = append(keys, tg)
	}
	sort.Slice(keys, func(i, k int) bool {
		return keys[i].Group < keys[k].Group || keys[i].Group == keys[k].Group && keys[i].Element < keys[k].Element
	})
	for _, tg := range keys {
		if tg.Group <= 0x0004 {
			continue
		}
		info, err := tag.Find(tg)
		if err != nil || len(info.VRs) != 1 {
			continue
		}
		vr := info.VRs[0]
		switch {
		case vr == "SQ":
			byTag[tg] = seqElem(tg, p.tableItem(info.Keyword))
		case stringVRs[vr]:
			byTag[tg] = p.elem(info.Keyword, tg, vr, p.value(vr))
		}
	}
	ids := map[string]string{
		"study":  byTag[tagStudyInstanceUID].Value.GetValue().([]string)[0],
		"series": byTag[tagSeriesInstanceUID].Value.GetValue().([]string)[0],
		"sop":    byTag[tagSOPInstanceUID].Value.GetValue().([]string)[0],
	}
	set := func(e *dicom.Element) {
		if _, ok := byTag[e.Tag]; ok {
			// The generic planting is replaced: forget its values.
			info, _ := tag.Find(e.Tag)
			kept := p.planted[:0]
			for _, pl := range p.planted {
				if pl.where != info.Keyword && !strings.HasPrefix(pl.where, info.Keyword+">") {
					kept = append(kept, pl)
				}
			}
			p.planted = kept
		}
		byTag[e.Tag] = e
	}
	if o.charset != "" {
		set(rawElem(tagSpecificCharacterSet, "CS", []string{o.charset}))
	}
	set(rawElem(tagSOPClassUID, "UI", []string{o.sopClass}))
	// Three levels of sequences the table does not list (kept and
	// recursed), with planted values at the bottom.
	deep := p.tableItem("PerformedProtocolCode>RelatedSeries>ContentTemplate")
	set(seqElem(tagOf(0x0040, 0x0260), []*dicom.Element{seqElem(tagOf(0x0008, 0x1250), []*dicom.Element{seqElem(tagOf(0x0040, 0xA504), deep)})}))
	// Other Patient IDs Sequence.
	set(seqElem(tagOf(0x0010, 0x1002), []*dicom.Element{
		p.elem("OtherPatientIDsSequence>PatientID", tagOf(0x0010, 0x0020), "LO", p.value("LO")),
		rawElem(tagOf(0x0010, 0x0022), "CS", []string{"TEXT"}),
	}))
	// Private blocks, one with a nested sequence.
	set(rawElem(tagOf(0x0029, 0x0010), "LO", []string{"QZ PRIVATE CREATOR"}))
	set(p.elem("private 0029,1010", tagOf(0x0029, 0x1010), "LO", p.value("LO")))
	set(p.elem("private 0029,1011", tagOf(0x0029, 0x1011), "PN", p.value("PN")))
	set(seqElem(tagOf(0x0029, 0x1012), p.tableItem("private 0029,1012")))
	set(rawElem(tagOf(0x0009, 0x0010), "LO", []string{"QZ OTHER CREATOR"}))
	set(p.elem("private 0009,1001", tagOf(0x0009, 0x1001), "SH", p.value("SH")))

	switch {
	case o.pixels:
		modality := "US"
		if o.sopClass[len(o.sopClass)-3:] == "1.7" || strings.Contains(o.sopClass, ".1.1.7") {
			modality = "OT"
		}
		set(rawElem(tagOf(0x0008, 0x0060), "CS", []string{modality}))
		const rows, cols = 32, 48
		set(rawElem(tag.SamplesPerPixel, "US", []int{1}))
		set(rawElem(tag.PhotometricInterpretation, "CS", []string{"MONOCHROME2"}))
		set(rawElem(tag.Rows, "US", []int{rows}))
		set(rawElem(tag.Columns, "US", []int{cols}))
		set(rawElem(tag.BitsAllocated, "US", []int{8}))
		set(rawElem(tag.BitsStored, "US", []int{8}))
		set(rawElem(tag.HighBit, "US", []int{7}))
		set(rawElem(tag.PixelRepresentation, "US", []int{0}))
		if o.frames > 1 {
			set(rawElem(tag.NumberOfFrames, "IS", []string{fmt.Sprint(o.frames)}))
		}
		set(seqElem(tagOf(0x0018, 0x6011), []*dicom.Element{
			rawElem(tagOf(0x0018, 0x6018), "UL", []int{4}),
			rawElem(tagOf(0x0018, 0x601A), "UL", []int{6}),
			rawElem(tagOf(0x0018, 0x601C), "UL", []int{40}),
			rawElem(tagOf(0x0018, 0x601E), "UL", []int{28}),
		}))
		px := make([]byte, rows*cols*o.frames)
		for i := range px {
			px[i] = byte(1 + i%250)
		}
		pe := rawElem(tag.PixelData, "OW", dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: px})
		set(pe)
	case o.sr:
		set(rawElem(tagOf(0x0008, 0x0060), "CS", []string{"SR"}))
		set(rawElem(tagOf(0x0040, 0xA040), "CS", []string{"CONTAINER"}))
		set(rawElem(tagOf(0x0040, 0xA491), "CS", []string{"COMPLETE"}))
		set(rawElem(tagOf(0x0040, 0xA493), "CS", []string{"UNVERIFIED"}))
		code := func(v, m string) *dicom.Element {
			return seqElem(tagOf(0x0040, 0xA043), []*dicom.Element{
				rawElem(tagCodeValue, "SH", []string{v}), rawElem(tagCodingScheme, "SH", []string{"DCM"}), rawElem(tagCodeMeaning, "LO", []string{m}),
			})
		}
		set(code("121070", "Findings"))
		text := func(where string) []*dicom.Element {
			return []*dicom.Element{
				rawElem(tagOf(0x0040, 0xA010), "CS", []string{"CONTAINS"}),
				rawElem(tagOf(0x0040, 0xA040), "CS", []string{"TEXT"}),
				code("121071", "Finding"),
				p.elem(where+">TextValue", tagTextValue, "UT", p.value("UT")+" called "+p.value("PN")),
			}
		}
		pname := []*dicom.Element{
			rawElem(tagOf(0x0040, 0xA010), "CS", []string{"HAS OBS CONTEXT"}),
			rawElem(tagOf(0x0040, 0xA040), "CS", []string{"PNAME"}),
			code("121008", "Person Observer Name"),
			p.elem("Content>PersonName", tagOf(0x0040, 0xA123), "PN", p.value("PN")),
		}
		nested := append(text("Content>Content>Content"), seqElem(tagOf(0x0040, 0xA730), text("Content>Content>Content>Content")))
		inner := append(text("Content>Content"), seqElem(tagOf(0x0040, 0xA730), nested))
		set(seqElem(tagOf(0x0040, 0xA730), pname, text("Content"), append(text("Content(container)"), seqElem(tagOf(0x0040, 0xA730), inner))))
	case o.pdf:
		set(rawElem(tagOf(0x0008, 0x0060), "CS", []string{"DOC"}))
		set(rawElem(tagOf(0x0042, 0x0012), "LO", []string{"application/pdf"}))
		set(rawElem(tagBurnedInAnnotation, "CS", []string{"YES"}))
		set(rawElem(tagOf(0x0042, 0x0011), "OB", []byte("%PDF-1.4\n% sonolink test document\n%%EOF\n")))
	}
	var elems []*dicom.Element
	for _, e := range byTag {
		elems = append(elems, e)
	}
	sortElements(elems)
	sop := ids["sop"]
	meta := []*dicom.Element{
		rawElem(tag.FileMetaInformationVersion, "OB", []byte{0, 1}),
		rawElem(tag.MediaStorageSOPClassUID, "UI", []string{o.sopClass}),
		rawElem(tag.MediaStorageSOPInstanceUID, "UI", []string{sop}),
		rawElem(tag.TransferSyntaxUID, "UI", []string{o.ts}),
		rawElem(tag.ImplementationClassUID, "UI", []string{"1.2.826.0.1.3680043.2.1125.1"}),
		p.elem("meta SourceApplicationEntityTitle", tag.SourceApplicationEntityTitle, "AE", p.value("AE")),
	}
	return dicom.Dataset{Elements: append(meta, elems...)}, p, ids
}

func writeCorpusObject(t *testing.T, dir string, ds dicom.Dataset, name string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dicom.Write(&buf, ds, dicom.SkipVRVerification()); err != nil {
		t.Fatalf("%s: generate: %v", name, err)
	}
	path := filepath.Join(dir, name+".dcm")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leftovers returns the planted values found in out: raw bytes, ASCII
// case-folded, in UTF-8 and in the object's character set.
func leftovers(out []byte, p *planter) []planted {
	hay := foldASCII(out)
	var found []planted
	for _, pl := range p.planted {
		forms := []string{pl.value}
		// PN values are also searched component by component.
		if strings.Contains(pl.value, "^") {
			forms = append(forms, strings.Split(pl.value, "^")...)
		}
		hit := false
		for _, f := range forms {
			cands := [][]byte{[]byte(f)}
			if p.enc != nil {
				if b, err := p.enc.Bytes([]byte(f)); err == nil {
					cands = append(cands, b)
				}
			}
			for _, c := range cands {
				if bytes.Contains(hay, foldASCII(c)) {
					hit = true
				}
			}
		}
		if hit {
			found = append(found, pl)
		}
	}
	return found
}

func TestPlantedCorpus(t *testing.T) {
	dir := t.TempDir()
	a := newTest(t, Options{})
	total := 0
	for i, o := range corpusObjects {
		prefix := string(rune('a' + i))
		ds, p, _ := buildCorpusObject(o, prefix)
		in := writeCorpusObject(t, dir, ds, o.name)
		total += len(p.planted)
		t.Run(o.name, func(t *testing.T) {
			// The generated file really carries the planted values.
			raw, _ := os.ReadFile(in)
			if got := len(leftovers(raw, p)); got != len(p.planted) {
				t.Fatalf("generator: only %d of %d planted values in the input", got, len(p.planted))
			}
			var buf bytes.Buffer
			res, err := a.File(in, &buf)
			if err != nil {
				t.Fatal(err)
			}
			for _, pl := range leftovers(buf.Bytes(), p) {
				t.Errorf("planted value left in output (%s)", pl.where)
			}
			if (o.sr || o.pdf) && res.Verdict.Clean {
				t.Errorf("%s came out clean", o.name)
			}
			for _, r := range res.Verdict.Reasons {
				if strings.HasPrefix(r, "verification:") {
					t.Errorf("verification hit on a clean output: %s", r)
				}
			}
			t.Logf("%d values planted; verdict clean=%v %q", len(p.planted), res.Verdict.Clean, res.Verdict.Reasons)
		})
	}
	if total < 100 {
		t.Errorf("only %d planted values, want ≥ 100", total)
	}
	t.Logf("%d planted values in %d objects", total, len(corpusObjects))
}

// TestPlantedCorpusCanFail disables one rule and expects both the byte
// search and the engine's own verification to find what it left.
func TestPlantedCorpusCanFail(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		tg   tag.Tag
		kind string
	}{
		{tagPatientID, kindPatientID},
		{tagPatientName, kindName},
		{tagOf(0x0010, 0x0030), kindBirthDate},
		{tagOf(0x0008, 0x0080), kindInstitution},
		{tagOf(0x0008, 0x0050), kindOtherID},
	} {
		for _, o := range []corpusObject{corpusObjects[0], corpusObjects[1]} {
			ds, p, _ := buildCorpusObject(o, "f")
			in := writeCorpusObject(t, dir, ds, o.name)
			a := newTest(t, Options{})
			a.skip = map[tag.Tag]bool{c.tg: true}
			var buf bytes.Buffer
			res, err := a.File(in, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if len(leftovers(buf.Bytes(), p)) == 0 {
				t.Errorf("%s, rule %v disabled: nothing left behind", o.name, c.tg)
			}
			want := "verification: " + c.kind + " found"
			if res.Verdict.Clean || !contains(res.Verdict.Reasons, want) {
				t.Errorf("%s, rule %v disabled: verdict %v %q, want residual with %q", o.name, c.tg, res.Verdict.Clean, res.Verdict.Reasons, want)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPDFTextFound: the table replaces the document; with that rule
// disabled, a PDF that spells the patient's name is caught by the raw scan.
func TestPDFTextFound(t *testing.T) {
	dir := t.TempDir()
	ds, _, _ := buildCorpusObject(corpusObjects[7], "p")
	name := ""
	for _, e := range ds.Elements {
		if e.Tag == tagPatientName {
			v := e.Value.GetValue().([]string)[0]
			dec, _ := charmap.ISO8859_1.NewDecoder().String(v)
			name = strings.Split(dec, "^")[0]
		}
		if e.Tag == tagOf(0x0042, 0x0011) {
			e.Value, _ = dicom.NewValue([]byte("%PDF-1.4\nBT (Patient: " + name + ") Tj ET\n%%EOF\n"))
		}
	}
	in := writeCorpusObject(t, dir, ds, "pdf-with-name")
	var buf bytes.Buffer
	res, err := newTest(t, Options{}).File(in, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(name)) || !bytes.HasPrefix(dummyPDF, []byte("%PDF-")) || !bytes.Contains(buf.Bytes(), dummyPDF) {
		t.Error("Encapsulated Document not replaced by the dummy PDF")
	}
	if res.Verdict.Clean {
		t.Error("an encapsulated PDF was called clean; it is residual by kind")
	}
	a := newTest(t, Options{})
	a.skip = map[tag.Tag]bool{tagOf(0x0042, 0x0011): true}
	res, err = a.File(in, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(res.Verdict.Reasons, "verification: person name found") {
		t.Errorf("PDF naming the patient: reasons %q", res.Verdict.Reasons)
	}
}

// TestUIDConsistency: same source UID → same new UID across runs and
// objects; different secrets → different UIDs; an SR's reference follows
// the image it points at.
func TestUIDConsistency(t *testing.T) {
	dir := t.TempDir()
	img, _, imgIDs := buildCorpusObject(corpusObjects[0], "u")
	imgPath := writeCorpusObject(t, dir, img, "img")
	sr, _, _ := buildCorpusObject(corpusObjects[4], "v")
	// The SR belongs to the image's study and references the image.
	for _, e := range sr.Elements {
		if e.Tag == tagStudyInstanceUID {
			e.Value, _ = dicom.NewValue([]string{imgIDs["study"]})
		}
	}
	ref := seqElem(tagOf(0x0008, 0x1199), []*dicom.Element{
		rawElem(tagOf(0x0008, 0x1150), "UI", []string{"1.2.840.10008.5.1.4.1.1.6.1"}),
		rawElem(tagOf(0x0008, 0x1155), "UI", []string{imgIDs["sop"]}),
	})
	image := []*dicom.Element{
		rawElem(tagOf(0x0040, 0xA010), "CS", []string{"CONTAINS"}),
		rawElem(tagOf(0x0040, 0xA040), "CS", []string{"IMAGE"}),
		ref,
	}
	for _, e := range sr.Elements {
		if e.Tag == tagOf(0x0040, 0xA730) {
			items := e.Value.GetValue().([]*dicom.SequenceItemValue)
			var all [][]*dicom.Element
			for _, it := range items {
				all = append(all, it.GetValue().([]*dicom.Element))
			}
			e.Value, _ = dicom.NewValue(append(all, image))
		}
	}
	srPath := writeCorpusObject(t, dir, sr, "sr")

	run := func(secret byte, path string) (*Result, *dicom.Dataset) {
		var buf bytes.Buffer
		res, err := newTest(t, Options{Secret: testSecret(secret)}).File(path, &buf)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("out-%d-%s", secret, filepath.Base(path)))
		os.WriteFile(out, buf.Bytes(), 0o600)
		ds, err := dicomfile.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return res, ds
	}
	r1, _ := run(1, imgPath)
	r2, _ := run(1, imgPath)
	if r1.SOPInstanceUID != r2.SOPInstanceUID || r1.StudyInstanceUID != r2.StudyInstanceUID || r1.SeriesInstanceUID != r2.SeriesInstanceUID {
		t.Errorf("two runs, same secret: UIDs differ")
	}
	r3, _ := run(2, imgPath)
	if r3.SOPInstanceUID == r1.SOPInstanceUID || r3.StudyInstanceUID == r1.StudyInstanceUID {
		t.Errorf("different secrets gave the same UIDs")
	}
	for _, u := range []string{r1.SOPInstanceUID, r1.StudyInstanceUID, r1.SeriesInstanceUID} {
		if !strings.HasPrefix(u, "2.25.") || len(u) > 64 || u == "2.25." {
			t.Errorf("bad new UID %q", u)
		}
	}
	rs, srOut := run(1, srPath)
	if rs.StudyInstanceUID != r1.StudyInstanceUID {
		t.Errorf("SR in the image's study: study UID %s, image's %s", rs.StudyInstanceUID, r1.StudyInstanceUID)
	}
	refSeq, err := srOut.FindElementByTagNested(tagOf(0x0008, 0x1199))
	if err != nil {
		t.Fatal("SR lost its image reference")
	}
	item := &dicom.Dataset{Elements: refSeq.Value.GetValue().([]*dicom.SequenceItemValue)[0].GetValue().([]*dicom.Element)}
	if got := dicomfile.String(item, tagOf(0x0008, 0x1155)); got != r1.SOPInstanceUID {
		t.Errorf("SR references %s, the image's new UID is %s", got, r1.SOPInstanceUID)
	}
	if got := dicomfile.String(item, tagOf(0x0008, 0x1150)); got != "1.2.840.10008.5.1.4.1.1.6.1" {
		t.Errorf("well-known Referenced SOP Class UID changed to %q", got)
	}
}
