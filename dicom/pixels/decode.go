package pixels

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"

	"github.com/suyashkumar/dicom"

	"sonolink/dicom/dicomfile"
)

// raster holds decoded samples, interleaved (pixel by pixel), as stored
// (unsigned bit patterns, before any rescale or colour conversion).
type raster struct {
	W, H, SPP int
	Wide      bool // samples are more than 8 bits
	Pix       []uint16
}

func newRaster(w, h, spp int, wide bool) *raster {
	return &raster{W: w, H: h, SPP: spp, Wide: wide, Pix: make([]uint16, w*h*spp)}
}

// decodeNative reads one native frame. YBR_FULL_422 is expanded to three
// samples per pixel (each pair shares its chroma).
func decodeNative(data []byte, in *Info, swapped bool) *raster {
	w, h, spp := in.Columns, in.Rows, in.SamplesPerPixel
	r := newRaster(w, h, spp, in.BitsAllocated > 8)
	npix := w * h
	sample := func(k int) uint16 {
		if in.BitsAllocated == 8 {
			if swapped {
				return uint16(data[k^1])
			}
			return uint16(data[k])
		}
		if swapped {
			return uint16(data[2*k])<<8 | uint16(data[2*k+1])
		}
		return uint16(data[2*k]) | uint16(data[2*k+1])<<8
	}
	switch {
	case in.Photometric == "YBR_FULL_422":
		for p := 0; p+1 < npix; p += 2 {
			k := p * 2
			y0, y1, cb, cr := sample(k), sample(k+1), sample(k+2), sample(k+3)
			copy(r.Pix[3*p:], []uint16{y0, cb, cr, y1, cb, cr})
		}
	case spp == 3 && in.Planar == 1:
		for c := 0; c < 3; c++ {
			for p := 0; p < npix; p++ {
				r.Pix[3*p+c] = sample(c*npix + p)
			}
		}
	default:
		for k := range r.Pix {
			r.Pix[k] = sample(k)
		}
	}
	return r
}

// normalize moves stored values down from the high bit and drops the bits
// that are not stored (overlays in unused bits, sign extension).
func normalize(r *raster, in *Info) {
	if shift := in.HighBit + 1 - in.BitsStored; shift > 0 || in.BitsStored < in.BitsAllocated {
		m := uint16(1)<<uint(in.BitsStored) - 1
		for k, v := range r.Pix {
			r.Pix[k] = (v >> uint(shift)) & m
		}
	}
}

// decoded is one decoded frame: a raster, or (JPEG baseline) a Go image.
type decoded struct {
	r   *raster
	img image.Image
	// low: the raster holds each stored value in its low BitsStored bits
	// (what the codecs return), not where the native layout puts it.
	low bool
}

func (s *source) decode(i int) (*decoded, error) {
	data, err := s.frameData(i)
	if err != nil {
		return nil, err
	}
	in := s.info
	switch in.Encoding {
	case EncNative:
		return &decoded{r: decodeNative(data, in, s.swapped)}, nil
	case EncRLE:
		r, err := decodeRLE(data, in)
		return &decoded{r: r}, err
	case EncJPEGLossless:
		r, err := decodeLossless(data, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		return &decoded{r: r, low: true}, nil
	case EncJPEGBaseline, EncJPEGLS, EncJPEG2000:
		if dec := rasterCodec(in, data); dec != nil {
			r, err := dec(data, in)
			if err != nil {
				return nil, fmt.Errorf("frame %d: %w", i, err)
			}
			return &decoded{r: r, low: true}, nil
		}
		img, err := decodeJPEG(data, in)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		return &decoded{img: img}, nil
	}
	return nil, fmt.Errorf("%w: transfer syntax %s", ErrUnsupported, in.TransferSyntax)
}

func decodeJPEG(data []byte, in *Info) (image.Image, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: JPEG: %w", ErrUnsupported, err)
	}
	if cfg.Width != in.Columns || cfg.Height != in.Rows {
		return nil, fmt.Errorf("%w: JPEG frame is %d×%d, dataset says %d×%d", ErrUnsupported, cfg.Width, cfg.Height, in.Columns, in.Rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: JPEG: %w", ErrUnsupported, err)
	}
	return img, nil
}

// Frame decodes frame i (0-based) to a displayable 8-bit image (*image.Gray
// or *image.RGBA), with the object's window applied to gray data: the first
// Window Center/Width, else the full range for 8-bit data, else the frame's
// minimum to maximum. MONOCHROME1 is inverted, palette colour looked up, YBR
// converted to RGB.
func Frame(ds *dicom.Dataset, i int) (image.Image, error) {
	s, err := open(ds)
	if err != nil {
		return nil, err
	}
	return s.display(i)
}

func (s *source) display(i int) (image.Image, error) {
	d, err := s.decode(i)
	if err != nil {
		return nil, err
	}
	if d.img != nil {
		return jpegToDisplay(d.img, s.info), nil
	}
	if !d.low {
		normalize(d.r, s.info)
	}
	return rasterToDisplay(d.r, s.info), nil
}

func jpegToDisplay(img image.Image, in *Info) image.Image {
	switch m := img.(type) {
	case *image.Gray:
		if in.Photometric == "MONOCHROME1" {
			for k, v := range m.Pix {
				m.Pix[k] = 255 - v
			}
		}
		return m
	case *image.RGBA:
		return m
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if yc, ok := img.(*image.YCbCr); ok {
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				yi := yc.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := yc.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(yc.Y[yi], yc.Cb[ci], yc.Cr[ci])
				o := out.PixOffset(x, y)
				out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = r, g, bb, 255
			}
		}
		return out
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)))
		}
	}
	return out
}

