package pixels

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
)

// Ultrasound region tags (PS3.3 C.8.5.5).
var (
	tagUSRegions = tag.Tag{Group: 0x0018, Element: 0x6011}
	tagMinX0     = tag.Tag{Group: 0x0018, Element: 0x6018}
	tagMinY0     = tag.Tag{Group: 0x0018, Element: 0x601A}
	tagMaxX1     = tag.Tag{Group: 0x0018, Element: 0x601C}
	tagMaxY1     = tag.Tag{Group: 0x0018, Element: 0x601E}
)

// Regions returns the rectangles of the Sequence of Ultrasound Regions
// (0018,6011) — whose union is the area to keep — clamped to the image
// (Region Location Max X1/Y1 are inclusive, so a region is
// image.Rect(X0, Y0, X1+1, Y1+1)). Empty or degenerate rectangles, and
// rectangles inside another one, are dropped. No regions: nil, nil.
func Regions(ds *dicom.Dataset) ([]image.Rectangle, error) {
	el, err := ds.FindElementByTag(tagUSRegions)
	if err != nil || el.Value == nil {
		return nil, nil
	}
	items, ok := el.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok || len(items) == 0 {
		return nil, nil
	}
	rows, cols := dicomfile.Int(ds, tag.Rows, 0), dicomfile.Int(ds, tag.Columns, 0)
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("%w: ultrasound regions without image dimensions", ErrUnsupported)
	}
	bounds := image.Rect(0, 0, cols, rows)
	var rects []image.Rectangle
	for _, it := range items {
		elems, _ := it.GetValue().([]*dicom.Element)
		sub := &dicom.Dataset{Elements: elems}
		x0, y0 := dicomfile.Int(sub, tagMinX0, -1), dicomfile.Int(sub, tagMinY0, -1)
		x1, y1 := dicomfile.Int(sub, tagMaxX1, -1), dicomfile.Int(sub, tagMaxY1, -1)
		if x0 < 0 || y0 < 0 || x1 < x0 || y1 < y0 {
			continue
		}
		r := image.Rect(x0, y0, x1+1, y1+1).Intersect(bounds)
		if !r.Empty() {
			rects = append(rects, r)
		}
	}
	return dropContained(rects), nil
}

func dropContained(rects []image.Rectangle) []image.Rectangle {
	var out []image.Rectangle
	for i, r := range rects {
		inside := false
		for j, o := range rects {
			if i != j && r.In(o) && (r != o || j < i) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, r)
		}
	}
	return out
}

// keepMask marks the pixels inside the union of keep (row-major).
func keepMask(w, h int, keep []image.Rectangle) []bool {
	m := make([]bool, w*h)
	b := image.Rect(0, 0, w, h)
	for _, r := range keep {
		r = r.Intersect(b)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m[y*w : (y+1)*w]
			for x := r.Min.X; x < r.Max.X; x++ {
				row[x] = true
			}
		}
	}
	return m
}

// JPEGQuality is the quality a cleaned JPEG Baseline frame is re-encoded at.
const JPEGQuality = 95

// JPEGLeakMax bounds what a re-encoded JPEG frame may show outside the kept
// area after decoding (max over R, G, B, 0–255): 16×16 blocks that lie wholly
// outside decode to exact black; blocks straddling a region edge can ring,
// carrying a faint echo of the kept content (never of the removed content).
const JPEGLeakMax = 48

