package render

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/i18n"
)

// Report is a structured report (Basic Text, Enhanced or Comprehensive SR)
// made readable: its title and its content tree flattened into sections of
// label/value lines, in document order. It holds only text: the page
// escapes it (html/template) and Text writes it as plain text.
type Report struct {
	Title    string
	Sections []ReportSection
	// Truncated is set when the report was cut to the limits (too many
	// items, too deep, too much text); the DICOM file holds all of it.
	Truncated bool
}

// ReportSection is one CONTAINER of the tree (or the continuation of one
// after a nested container ended). Level is its nesting (0 for the
// document's own top-level items).
type ReportSection struct {
	Heading string
	Level   int
	Lines   []ReportLine
}

// ReportLine is one content item: its concept name (Label) and value.
type ReportLine struct {
	Label string
	Value string
	// Kind is the SR value type in lower case ("text", "code", "num",
	// "date", "time", "datetime", "pname") or "ref" for a reference to an
	// image, a region of an image or another object (UIDREF, IMAGE,
	// COMPOSITE, WAVEFORM, SCOORD, SCOORD3D, TCOORD): Value is empty, the
	// page says "image reference" in its language.
	Kind string
	// Relation is the relationship to the parent as a key of ReportWord
	// ("has-properties", "inferred-from", …), empty for plain CONTAINS.
	Relation string
	// Depth is the item's nesting below its section (0 = directly in it).
	Depth int
}

// Limits of a report, so that a hostile object cannot make the page huge
// or the walk long. dicomfile already refuses nesting beyond 32 levels.
const (
	ReportMaxItems    = 2000      // content items visited
	ReportMaxDepth    = 24        // nesting of content items shown
	ReportMaxValue    = 4000      // runes of one value
	ReportMaxLabel    = 200       // runes of one label or heading
	ReportMaxTextSize = 256 << 10 // bytes of all labels and values
)

var (
	tagValueType        = tag.Tag{Group: 0x0040, Element: 0xA040}
	tagRelationshipType = tag.Tag{Group: 0x0040, Element: 0xA010}
	tagConceptName      = tag.Tag{Group: 0x0040, Element: 0xA043}
	tagConceptCode      = tag.Tag{Group: 0x0040, Element: 0xA168}
	tagContentSequence  = tag.Tag{Group: 0x0040, Element: 0xA730}
	tagTextValue        = tag.Tag{Group: 0x0040, Element: 0xA160}
	tagMeasuredValue    = tag.Tag{Group: 0x0040, Element: 0xA300}
	tagNumericValue     = tag.Tag{Group: 0x0040, Element: 0xA30A}
	tagNumericQualifier = tag.Tag{Group: 0x0040, Element: 0xA301}
	tagUnits            = tag.Tag{Group: 0x0040, Element: 0x08EA}
	tagDate             = tag.Tag{Group: 0x0040, Element: 0xA121}
	tagTime             = tag.Tag{Group: 0x0040, Element: 0xA122}
	tagDateTime         = tag.Tag{Group: 0x0040, Element: 0xA120}
	tagPersonName       = tag.Tag{Group: 0x0040, Element: 0xA123}
	tagCodeValue        = tag.Tag{Group: 0x0008, Element: 0x0100}
	tagCodingScheme     = tag.Tag{Group: 0x0008, Element: 0x0102}
	tagCodeMeaning      = tag.Tag{Group: 0x0008, Element: 0x0104}
	tagDocumentTitle    = tag.Tag{Group: 0x0042, Element: 0x0010}
)

// SR reads the content tree of a structured report. It fails only when
// the object is not an SR document (no Value Type CONTAINER at the root
// and no Content Sequence); everything odd inside is skipped or cut.
func SR(ds *dicom.Dataset) (*Report, error) {
	root := ds.Elements
	content := findIn(root, tagContentSequence)
	if content == nil && str(root, tagValueType) != "CONTAINER" {
		return nil, fmt.Errorf("render: %w: not a structured report (no content tree)", ErrUnsupported)
	}
	w := &srWalker{r: &Report{}}
	w.r.Title = w.clip(codeMeaning(root, tagConceptName), ReportMaxLabel)
	if w.r.Title == "" {
		w.r.Title = w.clip(str(root, tagDocumentTitle), ReportMaxLabel)
	}
	w.section("", 0)
	w.children(root, 0, 0)
	// Drop sections left empty (a container with only containers in it
	// keeps its heading so the outline stays visible).
	out := w.r.Sections[:0]
	for i, s := range w.r.Sections {
		nextDeeper := i+1 < len(w.r.Sections) && w.r.Sections[i+1].Level > s.Level
		if len(s.Lines) > 0 || (s.Heading != "" && nextDeeper) {
			out = append(out, s)
		}
	}
	w.r.Sections = out
	return w.r, nil
}

type srWalker struct {
	r     *Report
	items int
	bytes int
}

func (w *srWalker) section(heading string, level int) {
	w.r.Sections = append(w.r.Sections, ReportSection{Heading: heading, Level: level})
}

