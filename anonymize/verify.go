package anonymize

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"

	"sonolink/dicom/dicomfile"
)

// A needle is one identifying value of the original that must not appear
// in the copy. kind names it in reasons ("patient ID"); the value itself is
// never printed.
type needle struct {
	kind  string
	text  string   // lower-case UTF-8
	exact bool     // too short for substring search: matches whole values only
	cjk   bool     // ideographic/syllabic: matched anywhere, not only as a whole word
	raw   [][]byte // ASCII-folded byte forms for the raw scan (UTF-8 and the original character set)
}

// Needle kinds.
const (
	kindName        = "person name"
	kindPatientID   = "patient ID"
	kindOtherID     = "other ID"
	kindBirthDate   = "birth date"
	kindAddress     = "address"
	kindPhone       = "phone number"
	kindEmail       = "e-mail address"
	kindInstitution = "institution"
	kindDevice      = "device identity"
	kindUID         = "original UID"
)

// Attributes whose values are identifying, by kind (PN values are found by
// VR, UIDs by their U action, e-mail addresses by pattern everywhere).
var needleTags = map[tag.Tag]string{
	tagOf(0x0010, 0x0020): kindPatientID, tagOf(0x0010, 0x1000): kindPatientID,
	tagOf(0x0008, 0x0050): kindOtherID, tagOf(0x0020, 0x0010): kindOtherID, tagOf(0x0010, 0x0021): kindOtherID,
	tagOf(0x0038, 0x0010): kindOtherID, tagOf(0x0040, 0x1001): kindOtherID, tagOf(0x0040, 0x2016): kindOtherID,
	tagOf(0x0040, 0x2017): kindOtherID, tagOf(0x0010, 0x1090): kindOtherID, tagOf(0x0040, 0x0253): kindOtherID,
	tagOf(0x0040, 0x0009): kindOtherID, tagOf(0x0010, 0x1050): kindOtherID, tagOf(0x0012, 0x0040): kindOtherID,
	tagOf(0x0012, 0x0042): kindOtherID, tagOf(0x0038, 0x0400): kindOtherID, tagOf(0x0038, 0x0014): kindOtherID,
	tagOf(0x0010, 0x1040): kindAddress, tagOf(0x0008, 0x0092): kindAddress, tagOf(0x0008, 0x0081): kindAddress,
	tagOf(0x0040, 0x1102): kindAddress, tagOf(0x0010, 0x2152): kindAddress,
	tagOf(0x0010, 0x2154): kindPhone, tagOf(0x0008, 0x0094): kindPhone, tagOf(0x0040, 0x1103): kindPhone,
	tagOf(0x0010, 0x2155): kindEmail, tagOf(0x0040, 0x1104): kindEmail,
	tagOf(0x0008, 0x0080): kindInstitution, tagOf(0x0008, 0x1040): kindInstitution,
	tagOf(0x0018, 0x1000): kindDevice,
}

var tagBirthDate = tagOf(0x0010, 0x0030)

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// stopWords are name parts too common to identify anyone.
var stopWords = map[string]bool{"anonymized": true, "anonymous": true, "unknown": true, "none": true, "null": true, "patient": true, "^^^^": true}

type needleSet struct {
	list []needle
	seen map[string]bool
	enc  []*encoding.Encoder
}

// collectNeedles gathers the identifying values of the original dataset,
// at every depth.
func collectNeedles(ds *dicom.Dataset) []needle {
	ns := &needleSet{seen: map[string]bool{}}
	if e, err := ds.FindElementByTag(tagSpecificCharacterSet); err == nil && e.Value != nil {
		if terms, ok := e.Value.GetValue().([]string); ok {
			for _, term := range terms {
				if enc := encoderFor(strings.TrimSpace(term)); enc != nil {
					ns.enc = append(ns.enc, enc)
				}
			}
		}
	}
	ns.walk(ds.Elements)
	return ns.list
}

func (ns *needleSet) walk(elems []*dicom.Element) {
	for _, e := range elems {
		if e.Value == nil {
			continue
		}
		switch v := e.Value.GetValue().(type) {
		case []*dicom.SequenceItemValue:
			for _, it := range v {
				if el, ok := it.GetValue().([]*dicom.Element); ok {
					ns.walk(el)
				}
			}
		case []string:
			ns.element(e, v)
		}
	}
}