// Clean blacks out every pixel outside the union of keep, in every frame,
// and replaces the Pixel Data element of ds (the original bytes are not
// modified). Errors wrap ErrUnsupported when the encoding cannot be
// rewritten; on error ds is unchanged.
//
// "Black" is, per photometric interpretation: the lowest stored value for
// MONOCHROME2 (0 unsigned, −2^(BitsStored−1) signed), the highest for
// MONOCHROME1, 0/0/0 for RGB, Y=0 with neutral chroma (Cb=Cr=2^(BitsStored−1))
// for YBR_FULL, and for PALETTE COLOR the stored value whose palette entry is
// darkest (0 when entry 0 is as dark as any). Native YBR_FULL_422 stores two
// pixels' luma with one chroma pair: a pair wholly outside becomes Y=0,0 with
// neutral chroma; in a pair straddling the edge only the outside pixel's Y is
// set to 0 and the shared chroma is kept, so the inside pixel stays
// byte-identical (the outside pixel then shows at most the inside pixel's
// colour at zero luma, no outside content).
//
// Encodings: native (any byte order; data beyond the declared frames is
// zeroed), RLE Lossless (decoded, masked and re-encoded: kept pixels are
// bit-identical), JPEG Baseline 8-bit (decoded, masked and re-encoded at
// JPEGQuality with 4:2:0 chroma, Photometric Interpretation set to
// YBR_FULL_422 for colour; Lossy Image Compression set to 01; each result is
// decoded again and checked against JPEGLeakMax), and JPEG Lossless Process
// 14, any predictor (decoded, masked and re-encoded as Selection Value 1 with
// the frame's precision and components; each result is decoded again and
// must equal the masked frame bit for bit, so kept pixels are unchanged).
// JPEG 2000 and HTJ2K, JPEG-LS and JPEG DCT frames of more than 8 bits are
// decoded, masked and re-encoded as JPEG Lossless Selection Value 1 with
// BitsStored precision (checked bit for bit as above): the Transfer Syntax
// UID becomes 1.2.840.10008.1.2.4.70, YBR_RCT and YBR_ICT (decoded to RGB)
// become RGB, YBR_FULL_422 becomes YBR_FULL, Planar Configuration 0; a
// JPEG DCT source sets Lossy Image Compression to 01. Everything else is
// refused with ErrUnsupported.
func Clean(ds *dicom.Dataset, keep []image.Rectangle) error {
	v, err := CleanValue(ds, nil, keep)
	if err != nil {
		return err
	}
	return v.replace()
}

// CleanValue is Clean for pixel data read through ref (nil: the value of
// the dataset's Pixel Data element), without holding it in memory: it
// checks and prepares everything up front and returns the cleaned value,
// which Value.WriteTo produces frame by frame (native data) or holds
// re-encoded (encapsulated data, whose fragments are read one frame at a
// time). The attributes describing the encoding are updated in ds as Clean
// does; the Pixel Data element itself is left as it is. On error ds is
// unchanged.
func CleanValue(ds *dicom.Dataset, ref *dicomfile.PixelRef, keep []image.Rectangle) (*Value, error) {
	s, err := openRef(ds, ref)
	if err != nil {
		return nil, err
	}
	in := s.info
	if s.frames < in.Frames {
		return nil, fmt.Errorf("%w: pixel data holds %d of %d declared frames", ErrUnsupported, s.frames, in.Frames)
	}
	mask := keepMask(in.Columns, in.Rows, keep)
	var frags [][]byte
	switch in.Encoding {
	case EncNative:
		return s.cleanNative(mask)
	case EncRLE:
		frags, err = s.cleanRLE(mask)
	case EncJPEGBaseline, EncJPEGLS, EncJPEG2000:
		first, ferr := s.frameData(0)
		if ferr != nil {
			return nil, ferr
		}
		if dec := rasterCodec(in, first); dec != nil {
			frags, err = s.cleanToLossless(ds, mask, dec)
			break
		}
		frags, err = s.cleanJPEG(ds, mask)
	case EncJPEGLossless:
		frags, err = s.cleanLossless(mask)
	default:
		return nil, fmt.Errorf("%w: cannot rewrite %s pixel data (transfer syntax %s)", ErrUnsupported, in.Encoding, in.TransferSyntax)
	}
	if err != nil {
		return nil, err
	}
	return s.fragmentsValue(frags), nil
}

// blackSamples returns the stored bit patterns (BitsAllocated wide, already
// shifted to the high bit) that display as black, one per sample.
func (in *Info) blackSamples() ([]uint16, error) {
	bs := in.BitsStored
	shift := uint(in.HighBit + 1 - bs)
	allocMask := uint32(1)<<uint(in.BitsAllocated) - 1
	pat := func(v int) uint16 { return uint16(uint32(int32(v)<<shift) & allocMask) }
	switch in.Photometric {
	case "MONOCHROME2":
		if in.Signed {
			return []uint16{pat(-(1 << uint(bs-1)))}, nil
		}
		return []uint16{0}, nil
	case "MONOCHROME1":
		if in.Signed {
			return []uint16{pat(1<<uint(bs-1) - 1)}, nil
		}
		return []uint16{pat(1<<uint(bs) - 1)}, nil
	case "RGB":
		return []uint16{0, 0, 0}, nil
	case "YBR_FULL", "YBR_FULL_422":
		half := pat(1 << uint(bs-1))
		return []uint16{0, half, half}, nil
	case "PALETTE COLOR":
		return []uint16{pat(in.paletteBlack())}, nil
	}
	return nil, fmt.Errorf("%w: cannot black out %s", ErrUnsupported, in.Photometric)
}

