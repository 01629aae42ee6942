package pixels

import (
	"encoding/binary"
	"errors"
	"image"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

type synth struct {
	rows, cols, spp, bits, stored int
	signed                        bool
	planar                        int
	photometric, ts               string
	frames                        int
	extra                         []*dicom.Element
}

func mustEl(t *testing.T, tg tag.Tag, v any) *dicom.Element {
	t.Helper()
	e, err := dicom.NewElement(tg, v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// build makes a dataset with file meta and the given native or
// encapsulated pixel data.
func (s synth) build(t *testing.T, pd dicom.PixelDataInfo) *dicom.Dataset {
	t.Helper()
	if s.ts == "" {
		s.ts = tsExplicitLE
	}
	if s.stored == 0 {
		s.stored = s.bits
	}
	pr := 0
	if s.signed {
		pr = 1
	}
	els := []*dicom.Element{
		mustEl(t, tag.MediaStorageSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.7"}),
		mustEl(t, tag.MediaStorageSOPInstanceUID, []string{"2.25.1"}),
		mustEl(t, tag.TransferSyntaxUID, []string{s.ts}),
		mustEl(t, tag.SOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.7"}),
		mustEl(t, tag.SOPInstanceUID, []string{"2.25.1"}),
		mustEl(t, tag.SamplesPerPixel, []int{s.spp}),
		mustEl(t, tag.PhotometricInterpretation, []string{s.photometric}),
		mustEl(t, tag.Rows, []int{s.rows}),
		mustEl(t, tag.Columns, []int{s.cols}),
		mustEl(t, tag.BitsAllocated, []int{s.bits}),
		mustEl(t, tag.BitsStored, []int{s.stored}),
		mustEl(t, tag.HighBit, []int{s.stored - 1}),
		mustEl(t, tag.PixelRepresentation, []int{pr}),
	}
	if s.spp == 3 {
		els = append(els, mustEl(t, tag.PlanarConfiguration, []int{s.planar}))
	}
	if s.frames > 1 {
		els = append(els, mustEl(t, tag.NumberOfFrames, []string{itoa(s.frames)}))
	}
	els = append(els, s.extra...)
	pe := mustEl(t, tag.PixelData, pd)
	if pd.IsEncapsulated {
		pe.ValueLength = tag.VLUndefinedLength
		pe.RawValueRepresentation = "OB"
	} else {
		pe.RawValueRepresentation = "OW"
		pe.ValueLength = uint32(len(pd.UnprocessedValueData))
	}
	els = append(els, pe)
	return &dicom.Dataset{Elements: els}
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func native(b []byte) dicom.PixelDataInfo {
	return dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: b}
}

var keepCentre = []image.Rectangle{image.Rect(2, 1, 5, 3)} // x 2..4, y 1..2 of an 8×4 image

func TestCleanSynthetic16BitSigned(t *testing.T) {
	s := synth{rows: 4, cols: 8, spp: 1, bits: 16, stored: 12, signed: true, photometric: "MONOCHROME2", frames: 2}
	data := make([]byte, 2*4*8*2)
	for i := 0; i < len(data)/2; i++ {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(100+i))
	}
	ds := s.build(t, native(data))
	if err := Clean(ds, keepCentre); err != nil {
		t.Fatal(err)
	}
	back := writeAndReread(t, ds)
	src, err := open(back)
	if err != nil {
		t.Fatal(err)
	}
	mask := keepMask(8, 4, keepCentre)
	for f := 0; f < 2; f++ {
		fd, _ := src.frameData(f)
		for p := 0; p < 32; p++ {
			got := binary.LittleEndian.Uint16(fd[2*p:])
			want := uint16(100 + f*32 + p)
			if !mask[p] {
				want = 0xF800 // −2048 in 12 bits, sign-extended to 16
			}
			if got != want {
				t.Fatalf("frame %d pixel %d = %#x, want %#x", f, p, got, want)
			}
		}
	}
	// Rendering: the blacked-out pixels are the darkest.
	img, err := Frame(back, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g := img.(*image.Gray); g.Pix[0] != 0 {
		t.Fatalf("outside pixel renders as %d, want 0", g.Pix[0])
	}
}

func TestCleanSyntheticPalette(t *testing.T) {
	// Entry 0 is bright; entry 7 is black: black must be stored value 7.
	lut := func(vals ...uint16) []byte {
		b := make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
		return b
	}
	r := lut(0xFFFF, 0x8000, 0x8000, 0x8000, 0x4000, 0x4000, 0x2000, 0x0000)
	extra := []*dicom.Element{
		mustEl(t, paletteDescriptor[0], []int{8, 0, 16}),
		mustEl(t, paletteDescriptor[1], []int{8, 0, 16}),
		mustEl(t, paletteDescriptor[2], []int{8, 0, 16}),
		mustEl(t, paletteData[0], r), mustEl(t, paletteData[1], r), mustEl(t, paletteData[2], r),
	}
	for _, e := range extra[3:] {
		e.RawValueRepresentation = "OW"
	}
	s := synth{rows: 4, cols: 8, spp: 1, bits: 8, photometric: "PALETTE COLOR", extra: extra}
	data := make([]byte, 32)
	for i := range data {
		data[i] = byte(i % 7)
	}
	ds := s.build(t, native(data))
	if err := Clean(ds, keepCentre); err != nil {
		t.Fatal(err)
	}
	back := writeAndReread(t, ds)
	img, err := Frame(back, 0)
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	mask := keepMask(8, 4, keepCentre)
	for p := 0; p < 32; p++ {
		px := rgba.Pix[4*p : 4*p+3]
		if !mask[p] && (px[0] != 0 || px[1] != 0 || px[2] != 0) {
			t.Fatalf("outside pixel %d renders %v, want black", p, px)
		}
		if mask[p] && px[0] != uint8(binaryLUT(r, p%7)>>8) {
			t.Fatalf("inside pixel %d changed", p)
		}
	}
}

func binaryLUT(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }

func TestCleanSyntheticColourLayouts(t *testing.T) {
	mask := keepMask(8, 4, keepCentre)
	t.Run("RGB planar 1 big endian", func(t *testing.T) {
		s := synth{rows: 4, cols: 8, spp: 3, bits: 8, planar: 1, photometric: "RGB", ts: tsExplicitBE}
		data := make([]byte, 96)
		for i := range data {
			data[i] = byte(1 + i)
		}
		ds := s.build(t, native(data))
		if err := Clean(ds, keepCentre); err != nil {
			t.Fatal(err)
		}
		src, _ := open(ds)
		out := src.native
		for c := 0; c < 3; c++ {
			for p := 0; p < 32; p++ {
				k := (c*32 + p) ^ 1 // OW in big endian: bytes swapped in pairs
				want := byte(1 + k)
				if !mask[p] {
					want = 0
				}
				if out[k] != want {
					t.Fatalf("plane %d pixel %d = %d, want %d", c, p, out[k], want)
				}
			}
		}
		if err := ToLittleEndian(ds); err != nil {
			t.Fatal(err)
		}
		if strOf(ds, tag.TransferSyntaxUID) != tsExplicitLE {
			t.Fatal("transfer syntax not updated")
		}
	})
	t.Run("YBR_FULL_422 straddling pairs", func(t *testing.T) {
		s := synth{rows: 4, cols: 8, spp: 3, bits: 8, photometric: "YBR_FULL_422"}
		data := make([]byte, 64)
		for i := range data {
			data[i] = byte(200 - i)
		}
		orig := append([]byte(nil), data...)
		ds := s.build(t, native(data))
		if err := Clean(ds, keepCentre); err != nil {
			t.Fatal(err)
		}
		src, _ := open(ds)
		out := src.native
		for p := 0; p < 32; p += 2 {
			a, b := mask[p], mask[p+1]
			k := 2 * p
			switch {
			case !a && !b:
				if out[k] != 0 || out[k+1] != 0 || out[k+2] != 128 || out[k+3] != 128 {
					t.Fatalf("pair %d not black: %v", p, out[k:k+4])
				}
			case a && b:
				if string(out[k:k+4]) != string(orig[k:k+4]) {
					t.Fatalf("pair %d changed", p)
				}
			default: // straddling: x=1|2 or x=4|5
				in, outside := k, k+1
				if !a {
					in, outside = k+1, k
				}
				if out[outside] != 0 || out[in] != orig[in] || out[k+2] != orig[k+2] || out[k+3] != orig[k+3] {
					t.Fatalf("straddling pair %d: %v (was %v)", p, out[k:k+4], orig[k:k+4])
				}
			}
		}
	})
	t.Run("RLE 16-bit round trip", func(t *testing.T) {
		r := newRaster(8, 4, 3, true)
		for i := range r.Pix {
			r.Pix[i] = uint16(i * 977)
		}
		enc := encodeRLE(r, 2)
		in := &Info{Rows: 4, Columns: 8, SamplesPerPixel: 3, BitsAllocated: 16}
		got, err := decodeRLE(enc, in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range r.Pix {
			if got.Pix[i] != r.Pix[i] {
				t.Fatalf("sample %d: %d != %d", i, got.Pix[i], r.Pix[i])
			}
		}
		// Through Clean and the DICOM writer.
		s := synth{rows: 4, cols: 8, spp: 3, bits: 16, photometric: "RGB", ts: tsRLE}
		ds := s.build(t, dicom.PixelDataInfo{IsEncapsulated: true, Frames: []*frame.Frame{{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: enc}}}})
		if err := Clean(ds, keepCentre); err != nil {
			t.Fatal(err)
		}
		back := writeAndReread(t, ds)
		sb, err := open(back)
		if err != nil {
			t.Fatal(err)
		}
		d, err := sb.decode(0)
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < 32; p++ {
			for c := 0; c < 3; c++ {
				want := r.Pix[3*p+c]
				if !mask[p] {
					want = 0
				}
				if d.r.Pix[3*p+c] != want {
					t.Fatalf("pixel %d sample %d = %d, want %d", p, c, d.r.Pix[3*p+c], want)
				}
			}
		}
	})
}

func TestHostileSizesRefused(t *testing.T) {
	for _, dims := range [][2]int{{65535, 65535}, {4000, 4000}} {
		s := synth{rows: dims[0], cols: dims[1], spp: 1, bits: 16, photometric: "MONOCHROME2"}
		ds := s.build(t, native(make([]byte, 900)))
		if _, err := Frame(ds, 0); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: Frame = %v, want ErrUnsupported", dims, err)
		}
		if err := Clean(ds, nil); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: Clean = %v, want ErrUnsupported", dims, err)
		}
		if NumFrames(ds) != 0 {
			t.Errorf("%v: NumFrames != 0", dims)
		}
	}
	// RLE declaring far more pixels than its segments can hold.
	s := synth{rows: 4000, cols: 4000, spp: 1, bits: 8, photometric: "MONOCHROME2", ts: tsRLE}
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, 1)
	binary.LittleEndian.PutUint32(hdr[4:], 64)
	hdr = append(hdr, 0x81, 0)
	ds := s.build(t, dicom.PixelDataInfo{IsEncapsulated: true, Frames: []*frame.Frame{{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: hdr}}}})
	if _, err := Frame(ds, 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("RLE bomb: Frame = %v, want ErrUnsupported", err)
	}
}

func TestRegionsClampAndInclusive(t *testing.T) {
	item := func(x0, y0, x1, y1 int) []*dicom.Element {
		return []*dicom.Element{
			mustEl(t, tagMinX0, []int{x0}), mustEl(t, tagMinY0, []int{y0}),
			mustEl(t, tagMaxX1, []int{x1}), mustEl(t, tagMaxY1, []int{y1}),
		}
	}
	seq := mustEl(t, tagUSRegions, [][]*dicom.Element{item(10, 20, 29, 39), item(0, 0, 5000, 5), item(50, 50, 40, 60), item(12, 22, 20, 30)})
	ds := &dicom.Dataset{Elements: []*dicom.Element{mustEl(t, tag.Rows, []int{100}), mustEl(t, tag.Columns, []int{200}), seq}}
	got, err := Regions(ds)
	if err != nil {
		t.Fatal(err)
	}
	want := []image.Rectangle{image.Rect(10, 20, 30, 40), image.Rect(0, 0, 200, 6)}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Regions = %v, want %v", got, want)
	}
	none, err := Regions(&dicom.Dataset{})
	if none != nil || err != nil {
		t.Fatalf("no regions: %v, %v", none, err)
	}
}