func (ns *needleSet) element(e *dicom.Element, vals []string) {
	vr := e.RawValueRepresentation
	kind := needleTags[e.Tag]
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		switch {
		case vr == "PN":
			for _, group := range strings.Split(v, "=") {
				for _, comp := range strings.Split(group, "^") {
					comp = strings.TrimSpace(comp)
					ns.add(kindName, comp)
					words := strings.FieldsFunc(comp, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == '.' })
					if len(words) > 1 {
						for _, w := range words {
							if utf8.RuneCountInString(w) >= 4 || hasCJK(w) {
								ns.add(kindName, w)
							}
						}
					}
				}
			}
		case e.Tag == tagBirthDate:
			ns.birthDate(v)
		case vr == "UI":
			if r := table.lookup(e.Tag); r != nil && strings.Contains(r.basic, "U") && !strings.HasPrefix(v, wellKnownUIDRoot) && len(v) >= 10 {
				ns.add(kindUID, v)
			}
		case kind == kindAddress:
			ns.add(kind, v)
			for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == ',' || r == ';' || r == '\n' || r == '\r' }) {
				if p = strings.TrimSpace(p); utf8.RuneCountInString(p) >= 4 {
					ns.add(kind, p)
				}
			}
		case kind == kindPhone:
			ns.add(kind, v)
			var digits strings.Builder
			for _, r := range v {
				if r >= '0' && r <= '9' {
					digits.WriteRune(r)
				}
			}
			if digits.Len() >= 7 {
				ns.add(kind, digits.String())
			}
		case kind != "":
			ns.add(kind, v)
		}
		for _, m := range emailRE.FindAllString(v, -1) {
			ns.add(kindEmail, m)
		}
	}
}

var months = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

func (ns *needleSet) birthDate(v string) {
	d, err := time.Parse("20060102", strings.TrimSpace(v))
	if err != nil {
		if len(v) >= 6 {
			ns.add(kindBirthDate, v)
		}
		return
	}
	y, m, dd := d.Year(), int(d.Month()), d.Day()
	mon := months[m-1]
	for _, f := range []string{
		fmt.Sprintf("%04d%02d%02d", y, m, dd),
		fmt.Sprintf("%04d-%02d-%02d", y, m, dd),
		fmt.Sprintf("%04d/%02d/%02d", y, m, dd),
		fmt.Sprintf("%04d.%02d.%02d", y, m, dd),
		fmt.Sprintf("%02d/%02d/%04d", dd, m, y),
		fmt.Sprintf("%02d/%02d/%04d", m, dd, y),
		fmt.Sprintf("%02d.%02d.%04d", dd, m, y),
		fmt.Sprintf("%02d-%02d-%04d", dd, m, y),
		fmt.Sprintf("%02d-%02d-%04d", m, dd, y),
		fmt.Sprintf("%d/%d/%04d", m, dd, y),
		fmt.Sprintf("%d/%d/%04d", dd, m, y),
		fmt.Sprintf("%d.%d.%04d", dd, m, y),
		fmt.Sprintf("%02d %s %04d", dd, mon, y),
		fmt.Sprintf("%d %s %04d", dd, mon, y),
		fmt.Sprintf("%02d-%s-%04d", dd, mon, y),
		fmt.Sprintf("%02d%s%04d", dd, mon, y),
		fmt.Sprintf("%s %d %04d", mon, dd, y),
		fmt.Sprintf("%s %d, %04d", mon, dd, y),
		fmt.Sprintf("%d %s %04d", dd, d.Month().String(), y),
		fmt.Sprintf("%s %d, %04d", d.Month().String(), dd, y),
	} {
		ns.add(kindBirthDate, f)
	}
}

func hasCJK(s string) bool {
	for _, r := range s {
		if r >= 0x2E80 {
			return true
		}
	}
	return false
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '-' || r == '.' || r == '/' || r == ' ') {
			return false
		}
	}
	return true
}

