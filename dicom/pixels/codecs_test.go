package pixels

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

// The JPEG 2000, HTJ2K, JPEG-LS and 12-bit JPEG decoders are checked
// against reference decoders on real peers' output: GDCM's gdcmconv --raw
// (OpenJPEG, CharLS and IJG 12-bit inside GDCM) and OpenJPEG's
// opj_decompress, on files made by gdcmconv, DCMTK's dcmcjpls and dcmcjpeg
// and OpenJPH's ojph_compress from synthetic images, and on the pydicom-data
// US1 samples.

// frameSamples decodes every frame of ds to its stored values (low bits).
func frameSamples(t *testing.T, ds *dicom.Dataset) (*Info, [][]uint16) {
	t.Helper()
	s, err := open(ds)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]uint16
	for i := 0; i < s.frames; i++ {
		d, err := s.decode(i)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if d.r == nil {
			t.Fatalf("frame %d decoded to an image, not samples", i)
		}
		if !d.low {
			normalize(d.r, s.info)
		}
		out = append(out, d.r.Pix)
	}
	return s.info, out
}

func fileSamples(t *testing.T, path string) (*Info, [][]uint16) {
	t.Helper()
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return frameSamples(t, ds)
}

// mad returns the mean and the largest absolute difference of two decodes.
func mad(t *testing.T, a, b [][]uint16) (float64, int) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d frames against %d", len(a), len(b))
	}
	sum, worst, n := 0.0, 0, 0
	for f := range a {
		if len(a[f]) != len(b[f]) {
			t.Fatalf("frame %d: %d samples against %d", f, len(a[f]), len(b[f]))
		}
		for k := range a[f] {
			d := int(a[f][k]) - int(b[f][k])
			if d < 0 {
				d = -d
			}
			sum += float64(d)
			worst = max(worst, d)
			n++
		}
	}
	return sum / float64(n), worst
}

// gdcmRaw decompresses path with gdcmconv --raw and returns its samples.
func gdcmRaw(t *testing.T, path string) [][]uint16 {
	t.Helper()
	tool := testenv.Tool(t, "gdcmconv")
	out := path + ".raw.dcm"
	if msg, err := exec.Command(tool, "--raw", path, out).CombinedOutput(); err != nil {
		t.Fatalf("gdcmconv --raw: %v\n%s", err, msg)
	}
	_, s := fileSamples(t, out)
	return s
}

