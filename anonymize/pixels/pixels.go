// Package pixels decodes, masks and re-encodes DICOM pixel data: native gray
// and colour (RGB planar 0/1, YBR_FULL, YBR_FULL_422, palette), RLE Lossless,
// JPEG Baseline and JPEG Lossless SV1. The anonymizer uses it to black out
// burned-in text; the renderer uses it to turn frames into browser images.
//
// Datasets must come from store/dicomfile (pixel data unprocessed).
package pixels

import (
	"errors"
	"image"

	"github.com/suyashkumar/dicom"
)

// ErrUnsupported marks pixel data this package cannot decode or rewrite.
var ErrUnsupported = errors.New("unsupported pixel data")

// Regions returns the union of the Sequence of Ultrasound Regions (0018,6011)
// rectangles, clamped to the image. None means the object has no regions.
func Regions(ds *dicom.Dataset) ([]image.Rectangle, error) { return nil, ErrUnsupported }

// Clean blacks out every pixel outside the union of keep, in every frame, in
// place (the Pixel Data element of ds is replaced). Errors wrap ErrUnsupported
// when the encoding cannot be rewritten.
func Clean(ds *dicom.Dataset, keep []image.Rectangle) error { return ErrUnsupported }

// NumFrames returns how many frames the object's pixel data holds (0: none).
func NumFrames(ds *dicom.Dataset) int { return 0 }

// Frame decodes frame i (0-based) to a displayable 8-bit image (*image.Gray
// or *image.RGBA), with the object's window applied to gray data.
func Frame(ds *dicom.Dataset, i int) (image.Image, error) { return nil, ErrUnsupported }
