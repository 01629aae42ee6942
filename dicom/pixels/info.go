package pixels

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/uid"
)

// MaxFramePixels bounds Rows × Columns of one frame. Larger images are
// refused before anything is allocated (the largest ultrasound frames are a
// few megapixels).
const MaxFramePixels = 64 << 20

// Transfer syntax UIDs this package distinguishes.
const (
	tsImplicitLE  = uid.ImplicitVRLittleEndian
	tsExplicitLE  = uid.ExplicitVRLittleEndian
	tsDeflatedLE  = uid.DeflatedExplicitVRLE
	tsExplicitBE  = uid.ExplicitVRBigEndian
	tsRLE         = uid.RLELossless
	tsJPEGBase    = uid.JPEGBaseline
	tsJPEGExt     = uid.JPEGExtended
	tsJPEGLossNH  = uid.JPEGLosslessNH
	tsJPEGLossSV1 = uid.JPEGLosslessSV1
	tsJPEGLS      = uid.JPEGLSLossless
	tsJPEGLSNear  = uid.JPEGLSNearLossless
	tsJ2KLossless = uid.JPEG2000Lossless
	tsJ2K         = uid.JPEG2000
	tsHTJ2KLoss   = uid.HTJ2KLossless
	tsHTJ2KRPCL   = uid.HTJ2KLosslessRPCL
	tsHTJ2K       = uid.HTJ2K
)

// Encoding says how the pixel data is stored.
type Encoding int

const (
	EncNative       Encoding = iota // uncompressed
	EncRLE                          // RLE Lossless (PS3.5 Annex G)
	EncJPEGBaseline                 // JPEG Baseline / Extended, 8- or 12-bit (lossy DCT)
	EncJPEGLossless                 // JPEG Lossless Process 14 (any predictor)
	EncOther                        // MPEG, HEVC, JPEG 2000 Part 2…: not decodable here
	EncJPEGLS                       // JPEG-LS lossless and near-lossless (CharLS, cgo builds)
	EncJPEG2000                     // JPEG 2000 and HTJ2K (OpenJPEG, cgo builds)
)

func (e Encoding) String() string {
	switch e {
	case EncNative:
		return "native"
	case EncRLE:
		return "RLE"
	case EncJPEGBaseline:
		return "JPEG baseline"
	case EncJPEGLossless:
		return "JPEG lossless"
	case EncJPEGLS:
		return "JPEG-LS"
	case EncJPEG2000:
		return "JPEG 2000"
	}
	return "other"
}

// encodingOf says how pixel data is stored under transfer syntax ts
// (EncOther: not decodable here).
func encodingOf(ts string) Encoding {
	switch ts {
	case "", tsImplicitLE, tsExplicitLE, tsDeflatedLE, tsExplicitBE:
		return EncNative
	case tsRLE:
		return EncRLE
	case tsJPEGBase, tsJPEGExt:
		return EncJPEGBaseline
	case tsJPEGLossNH, tsJPEGLossSV1:
		return EncJPEGLossless
	case tsJPEGLS, tsJPEGLSNear:
		return EncJPEGLS
	case tsJ2KLossless, tsJ2K, tsHTJ2KLoss, tsHTJ2KRPCL, tsHTJ2K:
		return EncJPEG2000
	}
	return EncOther
}

// Decodable reports whether this package decodes, masks and re-encodes
// pixel data held in transfer syntax ts, so that an object received in it
// can be de-identified and rendered. The network side prefers these
// syntaxes when a sender offers a choice; adding a decoder here moves its
// syntax among them.
//
// JPEG 2000, HTJ2K and JPEG-LS are decodable in builds with cgo (OpenJPEG
// and CharLS); a build without cgo stores them as received. Deflated data
// sets are native once inflated (dicomfile reads them inflated).
func Decodable(ts string) bool {
	switch encodingOf(ts) {
	case EncJPEG2000:
		return haveJ2K
	case EncJPEGLS:
		return haveJPEGLS
	case EncOther:
		return false
	}
	return true
}

