package dicomfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/internal/testenv"
)

// enc builds test datasets element by element.
type enc struct {
	buf      bytes.Buffer
	bo       binary.ByteOrder
	implicit bool
}

func newEnc(bo binary.ByteOrder, implicit bool) *enc { return &enc{bo: bo, implicit: implicit} }

func (e *enc) u16(v uint16) { _ = binary.Write(&e.buf, e.bo, v) }
func (e *enc) u32(v uint32) { _ = binary.Write(&e.buf, e.bo, v) }

// hdr writes a tag, VR and length; length may be undefinedLength.
func (e *enc) hdr(g, el uint16, vr string, length uint32) *enc {
	e.u16(g)
	e.u16(el)
	if e.implicit || g == 0xFFFE {
		e.u32(length)
		return e
	}
	e.buf.WriteString(vr)
	if vrLong[vr] || vr == "OV" || vr == "SV" || vr == "UV" {
		e.u16(0)
		e.u32(length)
	} else {
		e.u16(uint16(length))
	}
	return e
}

// str writes a string element, padded to even length.
func (e *enc) str(g, el uint16, vr, v string) *enc {
	if len(v)%2 == 1 {
		if vr == "UI" {
			v += "\x00"
		} else {
			v += " "
		}
	}
	e.hdr(g, el, vr, uint32(len(v)))
	e.buf.WriteString(v)
	return e
}

func (e *enc) raw(b []byte) *enc { e.buf.Write(b); return e }

func (e *enc) item(length uint32) *enc         { return e.hdr(0xFFFE, 0xE000, "", length) }
func (e *enc) itemEnd() *enc                   { return e.hdr(0xFFFE, 0xE00D, "", 0) }
func (e *enc) seqEnd() *enc                    { return e.hdr(0xFFFE, 0xE0DD, "", 0) }
func (e *enc) bytes() []byte                   { return append([]byte(nil), e.buf.Bytes()...) }
func (e *enc) seq(g, el uint16, l uint32) *enc { return e.hdr(g, el, "SQ", l) }

const (
	sopUID   = "1.2.3.4.5.6.7.8"
	studyUID = "1.2.3.4.5"
)