// children walks the Content Sequence of item; level is the section
// nesting, depth the item nesting (both bounded by ReportMaxDepth).
func (w *srWalker) children(item []*dicom.Element, level, depth int) {
	seq := findIn(item, tagContentSequence)
	if seq == nil {
		return
	}
	if depth >= ReportMaxDepth {
		w.r.Truncated = true
		return
	}
	for _, child := range items(seq) {
		if w.items >= ReportMaxItems || w.bytes >= ReportMaxTextSize {
			w.r.Truncated = true
			return
		}
		w.items++
		w.item(child, level, depth)
	}
}

func (w *srWalker) item(it []*dicom.Element, level, depth int) {
	vt := str(it, tagValueType)
	label := w.clip(codeMeaning(it, tagConceptName), ReportMaxLabel)
	rel := relation(str(it, tagRelationshipType))
	if vt == "CONTAINER" {
		w.section(label, level+1)
		w.children(it, level+1, depth+1)
		// What the parent holds after this container continues in a
		// section of the parent's level, without a heading.
		w.section("", level)
		return
	}
	line := ReportLine{Label: label, Relation: rel, Kind: strings.ToLower(vt)}
	switch vt {
	case "TEXT":
		line.Value = str(it, tagTextValue)
	case "CODE":
		line.Value = codeMeaning(it, tagConceptCode)
	case "NUM":
		line.Value = numValue(it)
	case "DATE":
		line.Value = formatDate(str(it, tagDate))
	case "TIME":
		line.Value = formatTime(str(it, tagTime))
	case "DATETIME":
		line.Value = formatDateTime(str(it, tagDateTime))
	case "PNAME":
		line.Value = formatName(str(it, tagPersonName))
	case "UIDREF", "IMAGE", "COMPOSITE", "WAVEFORM", "SCOORD", "SCOORD3D", "TCOORD":
		line.Kind = "ref"
	default:
		// A by-reference item (no value type) or a type we do not know:
		// nothing readable to show, but its children may have.
		if label == "" {
			w.children(it, level, depth+1)
			return
		}
		line.Kind = ""
	}
	line.Value = w.clip(line.Value, ReportMaxValue)
	if line.Label == "" && line.Value == "" && line.Kind != "ref" {
		w.children(it, level, depth+1)
		return
	}
	sec := &w.r.Sections[len(w.r.Sections)-1]
	line.Depth = depthBelow(depth, level)
	sec.Lines = append(sec.Lines, line)
	w.children(it, level, depth+1)
}

// depthBelow is an item's indentation inside its section: the items of a
// container sit at depth level, so anything deeper is a property, a
// qualifier or evidence of the item above it.
func depthBelow(depth, level int) int {
	if d := depth - level; d > 0 {
		return d
	}
	return 0
}

// clip makes s valid, printable UTF-8 of at most n runes and counts it
// against the report's size.
func (w *srWalker) clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return -1
		case unicode.IsControl(r), r == '\u2028', r == '\u2029', unicode.Is(unicode.Bidi_Control, r):
			// Bidirectional overrides could make a value read as
			// something else; line separators break the text form.
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > n {
		rs := []rune(s)
		s = string(rs[:n]) + "…"
		w.r.Truncated = true
	}
	w.bytes += len(s)
	return s
}

func relation(rt string) string {
	switch rt {
	case "", "CONTAINS":
		return ""
	case "HAS PROPERTIES":
		return "has-properties"
	case "HAS OBS CONTEXT":
		return "obs-context"
	case "HAS ACQ CONTEXT":
		return "acq-context"
	case "HAS CONCEPT MOD":
		return "modifier"
	case "INFERRED FROM":
		return "inferred-from"
	case "SELECTED FROM":
		return "selected-from"
	}
	return "other"
}

// ReportWord is a word of the report's fixed vocabulary in l's language:
// key "ref" (an image reference), "truncated" (the note on a cut report)
// or a ReportLine.Relation. The words are the catalogue's "report.ref",
// "report.truncated" and "report.rel.<relation>" (package i18n).
func ReportWord(l *i18n.Locale, key string) string {
	if key == "ref" || key == "truncated" {
		return l.T("report." + key)
	}
	return l.T("report.rel." + key)
}

func numValue(it []*dicom.Element) string {
	mv := items(findIn(it, tagMeasuredValue))
	if len(mv) == 0 {
		// No value: the qualifier says why ("Not a number", "Value unknown").
		return codeMeaning(it, tagNumericQualifier)
	}
	v := str(mv[0], tagNumericValue)
	if u := units(mv[0]); u != "" {
		v += " " + u
	}
	return v
}

