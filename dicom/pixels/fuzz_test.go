package pixels

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

// Every decoder here reads bytes a scanner sent: whatever they hold, a
// decoder returns an image or an error, never panics, and allocates in
// proportion to its input (bounded by MaxFramePixels).

// fuzzInfo is a small frame description from fuzz parameters.
func fuzzInfo(w, h, spp uint8, wide bool) *Info {
	in := &Info{Columns: 1 + int(w)%64, Rows: 1 + int(h)%64, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8, HighBit: 7, Photometric: "MONOCHROME2"}
	if spp%2 == 1 {
		in.SamplesPerPixel, in.Photometric = 3, "RGB"
	}
	if wide {
		in.BitsAllocated, in.BitsStored, in.HighBit = 16, 16, 15
	}
	return in
}

func FuzzDecodeLossless(f *testing.F) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct{ w, h, nc, prec int }{{8, 4, 1, 8}, {5, 3, 3, 8}, {7, 2, 1, 12}, {3, 3, 1, 16}} {
		enc, err := encodeLossless(randomRaster(rng, c.w, c.h, c.nc, c.prec, 1), c.prec, []byte{1, 2, 3}[:c.nc])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, uint8(c.w-1), uint8(c.h-1), uint8(c.nc/3), c.prec > 8)
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h, spp uint8, wide bool) {
		in := fuzzInfo(w, h, spp, wide)
		r, err := decodeLossless(data, in)
		if err == nil && len(r.Pix) != in.Columns*in.Rows*in.SamplesPerPixel {
			t.Fatalf("%d samples for a %d×%d×%d frame", len(r.Pix), in.Columns, in.Rows, in.SamplesPerPixel)
		}
		if _, err := readSOF3(data); err != nil {
			return
		}
	})
}

func FuzzDecodeRLE(f *testing.F) {
	rng := rand.New(rand.NewSource(2))
	for _, c := range []struct {
		w, h, nc int
		wide     bool
	}{{8, 4, 1, false}, {5, 3, 3, false}, {6, 2, 1, true}} {
		prec := 8
		if c.wide {
			prec = 16
		}
		bps := 1
		if c.wide {
			bps = 2
		}
		f.Add(encodeRLE(randomRaster(rng, c.w, c.h, c.nc, prec, 1), bps), uint8(c.w-1), uint8(c.h-1), uint8(c.nc/3), c.wide)
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h, spp uint8, wide bool) {
		in := fuzzInfo(w, h, spp, wide)
		r, err := decodeRLE(data, in)
		if err == nil && len(r.Pix) != in.Columns*in.Rows*in.SamplesPerPixel {
			t.Fatalf("%d samples for a %d×%d×%d frame", len(r.Pix), in.Columns, in.Rows, in.SamplesPerPixel)
		}
	})
}

