package pixels

import (
	"errors"
	"fmt"
	"math"
)

// A decoder for JPEG Extended sequential DCT with Huffman coding (ITU T.81
// processes 2 and 4: SOF0/SOF1, 8- or 12-bit samples), written for DICOM
// JPEG Extended (1.2.840.10008.1.2.4.51), whose images are mostly 12-bit:
// Go's image/jpeg and Debian's libjpeg-turbo 2.1 read 8-bit samples only.
// Interleaved and non-interleaved scans, any sampling factors (chroma is
// upsampled by replication), 8- and 16-bit quantisation tables and restart
// intervals are handled; progressive and arithmetic-coded streams are not.
// Samples are returned as coded (no colour conversion), in their low bits.

var errJPEGExt = errors.New("malformed JPEG extended stream")

// zigzag maps the position of a coefficient in the coded order to its
// place in the 8×8 block (row-major).
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// idctCos[x][u] = C(u)/2 · cos((2x+1)uπ/16), the basis of the 8-point
// inverse DCT (T.81 A.3.3).
var idctCos = func() (t [8][8]float64) {
	for x := 0; x < 8; x++ {
		for u := 0; u < 8; u++ {
			c := 1.0
			if u == 0 {
				c = 1 / math.Sqrt2
			}
			t[x][u] = c / 2 * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16)
		}
	}
	return t
}()

// idct8x8 turns dequantised coefficients (row-major) into level-shifted
// samples, rounded and clamped to 0…2^precision−1, written to out at
// stride.
func idct8x8(coef *[64]int32, out []uint16, stride, precision int) {
	var tmp [64]float64
	// Rows: for each row v of coefficients, the 8 horizontal samples.
	for v := 0; v < 8; v++ {
		row := coef[v*8 : v*8+8]
		zero := true
		for u := 1; u < 8; u++ {
			if row[u] != 0 {
				zero = false
				break
			}
		}
		for x := 0; x < 8; x++ {
			if zero {
				tmp[v*8+x] = float64(row[0]) * idctCos[x][0]
				continue
			}
			s := 0.0
			for u := 0; u < 8; u++ {
				s += float64(row[u]) * idctCos[x][u]
			}
			tmp[v*8+x] = s
		}
	}
	shift := float64(int(1) << uint(precision-1))
	hi := float64(int(1)<<uint(precision) - 1)
	for x := 0; x < 8; x++ {
		for y := 0; y < 8; y++ {
			s := 0.0
			for v := 0; v < 8; v++ {
				s += tmp[v*8+x] * idctCos[y][v]
			}
			s = math.Round(s + shift)
			if s < 0 {
				s = 0
			} else if s > hi {
				s = hi
			}
			out[y*stride+x] = uint16(s)
		}
	}
}

// extComponent is one component of the frame with its decoded plane
// (padded to whole MCUs).
type extComponent struct {
	id       byte
	h, v, tq int
	bw, bh   int // blocks across and down in the padded plane
	plane    []uint16
	pred     int32
	dc, ac   *huffTable
}

// jpegPrecision returns the sample precision of a JPEG codestream's frame
// header, 0 when there is none.
func jpegPrecision(data []byte) int {
	p := 0
	_ = jpegSegments(data, func(m byte, seg []byte, _ int) (bool, error) {
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			if len(seg) > 0 {
				p = int(seg[0])
			}
			return false, nil
		}
		return m != 0xDA, nil
	})
	return p
}

