package pixels

import (
	"bytes"
	"fmt"
	"image"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

// randomRaster fills a w×h×nc raster with samples < 2^precision in one of
// several textures: noise exercises every category (16 included at 16 bits),
// smooth content the short codes, extremes the wrap-around modulo 2^16.
func randomRaster(rng *rand.Rand, w, h, nc, precision, texture int) *raster {
	r := newRaster(w, h, nc, precision > 8)
	max := 1<<uint(precision) - 1
	for i := range r.Pix {
		var v int
		switch texture {
		case 0: // uniform noise
			v = rng.Intn(max + 1)
		case 1: // smooth gradient plus a little noise
			p := i / nc
			v = (p%w*7 + p/w*3 + rng.Intn(3)) % (max + 1)
		case 2: // only the extremes and the midpoint
			v = []int{0, max, 1 << uint(precision-1)}[rng.Intn(3)]
		default: // constant
			v = max / 3
		}
		r.Pix[i] = uint16(v)
	}
	return r
}

func roundTrip(t testing.TB, r *raster, precision int) []byte {
	t.Helper()
	ids := []byte{1, 2, 3, 4}[:r.SPP]
	enc, err := encodeLossless(r, precision, ids)
	if err != nil {
		t.Fatalf("encode %d×%d×%d P%d: %v", r.W, r.H, r.SPP, precision, err)
	}
	back, err := decodeLossless(enc, &Info{Columns: r.W, Rows: r.H, SamplesPerPixel: r.SPP})
	if err != nil {
		t.Fatalf("decode %d×%d×%d P%d: %v", r.W, r.H, r.SPP, precision, err)
	}
	for k, v := range back.Pix {
		if v != r.Pix[k] {
			t.Fatalf("%d×%d×%d P%d: sample %d = %d, want %d", r.W, r.H, r.SPP, precision, k, v, r.Pix[k])
		}
	}
	hdr, err := readSOF3(enc)
	if err != nil || hdr.precision != precision || !bytes.Equal(hdr.ids, ids) {
		t.Fatalf("SOF3 reads back as %+v, %v", hdr, err)
	}
	return enc
}

func TestLosslessRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	sizes := [][2]int{{1, 1}, {1, 37}, {37, 1}, {2, 2}, {5, 3}, {64, 48}, {129, 7}, {300, 200}}
	n := 0
	for _, precision := range []int{2, 8, 12, 16} {
		for _, nc := range []int{1, 3} {
			for _, sz := range sizes {
				for texture := 0; texture < 4; texture++ {
					roundTrip(t, randomRaster(rng, sz[0], sz[1], nc, precision, texture), precision)
					n++
				}
			}
		}
	}
	// Random shapes and precisions.
	for i := 0; i < 40; i++ {
		p := 2 + rng.Intn(15)
		nc := []int{1, 3, 2, 4}[rng.Intn(4)]
		roundTrip(t, randomRaster(rng, 1+rng.Intn(90), 1+rng.Intn(90), nc, p, rng.Intn(4)), p)
		n++
	}
	t.Logf("%d images round-tripped bit-exact", n)
}

// TestLosslessCategory16 makes every difference ±32768 (category 16, no
// additional bits) and checks an all-zero image compresses to almost
// nothing (one 1-bit code per sample).
func TestLosslessCategory16(t *testing.T) {
	r := newRaster(33, 9, 1, true)
	for i := range r.Pix {
		if i%2 == 1 {
			r.Pix[i] = 32768
		}
	}
	roundTrip(t, r, 16)
	d := losslessDiffs(r, 16)
	if ssss(d[1]) != 16 {
		t.Fatalf("diff %d has category %d, want 16", d[1], ssss(d[1]))
	}
	zero := newRaster(256, 256, 1, false)
	enc := roundTrip(t, zero, 8)
	if len(enc) > 256*256/8+200 {
		t.Errorf("constant 256×256 frame encodes to %d bytes", len(enc))
	}
}

// TestOptimalHuffmanLimits feeds Fibonacci-like frequencies, whose
// unrestricted Huffman code is longer than 16 bits, and checks the table is
// a valid prefix code of at most 16 bits without the all-ones code word.
func TestOptimalHuffmanLimits(t *testing.T) {
	var freq [17]int
	a, b := 1, 1
	for s := 0; s < 17; s++ {
		freq[s] = a
		a, b = b, a+b
	}
	h := optimalHuffman(freq)
	total := 0
	kraft := 0.0
	for l, c := range h.counts {
		total += c
		kraft += float64(c) / float64(uint(1)<<uint(l+1))
	}
	if total != 17 || len(h.vals) != 17 {
		t.Fatalf("table has %d codes for 17 symbols", total)
	}
	if kraft >= 1 {
		t.Fatalf("Kraft sum %v: the all-ones code word is used", kraft)
	}
	for s := 0; s < 17; s++ {
		if h.size[s] < 1 || h.size[s] > 16 {
			t.Fatalf("symbol %d has code length %d", s, h.size[s])
		}
	}
	var th huffTable
	if err := th.build(h.counts, h.vals); err != nil {
		t.Fatalf("decoder rejects the table: %v", err)
	}
	r := newRaster(17, 1, 1, true)
	for i := range r.Pix {
		r.Pix[i] = uint16(i * 3853)
	}
	roundTrip(t, r, 16)
}

