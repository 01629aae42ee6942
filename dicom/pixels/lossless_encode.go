package pixels

import (
	"fmt"
	"sort"
)

// A JPEG Lossless encoder (ITU T.81 Annex H, Process 14) for rewriting
// cleaned frames: Selection Value 1 (predictor Ra), point transform 0, one
// interleaved scan of 1 to 4 components sampled 1×1, one Huffman table
// optimised for the frame (Annex K.2), no restart intervals. The output is
// valid under both DICOM JPEG Lossless transfer syntaxes (.4.57 and .4.70).

// losslessFrame is the part of a SOF3 header the encoder keeps.
type losslessFrame struct {
	precision int
	ids       []byte // component identifiers, in scan order
}

// readSOF3 returns the precision and component identifiers of a JPEG
// lossless codestream's frame header.
func readSOF3(data []byte) (losslessFrame, error) {
	var f losslessFrame
	err := jpegSegments(data, func(m byte, seg []byte, _ int) (bool, error) {
		switch m {
		case 0xDA: // the scan: no frame header before it
			return false, nil
		case 0xC3:
			if len(seg) < 6 || len(seg) < 6+3*int(seg[5]) || seg[5] == 0 {
				return false, errLossless
			}
			f.precision = int(seg[0])
			for c := 0; c < int(seg[5]); c++ {
				f.ids = append(f.ids, seg[6+3*c])
			}
			return false, nil
		}
		return true, nil
	})
	if err == nil && f.precision == 0 {
		err = fmt.Errorf("%w: no SOF3 frame header", errLossless)
	}
	return f, err
}

// losslessDiffs computes the Selection Value 1 prediction differences of r
// (precision bits per sample, point transform 0), modulo 2^16 and mapped to
// −32767…32768 as T.81 H.1.2.1 defines them.
func losslessDiffs(r *raster, precision int) []int32 {
	nc, w := r.SPP, r.W
	stride := w * nc
	initial := int32(1) << uint(precision-1)
	d := make([]int32, len(r.Pix))
	for y := 0; y < r.H; y++ {
		row := r.Pix[y*stride : (y+1)*stride]
		for i, v := range row {
			var p int32
			switch {
			case i >= nc: // Ra, the sample to the left
				p = int32(row[i-nc])
			case y > 0: // first column: Rb, the sample above
				p = int32(r.Pix[(y-1)*stride+i])
			default: // first sample of the scan
				p = initial
			}
			diff := (int32(v) - p) & 0xFFFF
			if diff > 32768 {
				diff -= 65536
			}
			d[y*stride+i] = diff
		}
	}
	return d
}

// ssss is the difference category (T.81 Table H.2): the number of bits of
// |diff|; 32768 is category 16.
func ssss(diff int32) int {
	if diff < 0 {
		diff = -diff
	}
	n := 0
	for diff != 0 {
		n++
		diff >>= 1
	}
	return n
}

// huffSpec is a Huffman table in DHT form plus the derived encoder codes.
type huffSpec struct {
	counts [16]int // codes of each length 1…16
	vals   []byte  // symbols in order of increasing code length
	code   [17]uint16
	size   [17]uint8 // 0: symbol not in the table
}

// optimalHuffman builds a length-limited Huffman table for the symbol
// frequencies freq (T.81 Annex K.2: one reserved code point keeps the
// all-ones code unused, lengths are limited to 16 bits).
func optimalHuffman(freq [17]int) *huffSpec {
	const nsym = 18 // 17 categories + the reserved symbol
	var f [nsym]int
	copy(f[:], freq[:])
	f[17] = 1 // reserved: guarantees no code word is all ones
	var codesize [nsym]int
	others := [nsym]int{}
	for i := range others {
		others[i] = -1
	}
	for {
		// The two least frequent symbols with nonzero frequency; ties go to
		// the larger symbol value as in Figure K.1.
		v1, v2 := -1, -1
		for i := 0; i < nsym; i++ {
			if f[i] > 0 && (v1 < 0 || f[i] <= f[v1]) {
				v1 = i
			}
		}
		for i := 0; i < nsym; i++ {
			if f[i] > 0 && i != v1 && (v2 < 0 || f[i] <= f[v2]) {
				v2 = i
			}
		}
		if v2 < 0 {
			break
		}
		f[v1] += f[v2]
		f[v2] = 0
		codesize[v1]++
		for others[v1] >= 0 {
			v1 = others[v1]
			codesize[v1]++
		}
		others[v1] = v2
		codesize[v2]++
		for others[v2] >= 0 {
			v2 = others[v2]
			codesize[v2]++
		}
	}
	// Count codes per length (up to 32 with 18 symbols), then limit to 16
	// bits (Figure K.3).
	var bits [33]int
	for _, s := range codesize {
		if s > 0 {
			bits[s]++
		}
	}
	for i := 32; i > 16; i-- {
		for bits[i] > 0 {
			j := i - 2
			for bits[j] == 0 {
				j--
			}
			bits[i] -= 2
			bits[i-1]++
			bits[j+1] += 2
			bits[j]--
		}
	}
	// Remove the reserved code point from the longest length.
	for i := 16; i > 0; i-- {
		if bits[i] > 0 {
			bits[i]--
			break
		}
	}
	// Symbols sorted by code size (Figure K.4), reserved symbol excluded.
	syms := make([]int, 0, 17)
	for s := 0; s < 17; s++ {
		if codesize[s] > 0 {
			syms = append(syms, s)
		}
	}
	sort.SliceStable(syms, func(a, b int) bool { return codesize[syms[a]] < codesize[syms[b]] })
	h := &huffSpec{}
	for l := 1; l <= 16; l++ {
		h.counts[l-1] = bits[l]
	}
	for _, s := range syms {
		h.vals = append(h.vals, byte(s))
	}
	// Canonical codes (Annex C) in the order of vals.
	code, k := uint16(0), 0
	for l := 1; l <= 16; l++ {
		for n := 0; n < h.counts[l-1]; n++ {
			s := h.vals[k]
			h.code[s], h.size[s] = code, uint8(l)
			code++
			k++
		}
		code <<= 1
	}
	return h
}