// part10 wraps a dataset in a preamble and a file meta group.
func part10(ts string, ds []byte) []byte {
	m := newEnc(binary.LittleEndian, false)
	m.hdr(0x0002, 0x0001, "OB", 2).raw([]byte{0, 1})
	m.str(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.6.1")
	m.str(0x0002, 0x0003, "UI", sopUID)
	if ts != "" {
		m.str(0x0002, 0x0010, "UI", ts)
	}
	meta := m.bytes()
	out := make([]byte, 128, 128+4+12+len(meta)+len(ds))
	out = append(out, "DICM"...)
	gl := newEnc(binary.LittleEndian, false)
	gl.hdr(0x0002, 0x0000, "UL", 4).u32(uint32(len(meta)))
	out = append(out, gl.bytes()...)
	out = append(out, meta...)
	return append(out, ds...)
}

// minimal returns the start of a dataset with the UIDs the store needs.
func minimal(bo binary.ByteOrder, implicit bool) *enc {
	e := newEnc(bo, implicit)
	e.str(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.6.1")
	e.str(0x0008, 0x0018, "UI", sopUID)
	e.str(0x0010, 0x0010, "PN", "Doe^Jane")
	e.str(0x0020, 0x000D, "UI", studyUID)
	return e
}

func check(b []byte, depth int) error {
	return Check(bytes.NewReader(b), int64(len(b)), Limits{MaxDepth: depth})
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.dcm")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckCrafted(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	const explicitLEUID, implicitLEUID, explicitBEUID = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"

	nested := func(n int, defined bool) []byte {
		e := minimal(le, false)
		for i := 0; i < n; i++ {
			e.seq(0x0040, 0xA730, undefinedLength).item(undefinedLength)
		}
		for i := 0; i < n; i++ {
			e.itemEnd().seqEnd()
		}
		return e.bytes()
	}
	encaps := func(withBOT bool, fragLen uint32, fragData int) []byte {
		e := minimal(le, false)
		e.hdr(0x7FE0, 0x0010, "OB", undefinedLength)
		if withBOT {
			e.item(0)
		}
		e.item(fragLen).raw(make([]byte, fragData))
		return e.seqEnd().bytes()
	}

	cases := []struct {
		name  string
		file  []byte
		depth int
		want  string // "" = valid; else a substring of the error
	}{
		{"explicit LE", part10(explicitLEUID, minimal(le, false).hdr(0x7FE0, 0x0010, "OW", 4).raw(make([]byte, 4)).bytes()), 0, ""},
		{"implicit LE", part10(implicitLEUID, minimal(le, true).hdr(0x7FE0, 0x0010, "", 4).raw(make([]byte, 4)).bytes()), 0, ""},
		{"explicit BE", part10(explicitBEUID, minimal(be, false).hdr(0x0028, 0x0010, "US", 2).raw([]byte{0, 4}).bytes()), 0, ""},
		{"pixel data too long", part10(explicitLEUID, minimal(le, false).hdr(0x7FE0, 0x0010, "OW", 4294967294).raw(make([]byte, 900)).bytes()), 0,
			"element (7FE0,0010) declares 4294967294 bytes at offset"},
		{"string too long", part10(explicitLEUID, minimal(le, false).hdr(0x0010, 0x0020, "LO", 0x8000).raw([]byte("ABCD")).bytes()), 0,
			"element (0010,0020) declares 32768 bytes"},
		{"implicit too long", part10(implicitLEUID, minimal(le, true).hdr(0x0009, 0x1010, "", 0x7FFFFFF0).raw([]byte("ABCD")).bytes()), 0,
			"element (0009,1010) declares 2147483632 bytes"},
		{"truncated header", part10(explicitLEUID, append(minimal(le, false).bytes(), 0x10, 0, 0x10)), 0, "file ends at offset"},
		{"undefined length string", part10(explicitLEUID, minimal(le, false).hdr(0x0010, 0x0020, "LO", 0xFFFF).bytes()), 0, "undefined length"},
		{"undefined length date", part10(implicitLEUID, minimal(le, true).hdr(0x0008, 0x0020, "", undefinedLength).bytes()), 0, "undefined length"},
		{"nested ok", part10(explicitLEUID, nested(5, false)), 5, ""},
		{"nested too deep", part10(explicitLEUID, nested(6, false)), 5, "nests deeper than 5"},
		{"very deep within a huge limit", part10(explicitLEUID, nested(200000, false)), 1 << 30, ""},
		{"sequence without delimiter", part10(explicitLEUID, minimal(le, false).seq(0x0040, 0xA730, undefinedLength).item(0).bytes()), 0, "no delimiter"},
		{"item without delimiter", part10(explicitLEUID, minimal(le, false).seq(0x0040, 0xA730, undefinedLength).item(undefinedLength).str(0x0008, 0x0100, "SH", "X").bytes()), 0, "no delimiter"},
		{"defined item overruns sequence", part10(explicitLEUID, minimal(le, false).seq(0x0040, 0xA730, 16).item(100).raw(make([]byte, 200)).bytes()), 0,
			"item of sequence (0040,A730) declares 100 bytes"},
		{"element crosses item end", part10(explicitLEUID, minimal(le, false).seq(0x0040, 0xA730, 8+8+4).item(10).str(0x0008, 0x0100, "SH", "ABCD").bytes()), 0,
			"element (0008,0100) declares 4 bytes"},
		{"non-item in defined sequence", part10(explicitLEUID, minimal(le, false).seq(0x0040, 0xA730, 12).str(0x0008, 0x0100, "SH", "ABCD").bytes()), 0,
			"expected an item"},
		{"delimiter with length", part10(explicitLEUID, minimal(le, false).seq(0x0040, 0xA730, undefinedLength).hdr(0xFFFE, 0xE0DD, "", 4).bytes()), 0, "must be 0"},
		{"stray item delimiter", part10(explicitLEUID, minimal(le, false).itemEnd().bytes()), 0, "unexpected item delimiter"},
		{"stray defined item", part10(explicitLEUID, minimal(le, false).item(12).str(0x0008, 0x0100, "SH", "ABCD").bytes()), 0, ""},
		{"encapsulated ok", part10("1.2.840.10008.1.2.4.50", encaps(true, 6, 6)), 0, ""},
		{"encapsulated no offset table", part10("1.2.840.10008.1.2.4.50", minimal(le, false).hdr(0x7FE0, 0x0010, "OB", undefinedLength).seqEnd().bytes()), 0, "no basic offset table"},
		{"fragment too long", part10("1.2.840.10008.1.2.4.50", encaps(true, 0xFFFFFF00, 6)), 0, "declares 4294967040 bytes"},
		{"fragment undefined", part10("1.2.840.10008.1.2.4.50", encaps(true, undefinedLength, 0)), 0, "undefined length"},
		{"fragment missing delimiter", part10("1.2.840.10008.1.2.4.50", minimal(le, false).hdr(0x7FE0, 0x0010, "OB", undefinedLength).item(0).item(2).raw([]byte{1, 2}).bytes()), 0, "no delimiter"},
		{"unknown VR", part10(explicitLEUID, minimal(le, false).raw([]byte{0x10, 0, 0x20, 0, 'z', 'z', 2, 0, 'A', 'B'}).bytes()), 0, "unknown VR"},
		{"deflate", part10(deflatedUID, deflate(t, minimal(le, false).bytes())), 0, ""},
		{"deflate not deflated", part10(deflatedUID, minimal(le, false).bytes()), 0, "deflated data set"},
		{"deflate truncated", part10(deflatedUID, deflate(t, minimal(le, false).bytes())[:20]), 0, "deflated data set ends early"},
		{"deflate inner length", part10(deflatedUID, deflate(t, minimal(le, false).hdr(0x0010, 0x0020, "LO", 200).bytes())), 0, "declares 200 bytes"},
		{"HTJ2K encapsulated", part10("1.2.840.10008.1.2.4.201", encaps(true, 6, 6)), 0, ""},
		{"HTJ2K native", part10("1.2.840.10008.1.2.4.203", minimal(le, false).hdr(0x7FE0, 0x0010, "OW", 4).raw(make([]byte, 4)).bytes()), 0, "is native"},
		{"unknown transfer syntax", part10("1.2.3.999", minimal(le, false).bytes()), 0, "unsupported transfer syntax"},
		{"no preamble, no meta, implicit", minimal(le, true).hdr(0x7FE0, 0x0010, "", 4).raw(make([]byte, 4)).bytes(), 0, ""},
		{"no preamble, no meta, explicit", minimal(le, false).bytes(), 0, ""},
		{"empty", nil, 0, "empty file"},
		{"garbage", []byte("this is not a DICOM file at all, honestly"), 0, "no transfer syntax"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check(c.file, c.depth)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got nil", c.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestCheckErrorNamesWhatAndWhere(t *testing.T) {
	body := minimal(binary.LittleEndian, false).hdr(0x7FE0, 0x0010, "OW", 4294967294).raw(make([]byte, 900)).bytes()
	f := part10("1.2.840.10008.1.2.1", body)
	pixOff := len(f) - 900 - 12
	err := check(f, 0)
	want := "element (7FE0,0010) declares 4294967294 bytes at offset " + strconv.Itoa(pixOff) + ", only 900 remain"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// Headers the library cannot take as they are are rebuilt by Read.
func TestReadRebuildsHeaders(t *testing.T) {
	le := binary.LittleEndian
	withPix := func(implicit bool) []byte {
		return minimal(le, implicit).hdr(0x7FE0, 0x0010, "OW", 4).raw([]byte{1, 2, 3, 4}).bytes()
	}
	wrongLen := part10("1.2.840.10008.1.2.1", withPix(false))
	binary.LittleEndian.PutUint32(wrongLen[140:], binary.LittleEndian.Uint32(wrongLen[140:])-16)
	noMetaImplicit := withPix(true)
	noPreamble := part10("1.2.840.10008.1.2", withPix(true))[132:]
	cases := map[string][]byte{
		"wrong group length":     wrongLen,
		"no meta, implicit":      noMetaImplicit,
		"no preamble, with meta": noPreamble,
		"no transfer syntax":     part10("", withPix(false)),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeTemp(t, b)
			ds, err := ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := String(ds, tag.SOPInstanceUID); got != sopUID {
				t.Errorf("SOP Instance UID %q, want %q", got, sopUID)
			}
			if got := String(ds, tag.PatientName); got != "Doe^Jane" {
				t.Errorf("PatientName %q", got)
			}
			pe, err := ds.FindElementByTag(tag.PixelData)
			if err != nil {
				t.Fatal(err)
			}
			if pe.ValueLength != 4 {
				t.Errorf("pixel data length %d", pe.ValueLength)
			}
			if _, err := ReadHeader(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSamplesParse(t *testing.T) {
	for _, p := range testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset") {
		t.Run(filepath.Base(p), func(t *testing.T) {
			for _, headerOnly := range []bool{true, false} {
				ds, err := Read(p, Limits{}, headerOnly)
				if err != nil {
					t.Fatalf("headerOnly=%v: %v", headerOnly, err)
				}
				if String(ds, tag.SOPInstanceUID) == "" || String(ds, tag.StudyInstanceUID) == "" {
					t.Errorf("missing UIDs")
				}
			}
		})
	}
}

// Every odd file parses or fails with ErrInvalid, never panics, and never
// makes the parser allocate much more than the file.
func TestOddFiles(t *testing.T) {
	want := map[string]string{ // "" = parses; else a substring of the error
		"cornerstone3D__no-meta-length-test.dcm":                           "",
		"debian-pydicom__MR_truncated.dcm":                                 "element (7FE0,0010) declares 8192 bytes",
		"fodicom__GH177_D_CLUNIE_CT1_IVRLE_BigEndian_undefined_length.dcm": "expected an item",
		"orthanc__2017-06-27-XSSInjection.dcm":                             "",
		"orthanc__2026-05-06-Deeply-Nested-Sequence.dcm":                   "nests deeper than 32",
		"orthanc__2026-05-26-oob-monochrome-46341.dcm":                     "",
		"orthanc__2026-05-26-oob-monochrome-65535.dcm":                     "",
		"orthanc__UnknownSopClassUid.dcm":                                  "",
	}
	for _, p := range testenv.SampleFiles(t, "odd") {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			exp, known := want[name]
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, headerOnly := range []bool{true, false} {
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				ds, err := Read(p, Limits{}, headerOnly)
				runtime.ReadMemStats(&m1)
				alloc := m1.TotalAlloc - m0.TotalAlloc
				// 2× the file plus a fixed allowance for buffers and the
				// element structs of a small header.
				if limit := 2*uint64(st.Size()) + 256<<10; alloc > limit {
					t.Errorf("headerOnly=%v: allocated %d bytes for a %d-byte file (limit %d)", headerOnly, alloc, st.Size(), limit)
				}
				t.Logf("headerOnly=%v: allocated %d bytes for %d; err=%v", headerOnly, alloc, st.Size(), err)
				if err != nil && !errors.Is(err, ErrInvalid) {
					t.Fatalf("error does not wrap ErrInvalid: %v", err)
				}
				if !known {
					continue // a new odd file: only the invariants above
				}
				if exp == "" && err != nil {
					t.Fatalf("want parse, got %v", err)
				}
				if exp != "" && (err == nil || !strings.Contains(err.Error(), exp)) {
					t.Fatalf("want error containing %q, got %v (ds=%v)", exp, err, ds != nil)
				}
			}
		})
	}
}

func TestCheckIsIterative(t *testing.T) {
	p := testenv.SampleFiles(t, "odd")[0]
	dir := filepath.Dir(p)
	f, err := os.Open(filepath.Join(dir, "orthanc__2026-05-06-Deeply-Nested-Sequence.dcm"))
	if err != nil {
		t.Skip("deeply nested sample missing:", err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	err = Check(f, st.Size(), Limits{MaxDepth: 1 << 30})
	runtime.ReadMemStats(&m1)
	t.Logf("Check with no depth limit: %v; allocated %d bytes", err, m1.TotalAlloc-m0.TotalAlloc)
	if err != nil {
		t.Errorf("with no depth limit the deeply nested sample is structurally valid, got %v", err)
	}
	// The walk keeps one small frame per open level on the heap, never on
	// the goroutine stack: memory grows with the depth, bounded by the file.
	if a := m1.TotalAlloc - m0.TotalAlloc; a > 24*uint64(st.Size()) {
		t.Errorf("Check allocated %d bytes walking a %d-byte file", a, st.Size())
	}
}

func FuzzCheck(f *testing.F) {
	le := binary.LittleEndian
	f.Add(part10("1.2.840.10008.1.2.1", minimal(le, false).hdr(0x7FE0, 0x0010, "OW", 4).raw(make([]byte, 4)).bytes()))
	f.Add(part10("1.2.840.10008.1.2", minimal(le, true).seq(0x0040, 0xA730, undefinedLength).item(undefinedLength).itemEnd().seqEnd().bytes()))
	f.Add(part10("1.2.840.10008.1.2.4.50", minimal(le, false).hdr(0x7FE0, 0x0010, "OB", undefinedLength).item(0).item(2).raw([]byte{1, 2}).seqEnd().bytes()))
	f.Add(part10("1.2.840.10008.1.2.2", minimal(binary.BigEndian, false).seq(0x0040, 0xA730, 8).item(0).bytes()))
	f.Add(minimal(le, true).bytes())
	f.Add(part10(deflatedUID, deflate(f, minimal(le, false).seq(0x0040, 0xA730, undefinedLength).item(undefinedLength).itemEnd().seqEnd().bytes())))
	f.Add(part10(deflatedUID, deflate(f, make([]byte, 4<<20)))) // inflates past the fuzz limit
	f.Add(part10("1.2.840.10008.1.2.4.202", minimal(le, false).hdr(0x7FE0, 0x0010, "OB", undefinedLength).item(0).item(2).raw([]byte{1, 2}).seqEnd().bytes()))
	if root := samplesDir(); root != "" {
		for _, g := range []string{"odd", "sr", "charset", "sc", "pdf", "us"} {
			m, _ := filepath.Glob(filepath.Join(root, g, "*.dcm"))
			for _, p := range m {
				if st, err := os.Stat(p); err == nil && st.Size() <= 12<<10 {
					if b, err := os.ReadFile(p); err == nil {
						f.Add(b)
					}
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxDepth: 8, MaxInflated: 1 << 20}
		err := Check(bytes.NewReader(b), int64(len(b)), lim)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		// What passes Check must parse without the library allocating far
		// more than the input (ints are held as 8-byte values: 4× an
		// element's length at most) and without panicking.
		// MemStats stop the world; sample every 64th input to keep the
		// fuzzer fast.
		sample := fuzzCount.Add(1)%64 == 0
		var m0, m1 runtime.MemStats
		if sample {
			runtime.ReadMemStats(&m0)
		}
		_, perr := parse(bytes.NewReader(b), int64(len(b)), lim, false)
		if perr != nil && strings.Contains(perr.Error(), "parser failed") {
			t.Fatalf("parser panicked on a checked input: %v", perr)
		}
		if sample {
			runtime.ReadMemStats(&m1)
			bound := 8*uint64(len(b)) + 1<<20
			if bytes.Contains(b, []byte(deflatedUID)) {
				// The inflated data set, up to lim.MaxInflated, is what
				// the parser reads (and the buffer that holds it grows).
				bound += 8 * 2 * uint64(lim.MaxInflated)
			}
			if a := m1.TotalAlloc - m0.TotalAlloc; a > bound {
				t.Fatalf("parsing a checked %d-byte input allocated %d bytes", len(b), a)
			}
		}
	})
}

var fuzzCount atomic.Int64

// samplesDir finds the shared samples without skipping (fuzz seeds are
// optional).
func samplesDir() string {
	if d := os.Getenv("SONOLINK_SAMPLES"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for {
		c := filepath.Join(dir, "shared", "dicom-samples")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		p := filepath.Dir(dir)
		if p == dir {
			return ""
		}
		dir = p
	}
}
