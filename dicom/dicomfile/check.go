package dicomfile

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"

	suid "sonolink/dicom/uid"
)

// Check walks the element structure of a Part 10 file without allocating
// values and fails with ErrInvalid when a declared length exceeds the data
// that is there, nesting exceeds lim.MaxDepth, or the structure is broken.
//
// The walk follows the transfer syntax named in the File Meta Information
// (explicit or implicit VR, little or big endian). A deflated data set
// (Deflated Explicit VR Little Endian) is inflated first, into memory and at
// most lim.MaxInflated bytes (ErrInflatedTooLarge past that, so a deflate
// bomb costs nothing), and the walk and the parser read the inflated bytes.
// The preamble, the "DICM" prefix and the File Meta Information
// Group Length are optional; a wrong group length is tolerated because
// ReadFile and ReadHeader rebuild the header before parsing. Without a
// transfer syntax, the syntax under which the whole dataset walks cleanly is
// used.
//
// The walk mirrors how github.com/suyashkumar/dicom v1.1.0 reads a file, so
// that whatever passes Check can be parsed without the library allocating
// more than the file holds or recursing deeper than lim.MaxDepth: items are
// always read with implicit VR, undefined-length UN is read as a sequence,
// and undefined lengths are accepted only for sequences, items, OB/OW and
// Pixel Data. It is iterative: memory use does not depend on the nesting.
func Check(r io.ReaderAt, size int64, lim Limits) error {
	_, err := scan(r, size, lim)
	return err
}

// syntax is how the dataset is encoded.
type syntax struct {
	bo       binary.ByteOrder
	implicit bool
}

func (s syntax) String() string {
	v := "explicit"
	if s.implicit {
		v = "implicit"
	}
	e := "little"
	if s.bo == binary.BigEndian {
		e = "big"
	}
	return v + " VR " + e + " endian"
}

var (
	explicitLE = syntax{binary.LittleEndian, false}
	implicitLE = syntax{binary.LittleEndian, true}
	explicitBE = syntax{binary.BigEndian, false}
)

// layout describes where the parts of a checked file are.
type layout struct {
	preamble   bool  // 128-byte preamble and "DICM" at offset 128
	metaStart  int64 // first group-2 element after any group length element
	metaEnd    int64 // end of the group-2 elements = start of the dataset
	groupLen   int64 // declared (0002,0000) value, -1 when absent
	tsUID      string
	tsMissing  bool // no (0002,0010): tsUID was inferred
	syn        syntax
	size       int64
	skips      []span // pixel data bytes a header-only parse need not read
	pixels     pixelForm
	pixelSpans []span // see src.pixelSpans
	// r is what the walk read and the parser reads: the file itself, or for
	// a deflated data set the file meta information followed by the
	// inflated data set (size is then that of this view).
	r io.ReaderAt
	// tsAt is the first (0002,0010) element, header included.
	tsAt span
	// libTS is the transfer syntax given to the DICOM library in place of
	// tsUID, when they differ (see libraryTS).
	libTS string
}

// canonical reports whether the library can parse the file as it is:
// preamble, a correct group length, and an explicit transfer syntax.
func (l *layout) canonical() bool {
	return l.preamble && !l.tsMissing && l.libTS == l.tsUID && l.groupLen == l.metaEnd-l.metaStart
}