// Info is what the Image Pixel module says about the pixel data.
type Info struct {
	Rows, Columns   int
	SamplesPerPixel int
	BitsAllocated   int
	BitsStored      int
	HighBit         int
	Signed          bool   // Pixel Representation 1
	Planar          int    // Planar Configuration (0: interleaved, 1: by plane)
	Photometric     string // e.g. MONOCHROME2, RGB, YBR_FULL_422, PALETTE COLOR
	Frames          int    // Number of Frames (1 when absent)
	TransferSyntax  string
	BigEndian       bool // Explicit VR Big Endian: 16-bit native words are byte-swapped
	Encoding        Encoding

	// WindowCenter and WindowWidth are the first VOI window (Width 0: none).
	WindowCenter, WindowWidth float64
	// RescaleSlope and RescaleIntercept: the modality rescale (1 and 0 when absent).
	RescaleSlope, RescaleIntercept float64
	// Palette is the decoded colour palette for PALETTE COLOR (nil otherwise).
	Palette *Palette
}

// Palette is a PALETTE COLOR lookup table expanded to 8-bit RGB.
type Palette struct {
	First   int // first stored value mapped
	R, G, B []uint8
}

// Lookup maps a stored value to RGB, clamping out-of-range values to the
// ends of the table (PS3.3 C.7.6.3.1.5).
func (p *Palette) Lookup(v int) (r, g, b uint8) {
	i := v - p.First
	if i < 0 {
		i = 0
	}
	if i >= len(p.R) {
		i = len(p.R) - 1
	}
	return p.R[i], p.G[i], p.B[i]
}

