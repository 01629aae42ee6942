//go:build !cgo

package pixels

import (
	"image"
	"os"
	"strings"
	"testing"
)

// Built without cgo, JPEG 2000, HTJ2K and JPEG-LS are not decodable: the
// network side does not prefer them, and an object in them is refused by
// the decoder and by Clean with a reason naming the missing decoder (the
// anonymizer records it; the object stays residual). Run with
// CGO_ENABLED=0 go test ./dicom/pixels/.
func TestNoCgoResidual(t *testing.T) {
	for ts, want := range map[string]string{
		tsJ2KLossless: "JPEG 2000 decoder not available in this build",
		tsJ2K:         "JPEG 2000 decoder not available in this build",
		tsHTJ2KLoss:   "JPEG 2000 decoder not available in this build",
		tsJPEGLS:      "JPEG-LS decoder not available in this build",
		tsJPEGLSNear:  "JPEG-LS decoder not available in this build",
	} {
		if Decodable(ts) {
			t.Errorf("%s decodable without cgo", ts)
		}
		cs, err := os.ReadFile("testdata/codestreams/j2k-lossless-16x8x1-8.j2k")
		if err != nil {
			t.Fatal(err)
		}
		s := synth{rows: 8, cols: 16, spp: 1, bits: 8, photometric: "MONOCHROME2", ts: ts}
		ds := s.build(t, encapsulated(cs))
		d, err := NewDecoder(ds)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Frame(0); err == nil || !IsUnsupported(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Frame = %v, want %q", ts, err, want)
		}
		if err := Clean(ds, []image.Rectangle{image.Rect(1, 1, 4, 4)}); err == nil || !IsUnsupported(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Clean = %v, want %q", ts, err, want)
		}
	}
	// 12-bit JPEG is pure Go: decodable in every build.
	if !Decodable(tsJPEGExt) {
		t.Errorf("JPEG Extended not decodable")
	}
}