// libraryTS returns the transfer syntax under which the DICOM library
// (github.com/suyashkumar/dicom v1.1.0) parses a data set in ts, and how
// that data set is encoded; ok is false when neither knows ts. The library
// reads encapsulated Pixel Data by its undefined length, whatever the
// syntax, but refuses syntaxes missing from its dictionary (HTJ2K among
// them): those of sonolink's table are all explicit VR little endian, so
// the library is told Explicit VR Little Endian. A deflated data set is
// inflated before the library sees it, so it too is given as Explicit VR
// Little Endian.
func libraryTS(ts string) (lib string, syn syntax, ok bool) {
	if ts == uid.DeflatedExplicitVRLittleEndian {
		return uid.ExplicitVRLittleEndian, explicitLE, true
	}
	if bo, implicit, err := uid.ParseTransferSyntaxUID(ts); err == nil && bo != nil {
		return ts, syntax{bo, implicit}, true
	}
	if suid.IsTransferSyntax(ts) {
		return uid.ExplicitVRLittleEndian, explicitLE, true
	}
	return "", syntax{}, false
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func tagStr(t tag.Tag) string { return fmt.Sprintf("(%04X,%04X)", t.Group, t.Element) }

// src reads small pieces of the file through one reusable window, so a walk
// over many elements does few ReadAt calls and allocates one buffer.
type src struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	off  int64 // file offset of buf[0]
	n    int   // valid bytes in buf
	// skips are the byte ranges of the last walk that a header-only parse
	// need not read: the value of a top-level native Pixel Data element,
	// or the items of a top-level encapsulated one (the library discards
	// them unread when it skips pixel data), and whole top-level elements
	// with large binary values (drop: left out of the stream).
	skips []span
	// pixels is how the last walk found the top-level Pixel Data
	// (7FE0,0010), at offset pixelsAt.
	pixels   pixelForm
	pixelsAt int64
	// pixelSpans are the value of a top-level native Pixel Data element,
	// or the values of the items of an encapsulated one (the Basic Offset
	// Table first).
	pixelSpans []span
}

// pixelForm is how a dataset holds its top-level Pixel Data.
type pixelForm uint8

const (
	pixelsAbsent       pixelForm = iota
	pixelsNative                 // one value of defined length
	pixelsEncapsulated           // undefined length: offset table and fragments
)

// ErrPixelEncoding marks an object whose Pixel Data contradicts its transfer
// syntax: encapsulated (compressed) under a native syntax, or native under
// an encapsulated one. Such an object cannot be decoded by anyone and must
// not be confirmed to its sender. It wraps ErrInvalid.
var ErrPixelEncoding = fmt.Errorf("%w: pixel data does not match the transfer syntax", ErrInvalid)

// checkPixelForm fails with ErrPixelEncoding when the top-level Pixel Data
// found by the walk contradicts transfer syntax ts (PS3.5 A.4: encapsulated
// syntaxes hold Pixel Data with undefined length, native ones with a
// defined length).
func checkPixelForm(s *src, ts string) error {
	switch {
	case s.pixels == pixelsEncapsulated && suid.IsNative(ts):
		return fmt.Errorf("%w: Pixel Data (7FE0,0010) at offset %d is encapsulated (undefined length, compressed fragments) but the transfer syntax %s is native",
			ErrPixelEncoding, s.pixelsAt, suid.Describe(ts))
	case s.pixels == pixelsNative && suid.IsEncapsulated(ts):
		return fmt.Errorf("%w: Pixel Data (7FE0,0010) at offset %d is native (defined length) but the transfer syntax %s is encapsulated",
			ErrPixelEncoding, s.pixelsAt, suid.Describe(ts))
	}
	return nil
}

// Readable reports whether Check and the parser read objects in transfer
// syntax ts: uncompressed ones, deflated, and every encapsulated syntax of
// sonolink's table or of the DICOM library's dictionary (their data sets
// are explicit VR little endian). An object in any of them can be stored as
// received.
func Readable(ts string) bool {
	_, _, ok := libraryTS(ts)
	return ok
}

// span is a byte range [start, end) of a file.
type span struct {
	start, end int64
	// drop: the range is a whole element, left out of a header-only parse
	// rather than given as zeros.
	drop bool
}

// dropMin is the value length from which a header-only parse leaves out a
// top-level binary element other than Pixel Data (palette lookup tables,
// overlays, private blobs): the library reads such values two bytes at a
// time with an allocation each (7 ms for the 3×128 KiB palette of an ALOKA
// image), and nothing that reads only the header uses them.
const dropMin = 1024

// binaryVR are the VRs whose values are bytes or numbers, not text.
var binaryVR = map[string]bool{"OB": true, "OW": true, "OF": true, "OD": true, "OL": true, "OV": true, "UN": true}

func newSrc(r io.ReaderAt, size int64) *src {
	w := int64(64 << 10)
	if size < w {
		w = size
	}
	if w < 16 {
		w = 16
	}
	return &src{r: r, size: size, buf: make([]byte, w)}
}

