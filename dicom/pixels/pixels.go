// Package pixels decodes, masks and re-encodes DICOM pixel data: native gray
// and colour (RGB planar 0/1, YBR_FULL, YBR_FULL_422, palette), RLE Lossless,
// JPEG Baseline, JPEG Extended (8- and 12-bit, a pure-Go decoder), JPEG
// Lossless Process 14, and, in builds with cgo, JPEG 2000 and HTJ2K
// (OpenJPEG, libopenjp2) and JPEG-LS lossless and near-lossless (CharLS). The
// anonymizer uses it to black out burned-in text; the renderer uses it to
// turn frames into browser images.
//
// Datasets must come from dicom/dicomfile (pixel data unprocessed). Every
// size the dataset declares is checked against the data that is really
// there before anything is allocated for it; a codestream is checked
// against the declared frame (dimensions, components, a size that can hold
// it) before a decoder allocates for the image.
//
// Not supported (ErrUnsupported, with the reason): video transfer syntaxes,
// JPEG 2000 Part 2, progressive and arithmetic-coded JPEG, Bits Allocated
// other than 8 or 16, and, in a build without cgo, JPEG 2000, HTJ2K and
// JPEG-LS ("decoder not available in this build"), so such objects stay
// residual rather than failing the build.
package pixels

import (
	"errors"
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
)

// ErrUnsupported marks pixel data this package cannot decode or rewrite.
var ErrUnsupported = errors.New("unsupported pixel data")

// ToLittleEndian prepares a dataset read as Explicit VR Big Endian to be
// written as Explicit VR Little Endian: it swaps the bytes of every 16-bit
// word of native Pixel Data (and of 8-bit data stored as OW) and sets the
// Transfer Syntax UID to 1.2.840.10008.1.2.1. The DICOM library already
// re-encodes every other element in the byte order it writes; only Pixel
// Data, kept unprocessed, needs this. Other transfer syntaxes: no change.
func ToLittleEndian(ds *dicom.Dataset) error {
	if strOf(ds, tag.TransferSyntaxUID) != tsExplicitBE {
		return nil
	}
	if el, err := ds.FindElementByTag(tag.PixelData); err == nil && el.Value != nil {
		pdi, ok := el.Value.GetValue().(dicom.PixelDataInfo)
		if !ok {
			return fmt.Errorf("%w: pixel data of unexpected type", ErrUnsupported)
		}
		if pdi.IsEncapsulated {
			return fmt.Errorf("%w: encapsulated pixel data under Explicit VR Big Endian", ErrUnsupported)
		}
		if pdi.IntentionallyUnprocessed && (dicomfile.Int(ds, tag.BitsAllocated, 8) > 8 || el.RawValueRepresentation == "OW") {
			if pdi.IntentionallyUnprocessed && dicomfile.Int(ds, tag.BitsAllocated, 8) > 16 {
				return fmt.Errorf("%w: %d-bit big endian pixel data", ErrUnsupported, dicomfile.Int(ds, tag.BitsAllocated, 8))
			}
			src := pdi.UnprocessedValueData
			out := make([]byte, len(src))
			for i := 0; i+1 < len(src); i += 2 {
				out[i], out[i+1] = src[i+1], src[i]
			}
			if len(src)%2 == 1 {
				out[len(src)-1] = src[len(src)-1]
			}
			v, err := dicom.NewValue(dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: out})
			if err != nil {
				return err
			}
			el.Value = v
		}
	}
	return setString(ds, tag.TransferSyntaxUID, "UI", tsExplicitLE)
}

// IsUnsupported reports whether err wraps ErrUnsupported.
func IsUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }
