package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
	"sonolink/internal/testenv"
)

// memPut collects the files Object writes.
type memPut struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memPut) put(name string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string][]byte{}
	}
	m.files[name] = b.Bytes()
	return nil
}

// dcmj2pnmFrame renders one frame (0-based) with DCMTK as PNG.
func dcmj2pnmFrame(t *testing.T, tool, path string, in *pixels.Info, frame int) (image.Image, error) {
	out := filepath.Join(t.TempDir(), fmt.Sprintf("f%d.png", frame))
	args := []string{"--write-png", "--no-overlays", "--frame", fmt.Sprint(frame + 1)}
	switch {
	case !strings.HasPrefix(in.Photometric, "MONOCHROME"):
	case in.WindowWidth >= 1:
		args = append(args, "--use-window", "1")
	case in.BitsStored > 8 || in.Signed || in.RescaleSlope != 1 || in.RescaleIntercept != 0:
		args = append(args, "--min-max-window")
	}
	args = append(args, path, out)
	if msg, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dcmj2pnm %s: %v: %s", strings.Join(args, " "), err, firstLine(msg))
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

// meanAbsDiff returns the mean absolute difference per channel (0–255).
func meanAbsDiff(a, b image.Image) (float64, error) {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 0, fmt.Errorf("sizes differ: %v vs %v", a.Bounds().Size(), b.Bounds().Size())
	}
	ab, bb := a.Bounds(), b.Bounds()
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			c1 := color.RGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.RGBA)
			c2 := color.RGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.RGBA)
			sum += absd(c1.R, c2.R) + absd(c1.G, c2.G) + absd(c1.B, c2.B)
		}
	}
	return sum / float64(3*ab.Dx()*ab.Dy()), nil
}

func absd(a, b uint8) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}

// Tolerances of the mean absolute difference against dcmj2pnm.
const (
	tolNative = 2.0 // native, RLE, JPEG lossless: only rounding differs
	tolJPEG   = 3.0 // lossy JPEG: the IJG decoder upsamples chroma differently
)

func TestMatchesDCMTK(t *testing.T) {
	testenv.Long(t, "long dcmj2pnm comparison over every sample")
	tool := testenv.Tool(t, "dcmj2pnm")
	for _, path := range testenv.SampleFiles(t, "us", "sc") {
		name := strings.TrimSuffix(filepath.Base(path), ".dcm")
		t.Run(name, func(t *testing.T) {
			ds, err := dicomfile.ReadFile(path)
			if err != nil {
				t.Skipf("dicom/dicomfile does not read it: %v", err)
			}
			dec, derr := pixels.NewDecoder(ds)
			var in *pixels.Info
			if derr == nil {
				in = dec.Info()
			} else {
				in, _ = pixels.ReadInfo(ds)
			}
			if derr != nil {
				if !pixels.IsUnsupported(derr) {
					t.Fatalf("refused without ErrUnsupported: %v", derr)
				}
				// Must fail cleanly in Object too.
				if _, err := Object(ds, (&memPut{}).put); err == nil || !IsUnsupported(err) {
					t.Fatalf("Object = %v, want ErrUnsupported", err)
				}
				t.Logf("unsupported here (clean refusal): %v", derr)
				if in != nil {
					if _, err := dcmj2pnmFrame(t, tool, path, in, 0); err == nil {
						t.Logf("note: dcmj2pnm does render it")
					}
				}
				return
			}
			n := dec.NumFrames()
			frames := []int{0}
			if n > 2 {
				frames = append(frames, n/2)
			}
			if n > 1 {
				frames = append(frames, n-1)
			}
			tol := tolNative
			if in.Encoding == pixels.EncJPEGBaseline {
				tol = tolJPEG
			}
			for _, f := range frames {
				ours, err := dec.Frame(f)
				if err != nil {
					t.Fatalf("frame %d: %v", f, err)
				}
				ref, err := dcmj2pnmFrame(t, tool, path, in, f)
				if err != nil {
					t.Logf("skip comparison, dcmj2pnm cannot render it: %v", err)
					return
				}
				d, err := meanAbsDiff(ours, ref)
				if err != nil {
					t.Fatalf("frame %d: %v", f, err)
				}
				t.Logf("frame %d/%d: mean abs diff %.3f (tolerance %.1f)", f, n, d, tol)
				if d > tol {
					t.Errorf("frame %d differs from dcmj2pnm by %.3f > %.1f", f, d, tol)
				}
			}
		})
	}
}