// paletteBlack is the representable stored value whose palette entry has
// the lowest luminance; 0 wins ties.
func (in *Info) paletteBlack() int {
	p := in.Palette
	lo, hi := 0, 1<<uint(in.BitsStored)-1
	if in.Signed {
		lo, hi = -(1 << uint(in.BitsStored-1)), 1<<uint(in.BitsStored-1)-1
	}
	lum := func(v int) int {
		r, g, b := p.Lookup(v)
		return 299*int(r) + 587*int(g) + 114*int(b)
	}
	best, bestLum := 0, math.MaxInt
	if 0 >= lo && 0 <= hi {
		bestLum = lum(0)
	}
	from, to := max(lo, p.First), min(hi, p.First+len(p.R)-1)
	for v := from; v <= to; v++ {
		if l := lum(v); l < bestLum {
			best, bestLum = v, l
		}
	}
	return best
}

func (s *source) cleanNative(mask []bool) (*Value, error) {
	black, err := s.info.blackSamples()
	if err != nil {
		return nil, err
	}
	n := s.nativeLen
	if n%2 != 0 {
		n++
	}
	return &Value{s: s, length: n, mask: mask, black: black}, nil
}

// maskNative blacks out the pixels of one native frame outside mask.
func (s *source) maskNative(buf []byte, mask []bool, black []uint16) {
	in := s.info
	npix := in.Columns * in.Rows
	wide := in.BitsAllocated == 16
	put := func(buf []byte, k int, v uint16) {
		if !wide {
			if s.swapped {
				k ^= 1
			}
			buf[k] = uint8(v)
			return
		}
		if s.swapped {
			buf[2*k], buf[2*k+1] = uint8(v>>8), uint8(v)
		} else {
			buf[2*k], buf[2*k+1] = uint8(v), uint8(v>>8)
		}
	}
	switch {
	case in.Photometric == "YBR_FULL_422":
		for p := 0; p+1 < npix; p += 2 {
			a, b := mask[p], mask[p+1]
			switch {
			case !a && !b:
				put(buf, 2*p, black[0])
				put(buf, 2*p+1, black[0])
				put(buf, 2*p+2, black[1])
				put(buf, 2*p+3, black[2])
			case !a:
				put(buf, 2*p, black[0])
			case !b:
				put(buf, 2*p+1, black[0])
			}
		}
	case in.SamplesPerPixel == 3 && in.Planar == 1:
		for p := 0; p < npix; p++ {
			if !mask[p] {
				for c := 0; c < 3; c++ {
					put(buf, c*npix+p, black[c])
				}
			}
		}
	default:
		spp := in.SamplesPerPixel
		for p := 0; p < npix; p++ {
			if !mask[p] {
				for c := 0; c < spp; c++ {
					put(buf, p*spp+c, black[c])
				}
			}
		}
	}
}