// at returns n bytes (n ≤ 16 or n ≤ window) at off; the caller has checked
// off+n ≤ size.
func (s *src) at(off int64, n int) ([]byte, error) {
	if off >= s.off && off+int64(n) <= s.off+int64(s.n) {
		return s.buf[off-s.off : off-s.off+int64(n)], nil
	}
	want := int64(len(s.buf))
	if rest := s.size - off; rest < want {
		want = rest
	}
	if want < int64(n) {
		return nil, invalidf("file ends at offset %d, inside the element header at offset %d", s.size, off)
	}
	m, err := s.r.ReadAt(s.buf[:want], off)
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, invalidf("file ends at offset %d, inside the element header at offset %d", off+int64(m), off)
		}
		return nil, fmt.Errorf("reading DICOM file at offset %d: %w", off, err)
	}
	s.off, s.n = off, m
	return s.buf[:n], nil
}

// vrLong are the VRs the library reads with a reserved field and a 32-bit
// length in explicit VR (dicom v1.1.0 read.go readVL; note that OV, SV and
// UV are missing there, so they are read with 16-bit lengths, as here).
var vrLong = map[string]bool{"NA": true, "OB": true, "OD": true, "OF": true, "OL": true, "OW": true,
	"SQ": true, "UN": true, "UC": true, "UR": true, "UT": true}

var vrKnown = map[string]bool{"AE": true, "AS": true, "AT": true, "CS": true, "DA": true, "DS": true,
	"DT": true, "FL": true, "FD": true, "IS": true, "LO": true, "LT": true, "OB": true, "OD": true,
	"OF": true, "OL": true, "OV": true, "OW": true, "PN": true, "SH": true, "SL": true, "SQ": true,
	"SS": true, "ST": true, "SV": true, "TM": true, "UC": true, "UI": true, "UL": true, "UN": true,
	"UR": true, "US": true, "UT": true, "UV": true}

const undefinedLength = 0xFFFFFFFF

// scan checks the whole file and returns its layout.
func scan(r io.ReaderAt, size int64, lim Limits) (*layout, error) {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	if size <= 0 {
		return nil, invalidf("empty file")
	}
	if lim.MaxInflated <= 0 {
		lim.MaxInflated = DefaultMaxInflated
	}
	s := newSrc(r, size)
	l := &layout{size: size, groupLen: -1, r: r}
	if err := scanMeta(s, l); err != nil {
		return nil, err
	}
	l.libTS = l.tsUID
	if !l.tsMissing {
		lib, syn, ok := libraryTS(l.tsUID)
		if !ok {
			return nil, invalidf("unsupported transfer syntax %q", l.tsUID)
		}
		l.libTS, l.syn = lib, syn
		if l.tsUID == uid.DeflatedExplicitVRLittleEndian {
			view, err := inflate(r, size, l.metaEnd, lim.MaxInflated)
			if err != nil {
				return nil, err
			}
			l.r, l.size = view, view.Size()
			s = newSrc(l.r, l.size)
		}
		if err := walk(s, l.metaEnd, l.syn, lim.MaxDepth); err != nil {
			return nil, err
		}
		if err := checkPixelForm(s, l.tsUID); err != nil {
			return nil, err
		}
		l.skips, l.pixels, l.pixelSpans = s.skips, s.pixels, s.pixelSpans
		return l, nil
	}
	// No transfer syntax: use the first one under which the dataset walks.
	cands := []syntax{implicitLE, explicitLE, explicitBE}
	if l.metaEnd+6 <= size {
		b, err := s.at(l.metaEnd, 6)
		if err != nil {
			return nil, err
		}
		if vrKnown[string(b[4:6])] {
			if b[0] == 0 && b[1] != 0 {
				cands = []syntax{explicitBE, explicitLE, implicitLE}
			} else {
				cands = []syntax{explicitLE, implicitLE, explicitBE}
			}
		}
	}
	var first error
	for _, c := range cands {
		err := walk(s, l.metaEnd, c, lim.MaxDepth)
		if err == nil {
			l.syn, l.skips, l.pixels, l.pixelSpans = c, s.skips, s.pixels, s.pixelSpans
			switch c {
			case implicitLE:
				l.tsUID = uid.ImplicitVRLittleEndian
			case explicitLE:
				l.tsUID = uid.ExplicitVRLittleEndian
			default:
				l.tsUID = uid.ExplicitVRBigEndian
			}
			l.libTS = l.tsUID
			return l, nil
		}
		if first == nil {
			first = fmt.Errorf("no transfer syntax in the file meta information, and the dataset does not read as %s: %w", c, err)
		}
	}
	return nil, first
}