// ybrToRGB converts full-range YCbCr (PS3.3 C.7.6.3.1.2) to RGB.
func ybrToRGB(y, cb, cr, half float64) (uint8, uint8, uint8) {
	cb -= half
	cr -= half
	return clamp8(y + 1.402*cr), clamp8(y - 0.344136*cb - 0.714136*cr), clamp8(y + 1.772*cb)
}

func clamp8(v float64) uint8 {
	v = math.Round(v)
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

func rasterToDisplay(r *raster, in *Info) image.Image {
	npix := r.W * r.H
	bits := in.BitsStored
	switch in.Photometric {
	case "PALETTE COLOR":
		out := image.NewRGBA(image.Rect(0, 0, r.W, r.H))
		for p := 0; p < npix; p++ {
			v := int(r.Pix[p])
			if in.Signed {
				v = signExtend(v, bits)
			}
			cr, cg, cb := in.Palette.Lookup(v)
			out.Pix[4*p], out.Pix[4*p+1], out.Pix[4*p+2], out.Pix[4*p+3] = cr, cg, cb, 255
		}
		return out
	case "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT":
		out := image.NewRGBA(image.Rect(0, 0, r.W, r.H))
		shift := uint(0)
		if bits > 8 {
			shift = uint(bits - 8)
		}
		ybr := in.Photometric == "YBR_FULL" || in.Photometric == "YBR_FULL_422"
		for p := 0; p < npix; p++ {
			a, b, c := r.Pix[3*p]>>shift, r.Pix[3*p+1]>>shift, r.Pix[3*p+2]>>shift
			o := 4 * p
			if ybr {
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = ybrToRGB(float64(a), float64(b), float64(c), 128)
			} else {
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = uint8(a), uint8(b), uint8(c)
			}
			out.Pix[o+3] = 255
		}
		return out
	}
	// Gray: modality rescale, then the VOI window (PS3.3 C.11.2.1.2.1).
	out := image.NewGray(image.Rect(0, 0, r.W, r.H))
	val := func(p int) float64 {
		v := int(r.Pix[p])
		if in.Signed {
			v = signExtend(v, bits)
		}
		return float64(v)*in.RescaleSlope + in.RescaleIntercept
	}
	c, w := in.WindowCenter, in.WindowWidth
	if w < 1 {
		if bits <= 8 && !in.Signed && in.RescaleSlope == 1 && in.RescaleIntercept == 0 {
			c, w = 128, 256 // identity
		} else {
			lo, hi := math.Inf(1), math.Inf(-1)
			for p := 0; p < npix; p++ {
				v := val(p)
				lo, hi = min(lo, v), max(hi, v)
			}
			// DCMTK's min-max window: centre (lo+hi)/2, width hi-lo.
			c, w = (lo+hi)/2, hi-lo
			if w < 1 {
				w = 1
			}
		}
	}
	// Cache the mapping for every stored value when the range is small.
	lut := make([]uint8, 1<<uint(bits))
	for sv := range lut {
		v := sv
		if in.Signed {
			v = signExtend(v, bits)
		}
		lut[sv] = window(float64(v)*in.RescaleSlope+in.RescaleIntercept, c, w)
	}
	m := uint16(len(lut) - 1)
	for p := 0; p < npix; p++ {
		out.Pix[p] = lut[r.Pix[p]&m]
	}
	if in.Photometric == "MONOCHROME1" {
		for k, v := range out.Pix {
			out.Pix[k] = 255 - v
		}
	}
	return out
}

// window applies the linear VOI function of PS3.3 C.11.2.1.2.1.
func window(x, c, w float64) uint8 {
	if w <= 1 {
		if x <= c-0.5 {
			return 0
		}
		return 255
	}
	lo := c - 0.5 - (w-1)/2
	hi := c - 0.5 + (w-1)/2
	switch {
	case x <= lo:
		return 0
	case x > hi:
		return 255
	}
	return clamp8(((x-(c-0.5))/(w-1) + 0.5) * 255)
}

func signExtend(v, bits int) int {
	if bits > 0 && v&(1<<uint(bits-1)) != 0 {
		return v - 1<<uint(bits)
	}
	return v
}

// Decoder decodes the frames of one object; it parses the pixel module and
// splits the pixel data once, then decodes one frame per call (a cine is
// never held decoded in memory as a whole).
type Decoder struct{ s *source }

// NewDecoder checks the object's pixel data (dimensions against the data
// really present, encoding, photometric interpretation) without decoding
// anything. Errors wrap ErrUnsupported.
func NewDecoder(ds *dicom.Dataset) (*Decoder, error) { return NewDecoderRef(ds, nil) }

// NewDecoderRef is NewDecoder for pixel data read through ref (a file
// opened with dicomfile.Open): frames are read from it one at a time.
// With ref nil it is NewDecoder.
func NewDecoderRef(ds *dicom.Dataset, ref *dicomfile.PixelRef) (*Decoder, error) {
	s, err := openRef(ds, ref)
	if err != nil {
		return nil, err
	}
	if s.info.Encoding == EncOther {
		return nil, fmt.Errorf("%w: transfer syntax %s (video and JPEG 2000 Part 2 are not decoded)", ErrUnsupported, s.info.TransferSyntax)
	}
	return &Decoder{s: s}, nil
}

// Info returns the object's pixel module.
func (d *Decoder) Info() *Info { return d.s.info }

// NumFrames returns the number of frames present.
func (d *Decoder) NumFrames() int { return d.s.frames }

// Frame decodes frame i (0-based) to a displayable image, as Frame does.
func (d *Decoder) Frame(i int) (image.Image, error) { return d.s.display(i) }
