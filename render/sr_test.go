package render

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/i18n"
	"sonolink/internal/testenv"
)

var en = i18n.Lookup("en")

// TestReportWords: every word a report can need is in the catalogue, in
// every language.
func TestReportWords(t *testing.T) {
	keys := []string{"ref", "truncated"}
	for _, rt := range []string{"HAS PROPERTIES", "HAS OBS CONTEXT", "HAS ACQ CONTEXT", "HAS CONCEPT MOD", "INFERRED FROM", "SELECTED FROM", "R-INFERRED FROM"} {
		keys = append(keys, relation(rt))
	}
	for _, lang := range i18n.Languages() {
		for _, k := range keys {
			if w := ReportWord(i18n.Lookup(lang), k); w == "" || strings.HasPrefix(w, "report.") {
				t.Errorf("%s: no word for %q", lang, k)
			}
		}
	}
	if w := ReportWord(en, "inferred-from"); w != "inferred from" {
		t.Errorf("inferred-from: %q", w)
	}
}

func TestSRSamples(t *testing.T) {
	files := testenv.SampleFiles(t, "sr")
	if len(files) < 3 {
		t.Fatalf("want the 3 SR samples, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ds, err := dicomfile.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := SR(ds)
			if err != nil {
				t.Fatal(err)
			}
			if r.Title == "" {
				t.Error("no title")
			}
			n := 0
			for _, s := range r.Sections {
				n += len(s.Lines)
			}
			if n == 0 {
				t.Fatal("no lines")
			}
			txt := r.Text(en)
			if !utf8.ValidString(txt) || len(txt) < 50 {
				t.Fatalf("text form: %d bytes, valid UTF-8 %v", len(txt), utf8.ValidString(txt))
			}
			if r.Truncated {
				t.Error("a small sample reported as truncated")
			}
		})
	}
}