// losslessSamples are the JPEG Lossless SV1 ultrasound samples (pydicom-data
// and pylibjpeg-data, MIT).
var losslessSamples = []string{
	"pydicom-data__JPGLosslessP14SV1_1s_1f_8b.dcm",
	"pylibjpeg-data__JPEGLosslessP14SV1_3s_2f_u_08_08.dcm",
}

func TestCleanJPEGLosslessSamples(t *testing.T) {
	for _, name := range losslessSamples {
		t.Run(name, func(t *testing.T) {
			path := sample(t, "us", name)
			orig, err := dicomfile.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			keep, err := Regions(orig)
			if err != nil {
				t.Fatal(err)
			}
			if len(keep) == 0 { // not the case today; keep the test meaningful anyway
				keep = []image.Rectangle{image.Rect(100, 100, 400, 300)}
			}
			t.Logf("keep %v", keep)
			ds, err := dicomfile.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := Clean(ds, keep); err != nil {
				t.Fatalf("Clean: %v", err)
			}
			back := writeAndReread(t, ds)
			checkCleaned(t, orig, back, keep, false)
			if n := NumFrames(back); n != NumFrames(orig) {
				t.Fatalf("%d frames after cleaning, %d before", n, NumFrames(orig))
			}
		})
	}
}