// bitWriter appends bits MSB first, stuffing a zero byte after every 0xFF.
type bitWriter struct {
	out   []byte
	acc   uint64
	nbits uint
}

func (b *bitWriter) put(v uint32, n uint) {
	if n == 0 {
		return
	}
	b.acc = b.acc<<n | uint64(v)&(1<<n-1)
	b.nbits += n
	for b.nbits >= 8 {
		c := byte(b.acc >> (b.nbits - 8))
		b.out = append(b.out, c)
		if c == 0xFF {
			b.out = append(b.out, 0x00)
		}
		b.nbits -= 8
	}
}

// flush pads the last byte with one bits (T.81 F.1.2.3).
func (b *bitWriter) flush() {
	if b.nbits > 0 {
		b.put(1<<(8-b.nbits)-1, 8-b.nbits)
	}
}

// encodeLossless encodes r (samples interleaved, each < 2^precision) as a
// JPEG Lossless SV1 codestream with the given component identifiers.
func encodeLossless(r *raster, precision int, ids []byte) ([]byte, error) {
	if precision < 2 || precision > 16 {
		return nil, fmt.Errorf("%w: JPEG lossless precision %d", ErrUnsupported, precision)
	}
	if r.SPP < 1 || r.SPP > 4 || len(ids) != r.SPP {
		return nil, fmt.Errorf("%w: JPEG lossless with %d components", ErrUnsupported, r.SPP)
	}
	if r.W < 1 || r.H < 1 || r.W > 0xFFFF || r.H > 0xFFFF {
		return nil, fmt.Errorf("%w: JPEG lossless frame %d×%d", ErrUnsupported, r.W, r.H)
	}
	limit := uint32(1) << uint(precision)
	for _, v := range r.Pix {
		if uint32(v) >= limit {
			return nil, fmt.Errorf("pixels: sample %d does not fit JPEG precision %d", v, precision)
		}
	}
	diffs := losslessDiffs(r, precision)
	var freq [17]int
	for _, d := range diffs {
		freq[ssss(d)]++
	}
	h := optimalHuffman(freq)

	nc := r.SPP
	out := make([]byte, 0, 64+len(r.Pix)/2)
	out = append(out, 0xFF, 0xD8) // SOI
	// SOF3: lossless, Huffman.
	out = append(out, 0xFF, 0xC3, 0, byte(8+3*nc), byte(precision),
		byte(r.H>>8), byte(r.H), byte(r.W>>8), byte(r.W), byte(nc))
	for _, id := range ids {
		out = append(out, id, 0x11, 0)
	}
	// DHT: one DC-class table, number 0.
	lh := 2 + 1 + 16 + len(h.vals)
	out = append(out, 0xFF, 0xC4, byte(lh>>8), byte(lh), 0x00)
	for _, c := range h.counts {
		out = append(out, byte(c))
	}
	out = append(out, h.vals...)
	// SOS: all components, table 0, Ss = 1 (predictor Ra), Se = 0, Ah/Al = 0.
	out = append(out, 0xFF, 0xDA, 0, byte(6+2*nc), byte(nc))
	for _, id := range ids {
		out = append(out, id, 0x00)
	}
	out = append(out, 1, 0, 0)

	bw := &bitWriter{out: out}
	for _, d := range diffs {
		s := ssss(d)
		bw.put(uint32(h.code[s]), uint(h.size[s]))
		if s == 0 || s == 16 {
			continue // category 16 (32768) has no additional bits
		}
		if d < 0 {
			d-- // negative: the low s bits of d−1 (one's complement)
		}
		bw.put(uint32(d), uint(s))
	}
	bw.flush()
	return append(bw.out, 0xFF, 0xD9), nil // EOI
}