// The TID 1500 measurements of the cornerstone sample come out with their
// values and UCUM units.
func TestSRMeasurementsWithUnits(t *testing.T) {
	ds, err := dicomfile.ReadFile(filepath.Join(testenv.Samples(t), "sr", "cornerstone3D__structured_report.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := SR(ds)
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "Imaging Measurement Report" {
		t.Errorf("title %q", r.Title)
	}
	want := map[string]string{"Long Axis": "93.9 mm", "Short Axis": "47.0 mm", "AREA": "4806.42320110457 mm2"}
	for _, s := range r.Sections {
		for _, l := range s.Lines {
			if v, ok := want[l.Label]; ok && l.Value == v && l.Kind == "num" {
				delete(want, l.Label)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("measurements missing: %v", want)
	}
	txt := r.Text(en)
	for _, s := range []string{"Long Axis: 93.9 mm", "Imaging Measurements", "(image reference)", "Finding: ExampleText"} {
		if !strings.Contains(txt, s) {
			t.Errorf("text lacks %q", s)
		}
	}
}

func TestSRNotAReport(t *testing.T) {
	ds := dataset(el(tag.PatientName, []string{"X"}))
	if _, err := SR(ds); err == nil || !IsUnsupported(err) {
		t.Fatalf("err = %v, want unsupported", err)
	}
}

// ---- hostile trees ----

func el(t tag.Tag, v any) *dicom.Element {
	e, err := dicom.NewElement(t, v)
	if err != nil {
		panic(err)
	}
	return e
}

func dataset(els ...*dicom.Element) *dicom.Dataset { return &dicom.Dataset{Elements: els} }

func code(meaning string) [][]*dicom.Element {
	return [][]*dicom.Element{{
		el(tagCodeValue, []string{"1"}), el(tagCodingScheme, []string{"99X"}), el(tagCodeMeaning, []string{meaning}),
	}}
}

func textItem(label, value string, children ...[]*dicom.Element) []*dicom.Element {
	it := []*dicom.Element{
		el(tagRelationshipType, []string{"CONTAINS"}), el(tagValueType, []string{"TEXT"}),
		el(tagConceptName, code(label)), el(tagTextValue, []string{value}),
	}
	if len(children) > 0 {
		it = append(it, el(tagContentSequence, children))
	}
	return it
}

func srRoot(children ...[]*dicom.Element) *dicom.Dataset {
	return dataset(el(tagValueType, []string{"CONTAINER"}), el(tagConceptName, code("Report")), el(tagContentSequence, children))
}

func TestSRDeepTreeBounded(t *testing.T) {
	// 200 levels: far past what dicomfile lets through (32), to show the
	// walk bounds itself whatever the parser allowed.
	it := textItem("leaf", "bottom")
	for i := 0; i < 200; i++ {
		it = textItem("level", "v", it)
	}
	r, err := SR(srRoot(it))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated {
		t.Error("a 200-level tree not marked truncated")
	}
	n := 0
	for _, s := range r.Sections {
		for _, l := range s.Lines {
			n++
			if l.Depth > ReportMaxDepth {
				t.Fatalf("line at depth %d", l.Depth)
			}
		}
	}
	if n == 0 || n > ReportMaxDepth+1 {
		t.Errorf("%d lines shown", n)
	}
	if !strings.Contains(r.Text(en), ReportWord(en, "truncated")) {
		t.Error("text form does not say it was shortened")
	}
}

func TestSRWideAndLongBounded(t *testing.T) {
	var kids [][]*dicom.Element
	for i := 0; i < 3*ReportMaxItems; i++ {
		kids = append(kids, textItem("finding", strings.Repeat("x", 300)))
	}
	huge := strings.Repeat("é", 10*ReportMaxValue)
	kids = append([][]*dicom.Element{textItem(strings.Repeat("L", 5000), huge)}, kids...)
	r, err := SR(srRoot(kids...))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated {
		t.Error("not marked truncated")
	}
	lines, size := 0, 0
	for _, s := range r.Sections {
		for _, l := range s.Lines {
			lines++
			size += len(l.Label) + len(l.Value)
			if utf8.RuneCountInString(l.Value) > ReportMaxValue+1 || utf8.RuneCountInString(l.Label) > ReportMaxLabel+1 {
				t.Fatalf("value of %d runes, label of %d", utf8.RuneCountInString(l.Value), utf8.RuneCountInString(l.Label))
			}
		}
	}
	if lines > ReportMaxItems || size > ReportMaxTextSize+2*ReportMaxValue*4 {
		t.Errorf("%d lines, %d bytes kept", lines, size)
	}
}

// Control characters, invalid UTF-8 and bidirectional overrides are not
// passed on; markup stays text (the page escapes it).
func TestSRValuesSanitized(t *testing.T) {
	r, err := SR(srRoot(textItem("a\x00b", "<script>alert(1)</script>\x1b[31m\u202Egnp.exe\xff\r\nnext")))
	if err != nil {
		t.Fatal(err)
	}
	l := r.Sections[0].Lines[0]
	if l.Label != "ab" {
		t.Errorf("label %q", l.Label)
	}
	if strings.ContainsAny(l.Value, "\x1b\u202E\r") || !utf8.ValidString(l.Value) {
		t.Errorf("value %q", l.Value)
	}
	if !strings.Contains(l.Value, "<script>alert(1)</script>") || !strings.Contains(l.Value, "\nnext") {
		t.Errorf("value %q lost its text", l.Value)
	}
}

func TestSRValueTypes(t *testing.T) {
	num := []*dicom.Element{
		el(tagRelationshipType, []string{"CONTAINS"}), el(tagValueType, []string{"NUM"}), el(tagConceptName, code("Crown-rump length")),
		el(tagMeasuredValue, [][]*dicom.Element{{
			el(tagNumericValue, []string{"45.2"}),
			el(tagUnits, [][]*dicom.Element{{el(tagCodeValue, []string{"mm"}), el(tagCodingScheme, []string{"UCUM"}), el(tagCodeMeaning, []string{"millimeter"})}}),
		}}),
	}
	date := []*dicom.Element{el(tagRelationshipType, []string{"HAS OBS CONTEXT"}), el(tagValueType, []string{"DATE"}), el(tagConceptName, code("LMP")), el(tagDate, []string{"20250101"})}
	pn := []*dicom.Element{el(tagRelationshipType, []string{"HAS OBS CONTEXT"}), el(tagValueType, []string{"PNAME"}), el(tagConceptName, code("Observer")), el(tagPersonName, []string{"Doe^Jane^^Dr"})}
	img := []*dicom.Element{el(tagRelationshipType, []string{"INFERRED FROM"}), el(tagValueType, []string{"IMAGE"}), el(tagConceptName, code("Image"))}
	cont := []*dicom.Element{el(tagRelationshipType, []string{"CONTAINS"}), el(tagValueType, []string{"CONTAINER"}), el(tagConceptName, code("Fetal biometry")),
		el(tagContentSequence, [][]*dicom.Element{num, img})}
	r, err := SR(srRoot(date, pn, cont, textItem("Impression", "Normal")))
	if err != nil {
		t.Fatal(err)
	}
	txt := r.Text(en)
	for _, s := range []string{"[context] LMP: 2025-01-01", "Observer: Dr Jane Doe", "Fetal biometry\n", "Crown-rump length: 45.2 mm", "[inferred from] Image: (image reference)", "Impression: Normal"} {
		if !strings.Contains(txt, s) {
			t.Errorf("text lacks %q:\n%s", s, txt)
		}
	}
	if len(r.Sections) != 3 || r.Sections[1].Heading != "Fetal biometry" || r.Sections[1].Level != 1 || r.Sections[2].Level != 0 {
		t.Errorf("sections: %+v", r.Sections)
	}
}