// ErrInflatedTooLarge marks a deflated data set that inflates to more than
// Limits.MaxInflated bytes. It wraps ErrInvalid.
var ErrInflatedTooLarge = fmt.Errorf("%w: deflated data set too large once inflated", ErrInvalid)

// inflate returns the file meta information of r (its first metaEnd
// bytes) followed by the data set that follows it in r, inflated (raw
// deflate, RFC 1951, PS3.5 A.5), or ErrInflatedTooLarge when the data set
// inflates to more than max bytes.
func inflate(r io.ReaderAt, size, metaEnd, max int64) (*bytes.Reader, error) {
	// A first pass only counts, so a bomb is refused without holding
	// anything and a valid data set gets a buffer of its exact size (a
	// growing buffer could reach twice the limit). Inflating is cheap next
	// to what reading the data set costs afterwards.
	n, err := inflateTo(io.Discard, r, size, metaEnd, max)
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, metaEnd+n))
	if _, err := io.Copy(buf, io.NewSectionReader(r, 0, metaEnd)); err != nil {
		return nil, fmt.Errorf("reading DICOM file meta information: %w", err)
	}
	if _, err := inflateTo(buf, r, size, metaEnd, n); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf.Bytes()), nil
}

// inflateTo writes the inflated data set that starts at metaEnd in r to w
// and returns its size, or ErrInflatedTooLarge past max bytes.
func inflateTo(w io.Writer, r io.ReaderAt, size, metaEnd, max int64) (int64, error) {
	fr := flate.NewReader(io.NewSectionReader(r, metaEnd, size-metaEnd))
	defer fr.Close()
	n, err := io.Copy(w, io.LimitReader(fr, max+1))
	switch {
	case n > max:
		return 0, fmt.Errorf("%w: more than %d bytes (the limit); refused", ErrInflatedTooLarge, max)
	case err != nil && errors.Is(err, io.ErrUnexpectedEOF):
		return 0, invalidf("deflated data set ends early (%d bytes inflated)", n)
	case err != nil:
		var ce flate.CorruptInputError
		if errors.As(err, &ce) {
			return 0, invalidf("deflated data set is corrupt at byte %d of the compressed stream", int64(ce))
		}
		return 0, fmt.Errorf("reading deflated data set: %w", err)
	}
	return n, nil
}