// writeFile writes ds to dir/name with the DICOM library.
func writeFile(t *testing.T, ds *dicom.Dataset, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := dicom.Write(f, *ds); err != nil {
		t.Fatalf("dicom.Write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// dcmdjpegMatches decompresses path with DCMTK's dcmdjpeg and checks every
// frame's native samples equal what this package decodes from path.
func dcmdjpegMatches(t *testing.T, tool, path string) {
	t.Helper()
	out := path + ".native.dcm"
	if msg, err := exec.Command(tool, path, out).CombinedOutput(); err != nil {
		t.Fatalf("dcmdjpeg: %v\n%s", err, msg)
	}
	ours, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := dicomfile.ReadFile(out)
	if err != nil {
		t.Fatalf("dcmdjpeg output: %v", err)
	}
	so, err := open(ours)
	if err != nil {
		t.Fatal(err)
	}
	st, err := open(theirs)
	if err != nil {
		t.Fatalf("dcmdjpeg output: %v", err)
	}
	if st.info.Encoding != EncNative || st.frames != so.frames {
		t.Fatalf("dcmdjpeg output: %s with %d frames, want native with %d", st.info.Encoding, st.frames, so.frames)
	}
	for f := 0; f < so.frames; f++ {
		a, err := so.decode(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.decode(f)
		if err != nil {
			t.Fatal(err)
		}
		m := uint16(1<<uint(so.info.BitsStored) - 1)
		for k, v := range a.r.Pix {
			if v&m != b.r.Pix[k]&m {
				t.Fatalf("frame %d sample %d: dcmdjpeg %d, ours %d", f, k, b.r.Pix[k], v)
			}
		}
	}
}

func TestCleanedJPEGLosslessDecodesWithDcmdjpeg(t *testing.T) {
	tool := testenv.Tool(t, "dcmdjpeg")
	for _, name := range losslessSamples {
		t.Run(name, func(t *testing.T) {
			ds, err := dicomfile.ReadFile(sample(t, "us", name))
			if err != nil {
				t.Fatal(err)
			}
			keep, _ := Regions(ds)
			if len(keep) == 0 {
				keep = []image.Rectangle{image.Rect(100, 100, 400, 300)}
			}
			if err := Clean(ds, keep); err != nil {
				t.Fatalf("Clean: %v", err)
			}
			dcmdjpegMatches(t, tool, writeFile(t, ds, t.TempDir(), "cleaned.dcm"))
		})
	}
}

// TestEncoderAgainstDcmdjpeg checks the encoder at 12 and 16 bits, 1 and 3
// components, against an independent decoder.
func TestEncoderAgainstDcmdjpeg(t *testing.T) {
	tool := testenv.Tool(t, "dcmdjpeg")
	rng := rand.New(rand.NewSource(70))
	dir := t.TempDir()
	for _, c := range []struct {
		bits, stored, spp int
		photometric       string
	}{
		{8, 8, 1, "MONOCHROME2"}, {16, 12, 1, "MONOCHROME2"}, {16, 16, 1, "MONOCHROME2"},
		{8, 8, 3, "RGB"}, {16, 16, 3, "RGB"},
	} {
		name := fmt.Sprintf("%s_%d_%d", c.photometric, c.bits, c.stored)
		t.Run(name, func(t *testing.T) {
			s := synth{rows: 37, cols: 53, spp: c.spp, bits: c.bits, stored: c.stored, photometric: c.photometric, ts: tsJPEGLossSV1, frames: 4}
			var frames []*frame.Frame
			var offsets []uint32
			off := uint32(0)
			for f := 0; f < s.frames; f++ {
				r := randomRaster(rng, s.cols, s.rows, s.spp, c.stored, f)
				enc, err := encodeLossless(r, c.stored, []byte{1, 2, 3}[:s.spp])
				if err != nil {
					t.Fatal(err)
				}
				if len(enc)%2 == 1 {
					enc = append(enc, 0)
				}
				offsets = append(offsets, off)
				off += 8 + uint32(len(enc))
				frames = append(frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: enc}})
			}
			ds := s.build(t, dicom.PixelDataInfo{IsEncapsulated: true, Offsets: offsets, Frames: frames})
			dcmdjpegMatches(t, tool, writeFile(t, ds, dir, name+".dcm"))
		})
	}
}

func FuzzLosslessRoundTrip(f *testing.F) {
	f.Add([]byte{8, 1, 3, 2, 0, 255, 128, 1, 2, 3})
	f.Add([]byte{16, 3, 1, 1, 0xFF, 0xFF, 0, 0, 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 4 {
			return
		}
		precision := 2 + int(b[0])%15
		nc := 1 + int(b[1])%4
		w := 1 + int(b[2])%64
		h := 1 + int(b[3])%64
		r := newRaster(w, h, nc, precision > 8)
		data := b[4:]
		m := uint16(1<<uint(precision) - 1)
		for i := range r.Pix {
			if len(data) > 0 {
				r.Pix[i] = (uint16(data[(2*i)%len(data)])<<8 | uint16(data[(2*i+1)%len(data)])) & m
			}
		}
		roundTrip(t, r, precision)
	})
}

// TestCleanJPEGLosslessBlack checks the black written for each photometric
// interpretation in the decoded-sample domain of JPEG lossless (stored value
// in the low bits, sign-extended to the codestream's precision).
func TestCleanJPEGLosslessBlack(t *testing.T) {
	for _, c := range []struct {
		photometric       string
		spp, stored, prec int
		signed            bool
		want              []uint16
	}{
		{"MONOCHROME2", 1, 8, 8, false, []uint16{0}},
		{"MONOCHROME1", 1, 12, 12, false, []uint16{4095}},
		{"MONOCHROME2", 1, 12, 16, true, []uint16{0xF800}},
		{"MONOCHROME1", 1, 12, 12, true, []uint16{2047}},
		{"RGB", 3, 8, 8, false, []uint16{0, 0, 0}},
		{"YBR_FULL", 3, 8, 8, false, []uint16{0, 128, 128}},
	} {
		t.Run(fmt.Sprintf("%s_%d_P%d_signed=%v", c.photometric, c.stored, c.prec, c.signed), func(t *testing.T) {
			bits := 8
			if c.stored > 8 {
				bits = 16
			}
			s := synth{rows: 4, cols: 8, spp: c.spp, bits: bits, stored: c.stored, signed: c.signed, photometric: c.photometric, ts: tsJPEGLossSV1}
			rng := rand.New(rand.NewSource(int64(c.prec)))
			orig := randomRaster(rng, 8, 4, c.spp, c.prec, 0)
			enc, err := encodeLossless(orig, c.prec, []byte{1, 2, 3}[:c.spp])
			if err != nil {
				t.Fatal(err)
			}
			ds := s.build(t, dicom.PixelDataInfo{IsEncapsulated: true, Frames: []*frame.Frame{{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: enc}}}})
			if err := Clean(ds, keepCentre); err != nil {
				t.Fatal(err)
			}
			src, err := open(writeAndReread(t, ds))
			if err != nil {
				t.Fatal(err)
			}
			d, err := src.decode(0)
			if err != nil {
				t.Fatal(err)
			}
			mask := keepMask(8, 4, keepCentre)
			for p, keep := range mask {
				for k := 0; k < c.spp; k++ {
					got, want := d.r.Pix[p*c.spp+k], orig.Pix[p*c.spp+k]
					if !keep {
						want = c.want[k]
					}
					if got != want {
						t.Fatalf("pixel %d sample %d = %#x, want %#x (kept %v)", p, k, got, want, keep)
					}
				}
			}
		})
	}
}
