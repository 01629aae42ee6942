package pixels

import (
	"errors"
	"fmt"
)

// A decoder for JPEG Lossless, Non-Hierarchical (ITU T.81 Annex H, Process
// 14): Huffman coded differences from a predictor (1–7), precision 2–16,
// 1 to 4 components, every component with sampling factors 1×1, restart
// intervals honoured. Written for DICOM transfer syntaxes .4.57 and .4.70.

var errLossless = errors.New("malformed JPEG lossless stream")

type huffTable struct {
	maxcode [18]int32
	valptr  [17]int32
	mincode [17]int32
	vals    []byte
	fast    [1 << 9]uint16 // (length<<8)|value for codes of ≤9 bits; 0 = slow path
}

func (h *huffTable) build(counts [16]int, vals []byte) error {
	h.vals = vals
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.valptr[l] = k
		h.mincode[l] = code
		if code+n > 1<<uint(l) {
			// More codes of this length than the code space holds.
			return errLossless
		}
		if n == 0 {
			h.maxcode[l] = -1
		} else {
			// Fill the fast table for short codes.
			if l <= 9 {
				for c := code; c < code+n; c++ {
					lo := c << uint(9-l)
					for f := int32(0); f < 1<<uint(9-l); f++ {
						h.fast[lo+f] = uint16(l)<<8 | uint16(vals[k+c-code])
					}
				}
			}
			code += n
			k += n
			h.maxcode[l] = code - 1
		}
		code <<= 1
	}
	h.maxcode[17] = 0x7fffffff
	return nil
}

type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	nbits  uint
	marker bool // a marker was met: only zero bits follow
}

func (b *bitReader) fill() {
	for b.nbits <= 56 {
		var c byte
		if b.marker || b.pos >= len(b.data) {
			c = 0
		} else {
			c = b.data[b.pos]
			if c == 0xFF {
				if b.pos+1 < len(b.data) && b.data[b.pos+1] == 0x00 {
					b.pos += 2
				} else {
					b.marker = true
					c = 0
				}
			} else {
				b.pos++
			}
		}
		b.acc |= uint64(c) << (56 - b.nbits)
		b.nbits += 8
	}
}

func (b *bitReader) bits(n uint) uint32 {
	if n == 0 {
		return 0
	}
	if b.nbits < n {
		b.fill()
	}
	v := uint32(b.acc >> (64 - n))
	b.acc <<= n
	b.nbits -= n
	return v
}

func (b *bitReader) decode(h *huffTable) (int, error) {
	if b.nbits < 16 {
		b.fill()
	}
	if f := h.fast[b.acc>>(64-9)]; f != 0 {
		l := uint(f >> 8)
		b.acc <<= l
		b.nbits -= l
		return int(f & 0xFF), nil
	}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | int32(b.bits(1))
		if h.maxcode[l] >= 0 && code <= h.maxcode[l] {
			return int(h.vals[h.valptr[l]+code-h.mincode[l]]), nil
		}
	}
	return 0, errLossless
}

// restart skips to the byte after the next RSTn marker.
func (b *bitReader) restart() error {
	b.acc, b.nbits, b.marker = 0, 0, false
	for b.pos+1 < len(b.data) {
		if b.data[b.pos] == 0xFF && b.data[b.pos+1] >= 0xD0 && b.data[b.pos+1] <= 0xD7 {
			b.pos += 2
			return nil
		}
		b.pos++
	}
	return errLossless
}