// scanMeta finds the File Meta Information (group 0002, always explicit VR
// little endian) and the transfer syntax in it.
func scanMeta(s *src, l *layout) error {
	size := s.size
	pos := int64(0)
	switch {
	case size >= 132:
		b, err := s.at(128, 4)
		if err != nil {
			return err
		}
		if string(b) == "DICM" {
			l.preamble = true
			pos = 132
		}
	}
	l.metaStart = pos
	if !l.preamble {
		// A meta group without preamble starts right at offset 0.
		if size < 8 {
			l.metaEnd, l.tsMissing = 0, true
			return nil
		}
		b, err := s.at(0, 6)
		if err != nil {
			return err
		}
		if !(b[0] == 2 && b[1] == 0 && vrKnown[string(b[4:6])]) {
			l.metaEnd, l.tsMissing = 0, true
			return nil
		}
	}
	first := true
	tsFound := false
	for pos+8 <= size {
		b, err := s.at(pos, 8)
		if err != nil {
			return err
		}
		t := tag.Tag{Group: binary.LittleEndian.Uint16(b[0:]), Element: binary.LittleEndian.Uint16(b[2:])}
		if t.Group != 0x0002 {
			break
		}
		vr := string(b[4:6])
		if !vrKnown[vr] {
			return invalidf("file meta element %s at offset %d has unknown VR %q (the file meta information must be explicit VR little endian)", tagStr(t), pos, vr)
		}
		if vr == "SQ" {
			return invalidf("file meta element %s at offset %d is a sequence", tagStr(t), pos)
		}
		hdr := int64(8)
		vl := int64(binary.LittleEndian.Uint16(b[6:]))
		if vrLong[vr] {
			if pos+12 > size {
				return invalidf("file ends at offset %d, inside the header of file meta element %s at offset %d", size, tagStr(t), pos)
			}
			b, err = s.at(pos, 12)
			if err != nil {
				return err
			}
			hdr = 12
			vl = int64(binary.LittleEndian.Uint32(b[8:]))
		}
		if vl == 0xFFFF && hdr == 8 || vl == undefinedLength {
			return invalidf("file meta element %s at offset %d has an undefined length", tagStr(t), pos)
		}
		if rest := size - pos - hdr; vl > rest {
			return invalidf("file meta element %s declares %d bytes at offset %d, only %d remain", tagStr(t), vl, pos, rest)
		}
		if first && t.Element == 0 && vr == "UL" && vl == 4 {
			v, err := s.at(pos+hdr, 4)
			if err != nil {
				return err
			}
			l.groupLen = int64(binary.LittleEndian.Uint32(v))
			l.metaStart = pos + hdr + vl
		}
		if t.Element == 0x0010 {
			if !isStringKind(t, vr) {
				return invalidf("transfer syntax UID (0002,0010) at offset %d has VR %s, must be UI", pos, vr)
			}
			if vl > 64 {
				return invalidf("transfer syntax UID (0002,0010) at offset %d is %d bytes long, at most 64 allowed", pos, vl)
			}
			v, err := s.at(pos+hdr, int(vl))
			if err != nil {
				return err
			}
			if !tsFound { // the library uses the first one
				l.tsAt = span{start: pos, end: pos + hdr + vl}
				l.tsUID = strings.Trim(string(v), " \x00")
				if l.tsUID == "" {
					return invalidf("transfer syntax UID (0002,0010) at offset %d is empty", pos)
				}
			}
			tsFound = true
		}
		first = false
		pos += hdr + vl
	}
	l.metaEnd = pos
	l.tsMissing = !tsFound
	return nil
}

type frameKind uint8

const (
	kTop     frameKind = iota // the dataset
	kSeq                      // a sequence (SQ, or UN with undefined length)
	kItem                     // an item of a sequence, or a stray item
	kEncaps                   // encapsulated Pixel Data fragments
	kByteSeq                  // undefined-length OB/OW: raw items
)

type frame struct {
	kind  frameKind
	end   int64 // end offset for a defined length, -1 when undefined
	limit int64 // innermost defined end: no element may go past it
	start int64 // offset of the owning element, for messages
	owner tag.Tag
	items int32 // items seen (encapsulated: the first is the offset table)
	deep  bool  // counts towards the nesting depth
}