// decodeJPEGExt decodes a sequential DCT Huffman JPEG frame of 8- or
// 12-bit precision to a raster.
func decodeJPEGExt(data []byte, in *Info) (*raster, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, fmt.Errorf("%w: no SOI", errJPEGExt)
	}
	var (
		quant     [4][64]int32
		dcTables  [4]*huffTable
		acTables  [4]*huffTable
		comps     []*extComponent
		precision int
		w, h      int
		hmax      int
		vmax      int
		restart   int
		scans     int
	)
	pos := 2
	for pos+4 <= len(data) {
		if data[pos] != 0xFF {
			pos++
			continue
		}
		m := data[pos+1]
		if m == 0xFF || m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			pos++
			continue
		}
		if m == 0xD9 {
			break
		}
		l := int(data[pos+2])<<8 | int(data[pos+3])
		if l < 2 || pos+2+l > len(data) {
			return nil, errJPEGExt
		}
		seg := data[pos+4 : pos+2+l]
		next := pos + 2 + l
		switch m {
		case 0xC0, 0xC1: // baseline, extended sequential Huffman
			if comps != nil || len(seg) < 6 {
				return nil, errJPEGExt
			}
			precision = int(seg[0])
			h = int(seg[1])<<8 | int(seg[2])
			w = int(seg[3])<<8 | int(seg[4])
			nc := int(seg[5])
			if precision != 8 && precision != 12 {
				return nil, fmt.Errorf("%w: JPEG DCT precision %d", ErrUnsupported, precision)
			}
			if precision > in.BitsStored {
				return nil, fmt.Errorf("%w: JPEG precision %d exceeds Bits Stored %d", ErrUnsupported, precision, in.BitsStored)
			}
			if nc < 1 || nc > 4 || len(seg) < 6+3*nc {
				return nil, errJPEGExt
			}
			if w != in.Columns || h != in.Rows || nc != in.SamplesPerPixel {
				return nil, fmt.Errorf("%w: JPEG frame %d×%d×%d, dataset says %d×%d×%d", ErrUnsupported, w, h, nc, in.Columns, in.Rows, in.SamplesPerPixel)
			}
			for c := 0; c < nc; c++ {
				k := &extComponent{id: seg[6+3*c], h: int(seg[7+3*c] >> 4), v: int(seg[7+3*c] & 15), tq: int(seg[8+3*c])}
				if k.h < 1 || k.h > 4 || k.v < 1 || k.v > 4 || k.tq > 3 {
					return nil, errJPEGExt
				}
				hmax, vmax = max(hmax, k.h), max(vmax, k.v)
				comps = append(comps, k)
			}
			// Every 8×8 block takes at least one bit per component: refuse
			// a frame the stream cannot hold before allocating for it.
			mcux, mcuy := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
			blocks := 0
			for _, k := range comps {
				k.bw, k.bh = mcux*k.h, mcuy*k.v
				blocks += k.bw * k.bh
			}
			if int64(len(data))*8 < int64(blocks) {
				return nil, fmt.Errorf("%w: %d bytes cannot hold a %d×%d×%d frame", errJPEGExt, len(data), w, h, nc)
			}
			for _, k := range comps {
				k.plane = make([]uint16, k.bw*8*k.bh*8)
			}
		case 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7:
			return nil, fmt.Errorf("%w: JPEG process marker %#x is not sequential DCT with Huffman coding", ErrUnsupported, m)
		case 0xDB: // DQT
			for p := 0; p < len(seg); {
				pq, tq := int(seg[p]>>4), int(seg[p]&15)
				n := 64 * (1 + pq)
				if pq > 1 || tq > 3 || p+1+n > len(seg) {
					return nil, errJPEGExt
				}
				for k := 0; k < 64; k++ {
					if pq == 0 {
						quant[tq][k] = int32(seg[p+1+k])
					} else {
						quant[tq][k] = int32(seg[p+1+2*k])<<8 | int32(seg[p+2+2*k])
					}
				}
				p += 1 + n
			}
		case 0xC4: // DHT
			for p := 0; p < len(seg); {
				if p+17 > len(seg) {
					return nil, errJPEGExt
				}
				tc, th := seg[p]>>4, seg[p]&15
				var counts [16]int
				total := 0
				for i := 0; i < 16; i++ {
					counts[i] = int(seg[p+1+i])
					total += counts[i]
				}
				if tc > 1 || th > 3 || p+17+total > len(seg) {
					return nil, errJPEGExt
				}
				t := &huffTable{}
				if err := t.build(counts, append([]byte(nil), seg[p+17:p+17+total]...)); err != nil {
					return nil, errJPEGExt
				}
				if tc == 0 {
					dcTables[th] = t
				} else {
					acTables[th] = t
				}
				p += 17 + total
			}
		case 0xDD: // DRI
			if len(seg) < 2 {
				return nil, errJPEGExt
			}
			restart = int(seg[0])<<8 | int(seg[1])
		case 0xDA: // SOS
			if comps == nil || len(seg) < 1 {
				return nil, errJPEGExt
			}
			ns := int(seg[0])
			if ns < 1 || ns > len(comps) || len(seg) < 1+2*ns+3 {
				return nil, errJPEGExt
			}
			sc := make([]*extComponent, ns)
			for i := 0; i < ns; i++ {
				id, td, ta := seg[1+2*i], seg[2+2*i]>>4, seg[2+2*i]&15
				for _, k := range comps {
					if k.id == id {
						sc[i] = k
					}
				}
				if sc[i] == nil || td > 3 || ta > 3 || dcTables[td] == nil || acTables[ta] == nil {
					return nil, errJPEGExt
				}
				sc[i].dc, sc[i].ac = dcTables[td], acTables[ta]
			}
			if ss, se := seg[1+2*ns], seg[2+2*ns]; ss != 0 || se != 63 {
				return nil, fmt.Errorf("%w: JPEG spectral selection %d–%d (progressive)", ErrUnsupported, ss, se)
			}
			if err := extScan(data[next:], sc, &quant, mcuxOf(w, hmax), mcuxOf(h, vmax), w, h, hmax, vmax, restart, precision); err != nil {
				return nil, err
			}
			scans++
			// Skip the entropy-coded data: to the next marker that is not
			// a stuffed byte or a restart marker.
			for next+1 < len(data) && (data[next] != 0xFF || data[next+1] == 0x00 || data[next+1] == 0xFF || data[next+1] >= 0xD0 && data[next+1] <= 0xD7) {
				next++
			}
		}
		pos = next
	}
	if comps == nil || scans == 0 {
		return nil, fmt.Errorf("%w: no frame or no scan", errJPEGExt)
	}
	r := newRaster(w, h, len(comps), precision > 8)
	nc := len(comps)
	for c, k := range comps {
		stride := k.bw * 8
		// Replicate subsampled components to full resolution.
		fx, fy := hmax/k.h, vmax/k.v
		for y := 0; y < h; y++ {
			row := k.plane[(y/fy)*stride:]
			for x := 0; x < w; x++ {
				r.Pix[(y*w+x)*nc+c] = row[x/fx]
			}
		}
	}
	return r, nil
}