// decodeLossless decodes a JPEG lossless codestream to a raster.
func decodeLossless(data []byte, in *Info) (*raster, error) {
	var (
		tables    [4]*huffTable
		precision int
		width     int
		height    int
		compIDs   []byte
		restart   int
		out       *raster
	)
	err := jpegSegments(data, func(m byte, seg []byte, next int) (bool, error) {
		switch m {
		case 0xC3: // SOF3 lossless Huffman
			if len(seg) < 6 {
				return false, errLossless
			}
			precision = int(seg[0])
			height = int(seg[1])<<8 | int(seg[2])
			width = int(seg[3])<<8 | int(seg[4])
			nc := int(seg[5])
			if nc < 1 || nc > 4 || len(seg) < 6+3*nc || precision < 2 || precision > 16 {
				return false, errLossless
			}
			for c := 0; c < nc; c++ {
				if seg[7+3*c] != 0x11 {
					return false, fmt.Errorf("%w: JPEG lossless with subsampled components", ErrUnsupported)
				}
				compIDs = append(compIDs, seg[6+3*c])
			}
			if width != in.Columns || height != in.Rows || nc != in.SamplesPerPixel {
				return false, fmt.Errorf("%w: JPEG frame %d×%d×%d, dataset says %d×%d×%d", ErrUnsupported, width, height, nc, in.Columns, in.Rows, in.SamplesPerPixel)
			}
		case 0xC0, 0xC1, 0xC2, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7:
			return false, fmt.Errorf("%w: JPEG process marker %#x is not lossless Huffman", ErrUnsupported, m)
		case 0xC4: // DHT
			for p := 0; p < len(seg); {
				if p+17 > len(seg) {
					return false, errLossless
				}
				tc, th := seg[p]>>4, seg[p]&15
				var counts [16]int
				total := 0
				for i := 0; i < 16; i++ {
					counts[i] = int(seg[p+1+i])
					total += counts[i]
				}
				if tc != 0 || th > 3 || p+17+total > len(seg) {
					return false, errLossless
				}
				h := &huffTable{}
				if err := h.build(counts, append([]byte(nil), seg[p+17:p+17+total]...)); err != nil {
					return false, err
				}
				tables[th] = h
				p += 17 + total
			}
		case 0xDD: // DRI
			if len(seg) < 2 {
				return false, errLossless
			}
			restart = int(seg[0])<<8 | int(seg[1])
		case 0xDA: // SOS
			if precision == 0 || len(seg) == 0 {
				return false, errLossless
			}
			ns := int(seg[0])
			if ns != len(compIDs) || len(seg) < 1+2*ns+3 {
				return false, fmt.Errorf("%w: JPEG lossless scan with %d of %d components", ErrUnsupported, ns, len(compIDs))
			}
			hts := make([]*huffTable, ns)
			for c := 0; c < ns; c++ {
				if seg[1+2*c] != compIDs[c] {
					return false, fmt.Errorf("%w: JPEG lossless scan component order", ErrUnsupported)
				}
				td := seg[2+2*c] >> 4
				if td > 3 || tables[td] == nil {
					return false, errLossless
				}
				hts[c] = tables[td]
				if hts[c] == nil {
					return false, errLossless
				}
			}
			pred := int(seg[1+2*ns])
			pt := int(seg[3+2*ns] & 15)
			if pred < 1 || pred > 7 || pt >= precision {
				return false, fmt.Errorf("%w: predictor %d", ErrUnsupported, pred)
			}
			// Every sample takes at least one bit: refuse a frame the
			// stream cannot hold before allocating for it.
			if int64(len(data)-next)*8 < int64(width)*int64(height)*int64(ns) {
				return false, fmt.Errorf("%w: %d bytes cannot hold a %d×%d×%d frame", errLossless, len(data)-next, width, height, ns)
			}
			r, err := losslessScan(data[next:], width, height, ns, precision, pred, pt, restart, hts)
			out = r
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("%w: no scan", errLossless)
	}
	return out, nil
}

// jpegSegments walks the marker segments of a JPEG codestream from SOI to
// EOI, skipping fill bytes and standalone markers. fn gets each segment's
// marker, its payload and the offset just past it (where entropy-coded data
// starts after SOS), and returns false to stop the walk.
func jpegSegments(data []byte, fn func(m byte, seg []byte, next int) (bool, error)) error {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return fmt.Errorf("%w: no SOI", errLossless)
	}
	for pos := 2; pos+4 <= len(data); {
		if data[pos] != 0xFF {
			pos++
			continue
		}
		m := data[pos+1]
		if m == 0xFF || m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			pos++
			continue
		}
		if m == 0xD9 {
			return nil
		}
		l := int(data[pos+2])<<8 | int(data[pos+3])
		if l < 2 || pos+2+l > len(data) {
			return errLossless
		}
		next := pos + 2 + l
		more, err := fn(m, data[pos+4:next], next)
		if err != nil || !more {
			return err
		}
		pos = next
	}
	return nil
}

func losslessScan(data []byte, w, h, nc, precision, pred, pt, restart int, hts []*huffTable) (*raster, error) {
	r := newRaster(w, h, nc, precision > 8)
	br := &bitReader{data: data}
	mask := int32(1)<<uint(precision) - 1
	if precision == 16 {
		mask = 0xFFFF
	}
	initial := int32(1) << uint(precision-pt-1)
	pix := r.Pix
	stride := w * nc
	mcus := 0
	firstRow := true // first line after the start or a restart
	atReset := true  // first sample after the start or a restart
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if restart > 0 && mcus > 0 && mcus%restart == 0 {
				if err := br.restart(); err != nil {
					return nil, err
				}
				firstRow, atReset = true, true
			}
			startOfLine := x == 0
			for c := 0; c < nc; c++ {
				s, err := br.decode(hts[c])
				if err != nil {
					return nil, err
				}
				var diff int32
				switch {
				case s == 0:
				case s == 16:
					diff = 32768
				case s > 16:
					return nil, errLossless
				default:
					v := int32(br.bits(uint(s)))
					if v < 1<<uint(s-1) {
						v += -(1 << uint(s)) + 1
					}
					diff = v
				}
				i := y*stride + x*nc + c
				var p int32
				switch {
				case atReset:
					p = initial
				case firstRow:
					p = int32(pix[i-nc]) >> uint(pt)
				case startOfLine:
					p = int32(pix[i-stride]) >> uint(pt)
				default:
					ra := int32(pix[i-nc]) >> uint(pt)
					rb := int32(pix[i-stride]) >> uint(pt)
					rc := int32(pix[i-stride-nc]) >> uint(pt)
					switch pred {
					case 1:
						p = ra
					case 2:
						p = rb
					case 3:
						p = rc
					case 4:
						p = ra + rb - rc
					case 5:
						p = ra + (rb-rc)>>1
					case 6:
						p = rb + (ra-rc)>>1
					case 7:
						p = (ra + rb) >> 1
					}
				}
				v := (p + diff) & (mask >> uint(pt))
				pix[i] = uint16(v << uint(pt))
			}
			mcus++
			atReset = false
		}
		firstRow = false
	}
	return r, nil
}