func (s *source) cleanRLE(mask []bool) ([][]byte, error) {
	in := s.info
	black, err := in.blackSamples()
	if err != nil {
		return nil, err
	}
	if len(black) != in.SamplesPerPixel {
		black = []uint16{black[0], black[1], black[2]}[:in.SamplesPerPixel]
	}
	frags := make([][]byte, s.frames)
	for f := 0; f < s.frames; f++ {
		data, err := s.frameData(f)
		if err != nil {
			return nil, err
		}
		r, err := decodeRLE(data, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		for p, keep := range mask {
			if !keep {
				copy(r.Pix[p*r.SPP:(p+1)*r.SPP], black)
			}
		}
		frags[f] = encodeRLE(r, in.BitsAllocated/8)
	}
	return frags, nil
}

func (s *source) cleanLossless(mask []bool) ([][]byte, error) {
	in := s.info
	frags := make([][]byte, s.frames)
	for f := 0; f < s.frames; f++ {
		data, err := s.frameData(f)
		if err != nil {
			return nil, err
		}
		hdr, err := readSOF3(data)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		r, err := decodeLossless(data, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		black, err := in.losslessBlack(hdr.precision)
		if err != nil {
			return nil, err
		}
		for p, keep := range mask {
			if !keep {
				copy(r.Pix[p*r.SPP:(p+1)*r.SPP], black)
			}
		}
		enc, err := encodeLossless(r, hdr.precision, hdr.ids)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		back, err := decodeLossless(enc, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: re-encoded JPEG lossless does not decode: %w", f, err)
		}
		for k, v := range back.Pix {
			if v != r.Pix[k] {
				return nil, fmt.Errorf("frame %d: re-encoded JPEG lossless differs at sample %d (%d, want %d)", f, k, v, r.Pix[k])
			}
		}
		frags[f] = enc
	}
	return frags, nil
}

// losslessBlack is blackSamples for decoded JPEG lossless samples, which
// hold the stored value in their low bits (no high-bit shift), limited to
// the codestream's precision.
func (in *Info) losslessBlack(precision int) ([]uint16, error) {
	low := *in
	low.BitsAllocated = 16
	low.HighBit = in.BitsStored - 1
	black, err := low.blackSamples()
	if err != nil {
		return nil, err
	}
	m := uint16(1<<uint(precision) - 1)
	out := make([]uint16, in.SamplesPerPixel)
	for c := range out {
		out[c] = black[min(c, len(black)-1)] & m
	}
	return out, nil
}

func (s *source) cleanJPEG(ds *dicom.Dataset, mask []bool) ([][]byte, error) {
	in := s.info
	if in.BitsAllocated != 8 {
		return nil, fmt.Errorf("%w: JPEG with %d bits allocated", ErrUnsupported, in.BitsAllocated)
	}
	frags := make([][]byte, s.frames)
	colour := false
	for f := 0; f < s.frames; f++ {
		data, err := s.frameData(f)
		if err != nil {
			return nil, err
		}
		img, err := decodeJPEG(data, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		var masked image.Image
		switch m := img.(type) {
		case *image.Gray:
			if in.Photometric == "PALETTE COLOR" {
				return nil, fmt.Errorf("%w: JPEG palette colour", ErrUnsupported)
			}
			black := uint8(0)
			if in.Photometric == "MONOCHROME1" {
				black = 255
			}
			g := image.NewGray(image.Rect(0, 0, in.Columns, in.Rows))
			copy(g.Pix, m.Pix)
			for p, keep := range mask {
				if !keep {
					g.Pix[p] = black
				}
			}
			masked = g
		case *image.YCbCr:
			colour = true
			masked = maskYCbCr(m, mask)
		case *image.RGBA: // Adobe RGB stream: re-encode as YCbCr
			colour = true
			masked = maskYCbCr(rgbaToYCbCr(m), mask)
		default:
			return nil, fmt.Errorf("%w: JPEG colour model %T", ErrUnsupported, img)
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, masked, &jpeg.Options{Quality: JPEGQuality}); err != nil {
			return nil, fmt.Errorf("frame %d: re-encoding JPEG: %w", f, err)
		}
		if err := verifyJPEG(buf.Bytes(), in, mask, colour); err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		frags[f] = buf.Bytes()
	}
	if colour {
		if err := setString(ds, tag.PhotometricInterpretation, "CS", "YBR_FULL_422"); err != nil {
			return nil, err
		}
		if e, err := ds.FindElementByTag(tag.PlanarConfiguration); err == nil {
			e.Value, _ = dicom.NewValue([]int{0})
		}
	}
	return frags, setString(ds, tag.LossyImageCompression, "CS", "01")
}

// maskYCbCr copies m to full-resolution (4:4:4) YCbCr and sets the pixels
// outside the mask to Y=0, Cb=Cr=128.
func maskYCbCr(m *image.YCbCr, mask []bool) *image.YCbCr {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio444)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := y*w + x
			if !mask[p] {
				out.Y[p], out.Cb[p], out.Cr[p] = 0, 128, 128
				continue
			}
			yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
			out.Y[p], out.Cb[p], out.Cr[p] = m.Y[yi], m.Cb[ci], m.Cr[ci]
		}
	}
	return out
}

func rgbaToYCbCr(m *image.RGBA) *image.YCbCr {
	b := m.Bounds()
	out := image.NewYCbCr(image.Rect(0, 0, b.Dx(), b.Dy()), image.YCbCrSubsampleRatio444)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			o := m.PixOffset(b.Min.X+x, b.Min.Y+y)
			p := y*b.Dx() + x
			out.Y[p], out.Cb[p], out.Cr[p] = rgbToYCbCr(m.Pix[o], m.Pix[o+1], m.Pix[o+2])
		}
	}
	return out
}

func rgbToYCbCr(r, g, b uint8) (uint8, uint8, uint8) {
	fr, fg, fb := float64(r), float64(g), float64(b)
	return clamp8(0.299*fr + 0.587*fg + 0.114*fb),
		clamp8(128 - 0.168736*fr - 0.331264*fg + 0.5*fb),
		clamp8(128 + 0.5*fr - 0.418688*fg - 0.081312*fb)
}