// walk checks the dataset from start to the end of the file.
func walk(s *src, start int64, syn syntax, maxDepth int) error {
	bo := syn.bo
	pos := start
	stack := make([]frame, 1, 8)
	stack[0] = frame{kind: kTop, end: s.size, limit: s.size}
	depth := 0
	s.skips = s.skips[:0]
	s.pixels, s.pixelsAt = pixelsAbsent, 0
	s.pixelSpans = nil
	for {
		top := &stack[len(stack)-1]
		if top.end >= 0 && pos == top.end {
			if top.kind == kTop {
				return nil
			}
			if top.deep {
				depth--
			}
			stack = stack[:len(stack)-1]
			continue
		}
		remaining := top.limit - pos
		if remaining <= 0 {
			// An undefined-length container reached the end of its
			// enclosing container (or of the file) without its delimiter.
			if top.limit == s.size {
				return invalidf("file ends at offset %d inside element %s at offset %d (no delimiter)", s.size, tagStr(top.owner), top.start)
			}
			return invalidf("element %s at offset %d runs past the end of its container at offset %d (no delimiter)", tagStr(top.owner), top.start, top.limit)
		}
		if remaining < 8 {
			if top.limit == s.size {
				return invalidf("file ends at offset %d, inside the element header at offset %d", s.size, pos)
			}
			return invalidf("%d stray bytes at offset %d before the end of the container at offset %d", remaining, pos, top.limit)
		}
		b, err := s.at(pos, 8)
		if err != nil {
			return err
		}
		t := tag.Tag{Group: bo.Uint16(b[0:]), Element: bo.Uint16(b[2:])}
		len32 := bo.Uint32(b[4:])

		switch top.kind {
		case kEncaps, kByteSeq:
			what := "encapsulated pixel data"
			if top.kind == kByteSeq {
				what = "undefined-length value"
			}
			switch {
			case t == tag.SequenceDelimitationItem:
				if len32 != 0 {
					return invalidf("sequence delimiter at offset %d has length %d, must be 0", pos, len32)
				}
				if top.kind == kEncaps && top.items == 0 {
					return invalidf("encapsulated pixel data %s at offset %d has no basic offset table item", tagStr(top.owner), top.start)
				}
				pos += 8
				stack = stack[:len(stack)-1]
			case t == tag.Item:
				if len32 == undefinedLength {
					return invalidf("item at offset %d in %s %s has an undefined length", pos, what, tagStr(top.owner))
				}
				if rest := remaining - 8; int64(len32) > rest {
					return invalidf("item at offset %d in %s %s declares %d bytes, only %d remain", pos, what, tagStr(top.owner), len32, rest)
				}
				top.items++
				if top.kind == kEncaps && len(stack) == 2 {
					s.skips = append(s.skips, span{start: pos + 8, end: pos + 8 + int64(len32)})
					if top.owner == tag.PixelData {
						s.pixelSpans = append(s.pixelSpans, span{start: pos + 8, end: pos + 8 + int64(len32)})
					}
				}
				pos += 8 + int64(len32)
			default:
				return invalidf("unexpected element %s at offset %d in %s %s, expected an item", tagStr(t), pos, what, tagStr(top.owner))
			}
			continue

		case kSeq:
			switch {
			case t == tag.SequenceDelimitationItem:
				if top.end >= 0 {
					return invalidf("sequence delimiter at offset %d inside defined-length sequence %s", pos, tagStr(top.owner))
				}
				if len32 != 0 {
					return invalidf("sequence delimiter at offset %d has length %d, must be 0", pos, len32)
				}
				pos += 8
				if top.deep {
					depth--
				}
				stack = stack[:len(stack)-1]
			case t == tag.Item:
				f := frame{kind: kItem, end: -1, limit: top.limit, start: pos, owner: top.owner}
				if len32 != undefinedLength {
					if rest := remaining - 8; int64(len32) > rest {
						return invalidf("item of sequence %s declares %d bytes at offset %d, only %d remain", tagStr(top.owner), len32, pos, rest)
					}
					f.end = pos + 8 + int64(len32)
					f.limit = f.end
				}
				pos += 8
				stack = append(stack, f)
			default:
				return invalidf("unexpected element %s at offset %d in sequence %s, expected an item", tagStr(t), pos, tagStr(top.owner))
			}
			continue
		}

		// kTop or kItem: a data element.
		switch t {
		case tag.ItemDelimitationItem:
			if top.kind != kItem || top.end >= 0 {
				return invalidf("unexpected item delimiter at offset %d", pos)
			}
			if len32 != 0 {
				return invalidf("item delimiter at offset %d has length %d, must be 0", pos, len32)
			}
			pos += 8
			if top.deep {
				depth--
			}
			stack = stack[:len(stack)-1]
			continue
		case tag.SequenceDelimitationItem:
			return invalidf("unexpected sequence delimiter at offset %d", pos)
		case tag.Item:
			// A stray item outside a sequence: the library reads it as a
			// nested item (always implicit VR, 32-bit length).
			depth++
			if depth > maxDepth {
				return invalidf("nesting deeper than %d at offset %d (stray item)", maxDepth, pos)
			}
			f := frame{kind: kItem, end: -1, limit: top.limit, start: pos, owner: t, deep: true}
			if len32 != undefinedLength {
				if rest := remaining - 8; int64(len32) > rest {
					return invalidf("item declares %d bytes at offset %d, only %d remain", len32, pos, rest)
				}
				f.end = pos + 8 + int64(len32)
				f.limit = f.end
			}
			pos += 8
			stack = append(stack, f)
			continue
		}

		var vr string
		var hdr int64
		var vl uint32
		if syn.implicit {
			vr = implicitVR(t)
			hdr, vl = 8, len32
		} else {
			vr = string(b[4:6])
			if !vrKnown[vr] {
				return invalidf("element %s at offset %d has unknown VR %q", tagStr(t), pos, vr)
			}
			if vrLong[vr] {
				if remaining < 12 {
					return invalidf("element %s at offset %d: header runs past the end of its container at offset %d", tagStr(t), pos, top.limit)
				}
				b, err = s.at(pos, 12)
				if err != nil {
					return err
				}
				hdr, vl = 12, bo.Uint32(b[8:])
			} else {
				hdr, vl = 8, uint32(bo.Uint16(b[6:]))
				if vl == 0xFFFF {
					vl = undefinedLength
				}
			}
		}
		rest := remaining - hdr
		kind := tag.GetVRKind(t, vr)
		if t == tag.SpecificCharacterSet && top.kind == kTop && !isStringKind(t, vr) {
			// The library reads it as strings and panics otherwise.
			return invalidf("specific character set (0008,0005) at offset %d has VR %s, must be CS", pos, vr)
		}
		if vl == undefinedLength {
			f := frame{end: -1, limit: top.limit, start: pos, owner: t}
			switch {
			case kind == tag.VRPixelData:
				f.kind = kEncaps
				if top.kind == kTop && t == tag.PixelData {
					s.pixels, s.pixelsAt = pixelsEncapsulated, pos
					s.pixelSpans = nil
				}
			case kind == tag.VRBytes:
				f.kind = kByteSeq
			case kind == tag.VRSequence || kind == tag.VRUnknown:
				f.kind, f.deep = kSeq, true
			default:
				return invalidf("element %s (VR %s) at offset %d has an undefined length, which its VR does not allow", tagStr(t), vr, pos)
			}
			if f.deep {
				depth++
				if depth > maxDepth {
					return invalidf("sequence %s at offset %d nests deeper than %d", tagStr(t), pos, maxDepth)
				}
			}
			pos += hdr
			stack = append(stack, f)
			continue
		}
		if int64(vl) > rest {
			return invalidf("element %s declares %d bytes at offset %d, only %d remain", tagStr(t), vl, pos, rest)
		}
		if t == tag.PixelData && top.kind == kTop && vl > 0 {
			s.pixels, s.pixelsAt = pixelsNative, pos
			s.pixelSpans = []span{{start: pos + hdr, end: pos + hdr + int64(vl)}}
		}
		if kind == tag.VRPixelData && top.kind == kTop && vl > 0 {
			s.skips = append(s.skips, span{start: pos + hdr, end: pos + hdr + int64(vl)})
		} else if top.kind == kTop && vl >= dropMin && binaryVR[vr] {
			s.skips = append(s.skips, span{start: pos, end: pos + hdr + int64(vl), drop: true})
		}
		if kind == tag.VRSequence {
			depth++
			if depth > maxDepth {
				return invalidf("sequence %s at offset %d nests deeper than %d", tagStr(t), pos, maxDepth)
			}
			end := pos + hdr + int64(vl)
			pos += hdr
			stack = append(stack, frame{kind: kSeq, end: end, limit: end, start: pos - hdr, owner: t, deep: true})
			continue
		}
		pos += hdr + int64(vl)
	}
}