// words encodes 16-bit words little endian.
func words(w ...uint16) []byte {
	b := make([]byte, 2*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

// nestedIndirect is a segmented table of k indirect segments, each
// repeating k indirect segments, each repeating k empty discrete ones: k³
// segments to expand from 10k words.
func nestedIndirect(k int) []byte {
	b := 3 + 4*k
	c := b + 4*k
	w := []uint16{0, 1, 7}
	for range k {
		w = append(w, 2, uint16(k), uint16(b), uint16(b>>16))
	}
	for range k {
		w = append(w, 2, uint16(k), uint16(c), uint16(c>>16))
	}
	for range k {
		w = append(w, 0, 0)
	}
	return words(w...)
}

// A small segmented table that asks for billions of empty segments is
// refused quickly.
func TestSegmentedPaletteWorkBounded(t *testing.T) {
	data := nestedIndirect(3000) // 60 kB, 2.7e10 segments
	done := make(chan error, 1)
	go func() {
		_, err := expandSegmented(data, 256)
		done <- err
	}()
	select {
	case err := <-done:
		if !IsUnsupported(err) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("expanding a 60 kB segmented palette table takes more than 5 s")
	}
}

func FuzzPalette(f *testing.F) {
	f.Add(words(0, 2, 0, 100, 1, 10, 200), uint16(16))    // discrete, linear
	f.Add(words(0, 1, 5, 0, 1, 9, 2, 2, 0, 0), uint16(8)) // indirect
	f.Add(words(0, 3, 1, 2, 3), uint16(0))                // 65536 entries from 3
	f.Add(nestedIndirect(3), uint16(4))                   // nested indirect of empty segments
	f.Fuzz(func(t *testing.T, data []byte, n16 uint16) {
		n := int(n16)
		if n == 0 {
			n = 65536
		}
		out, err := expandSegmented(data, n)
		if err == nil && len(out) != n {
			t.Fatalf("%d entries, want %d", len(out), n)
		}
		// The plain tables of a dataset, descriptor from the input.
		ds := (synth{rows: 2, cols: 2, spp: 1, bits: 8, photometric: "PALETTE COLOR"}).build(t, native(make([]byte, 4)))
		for c := 0; c < 3; c++ {
			ds.Elements = append(ds.Elements, mustEl(t, paletteDescriptor[c], []int{int(n16), 0, 8 + 8*(c%2)}), mustEl(t, paletteData[c], data))
		}
		if p, err := readPalette(ds); err == nil {
			for _, v := range []int{-1, 0, 1, 255, 65535, 1 << 20} {
				p.Lookup(v)
			}
		}
	})
}

// FuzzClean rewrites one fuzzed encapsulated frame the way de-identification
// does: JPEG Baseline (decoded, masked, re-encoded, checked), JPEG Lossless
// and RLE.
func FuzzClean(f *testing.F) {
	for _, c := range []struct{ w, h int }{{16, 8}, {8, 8}} {
		g := image.NewGray(image.Rect(0, 0, c.w, c.h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 7)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, g, nil); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes(), uint8(0), uint8(c.w-1), uint8(c.h-1))
		y := image.NewYCbCr(image.Rect(0, 0, c.w, c.h), image.YCbCrSubsampleRatio420)
		b.Reset()
		if err := jpeg.Encode(&b, y, nil); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes(), uint8(3), uint8(c.w-1), uint8(c.h-1))
	}
	rng := rand.New(rand.NewSource(3))
	enc, err := encodeLossless(randomRaster(rng, 8, 4, 1, 8, 1), 8, []byte{1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc, uint8(1), uint8(7), uint8(3))
	f.Add(encodeRLE(randomRaster(rng, 8, 4, 1, 8, 1), 1), uint8(2), uint8(7), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, kind, w, h uint8) {
		ts := []string{tsJPEGBase, tsJPEGLossSV1, tsRLE}[int(kind)%3]
		s := synth{rows: 1 + int(h)%64, cols: 1 + int(w)%64, spp: 1, bits: 8, photometric: "MONOCHROME2", ts: ts}
		if kind%2 == 1 {
			s.spp, s.photometric = 3, "YBR_FULL_422"
			if ts != tsJPEGBase {
				s.photometric = "RGB"
			}
		}
		ds := s.build(t, dicom.PixelDataInfo{IsEncapsulated: true, Frames: []*frame.Frame{{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: data}}}})
		if err := Clean(ds, []image.Rectangle{image.Rect(1, 1, s.cols/2+1, s.rows/2+1)}); err != nil {
			return
		}
		// What Clean wrote must decode.
		if _, err := Frame(ds, 0); err != nil {
			t.Fatalf("cleaned frame does not decode: %v", err)
		}
	})
}

// FuzzFrame reads whole files as the pipeline does: parse, decode every
// frame (at most a few), clean outside the ultrasound regions.
func FuzzFrame(f *testing.F) {
	for _, p := range testenv.SampleFiles(f, "us", "sc", "odd") {
		if st, err := os.Stat(p); err == nil && st.Size() <= 64<<10 {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, _, err := dicomfile.Parse(bytes.NewReader(b), int64(len(b)), dicomfile.Limits{MaxDepth: 8}, false)
		if err != nil {
			return
		}
		d, err := NewDecoder(ds)
		if err != nil {
			return
		}
		for i := 0; i < min(d.NumFrames(), 3); i++ {
			if _, err := d.Frame(i); err != nil {
				break
			}
		}
		keep, err := Regions(ds)
		if err != nil {
			return
		}
		_ = Clean(ds, keep)
	})
}