// add records one needle, deciding how it may be searched for without
// false hits: short values only as whole values, raw byte search only for
// values long enough not to occur by chance.
func (ns *needleSet) add(kind, v string) {
	v = strings.TrimSpace(v)
	low := strings.ToLower(v)
	n := utf8.RuneCountInString(v)
	if n < 2 || stopWords[low] || ns.seen[kind+"\x00"+low] {
		return
	}
	if !hasCJK(v) && n < 3 {
		return
	}
	for _, o := range ourTexts {
		if strings.Contains(strings.ToLower(o), low) {
			return
		}
	}
	ns.seen[kind+"\x00"+low] = true
	nd := needle{kind: kind, text: low, cjk: hasCJK(v)}
	digits := digitsOnly(v)
	if digits && n < 5 || !digits && !hasCJK(v) && n < 3 {
		nd.exact = true
	}
	minRaw := 4
	if digits {
		minRaw = 6
	}
	addRaw := func(b []byte) {
		if len(b) < minRaw {
			return
		}
		b = foldASCII(b)
		for _, have := range nd.raw {
			if bytes.Equal(have, b) {
				return
			}
		}
		nd.raw = append(nd.raw, b)
	}
	if !nd.exact {
		for _, form := range []string{v, low, strings.ToUpper(v)} {
			addRaw([]byte(form))
			for _, enc := range ns.enc {
				if b, err := enc.Bytes([]byte(form)); err == nil {
					addRaw(stripEscapes(b))
				}
			}
		}
	}
	ns.list = append(ns.list, nd)
}

// encoderFor returns the encoder of a Specific Character Set term, nil for
// ASCII and UTF-8 (the UTF-8 form is always searched).
func encoderFor(term string) *encoding.Encoder {
	name := map[string]string{
		"ISO_IR 100": "iso-8859-1", "ISO 2022 IR 100": "iso-8859-1",
		"ISO_IR 101": "iso-8859-2", "ISO 2022 IR 101": "iso-8859-2",
		"ISO_IR 109": "iso-8859-3", "ISO 2022 IR 109": "iso-8859-3",
		"ISO_IR 110": "iso-8859-4", "ISO 2022 IR 110": "iso-8859-4",
		"ISO_IR 144": "iso-8859-5", "ISO 2022 IR 144": "iso-8859-5",
		"ISO_IR 127": "iso-8859-6", "ISO 2022 IR 127": "iso-8859-6",
		"ISO_IR 126": "iso-8859-7", "ISO 2022 IR 126": "iso-8859-7",
		"ISO_IR 138": "iso-8859-8", "ISO 2022 IR 138": "iso-8859-8",
		"ISO_IR 148": "iso-8859-9", "ISO 2022 IR 148": "iso-8859-9",
		"ISO_IR 166": "windows-874", "ISO 2022 IR 166": "windows-874",
		"ISO_IR 13": "shift_jis", "ISO 2022 IR 13": "shift_jis",
		"ISO 2022 IR 87": "iso-2022-jp", "ISO 2022 IR 159": "iso-2022-jp",
		"ISO 2022 IR 149": "euc-kr", "ISO 2022 IR 58": "gbk",
		"GB18030": "gb18030", "GBK": "gbk",
	}[term]
	if name == "" {
		return nil
	}
	e, err := htmlindex.Get(name)
	if err != nil {
		return nil
	}
	return e.NewEncoder()
}

// stripEscapes removes ISO 2022 escape sequences, which sit between
// components and would keep an encoded component from matching.
func stripEscapes(b []byte) []byte {
	if bytes.IndexByte(b, 0x1B) < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == 0x1B {
			for i+1 < len(b) && (b[i+1] < 0x40 || b[i+1] > 0x7E) {
				i++
			}
			i++ // final byte
			continue
		}
		out = append(out, b[i])
	}
	return out
}

func foldASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// verify re-reads the written copy and searches it for every needle: each
// text value at any depth (case-insensitively, whatever its VR or group),
// the raw bytes of the whole file except the Pixel Data value, and the
// comment and application segments of JPEG frames. It returns the kinds
// found.
func (j *job) verify(out []byte, pixStart, pixEnd int) ([]string, error) {
	return j.verifyCopy(&written{pre: out[:pixStart], val: out[pixStart:pixEnd], post: out[pixEnd:]})
}