// ReadInfo collects the Image Pixel module of ds and checks it for
// consistency (sizes, bit depths, a known photometric interpretation).
func ReadInfo(ds *dicom.Dataset) (*Info, error) {
	in := &Info{
		Rows:            dicomfile.Int(ds, tag.Rows, 0),
		Columns:         dicomfile.Int(ds, tag.Columns, 0),
		SamplesPerPixel: dicomfile.Int(ds, tag.SamplesPerPixel, 1),
		BitsAllocated:   dicomfile.Int(ds, tag.BitsAllocated, 0),
		BitsStored:      dicomfile.Int(ds, tag.BitsStored, 0),
		HighBit:         dicomfile.Int(ds, tag.HighBit, -1),
		Signed:          dicomfile.Int(ds, tag.PixelRepresentation, 0) == 1,
		Planar:          dicomfile.Int(ds, tag.PlanarConfiguration, 0),
		Photometric:     strings.ToUpper(strOf(ds, tag.PhotometricInterpretation)),
		Frames:          dicomfile.Int(ds, tag.NumberOfFrames, 1),
		TransferSyntax:  strOf(ds, tag.TransferSyntaxUID),
		RescaleSlope:    1,
	}
	if in.BitsStored == 0 {
		in.BitsStored = in.BitsAllocated
	}
	if in.HighBit < 0 {
		in.HighBit = in.BitsStored - 1
	}
	if in.Frames < 1 {
		in.Frames = 1
	}
	in.Encoding = encodingOf(in.TransferSyntax)
	in.BigEndian = in.TransferSyntax == tsExplicitBE
	if in.Rows <= 0 || in.Columns <= 0 {
		return nil, fmt.Errorf("%w: no image (rows %d, columns %d)", ErrUnsupported, in.Rows, in.Columns)
	}
	if int64(in.Rows)*int64(in.Columns) > MaxFramePixels {
		return nil, fmt.Errorf("%w: %d×%d pixels per frame exceeds the limit of %d", ErrUnsupported, in.Columns, in.Rows, MaxFramePixels)
	}
	if in.SamplesPerPixel != 1 && in.SamplesPerPixel != 3 {
		return nil, fmt.Errorf("%w: %d samples per pixel", ErrUnsupported, in.SamplesPerPixel)
	}
	if in.BitsAllocated != 8 && in.BitsAllocated != 16 {
		return nil, fmt.Errorf("%w: %d bits allocated", ErrUnsupported, in.BitsAllocated)
	}
	if in.BitsStored < 1 || in.BitsStored > in.BitsAllocated || in.HighBit >= in.BitsAllocated || in.HighBit < in.BitsStored-1 {
		return nil, fmt.Errorf("%w: bits stored %d, high bit %d, bits allocated %d", ErrUnsupported, in.BitsStored, in.HighBit, in.BitsAllocated)
	}
	switch in.Photometric {
	case "MONOCHROME1", "MONOCHROME2":
		if in.SamplesPerPixel != 1 {
			return nil, fmt.Errorf("%w: %s with %d samples", ErrUnsupported, in.Photometric, in.SamplesPerPixel)
		}
	case "PALETTE COLOR":
		if in.SamplesPerPixel != 1 {
			return nil, fmt.Errorf("%w: palette colour with %d samples", ErrUnsupported, in.SamplesPerPixel)
		}
		p, err := readPalette(ds)
		if err != nil {
			return nil, err
		}
		in.Palette = p
	case "RGB", "YBR_FULL", "YBR_FULL_422":
		if in.SamplesPerPixel != 3 {
			return nil, fmt.Errorf("%w: %s with %d samples", ErrUnsupported, in.Photometric, in.SamplesPerPixel)
		}
		if in.Photometric == "YBR_FULL_422" && in.Encoding == EncNative && in.Columns%2 != 0 {
			return nil, fmt.Errorf("%w: native YBR_FULL_422 with an odd number of columns", ErrUnsupported)
		}
	case "YBR_ICT", "YBR_RCT":
		// JPEG 2000 only: OpenJPEG undoes the transform (the frame decodes
		// to RGB).
		if in.SamplesPerPixel != 3 || in.Encoding != EncOther && in.Encoding != EncJPEG2000 && in.Encoding != EncJPEGBaseline {
			return nil, fmt.Errorf("%w: photometric %s", ErrUnsupported, in.Photometric)
		}
	case "YBR_PARTIAL_420", "YBR_PARTIAL_422":
		if in.Encoding != EncOther && in.Encoding != EncJPEGBaseline {
			return nil, fmt.Errorf("%w: photometric %s", ErrUnsupported, in.Photometric)
		}
	default:
		return nil, fmt.Errorf("%w: photometric interpretation %q", ErrUnsupported, in.Photometric)
	}
	if c, ok := floatOf(ds, tag.WindowCenter); ok {
		if w, ok := floatOf(ds, tag.WindowWidth); ok && w >= 1 {
			in.WindowCenter, in.WindowWidth = c, w
		}
	}
	if s, ok := floatOf(ds, tag.RescaleSlope); ok && s != 0 {
		in.RescaleSlope = s
	}
	if b, ok := floatOf(ds, tag.RescaleIntercept); ok {
		in.RescaleIntercept = b
	}
	return in, nil
}

// nativeFrameSize is the number of bytes one native frame occupies.
func (in *Info) nativeFrameSize() int64 {
	samples := int64(in.Rows) * int64(in.Columns) * int64(in.SamplesPerPixel)
	if in.Photometric == "YBR_FULL_422" {
		samples = int64(in.Rows) * int64(in.Columns) * 2
	}
	return samples * int64(in.BitsAllocated/8)
}

func intsOf(ds *dicom.Dataset, t tag.Tag) []int {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		return v
	case []byte:
		out := make([]int, 0, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			out = append(out, int(binary.LittleEndian.Uint16(v[i:])))
		}
		return out
	}
	return nil
}

func strOf(ds *dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimSpace(strings.TrimRight(v[0], "\x00"))
	}
	return ""
}

func floatOf(ds *dicom.Dataset, t tag.Tag) (float64, bool) {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return 0, false
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		if len(v) > 0 {
			f, err := strconv.ParseFloat(strings.TrimSpace(v[0]), 64)
			return f, err == nil
		}
	case []float64:
		if len(v) > 0 {
			return v[0], true
		}
	case []int:
		if len(v) > 0 {
			return float64(v[0]), true
		}
	}
	return 0, false
}

func bytesOf(ds *dicom.Dataset, t tag.Tag) []byte {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []byte:
		return v
	case []int: // US-encoded LUT data
		out := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], uint16(x))
		}
		return out
	}
	return nil
}