func mcuxOf(n, f int) int { return (n + 8*f - 1) / (8 * f) }

// extScan decodes the entropy-coded data of one scan into the planes of
// its components.
func extScan(data []byte, sc []*extComponent, quant *[4][64]int32, mcux, mcuy, w, h, hmax, vmax, restart, precision int) error {
	br := &bitReader{data: data}
	for _, k := range sc {
		k.pred = 0
	}
	var coef [64]int32
	block := func(k *extComponent, bx, by int) error {
		coef = [64]int32{}
		q := &quant[k.tq]
		s, err := br.decode(k.dc)
		if err != nil {
			return errJPEGExt
		}
		if s > 16 {
			return errJPEGExt
		}
		k.pred += extend(br.bits(uint(s)), s)
		coef[0] = k.pred * q[0]
		for z := 1; z < 64; z++ {
			rs, err := br.decode(k.ac)
			if err != nil {
				return errJPEGExt
			}
			r, s := rs>>4, rs&15
			if s == 0 {
				if r != 15 {
					break
				}
				z += 15
				continue
			}
			z += r
			if z > 63 {
				return errJPEGExt
			}
			coef[zigzag[z]] = extend(br.bits(uint(s)), s) * q[z]
		}
		stride := k.bw * 8
		if bx >= k.bw || by >= k.bh {
			return nil
		}
		idct8x8(&coef, k.plane[by*8*stride+bx*8:], stride, precision)
		return nil
	}
	mcus := 0
	next := func() error {
		if restart > 0 && mcus > 0 && mcus%restart == 0 {
			if err := br.restart(); err != nil {
				return err
			}
			for _, k := range sc {
				k.pred = 0
			}
		}
		mcus++
		return nil
	}
	if len(sc) == 1 {
		// Non-interleaved: one block per MCU, only the blocks that cover
		// the component's own dimensions.
		k := sc[0]
		cw := (w*k.h + hmax - 1) / hmax
		ch := (h*k.v + vmax - 1) / vmax
		bw, bh := (cw+7)/8, (ch+7)/8
		for by := 0; by < bh; by++ {
			for bx := 0; bx < bw; bx++ {
				if err := next(); err != nil {
					return err
				}
				if err := block(k, bx, by); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for my := 0; my < mcuy; my++ {
		for mx := 0; mx < mcux; mx++ {
			if err := next(); err != nil {
				return err
			}
			for _, k := range sc {
				for v := 0; v < k.v; v++ {
					for u := 0; u < k.h; u++ {
						if err := block(k, mx*k.h+u, my*k.v+v); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}

// extend turns the s additional bits v of a coefficient into its signed
// value (T.81 F.2.2.1).
func extend(v uint32, s int) int32 {
	if s == 0 {
		return 0
	}
	if v < 1<<uint(s-1) {
		return int32(v) - (1 << uint(s)) + 1
	}
	return int32(v)
}
