package pixels

import "fmt"

// maxCompression bounds how many samples one byte of a compressed frame may
// stand for, beyond a first megasample that any frame may have: a frame
// whose codestream is smaller than that is refused before a decoder
// allocates for it (a flat 4096×4096 frame needs 16 KiB). Real JPEG 2000
// and JPEG-LS frames of ultrasound images compress 2:1 to 50:1.
const maxCompression = 1024

// plausibleSize refuses an empty codestream, or one too small for the
// frame the dataset declares.
func plausibleSize(n int, in *Info) error {
	samples := int64(in.Rows) * int64(in.Columns) * int64(in.SamplesPerPixel)
	if n == 0 || samples > int64(n)*maxCompression+1<<20 {
		return fmt.Errorf("%w: a %d-byte codestream cannot hold a %d×%d×%d frame", ErrUnsupported, n, in.Columns, in.Rows, in.SamplesPerPixel)
	}
	return nil
}

// rasterCodec returns the decoder that turns a frame of in's encoding into
// a raster with stored values in their low bits: JPEG 2000, JPEG-LS, and
// JPEG DCT frames of more than 8 bits (or with more than 8 bits allocated).
// nil: the frame is an 8-bit JPEG that image/jpeg decodes.
func rasterCodec(in *Info, frame []byte) func([]byte, *Info) (*raster, error) {
	switch in.Encoding {
	case EncJPEG2000:
		return decodeJ2K
	case EncJPEGLS:
		return decodeJPEGLS
	case EncJPEGBaseline:
		if in.BitsAllocated > 8 || jpegPrecision(frame) > 8 {
			return decodeJPEGExt
		}
	}
	return nil
}