func TestJ2KSamples(t *testing.T) {
	if !haveJ2K {
		t.Skip("built without cgo: no JPEG 2000 decoder (TestNoCgoResidual covers this build)")
	}
	_, ref := fileSamples(t, sample(t, "us", "pydicom-data__US1_UNCR.dcm"))
	lossless := sample(t, "us", "pydicom-data__US1_J2KR.dcm")
	in, got := fileSamples(t, lossless)
	if m, worst := mad(t, got, ref); worst != 0 {
		t.Errorf("US1_J2KR against US1_UNCR: MAD %.3f, max %d; want identical", m, worst)
	}
	if in.Photometric != "YBR_RCT" {
		t.Fatalf("photometric %s", in.Photometric)
	}
	// Lossy: against GDCM's decode of the same file.
	dir := t.TempDir()
	lossy := filepath.Join(dir, "US1_J2KI.dcm")
	copyFile(t, sample(t, "us", "pydicom-data__US1_J2KI.dcm"), lossy)
	_, got = fileSamples(t, lossy)
	m, worst := mad(t, got, gdcmRaw(t, lossy))
	t.Logf("US1_J2KI against gdcmconv --raw: MAD %.4f, max %d", m, worst)
	if m > 1 {
		t.Errorf("US1_J2KI: MAD %.3f > 1 against gdcmconv --raw", m)
	}
	// Rendered: the display image equals the uncompressed reference's.
	want, err := Frame(mustRead(t, sample(t, "us", "pydicom-data__US1_UNCR.dcm")), 0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Frame(mustRead(t, lossless), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := want.(*image.RGBA), img.(*image.RGBA); string(a.Pix) != string(b.Pix) {
		t.Errorf("rendered US1_J2KR differs from US1_UNCR")
	}
}

func mustRead(t *testing.T, path string) *dicom.Dataset {
	t.Helper()
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// scene is a synthetic image with what compresses like an ultrasound frame:
// a smooth fan, speckle, and bright "burned-in text" blocks in the corner.
func scene(w, h, spp, bits, frame int) []uint16 {
	rng := rand.New(rand.NewSource(int64(frame + 1)))
	top := float64(int(1)<<uint(bits) - 1)
	out := make([]uint16, w*h*spp)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < spp; c++ {
				v := top * (0.3 + 0.3*math.Sin(float64(x+3*frame)/9+float64(c)) + 0.2*float64(y)/float64(h))
				v += rng.NormFloat64() * top / 40
				if x < w/4 && y < h/5 && (x/3+y/3)%2 == 0 {
					v = top // text
				}
				out[(y*w+x)*spp+c] = uint16(max(0, min(top, math.Round(v))))
			}
		}
	}
	return out
}

// nativeFile writes a native Explicit VR LE object of frames synthetic
// frames and returns its path and samples.
func nativeFile(t *testing.T, dir string, w, h, spp, bits, frames int) (string, [][]uint16) {
	t.Helper()
	alloc := 8
	if bits > 8 {
		alloc = 16
	}
	photo := "MONOCHROME2"
	if spp == 3 {
		photo = "RGB"
	}
	s := synth{rows: h, cols: w, spp: spp, bits: alloc, stored: bits, photometric: photo, frames: frames,
		extra: []*dicom.Element{mustEl(t, tag.SOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.3.1"})}}
	var data []byte
	var want [][]uint16
	for f := 0; f < frames; f++ {
		px := scene(w, h, spp, bits, f)
		want = append(want, px)
		for _, v := range px {
			if alloc == 8 {
				data = append(data, byte(v))
			} else {
				data = binary.LittleEndian.AppendUint16(data, v)
			}
		}
	}
	ds := s.build(t, native(data))
	name := fmt.Sprintf("native-%dx%dx%d-%dbit-%df.dcm", w, h, spp, bits, frames)
	return writeFile(t, ds, dir, name), want
}

// TestCodecsAgainstPeers encodes synthetic images with GDCM and DCMTK,
// decodes them here and with gdcmconv --raw, and cleans them.
func TestCodecsAgainstPeers(t *testing.T) {
	type encoder struct {
		name     string
		tool     string
		args     []string
		ts       string
		lossless bool
		needJ2K  bool
		needJLS  bool
	}
	encoders := []encoder{
		{"j2k-lossless", "gdcmconv", []string{"--j2k"}, tsJ2KLossless, true, true, false},
		{"j2k-lossy", "gdcmconv", []string{"--j2k", "--lossy", "-q", "40"}, tsJ2K, false, true, false},
		{"jpegls-gdcm", "gdcmconv", []string{"--jpegls"}, tsJPEGLS, true, false, true},
		{"jpegls-dcmtk", "dcmcjpls", []string{"+el"}, tsJPEGLS, true, false, true},
		{"jpegls-dcmtk-sample", "dcmcjpls", []string{"+el", "+is"}, tsJPEGLS, true, false, true},
		{"jpegls-dcmtk-none", "dcmcjpls", []string{"+el", "+in"}, tsJPEGLS, true, false, true},
		{"jpegls-near", "dcmcjpls", []string{"+en", "+md", "2"}, tsJPEGLSNear, false, false, true},
		{"jpeg-extended", "dcmcjpeg", []string{"+ee", "+q", "90"}, tsJPEGExt, false, false, false},
	}
	images := []struct{ w, h, spp, bits, frames int }{
		{67, 45, 1, 8, 2},
		{67, 45, 1, 12, 2},
		{64, 40, 3, 8, 1},
		{50, 33, 1, 16, 1},
	}
	dir := t.TempDir()
	for _, e := range encoders {
		for i, im := range images {
			if e.tool == "dcmcjpeg" && im.bits != 12 {
				continue // 8-bit DCT frames are image/jpeg's (tested elsewhere)
			}
			name := fmt.Sprintf("%s/%dx%dx%d-%dbit", e.name, im.w, im.h, im.spp, im.bits)
			t.Run(name, func(t *testing.T) {
				if i > 0 && (e.tool != "dcmcjpeg") {
					testenv.Long(t, "the other image shapes of each encoder (half a second each)")
				}
				if e.needJ2K && !haveJ2K || e.needJLS && !haveJPEGLS {
					t.Skip("built without cgo: decoder not in this build")
				}
				tool := testenv.Tool(t, e.tool)
				src, want := nativeFile(t, dir, im.w, im.h, im.spp, im.bits, im.frames)
				enc := filepath.Join(dir, fmt.Sprintf("%s-%dx%dx%d-%d.dcm", e.name, im.w, im.h, im.spp, im.bits))
				if msg, err := exec.Command(tool, append(append([]string{}, e.args...), src, enc)...).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", e.tool, err, msg)
				}
				ds := mustRead(t, enc)
				if ts := strOf(ds, tag.TransferSyntaxUID); ts != e.ts {
					t.Skipf("%s wrote transfer syntax %s, not %s (its encoder refuses this image)", e.tool, ts, e.ts)
				}
				in, got := frameSamples(t, ds)
				ref := gdcmRaw(t, enc)
				m, worst := mad(t, got, ref)
				mo, worsto := mad(t, got, want)
				t.Logf("%s: against gdcmconv --raw MAD %.4f max %d; against the source MAD %.4f max %d", in.Photometric, m, worst, mo, worsto)
				if e.lossless && (worst != 0 || worsto != 0) {
					t.Errorf("lossless: differs from gdcmconv --raw (max %d) or from the source (max %d)", worst, worsto)
				}
				if m > 1 {
					t.Errorf("MAD %.3f > 1 against gdcmconv --raw", m)
				}
				checkCleanedLossless(t, enc)
			})
		}
	}
}

// checkCleanedLossless cleans the object at path, writes and re-reads it,
// and checks it is now JPEG Lossless SV1 with every kept sample as this
// package decoded it from the original and every other sample black.
func checkCleanedLossless(t *testing.T, path string) {
	t.Helper()
	orig := mustRead(t, path)
	in, before := frameSamples(t, orig)
	keep := []image.Rectangle{image.Rect(in.Columns/3, in.Rows/4, in.Columns-5, in.Rows-3)}
	ds := mustRead(t, path)
	if err := Clean(ds, keep); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	back := writeAndReread(t, ds)
	if ts := strOf(back, tag.TransferSyntaxUID); ts != tsJPEGLossSV1 {
		t.Fatalf("cleaned transfer syntax %s, want %s", ts, tsJPEGLossSV1)
	}
	bin, after := frameSamples(t, back)
	black, err := bin.losslessBlack(in.BitsStored)
	if err != nil {
		t.Fatal(err)
	}
	mask := keepMask(in.Columns, in.Rows, keep)
	spp := in.SamplesPerPixel
	dirty := 0
	for f := range before {
		for p, k := range mask {
			for c := 0; c < spp; c++ {
				o, g := before[f][p*spp+c], after[f][p*spp+c]
				if k && g != o {
					t.Fatalf("frame %d pixel %d: kept sample changed %d → %d", f, p, o, g)
				}
				if !k {
					if o != black[c] {
						dirty++
					}
					if g != black[c] {
						t.Fatalf("frame %d pixel %d: outside sample %d, want black %d", f, p, g, black[c])
					}
				}
			}
		}
	}
	if dirty == 0 {
		t.Fatal("nothing outside the kept area to black out: the check proves nothing")
	}
}

// TestHTJ2K decodes HTJ2K codestreams that OpenJPH's ojph_compress made
// (reversible, so they must give back the source exactly) and compares
// with opj_decompress.
func TestHTJ2K(t *testing.T) {
	if !haveJ2K {
		t.Skip("built without cgo: no JPEG 2000 decoder")
	}
	tool := testenv.Tool(t, "ojph_compress")
	dir := t.TempDir()
	for _, c := range []struct {
		w, h, spp, bits int
		ts              string
		args            []string
	}{
		{67, 45, 1, 8, tsHTJ2KLoss, []string{"-reversible", "true"}},
		{64, 40, 3, 8, tsHTJ2KRPCL, []string{"-reversible", "true", "-prog_order", "RPCL"}},
		{50, 33, 1, 12, tsHTJ2KLoss, []string{"-reversible", "true"}},
		{67, 45, 1, 8, tsHTJ2K, []string{"-qstep", "0.01"}},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d-%dbit-%s", c.w, c.h, c.spp, c.bits, c.ts), func(t *testing.T) {
			px := scene(c.w, c.h, c.spp, c.bits, 0)
			src := filepath.Join(dir, fmt.Sprintf("src-%d-%d.%s", c.spp, c.bits, map[int]string{1: "pgm", 3: "ppm"}[c.spp]))
			writePNM(t, src, c.w, c.h, c.spp, c.bits, px)
			j2c := filepath.Join(dir, "out.j2c")
			if msg, err := exec.Command(tool, append([]string{"-i", src, "-o", j2c}, c.args...)...).CombinedOutput(); err != nil {
				t.Fatalf("ojph_compress: %v\n%s", err, msg)
			}
			cs, err := os.ReadFile(j2c)
			if err != nil {
				t.Fatal(err)
			}
			photo := "MONOCHROME2"
			if c.spp == 3 {
				photo = "YBR_RCT"
				if c.ts == tsHTJ2K {
					photo = "YBR_ICT"
				}
			}
			alloc := 8
			if c.bits > 8 {
				alloc = 16
			}
			s := synth{rows: c.h, cols: c.w, spp: c.spp, bits: alloc, stored: c.bits, photometric: photo, ts: c.ts}
			ds := s.build(t, encapsulated(cs))
			_, got := frameSamples(t, ds)
			m, worst := mad(t, got, [][]uint16{px})
			t.Logf("against the source: MAD %.4f max %d", m, worst)
			if c.ts != tsHTJ2K && worst != 0 {
				t.Errorf("reversible HTJ2K differs from the source: max %d", worst)
			}
			if m > 2 {
				t.Errorf("MAD %.3f against the source", m)
			}
			ref := opjDecompress(t, j2c, c.w, c.h, c.spp, c.bits)
			if m, worst := mad(t, got, [][]uint16{ref}); worst != 0 {
				t.Errorf("differs from opj_decompress: MAD %.4f max %d", m, worst)
			}
		})
	}
}

func encapsulated(frames ...[]byte) dicom.PixelDataInfo {
	pd := dicom.PixelDataInfo{IsEncapsulated: true}
	for _, f := range frames {
		pd.Frames = append(pd.Frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: f}})
	}
	return pd
}

