package anonymize

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
	"sonolink/internal/testenv"
)

// TestBannerSamples: the ultrasound samples with burned-in patient banners
// come out black outside the regions in every frame, unchanged inside, and
// declared cleaned.
func TestBannerSamples(t *testing.T) {
	root := testenv.Samples(t)
	a := newTest(t, Options{})
	dir := t.TempDir()
	for _, name := range []string{
		"deid-data__GREYSCALE_IMAGE.dcm",
		"deid-data__RGB_IMAGE.dcm",
		"deid-data__GREYSCALE_CINE.dcm",
		"orthanc__2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm",
		// JPEG Lossless SV1, re-encoded losslessly: no name is burned in,
		// but they prove the encoding is cleaned rather than left residual.
		"pydicom-data__JPGLosslessP14SV1_1s_1f_8b.dcm",
		"pylibjpeg-data__JPEGLosslessP14SV1_3s_2f_u_08_08.dcm",
	} {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(root, "us", name)
			if _, err := os.Stat(in); err != nil {
				t.Skipf("sample missing: %v", err)
			}
			orig, err := dicomfile.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			regions, err := pixels.Regions(orig)
			if err != nil || len(regions) == 0 {
				t.Fatalf("regions: %v %v", regions, err)
			}
			outPath, res := anonymizeTo(t, a, in, dir)
			for _, r := range res.Verdict.Reasons {
				if strings.HasPrefix(r, "pixels") {
					t.Errorf("pixels not cleaned: %s", r)
				}
			}
			out, err := dicomfile.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			if got := dicomfile.String(out, tagBurnedInAnnotation); got != "NO" {
				t.Errorf("Burned In Annotation %q, want NO", got)
			}
			n := pixels.NumFrames(orig)
			if got := pixels.NumFrames(out); got != n || n == 0 {
				t.Fatalf("frames: %d in, %d out", n, got)
			}
			for i := 0; i < n; i++ {
				fi, err := pixels.Frame(orig, i)
				if err != nil {
					t.Fatalf("frame %d of input: %v", i, err)
				}
				fo, err := pixels.Frame(out, i)
				if err != nil {
					t.Fatalf("frame %d of output: %v", i, err)
				}
				outside, changed := compareFrames(fi, fo, regions)
				if outside > 0 || changed > 0 {
					t.Errorf("frame %d: %d pixels outside the regions not black, %d inside changed", i, outside, changed)
				}
			}
		})
	}
}

// compareFrames counts output pixels outside keep that are not black and
// pixels inside keep that differ from the input.
func compareFrames(in, out image.Image, keep []image.Rectangle) (outside, changed int) {
	b := out.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			p := image.Pt(x, y)
			inside := false
			for _, r := range keep {
				if p.In(r) {
					inside = true
					break
				}
			}
			r, g, bl, _ := out.At(x, y).RGBA()
			if inside {
				r0, g0, b0, _ := in.At(x, y).RGBA()
				if r != r0 || g != g0 || bl != b0 {
					changed++
				}
			} else if r>>8 > 0 || g>>8 > 0 || bl>>8 > 0 {
				outside++
			}
		}
	}
	return outside, changed
}
