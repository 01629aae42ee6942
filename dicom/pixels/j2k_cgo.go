//go:build cgo

package pixels

/*
#cgo pkg-config: libopenjp2
#include <stdlib.h>
#include <string.h>
#include <openjpeg.h>

// A codestream in memory, read by OpenJPEG through these callbacks.
typedef struct {
	const unsigned char *data;
	OPJ_SIZE_T len, pos;
} sl_mem;

static OPJ_SIZE_T sl_read(void *buf, OPJ_SIZE_T n, void *u) {
	sl_mem *m = u;
	if (m->pos >= m->len) return (OPJ_SIZE_T)-1;
	OPJ_SIZE_T k = m->len - m->pos;
	if (k > n) k = n;
	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T sl_skip(OPJ_OFF_T n, void *u) {
	sl_mem *m = u;
	if (n < 0) {
		if ((OPJ_SIZE_T)(-n) > m->pos) n = -(OPJ_OFF_T)m->pos;
	} else if ((OPJ_SIZE_T)n > m->len - m->pos) {
		n = (OPJ_OFF_T)(m->len - m->pos);
	}
	m->pos += n;
	return n;
}

static OPJ_BOOL sl_seek(OPJ_OFF_T n, void *u) {
	sl_mem *m = u;
	if (n < 0 || (OPJ_SIZE_T)n > m->len) return OPJ_FALSE;
	m->pos = (OPJ_SIZE_T)n;
	return OPJ_TRUE;
}

// sl_msg keeps OpenJPEG's first error message.
typedef struct { char msg[200]; } sl_msg;

static void sl_onerr(const char *msg, void *u) {
	sl_msg *e = u;
	if (e->msg[0] == 0) {
		strncpy(e->msg, msg, sizeof e->msg - 1);
		size_t n = strlen(e->msg);
		while (n > 0 && (e->msg[n-1] == '\n' || e->msg[n-1] == '\r')) e->msg[--n] = 0;
	}
}

static void sl_quiet(const char *msg, void *u) { (void)msg; (void)u; }

// sl_j2k_decode decodes one JPEG 2000 (or HTJ2K) codestream, or a JP2 file,
// in a single call (the Go memory it reads is not kept). The header is
// checked against what the dataset declares (w×h, nc components, none
// subsampled, 1 to 16 bits) before OpenJPEG allocates for the image.
// Returns NULL with e->msg set on failure.
static opj_image_t *sl_j2k_decode(const unsigned char *data, size_t len, int w, int h, int nc, sl_msg *e) {
	static const unsigned char jp2sig[12] = {0, 0, 0, 12, 'j', 'P', ' ', ' ', 13, 10, 0x87, 10};
	OPJ_CODEC_FORMAT fmt = OPJ_CODEC_J2K;
	if (len >= 12 && memcmp(data, jp2sig, 12) == 0) fmt = OPJ_CODEC_JP2;
	sl_mem m = {data, len, 0};
	opj_stream_t *s = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
	opj_codec_t *c = opj_create_decompress(fmt);
	opj_image_t *img = NULL;
	opj_dparameters_t p;
	if (s == NULL || c == NULL) {
		strcpy(e->msg, "out of memory");
		goto fail;
	}
	opj_stream_set_user_data(s, &m, NULL);
	opj_stream_set_user_data_length(s, len);
	opj_stream_set_read_function(s, sl_read);
	opj_stream_set_skip_function(s, sl_skip);
	opj_stream_set_seek_function(s, sl_seek);
	opj_set_error_handler(c, sl_onerr, e);
	opj_set_warning_handler(c, sl_quiet, NULL);
	opj_set_info_handler(c, sl_quiet, NULL);
	opj_set_default_decoder_parameters(&p);
	if (!opj_setup_decoder(c, &p) || !opj_read_header(s, c, &img)) {
		if (e->msg[0] == 0) strcpy(e->msg, "cannot read the header");
		goto fail;
	}
	if ((int)(img->x1 - img->x0) != w || (int)(img->y1 - img->y0) != h || (int)img->numcomps != nc) {
		snprintf(e->msg, sizeof e->msg, "codestream is %dx%dx%d, dataset says %dx%dx%d",
			(int)(img->x1 - img->x0), (int)(img->y1 - img->y0), (int)img->numcomps, w, h, nc);
		goto fail;
	}
	for (OPJ_UINT32 i = 0; i < img->numcomps; i++) {
		opj_image_comp_t *k = &img->comps[i];
		if (k->dx != 1 || k->dy != 1 || k->prec < 1 || k->prec > 16) {
			snprintf(e->msg, sizeof e->msg, "component %u: subsampling %ux%u, precision %u", i, k->dx, k->dy, k->prec);
			goto fail;
		}
	}
	if (!opj_decode(c, s, img) || !opj_end_decompress(c, s)) {
		if (e->msg[0] == 0) strcpy(e->msg, "cannot decode");
		goto fail;
	}
	for (OPJ_UINT32 i = 0; i < img->numcomps; i++) {
		if (img->comps[i].data == NULL || (int)img->comps[i].w != w || (int)img->comps[i].h != h) {
			strcpy(e->msg, "decoded components do not fill the image");
			goto fail;
		}
	}
	opj_destroy_codec(c);
	opj_stream_destroy(s);
	return img;
fail:
	if (img) opj_image_destroy(img);
	if (c) opj_destroy_codec(c);
	if (s) opj_stream_destroy(s);
	return NULL;
}

static int sl_comp_prec(opj_image_t *img, int i) { return (int)img->comps[i].prec; }
static int sl_comp_sgnd(opj_image_t *img, int i) { return (int)img->comps[i].sgnd; }
static OPJ_INT32 *sl_comp_data(opj_image_t *img, int i) { return img->comps[i].data; }
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// haveJ2K: this build decodes JPEG 2000 and HTJ2K (OpenJPEG through cgo).
const haveJ2K = true

// decodeJ2K decodes one JPEG 2000 or HTJ2K frame (a J2K codestream or a
// JP2 file) with OpenJPEG. OpenJPEG applies the inverse multi-component
// transform, so YBR_RCT and YBR_ICT frames come out as RGB. Samples are
// returned in their low BitsStored bits (signed ones as two's complement
// bit patterns), pixel-interleaved.
func decodeJ2K(data []byte, in *Info) (*raster, error) {
	if err := plausibleSize(len(data), in); err != nil {
		return nil, err
	}
	var msg C.sl_msg
	img := C.sl_j2k_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.int(in.Columns), C.int(in.Rows), C.int(in.SamplesPerPixel), &msg)
	if img == nil {
		return nil, fmt.Errorf("%w: corrupt JPEG 2000 frame (OpenJPEG: %s)", ErrUnsupported, C.GoString(&msg.msg[0]))
	}
	defer C.opj_image_destroy(img)
	nc, npix := in.SamplesPerPixel, in.Columns*in.Rows
	r := newRaster(in.Columns, in.Rows, nc, in.BitsStored > 8)
	m := int32(1)<<uint(in.BitsStored) - 1
	for c := 0; c < nc; c++ {
		src := unsafe.Slice((*int32)(unsafe.Pointer(C.sl_comp_data(img, C.int(c)))), npix)
		for p, v := range src {
			r.Pix[p*nc+c] = uint16(v & m)
		}
	}
	return r, nil
}