// writePNM writes samples as a binary PGM (1 sample) or PPM (3), big
// endian when more than 8 bits.
func writePNM(t *testing.T, path string, w, h, spp, bits int, px []uint16) {
	t.Helper()
	magic := map[int]string{1: "P5", 3: "P6"}[spp]
	b := []byte(fmt.Sprintf("%s\n%d %d\n%d\n", magic, w, h, 1<<uint(bits)-1))
	for _, v := range px {
		if bits > 8 {
			b = binary.BigEndian.AppendUint16(b, v)
		} else {
			b = append(b, byte(v))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// opjDecompress decodes a codestream with OpenJPEG's command-line decoder
// to raw samples.
func opjDecompress(t *testing.T, j2c string, w, h, spp, bits int) []uint16 {
	t.Helper()
	tool := testenv.Tool(t, "opj_decompress")
	out := j2c + ".raw"
	if msg, err := exec.Command(tool, "-i", j2c, "-o", out, "-quiet").CombinedOutput(); err != nil {
		t.Fatalf("opj_decompress: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// .raw: component planes one after another, 1 or 2 bytes a sample
	// (little endian).
	bps := 1
	if bits > 8 {
		bps = 2
	}
	if len(b) != w*h*spp*bps {
		t.Fatalf("opj_decompress wrote %d bytes, want %d", len(b), w*h*spp*bps)
	}
	px := make([]uint16, w*h*spp)
	for c := 0; c < spp; c++ {
		for p := 0; p < w*h; p++ {
			k := c*w*h + p
			if bps == 1 {
				px[p*spp+c] = uint16(b[k])
			} else {
				px[p*spp+c] = binary.LittleEndian.Uint16(b[2*k:])
			}
		}
	}
	return px
}

// TestMalformedJPEGLSSample: fo-dicom's GH364 is a JPEG-LS object strict
// parsers refuse. Whatever happens, it is an error or a decode, never a
// crash; when it decodes, it is the declared size.
func TestMalformedJPEGLSSample(t *testing.T) {
	path := sample(t, "us", "fodicom__GH364.dcm")
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Logf("not parsed (stored as received, residual): %v", err)
		return
	}
	d, err := NewDecoder(ds)
	if err != nil {
		t.Logf("not decodable: %v", err)
		return
	}
	img, err := d.Frame(0)
	if err != nil {
		t.Logf("frame not decoded: %v", err)
		return
	}
	if b := img.Bounds(); b.Dx() != d.Info().Columns || b.Dy() != d.Info().Rows {
		t.Fatalf("decoded %v, declared %d×%d", b, d.Info().Columns, d.Info().Rows)
	}
	// It decodes (our parser reads it; CharLS its codestream): an image,
	// not a flat frame.
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("decoded %T, want gray", img)
	}
	hist := map[uint8]int{}
	for _, v := range g.Pix {
		hist[v]++
	}
	t.Logf("decoded %v, %d distinct grey levels", g.Rect, len(hist))
	if len(hist) < 16 {
		t.Errorf("only %d grey levels: not an image", len(hist))
	}
}
