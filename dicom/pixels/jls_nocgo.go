//go:build !cgo

package pixels

import "fmt"

// haveJPEGLS: this build (without cgo) has no JPEG-LS decoder.
const haveJPEGLS = false

func decodeJPEGLS(data []byte, in *Info) (*raster, error) {
	return nil, fmt.Errorf("%w: JPEG-LS decoder not available in this build (built without cgo)", ErrUnsupported)
}