// verifyCopy is verify of the copy as encode wrote it: every byte of it
// is re-read except the value of native Pixel Data, which is given as
// zeros (it is not searched: it holds pixels, not text).
func (j *job) verifyCopy(out *written) ([]string, error) {
	if len(j.needles) == 0 {
		return nil, nil
	}
	// The copy is sonolink's own output, but it is built from a received
	// object: it is re-read through the same checks as any other file.
	ds, ref, _, err := dicomfile.ParseRef(out, out.size(), dicomfile.Limits{})
	if err != nil {
		return nil, fmt.Errorf("re-reading the de-identified copy: %w", err)
	}
	found := map[string]bool{}
	var kinds []string
	hit := func(k string) {
		if !found[k] {
			found[k] = true
			kinds = append(kinds, k)
		}
	}
	var texts []string
	var jpegSegs [][]byte
	var walk func([]*dicom.Element)
	walk = func(elems []*dicom.Element) {
		for _, e := range elems {
			if e.Value == nil {
				continue
			}
			switch v := e.Value.GetValue().(type) {
			case []string:
				for _, s := range v {
					texts = append(texts, strings.ToLower(strings.TrimSpace(s)))
				}
			case []byte:
				if e.Tag.Group&1 == 1 || e.RawValueRepresentation == "UN" {
					texts = append(texts, strings.ToLower(string(v)))
				}
			case []*dicom.SequenceItemValue:
				for _, it := range v {
					if el, ok := it.GetValue().([]*dicom.Element); ok {
						walk(el)
					}
				}
			}
		}
	}
	walk(ds.Elements)
	if ref != nil && ref.Encapsulated {
		for _, sp := range ref.Spans[1:] {
			f := make([]byte, sp.Length)
			if _, err := out.ReadAt(f, sp.Offset); err != nil {
				return nil, fmt.Errorf("re-reading the de-identified copy: %w", err)
			}
			jpegSegs = append(jpegSegs, jpegTextSegments(f)...)
		}
	}
	head := foldASCII(out.pre[:len(out.pre)-out.hdr])
	tail := foldASCII(out.post)
	for i := range jpegSegs {
		jpegSegs[i] = foldASCII(jpegSegs[i])
	}
	for _, nd := range j.needles {
		if found[nd.kind] {
			continue
		}
		if j.findText(nd, texts) {
			if debugVerify != nil {
				debugVerify("text", nd.kind, nd.text)
			}
			hit(nd.kind)
			continue
		}
		for _, r := range nd.raw {
			if containsWord(head, r, nd.cjk) || containsWord(tail, r, nd.cjk) {
				if debugVerify != nil {
					debugVerify("raw", nd.kind, string(r))
				}
				hit(nd.kind)
				break
			}
			for _, s := range jpegSegs {
				if containsWord(s, r, nd.cjk) {
					hit(nd.kind)
					break
				}
			}
		}
	}
	return kinds, nil
}

// debugVerify, set by tests only, sees each hit with its value.
var debugVerify func(where, kind, value string)

func (j *job) findText(nd needle, texts []string) bool {
	for _, s := range texts {
		if nd.exact {
			if s == nd.text {
				return true
			}
		} else if containsWordString(s, nd.text, nd.cjk) {
			return true
		}
	}
	return false
}

// containsWord reports whether hay holds needle as a whole word: not
// inside a longer run of letters or digits ("MARY" is not in "PRIMARY").
// Bytes ≥ 0x80 count as letters. CJK needles match anywhere.
func containsWord(hay, needle []byte, anywhere bool) bool {
	if anywhere {
		return bytes.Contains(hay, needle)
	}
	isWord := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80 }
	first, last := isWord(needle[0]), isWord(needle[len(needle)-1])
	for off := 0; ; {
		i := bytes.Index(hay[off:], needle)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(needle)
		if (i == 0 || !first || !isWord(hay[i-1])) && (end == len(hay) || !last || !isWord(hay[end])) {
			return true
		}
		off = i + 1
	}
}

func containsWordString(hay, needle string, anywhere bool) bool {
	if anywhere {
		return strings.Contains(hay, needle)
	}
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	f, _ := utf8.DecodeRuneInString(needle)
	l, _ := utf8.DecodeLastRuneInString(needle)
	first, last := isWord(f), isWord(l)
	for off := 0; ; {
		i := strings.Index(hay[off:], needle)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(needle)
		p, _ := utf8.DecodeLastRuneInString(hay[:i])
		n, _ := utf8.DecodeRuneInString(hay[end:])
		if (i == 0 || !first || !isWord(p)) && (end == len(hay) || !last || !isWord(n)) {
			return true
		}
		off = i + 1
	}
}

// jpegTextSegments returns the payloads of the APPn and COM marker
// segments of a JPEG codestream (where encoders put text), up to the first
// scan.
func jpegTextSegments(b []byte) [][]byte {
	var out [][]byte
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return out
		}
		m := b[i+1]
		if m == 0xFF {
			i++
			continue
		}
		if m == 0xDA || m == 0xD9 {
			return out
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return out
		}
		if m >= 0xE0 && m <= 0xEF || m == 0xFE {
			out = append(out, b[i+4:i+2+n])
		}
		i += 2 + n
	}
	return out
}
