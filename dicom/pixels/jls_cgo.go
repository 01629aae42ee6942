//go:build cgo

package pixels

/*
#cgo pkg-config: charls
#include <stdlib.h>
#include <string.h>
#include <charls/charls.h>

// sl_jls_decode decodes one JPEG-LS frame in a single call (the Go memory
// it reads and writes is not kept). With out NULL it reads the header only:
// the frame's width, height, components and bits per sample, and the bytes
// and interleave mode the decoded frame takes. Returns 0 or a CharLS error
// code.
static int sl_jls_decode(const void *data, size_t len, void *out, size_t outlen,
                         charls_frame_info *fi, size_t *need, int *interleave) {
	charls_jpegls_decoder *d = charls_jpegls_decoder_create();
	if (d == NULL) return -1;
	charls_jpegls_errc rc = charls_jpegls_decoder_set_source_buffer(d, data, len);
	if (rc == 0) rc = charls_jpegls_decoder_read_header(d);
	if (rc == 0) rc = charls_jpegls_decoder_get_frame_info(d, fi);
	charls_interleave_mode im = CHARLS_INTERLEAVE_MODE_NONE;
	if (rc == 0) rc = charls_jpegls_decoder_get_interleave_mode(d, &im);
	*interleave = (int)im;
	if (rc == 0) rc = charls_jpegls_decoder_get_destination_size(d, 0, need);
	if (rc == 0 && out != NULL) {
		if (outlen < *need) rc = CHARLS_JPEGLS_ERRC_DESTINATION_BUFFER_TOO_SMALL;
		else rc = charls_jpegls_decoder_decode_to_buffer(d, out, outlen, 0);
	}
	charls_jpegls_decoder_destroy(d);
	return (int)rc;
}

static const char *sl_jls_message(int rc) {
	if (rc == -1) return "out of memory";
	return charls_get_error_message((charls_jpegls_errc)rc);
}
*/
import "C"

import (
	"bytes"
	"fmt"
	"unsafe"
)

// haveJPEGLS: this build decodes JPEG-LS (CharLS through cgo).
const haveJPEGLS = true

// decodeJPEGLS decodes one JPEG-LS frame (lossless or near-lossless) with
// CharLS. The header is checked against the dataset before the frame is
// allocated. Samples are returned in their low BitsStored bits,
// pixel-interleaved whatever the stream's interleave mode (CharLS writes
// line- and sample-interleaved frames by pixel, the others plane by plane).
func decodeJPEGLS(data []byte, in *Info) (*raster, error) {
	if err := plausibleSize(len(data), in); err != nil {
		return nil, err
	}
	// CharLS 2.4.1 spends seconds on a scan that runs off the end of its
	// buffer without meeting a marker (found by FuzzDecodeJPEGLS): a whole
	// JPEG-LS frame ends with EOI, so CharLS gets the frame up to its last
	// EOI (what follows is padding) and a frame without one is refused.
	eoi := bytes.LastIndex(data, []byte{0xFF, 0xD9})
	if eoi < 2 {
		return nil, fmt.Errorf("%w: corrupt JPEG-LS frame (truncated: no EOI marker)", ErrUnsupported)
	}
	data = data[:eoi+2]
	var fi C.charls_frame_info
	var need C.size_t
	var im C.int
	src := unsafe.Pointer(&data[0])
	if rc := C.sl_jls_decode(src, C.size_t(len(data)), nil, 0, &fi, &need, &im); rc != 0 {
		return nil, fmt.Errorf("%w: corrupt JPEG-LS frame (CharLS: %s)", ErrUnsupported, C.GoString(C.sl_jls_message(rc)))
	}
	w, h, nc, bps := int(fi.width), int(fi.height), int(fi.component_count), int(fi.bits_per_sample)
	if w != in.Columns || h != in.Rows || nc != in.SamplesPerPixel {
		return nil, fmt.Errorf("%w: JPEG-LS frame is %d×%d×%d, dataset says %d×%d×%d", ErrUnsupported, w, h, nc, in.Columns, in.Rows, in.SamplesPerPixel)
	}
	if bps < 2 || bps > 16 {
		return nil, fmt.Errorf("%w: JPEG-LS with %d bits per sample", ErrUnsupported, bps)
	}
	bytesPer := 1
	if bps > 8 {
		bytesPer = 2
	}
	npix := w * h
	if int(need) != npix*nc*bytesPer {
		return nil, fmt.Errorf("%w: JPEG-LS frame needs %d bytes, expected %d", ErrUnsupported, int(need), npix*nc*bytesPer)
	}
	buf := make([]byte, int(need))
	if rc := C.sl_jls_decode(src, C.size_t(len(data)), unsafe.Pointer(&buf[0]), C.size_t(len(buf)), &fi, &need, &im); rc != 0 {
		return nil, fmt.Errorf("%w: corrupt JPEG-LS frame (CharLS: %s)", ErrUnsupported, C.GoString(C.sl_jls_message(rc)))
	}
	sample := func(k int) uint16 {
		if bytesPer == 1 {
			return uint16(buf[k])
		}
		return uint16(buf[2*k]) | uint16(buf[2*k+1])<<8
	}
	r := newRaster(w, h, nc, in.BitsStored > 8)
	m := uint16(1)<<uint(in.BitsStored) - 1
	if in.BitsStored == 16 {
		m = 0xFFFF
	}
	switch {
	case nc > 1 && im == C.CHARLS_INTERLEAVE_MODE_NONE: // plane after plane
		for c := 0; c < nc; c++ {
			for p := 0; p < npix; p++ {
				r.Pix[p*nc+c] = sample(c*npix+p) & m
			}
		}
	default:
		for k := range r.Pix {
			r.Pix[k] = sample(k) & m
		}
	}
	return r, nil
}
