package pixels

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

func sample(t *testing.T, group, name string) string {
	t.Helper()
	p := filepath.Join(testenv.Samples(t), group, name)
	if _, err := os.Stat(p); err != nil {
		if testenv.CI() {
			t.Fatalf("sample %s missing", p)
		}
		t.Skipf("sample %s missing", p)
	}
	return p
}

// writeAndReread writes ds with the DICOM library and parses the result again.
func writeAndReread(t *testing.T, ds *dicom.Dataset) *dicom.Dataset {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.dcm")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := dicom.Write(f, *ds); err != nil {
		t.Fatalf("dicom.Write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	back, err := dicomfile.ReadFile(out)
	if err != nil {
		t.Fatalf("re-reading the cleaned file: %v", err)
	}
	return back
}

func TestCleanSamples(t *testing.T) {
	cases := []struct {
		group, name string
		lossy       bool
	}{
		{"us", "deid-data__GREYSCALE_IMAGE.dcm", false},
		{"us", "deid-data__RGB_IMAGE.dcm", false},
		{"us", "deid-data__GREYSCALE_CINE.dcm", false},
		{"us", "orthanc__2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm", false},
		{"us", "orthanc__Issue16.dcm", true},
		{"us", "cornerstone3D__US-YBR_FULL_422-EVRLE.dcm", false},
		{"us", "pydicom-data__OBXXXX1A.dcm", false},
		{"us", "pydicom-data__OBXXXX1A_rle_2frame.dcm", false},
		{"us", "orthanc__Implicit-vr-us-palette.dcm", false},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.name, ".dcm"), func(t *testing.T) {
			path := sample(t, c.group, c.name)
			orig, err := dicomfile.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			keep, err := Regions(orig)
			if err != nil || len(keep) == 0 {
				t.Fatalf("Regions = %v, %v; want regions", keep, err)
			}
			ds, err := dicomfile.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := Clean(ds, keep); err != nil {
				t.Fatalf("Clean: %v", err)
			}
			back := writeAndReread(t, ds)
			checkCleaned(t, orig, back, keep, c.lossy)
		})
	}
}

// checkCleaned compares every frame of the cleaned object with the original.
func checkCleaned(t *testing.T, orig, back *dicom.Dataset, keep []image.Rectangle, lossy bool) {
	t.Helper()
	so, err := open(orig)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := open(back)
	if err != nil {
		t.Fatalf("cleaned object does not open: %v", err)
	}
	if sb.frames != so.frames || sb.frames != so.info.Frames {
		t.Fatalf("cleaned object has %d frames, original %d (declared %d)", sb.frames, so.frames, so.info.Frames)
	}
	in := so.info
	mask := keepMask(in.Columns, in.Rows, keep)
	black, _ := in.blackSamples()
	worstLeak, worstPSNR := 0, math.Inf(1)
	dirty := 0 // outside samples of the original that were not black: the test can fail
	for f := 0; f < so.frames; f++ {
		do, err := so.decode(f)
		if err != nil {
			t.Fatal(err)
		}
		db, err := sb.decode(f)
		if err != nil {
			t.Fatalf("frame %d of the cleaned object: %v", f, err)
		}
		if lossy {
			a := jpegToDisplay(do.img, in).(*image.RGBA)
			b := jpegToDisplay(db.img, sb.info).(*image.RGBA)
			if leakOutside(a, mask) > JPEGLeakMax {
				dirty++
			}
			leak := leakOutside(b, mask)
			worstLeak = max(worstLeak, leak)
			// 16×16 blocks wholly outside the regions decode to black.
			if far := leakOutside(b, outsideMCUs(in.Columns, in.Rows, mask)); far > 2 {
				t.Errorf("frame %d: blocks wholly outside the regions show up to %d", f, far)
			}
			if leak > JPEGLeakMax {
				t.Errorf("frame %d: outside the regions up to %d", f, leak)
			}
			var se float64
			n := 0
			for p, k := range mask {
				if k {
					for c := 0; c < 3; c++ {
						d := float64(a.Pix[4*p+c]) - float64(b.Pix[4*p+c])
						se += d * d
					}
					n += 3
				}
			}
			psnr := 10 * math.Log10(255*255/(se/float64(n)))
			worstPSNR = min(worstPSNR, psnr)
			if psnr < 40 {
				t.Errorf("frame %d: PSNR inside the regions %.1f dB < 40", f, psnr)
			}
			continue
		}
		ro, rb := do.r, db.r
		spp := ro.SPP
		bad := 0
		for p, k := range mask {
			for c := 0; c < spp; c++ {
				got := rb.Pix[p*spp+c]
				if k {
					if got != ro.Pix[p*spp+c] {
						bad++
					}
					continue
				}
				want := black[c]
				if ro.Pix[p*spp+c] != want {
					dirty++
				}
				if in.Photometric == "YBR_FULL_422" && c > 0 && mask[p^1] {
					want = ro.Pix[p*spp+c] // straddling pair keeps its chroma
				}
				if got != want {
					bad++
				}
			}
		}
		if bad > 0 {
			t.Errorf("frame %d: %d samples wrong (inside changed or outside not black)", f, bad)
		}
	}
	if dirty == 0 {
		t.Errorf("the original shows nothing outside the regions: the check proves nothing")
	}
	if lossy {
		t.Logf("%d frames: worst leak outside %d/255, worst PSNR inside %.1f dB", so.frames, worstLeak, worstPSNR)
	}
}

// outsideMCUs returns a mask that is false only for pixels whose 16×16 block
// holds no kept pixel (so leakOutside measures just those).
func outsideMCUs(w, h int, mask []bool) []bool {
	out := make([]bool, len(mask))
	for by := 0; by < h; by += 16 {
		for bx := 0; bx < w; bx += 16 {
			any := false
			for y := by; y < min(by+16, h) && !any; y++ {
				for x := bx; x < min(bx+16, w); x++ {
					if mask[y*w+x] {
						any = true
						break
					}
				}
			}
			if any {
				for y := by; y < min(by+16, h); y++ {
					for x := bx; x < min(bx+16, w); x++ {
						out[y*w+x] = true
					}
				}
			}
		}
	}
	return out
}
