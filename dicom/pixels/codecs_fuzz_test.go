package pixels

import (
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Seeds for the codec fuzz targets: small codestreams in
// testdata/codestreams, made from synthetic images by gdcmconv, dcmcjpls,
// dcmcjpeg and ojph_compress; the name says kind-WxHxSPP-bits.

type seed struct {
	data            []byte
	w, h, spp, bits int
}

func codestreamSeeds(f *testing.F, prefixes ...string) []seed {
	f.Helper()
	var out []seed
	entries, err := os.ReadDir("testdata/codestreams")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		ok := false
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(name, p)
		}
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata/codestreams", name))
		if err != nil {
			f.Fatal(err)
		}
		// …-WxHxS-B.ext
		parts := strings.Split(strings.TrimSuffix(name, filepath.Ext(name)), "-")
		dims := strings.Split(parts[len(parts)-2], "x")
		s := seed{data: b}
		s.w, _ = strconv.Atoi(dims[0])
		s.h, _ = strconv.Atoi(dims[1])
		s.spp, _ = strconv.Atoi(dims[2])
		s.bits, _ = strconv.Atoi(parts[len(parts)-1])
		out = append(out, s)
	}
	if len(out) == 0 {
		f.Fatalf("no seeds %v in testdata/codestreams", prefixes)
	}
	return out
}

// codecInfo is a frame description from fuzz parameters: up to 64×64, 1 or
// 3 samples, 2 to 16 bits stored.
func codecInfo(w, h, spp, bits uint8, enc Encoding) *Info {
	in := &Info{Columns: 1 + int(w)%64, Rows: 1 + int(h)%64, SamplesPerPixel: 1, Photometric: "MONOCHROME2", Encoding: enc}
	if spp%2 == 1 {
		in.SamplesPerPixel, in.Photometric = 3, "RGB"
	}
	in.BitsStored = 2 + int(bits)%15
	in.BitsAllocated = 8
	if in.BitsStored > 8 {
		in.BitsAllocated = 16
	}
	in.HighBit = in.BitsStored - 1
	return in
}

func fuzzCodec(f *testing.F, enc Encoding, dec func([]byte, *Info) (*raster, error), prefixes ...string) {
	for _, s := range codestreamSeeds(f, prefixes...) {
		f.Add(s.data, uint8(s.w-1), uint8(s.h-1), uint8(s.spp/3), uint8(s.bits-2))
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h, spp, bits uint8) {
		in := codecInfo(w, h, spp, bits, enc)
		r, err := dec(data, in)
		if err != nil {
			if !IsUnsupported(err) && !strings.Contains(err.Error(), "malformed") {
				t.Fatalf("error neither unsupported nor malformed: %v", err)
			}
			return
		}
		if len(r.Pix) != in.Columns*in.Rows*in.SamplesPerPixel {
			t.Fatalf("%d samples for a %d×%d×%d frame", len(r.Pix), in.Columns, in.Rows, in.SamplesPerPixel)
		}
		// What decodes can be cleaned and displayed.
		mask := keepMask(in.Columns, in.Rows, []image.Rectangle{image.Rect(1, 1, in.Columns/2+1, in.Rows/2+1)})
		black, err := in.losslessBlack(in.BitsStored)
		if err != nil {
			t.Fatal(err)
		}
		for p, k := range mask {
			if !k {
				copy(r.Pix[p*r.SPP:(p+1)*r.SPP], black)
			}
		}
		if _, err := encodeLossless(r, in.BitsStored, []byte{1, 2, 3}[:in.SamplesPerPixel]); err != nil {
			t.Fatalf("a decoded frame does not re-encode: %v", err)
		}
		_ = rasterToDisplay(r, in)
	})
}

func FuzzDecodeJ2K(f *testing.F) { fuzzCodec(f, EncJPEG2000, decodeJ2K, "j2k-", "htj2k-") }

func FuzzDecodeJPEGLS(f *testing.F) { fuzzCodec(f, EncJPEGLS, decodeJPEGLS, "jls-") }

func FuzzDecodeJPEGExt(f *testing.F) { fuzzCodec(f, EncJPEGBaseline, decodeJPEGExt, "jpeg-ext-") }