// verifyJPEG decodes a re-encoded frame and checks that nothing outside the
// mask is brighter than JPEGLeakMax.
func verifyJPEG(data []byte, in *Info, mask []bool, colour bool) error {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("re-encoded JPEG does not decode: %w", err)
	}
	disp := jpegToDisplay(img, &Info{Photometric: map[bool]string{true: "YBR_FULL_422", false: in.Photometric}[colour]})
	worst := leakOutside(disp, mask)
	if in.Photometric == "MONOCHROME1" {
		worst = 0 // inverted: checked as white below
		g := disp.(*image.Gray)
		for p, keep := range mask {
			if !keep && 255-int(g.Pix[p]) > worst {
				worst = 255 - int(g.Pix[p])
			}
		}
	}
	if worst > JPEGLeakMax {
		return fmt.Errorf("%w: re-encoded JPEG shows %d outside the kept area (limit %d)", ErrUnsupported, worst, JPEGLeakMax)
	}
	return nil
}

// leakOutside returns the brightest channel value outside the mask.
func leakOutside(img image.Image, mask []bool) int {
	worst := 0
	switch m := img.(type) {
	case *image.Gray:
		for p, keep := range mask {
			if !keep && int(m.Pix[p]) > worst {
				worst = int(m.Pix[p])
			}
		}
	case *image.RGBA:
		for p, keep := range mask {
			if !keep {
				for c := 0; c < 3; c++ {
					if v := int(m.Pix[4*p+c]); v > worst {
						worst = v
					}
				}
			}
		}
	}
	return worst
}

func setString(ds *dicom.Dataset, t tag.Tag, vr, value string) error {
	if e, err := ds.FindElementByTag(t); err == nil {
		v, err := dicom.NewValue([]string{value})
		if err != nil {
			return err
		}
		e.Value = v
		return nil
	}
	e, err := dicom.NewElement(t, []string{value})
	if err != nil {
		return err
	}
	e.RawValueRepresentation = vr
	ds.Elements = insertSorted(ds.Elements, e)
	return nil
}

func insertSorted(elems []*dicom.Element, e *dicom.Element) []*dicom.Element {
	less := func(a, b tag.Tag) bool {
		return a.Group < b.Group || a.Group == b.Group && a.Element < b.Element
	}
	i := len(elems)
	for k, x := range elems {
		if less(e.Tag, x.Tag) {
			i = k
			break
		}
	}
	elems = append(elems, nil)
	copy(elems[i+1:], elems[i:])
	elems[i] = e
	return elems
}

// cleanToLossless decodes every frame with dec, blacks out the pixels
// outside mask and re-encodes the frame as JPEG Lossless SV1 at BitsStored
// precision; each result is decoded again and must equal the masked frame.
// The attributes describing the new encoding are set in ds once every
// frame is done.
func (s *source) cleanToLossless(ds *dicom.Dataset, mask []bool, dec func([]byte, *Info) (*raster, error)) ([][]byte, error) {
	in := s.info
	out := *in // the encoding written: the frames decode to this
	switch in.Photometric {
	case "YBR_RCT", "YBR_ICT":
		out.Photometric = "RGB"
	case "YBR_FULL_422":
		out.Photometric = "YBR_FULL"
	case "YBR_PARTIAL_420", "YBR_PARTIAL_422":
		return nil, fmt.Errorf("%w: cannot black out %s", ErrUnsupported, in.Photometric)
	}
	precision := max(in.BitsStored, 2)
	black, err := out.losslessBlack(precision)
	if err != nil {
		return nil, err
	}
	ids := []byte{1, 2, 3}[:in.SamplesPerPixel]
	frags := make([][]byte, s.frames)
	for f := 0; f < s.frames; f++ {
		data, err := s.frameData(f)
		if err != nil {
			return nil, err
		}
		r, err := dec(data, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		for p, keep := range mask {
			if !keep {
				copy(r.Pix[p*r.SPP:(p+1)*r.SPP], black)
			}
		}
		enc, err := encodeLossless(r, precision, ids)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		back, err := decodeLossless(enc, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: re-encoded JPEG lossless does not decode: %w", f, err)
		}
		for k, v := range back.Pix {
			if v != r.Pix[k] {
				return nil, fmt.Errorf("frame %d: re-encoded JPEG lossless differs at sample %d (%d, want %d)", f, k, v, r.Pix[k])
			}
		}
		frags[f] = enc
	}
	if out.Photometric != in.Photometric {
		if err := setString(ds, tag.PhotometricInterpretation, "CS", out.Photometric); err != nil {
			return nil, err
		}
	}
	if in.SamplesPerPixel == 3 {
		if e, err := ds.FindElementByTag(tag.PlanarConfiguration); err == nil {
			e.Value, _ = dicom.NewValue([]int{0})
		}
	}
	if in.Encoding == EncJPEGBaseline {
		if err := setString(ds, tag.LossyImageCompression, "CS", "01"); err != nil {
			return nil, err
		}
	}
	return frags, setString(ds, tag.TransferSyntaxUID, "UI", tsJPEGLossSV1)
}