// isStringKind reports whether the library holds the value as strings.
func isStringKind(t tag.Tag, vr string) bool {
	switch tag.GetVRKind(t, vr) {
	case tag.VRString, tag.VRStringList, tag.VRDate:
		return true
	}
	return false
}

// implicitVR is the VR the library assumes in implicit VR (dicom v1.1.0
// read.go readVR).
func implicitVR(t tag.Tag) string {
	info, err := tag.Find(t)
	if err != nil {
		return "UN"
	}
	if t == tag.PixelData || t == tag.OverlayData {
		return "OW"
	}
	return info.VRs[0]
}

// normalized returns the file as the library should see it: preamble,
// "DICM", a correct (0002,0000), the original group-2 elements, a transfer
// syntax element when the file had none, then the dataset unchanged.
//
// With skipPixels (a header-only parse), the bytes of l.skips are not read
// from r: pixel data is given as zeros (the library discards it) and
// dropped elements are left out. This spares a header-only parse reading
// the whole pixel data from disk.
func (l *layout) normalized(r io.ReaderAt, skipPixels bool) (io.Reader, int64) {
	var skips []span
	var dropped int64
	if skipPixels {
		skips = l.skips
		for _, sk := range skips {
			if sk.drop {
				dropped += sk.end - sk.start
			}
		}
	}
	if l.canonical() {
		return &skipReader{r: r, off: 0, end: l.size, skips: skips}, l.size - dropped
	}
	// The group-2 elements, with the transfer syntax element added when
	// the file had none, or replaced by the one the library reads.
	var ts []byte
	metaA, metaB := span{start: l.metaStart, end: l.metaEnd}, span{start: l.metaEnd, end: l.metaEnd}
	if l.tsMissing || l.libTS != l.tsUID {
		v := l.libTS
		if len(v)%2 == 1 {
			v += "\x00"
		}
		ts = make([]byte, 8, 8+len(v))
		binary.LittleEndian.PutUint16(ts[0:], 0x0002)
		binary.LittleEndian.PutUint16(ts[2:], 0x0010)
		copy(ts[4:], "UI")
		binary.LittleEndian.PutUint16(ts[6:], uint16(len(v)))
		ts = append(ts, v...)
		if !l.tsMissing {
			metaA.end, metaB.start = l.tsAt.start, l.tsAt.end
		}
	}
	metaLen := metaA.end - metaA.start + int64(len(ts)) + metaB.end - metaB.start
	head := make([]byte, 132+12)
	copy(head[128:], "DICM")
	binary.LittleEndian.PutUint16(head[132:], 0x0002)
	binary.LittleEndian.PutUint16(head[134:], 0x0000)
	copy(head[136:], "UL")
	binary.LittleEndian.PutUint16(head[138:], 4)
	binary.LittleEndian.PutUint32(head[140:], uint32(metaLen))
	rd := io.MultiReader(
		bytes.NewReader(head),
		io.NewSectionReader(r, metaA.start, metaA.end-metaA.start),
		bytes.NewReader(ts),
		io.NewSectionReader(r, metaB.start, metaB.end-metaB.start),
		&skipReader{r: r, off: l.metaEnd, end: l.size, skips: skips},
	)
	return rd, int64(len(head)) + metaLen + (l.size - l.metaEnd) - dropped
}

