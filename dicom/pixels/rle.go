package pixels

import (
	"encoding/binary"
	"fmt"
)

// RLE Lossless (PS3.5 Annex G): a 64-byte header with up to 15 segment
// offsets; one segment per byte of each sample, most significant byte first,
// each a PackBits stream of rows×columns bytes.

// decodeRLE decodes one RLE frame into a raster (samples interleaved).
func decodeRLE(data []byte, in *Info) (*raster, error) {
	if !validRLEHeader(data) {
		return nil, fmt.Errorf("%w: bad RLE header", ErrUnsupported)
	}
	bps := in.BitsAllocated / 8
	want := in.SamplesPerPixel * bps
	ns := int(binary.LittleEndian.Uint32(data))
	if ns != want {
		return nil, fmt.Errorf("%w: RLE frame has %d segments, %d expected", ErrUnsupported, ns, want)
	}
	npix := in.Rows * in.Columns
	// A PackBits run expands at most 128:1; refuse declared sizes the data
	// cannot possibly hold before allocating for them.
	if int64(len(data))*130 < int64(npix)*int64(ns) {
		return nil, fmt.Errorf("%w: RLE frame of %d bytes cannot hold %d×%d pixels", ErrUnsupported, len(data), in.Columns, in.Rows)
	}
	r := newRaster(in.Columns, in.Rows, in.SamplesPerPixel, in.BitsAllocated > 8)
	seg := make([]byte, npix)
	for k := 0; k < ns; k++ {
		start := int(binary.LittleEndian.Uint32(data[4+4*k:]))
		end := len(data)
		if k+1 < ns {
			end = int(binary.LittleEndian.Uint32(data[8+4*k:]))
		}
		if start > end || end > len(data) {
			return nil, fmt.Errorf("%w: RLE segment %d out of bounds", ErrUnsupported, k)
		}
		if err := unpackBits(data[start:end], seg); err != nil {
			return nil, fmt.Errorf("%w: RLE segment %d: %w", ErrUnsupported, k, err)
		}
		sample, byteIdx := k/bps, k%bps
		shift := uint(8 * (bps - 1 - byteIdx))
		spp := in.SamplesPerPixel
		for p, v := range seg {
			r.Pix[p*spp+sample] |= uint16(v) << shift
		}
	}
	return r, nil
}

// unpackBits fills out from a PackBits stream; a short stream is an error.
func unpackBits(src, out []byte) error {
	o := 0
	for i := 0; i < len(src) && o < len(out); {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			cnt := n + 1
			if i+cnt > len(src) {
				cnt = len(src) - i
			}
			if o+cnt > len(out) {
				cnt = len(out) - o
			}
			copy(out[o:], src[i:i+cnt])
			o += cnt
			i += n + 1
		case n != -128:
			if i >= len(src) {
				return fmt.Errorf("truncated run")
			}
			cnt := 1 - n
			if o+cnt > len(out) {
				cnt = len(out) - o
			}
			v := src[i]
			for k := 0; k < cnt; k++ {
				out[o+k] = v
			}
			o += cnt
			i++
		}
	}
	if o < len(out) {
		return fmt.Errorf("segment decodes to %d of %d bytes", o, len(out))
	}
	return nil
}

// encodeRLE encodes a raster as one RLE frame (even length).
func encodeRLE(r *raster, bps int) []byte {
	ns := r.SPP * bps
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(ns))
	out := hdr
	row := make([]byte, r.W)
	for k := 0; k < ns; k++ {
		binary.LittleEndian.PutUint32(out[4+4*k:], uint32(len(out)))
		sample, byteIdx := k/bps, k%bps
		shift := uint(8 * (bps - 1 - byteIdx))
		for y := 0; y < r.H; y++ {
			base := y * r.W * r.SPP
			for x := 0; x < r.W; x++ {
				row[x] = uint8(r.Pix[base+x*r.SPP+sample] >> shift)
			}
			out = packBits(out, row)
		}
		if len(out)%2 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

// packBits appends the PackBits encoding of one row (runs never cross rows,
// PS3.5 G.3.1).
func packBits(out, row []byte) []byte {
	i := 0
	for i < len(row) {
		// Length of the run of equal bytes at i.
		j := i + 1
		for j < len(row) && j-i < 128 && row[j] == row[i] {
			j++
		}
		if j-i >= 3 || (j-i == 2 && j == len(row)) {
			out = append(out, byte(1-(j-i)), row[i])
			i = j
			continue
		}
		// Literal: extend until a run of three starts or 128 bytes.
		start := i
		for i < len(row) && i-start < 128 {
			if i+2 < len(row) && row[i] == row[i+1] && row[i] == row[i+2] {
				break
			}
			i++
		}
		out = append(out, byte(i-start-1))
		out = append(out, row[start:i]...)
	}
	return out
}