// renderCine renders the sample cine loop (34 frames of 480×430) in memory.
func renderCine(t *testing.T) (*Output, *memPut) {
	t.Helper()
	path := filepath.Join(testenv.Samples(t), "us", "orthanc__Issue16.dcm")
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Skipf("sample: %v", err)
	}
	m := &memPut{}
	out, err := Object(ds, m.put)
	if err != nil {
		t.Fatal(err)
	}
	return out, m
}

func TestObjectCine(t *testing.T) {
	out, m := renderCine(t)
	if out.Frames != 34 || out.Width != 480 || out.Height != 430 || out.Animation != AnimationName {
		t.Fatalf("Output = %+v", out)
	}
	for i := 0; i < out.Frames; i++ {
		b := m.files[fmt.Sprintf(out.FramePattern, i)]
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != 480 {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	th, err := jpeg.Decode(bytes.NewReader(m.files[out.Thumbnail]))
	if err != nil || max(th.Bounds().Dx(), th.Bounds().Dy()) != ThumbnailSize {
		t.Fatalf("thumbnail: %v %v", err, th.Bounds())
	}
	g, err := gif.DecodeAll(bytes.NewReader(m.files[out.Animation]))
	if err != nil || len(g.Image) != 34 || max(g.Config.Width, g.Config.Height) > AnimationSize {
		t.Fatalf("animation: %v (%d frames)", err, len(g.Image))
	}
	t.Logf("frame time %.1f ms; animation %d bytes, delay %d cs", out.FrameTimeMS, len(m.files[out.Animation]), g.Delay[0])
}

func TestFrameTime(t *testing.T) {
	el := func(tg [2]uint16, v []string) *dicom.Element {
		e, err := dicom.NewElement(tagOf(tg), v)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cases := []struct {
		els  []*dicom.Element
		want float64
	}{
		{[]*dicom.Element{el([2]uint16{0x18, 0x1063}, []string{"40"}), el([2]uint16{0x18, 0x40}, []string{"10"})}, 40},
		{[]*dicom.Element{el([2]uint16{0x18, 0x1065}, []string{"0", "20", "30"})}, 25},
		{[]*dicom.Element{el([2]uint16{0x18, 0x40}, []string{"25"})}, 40},
		{[]*dicom.Element{el([2]uint16{0x8, 0x2144}, []string{"50"})}, 20},
		{nil, 33.3},
	}
	for i, c := range cases {
		if got := FrameTime(&dicom.Dataset{Elements: c.els}); got != c.want {
			t.Errorf("case %d: FrameTime = %v, want %v", i, got, c.want)
		}
	}
}

// TestHostileRefusedFast: the crafted out-of-bounds files declare 46341² and
// 65535² pixels with almost no data; they must be refused at once, with
// hardly any memory.
func TestHostileRefusedFast(t *testing.T) {
	root := testenv.Samples(t)
	for _, name := range []string{"orthanc__2026-05-26-oob-monochrome-46341.dcm", "orthanc__2026-05-26-oob-monochrome-65535.dcm"} {
		ds, err := dicomfile.ReadFile(filepath.Join(root, "odd", name))
		if err != nil {
			t.Logf("%s refused by the reader: %v", name, err)
			continue
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err = Object(ds, (&memPut{}).put)
		el := time.Since(start)
		runtime.ReadMemStats(&after)
		if !IsUnsupported(err) {
			t.Fatalf("%s: Object = %v, want ErrUnsupported", name, err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: refused in %v, %d bytes allocated: %v", name, el, alloc, err)
		if el > 100*time.Millisecond || alloc > 1<<20 {
			t.Errorf("%s: refusal took %v and %d bytes", name, el, alloc)
		}
	}
}

func BenchmarkRenderCine(b *testing.B) {
	root := testenv.Samples(b)
	for _, name := range []string{"deid-data__GREYSCALE_CINE.dcm", "orthanc__Issue16.dcm"} {
		ds, err := dicomfile.ReadFile(filepath.Join(root, "us", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(name, ".dcm"), func(b *testing.B) {
			var frames int
			for i := 0; i < b.N; i++ {
				out, err := Object(ds, func(_ string, write func(io.Writer) error) error { return write(io.Discard) })
				if err != nil {
					b.Fatal(err)
				}
				frames = out.Frames
			}
			b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

func tagOf(g [2]uint16) tag.Tag { return tag.Tag{Group: g[0], Element: g[1]} }