// units names the measurement units: the UCUM code itself when it is
// short and plain ("mm", "cm2", "cm/s"), else the code meaning; unity
// ("1") is no unit.
func units(mv []*dicom.Element) string {
	u := items(findIn(mv, tagUnits))
	if len(u) == 0 {
		return ""
	}
	code, scheme, meaning := str(u[0], tagCodeValue), str(u[0], tagCodingScheme), str(u[0], tagCodeMeaning)
	if scheme == "UCUM" && code == "1" {
		return ""
	}
	if scheme == "UCUM" && code != "" && len(code) <= 8 && !strings.ContainsAny(code, "{}[]") {
		return code
	}
	if meaning != "" {
		return meaning
	}
	return code
}

// codeMeaning is the meaning of the first item of a code sequence, else
// its code value.
func codeMeaning(ds []*dicom.Element, t tag.Tag) string {
	its := items(findIn(ds, t))
	if len(its) == 0 {
		return ""
	}
	if m := str(its[0], tagCodeMeaning); m != "" {
		return m
	}
	return str(its[0], tagCodeValue)
}

func formatDate(da string) string {
	if len(da) == 8 && allDigits(da) {
		return da[:4] + "-" + da[4:6] + "-" + da[6:]
	}
	return da
}

func formatTime(tm string) string {
	tm = strings.ReplaceAll(tm, ":", "")
	if i := strings.IndexByte(tm, '.'); i >= 0 {
		tm = tm[:i]
	}
	if !allDigits(tm) {
		return tm
	}
	switch len(tm) {
	case 4:
		return tm[:2] + ":" + tm[2:]
	case 6:
		return tm[:2] + ":" + tm[2:4] + ":" + tm[4:]
	}
	return tm
}

func formatDateTime(dt string) string {
	if i := strings.IndexAny(dt, "+-"); i > 0 {
		dt = dt[:i] // the UTC offset adds nothing readable
	}
	if len(dt) >= 8 && allDigits(dt[:8]) {
		if t := formatTime(dt[8:]); t != "" {
			return formatDate(dt[:8]) + " " + t
		}
		return formatDate(dt[:8])
	}
	return dt
}

// formatName writes a DICOM person name "Family^Given^Middle^Prefix^Suffix"
// (first, alphabetic group only) as "Prefix Given Middle Family Suffix".
func formatName(pn string) string {
	if i := strings.IndexByte(pn, '='); i >= 0 {
		pn = pn[:i]
	}
	c := strings.Split(pn, "^")
	for len(c) < 5 {
		c = append(c, "")
	}
	parts := []string{c[3], c[1], c[2], c[0], c[4]}
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// findIn returns the element with tag t among els (one level, no descent).
func findIn(els []*dicom.Element, t tag.Tag) *dicom.Element {
	for _, e := range els {
		if e != nil && e.Tag == t {
			return e
		}
	}
	return nil
}

// items returns the items of a sequence element.
func items(e *dicom.Element) [][]*dicom.Element {
	if e == nil || e.Value == nil {
		return nil
	}
	seq, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil
	}
	out := make([][]*dicom.Element, 0, len(seq))
	for _, s := range seq {
		if s == nil {
			continue
		}
		if els, ok := s.GetValue().([]*dicom.Element); ok {
			out = append(out, els)
		}
	}
	return out
}

// str is the first string value of the element with tag t, trimmed
// (multiple values are joined with ", ").
func str(els []*dicom.Element, t tag.Tag) string {
	e := findIn(els, t)
	if e == nil || e.Value == nil {
		return ""
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok || len(v) == 0 {
		return ""
	}
	out := make([]string, 0, len(v))
	for _, s := range v {
		if s = strings.Trim(s, " \x00"); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// Text writes the report as plain UTF-8 text in l's language: the title
// underlined, headings, and one "label: value" line per item, indented by
// nesting.
func (r *Report) Text(l *i18n.Locale) string {
	word := func(k string) string { return ReportWord(l, k) }
	var b strings.Builder
	if r.Title != "" {
		b.WriteString(r.Title + "\n" + strings.Repeat("=", min(utf8.RuneCountInString(r.Title), 80)) + "\n\n")
	}
	for _, s := range r.Sections {
		ind := strings.Repeat("  ", max(s.Level-1, 0))
		if s.Heading != "" {
			b.WriteString(ind + s.Heading + "\n")
			if s.Level <= 1 {
				b.WriteString(ind + strings.Repeat("-", min(utf8.RuneCountInString(s.Heading), 80)) + "\n")
			}
		}
		for _, l := range s.Lines {
			li := ind + strings.Repeat("  ", l.Depth)
			if s.Heading != "" {
				li += "  "
			}
			v := l.Value
			if l.Kind == "ref" {
				v = "(" + word("ref") + ")"
			}
			b.WriteString(li)
			if l.Relation != "" {
				b.WriteString("[" + word(l.Relation) + "] ")
			}
			switch {
			case l.Label != "" && v != "":
				b.WriteString(l.Label + ": " + strings.ReplaceAll(v, "\n", "\n"+li+"  "))
			case l.Label != "":
				b.WriteString(l.Label)
			default:
				b.WriteString(strings.ReplaceAll(v, "\n", "\n"+li))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if r.Truncated {
		b.WriteString(word("truncated") + "\n")
	}
	return b.String()
}
