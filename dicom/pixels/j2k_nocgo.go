//go:build !cgo

package pixels

import "fmt"

// haveJ2K: this build (without cgo) has no JPEG 2000 decoder.
const haveJ2K = false

func decodeJ2K(data []byte, in *Info) (*raster, error) {
	return nil, fmt.Errorf("%w: JPEG 2000 decoder not available in this build (built without cgo)", ErrUnsupported)
}