// skipReader reads r from off to end without reading the ranges in skips
// (sorted, not overlapping): it gives zeros for them, or leaves out those
// marked drop.
type skipReader struct {
	r        io.ReaderAt
	off, end int64
	skips    []span
}

func (sr *skipReader) Read(p []byte) (int, error) {
	// Step past ranges behind us, and over a dropped range we are at.
passed:
	for len(sr.skips) > 0 {
		sk := sr.skips[0]
		switch {
		case sk.drop && sk.start <= sr.off:
			sr.off = max(sr.off, sk.end)
		case sk.end > sr.off:
			break passed
		}
		sr.skips = sr.skips[1:]
	}
	if sr.off >= sr.end {
		return 0, io.EOF
	}
	n := int64(len(p))
	if rest := sr.end - sr.off; rest < n {
		n = rest
	}
	if len(sr.skips) > 0 {
		sk := sr.skips[0]
		if sk.start <= sr.off {
			n = min(n, sk.end-sr.off)
			clear(p[:n])
			sr.off += n
			return int(n), nil
		}
		n = min(n, sk.start-sr.off)
	}
	m, err := sr.r.ReadAt(p[:n], sr.off)
	sr.off += int64(m)
	if err == io.EOF && int64(m) == n {
		err = nil
	}
	return m, err
}
