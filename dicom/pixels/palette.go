package pixels

import (
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

var (
	paletteDescriptor = [3]tag.Tag{{Group: 0x0028, Element: 0x1101}, {Group: 0x0028, Element: 0x1102}, {Group: 0x0028, Element: 0x1103}}
	paletteData       = [3]tag.Tag{{Group: 0x0028, Element: 0x1201}, {Group: 0x0028, Element: 0x1202}, {Group: 0x0028, Element: 0x1203}}
	paletteSegmented  = [3]tag.Tag{{Group: 0x0028, Element: 0x1221}, {Group: 0x0028, Element: 0x1222}, {Group: 0x0028, Element: 0x1223}}
)

// readPalette expands the red, green and blue palette tables (plain 8- or
// 16-bit, or segmented) to 8-bit entries.
func readPalette(ds *dicom.Dataset) (*Palette, error) {
	p := &Palette{}
	var out [3][]uint8
	for c := 0; c < 3; c++ {
		d := intsOf(ds, paletteDescriptor[c])
		if len(d) < 3 {
			return nil, fmt.Errorf("%w: palette colour without a lookup table descriptor", ErrUnsupported)
		}
		n, first, bits := d[0]&0xFFFF, d[1], d[2]
		if n == 0 {
			n = 65536
		}
		if first > 32767 { // an SS descriptor read as US
			first -= 65536
		}
		if c == 0 {
			p.First = first
		}
		var words []uint16
		if seg := bytesOf(ds, paletteSegmented[c]); len(seg) > 0 {
			var err error
			if words, err = expandSegmented(seg, n); err != nil {
				return nil, err
			}
		} else {
			data := bytesOf(ds, paletteData[c])
			switch {
			case len(data) >= 2*n:
				words = make([]uint16, n)
				for i := range words {
					words[i] = binary.LittleEndian.Uint16(data[2*i:])
				}
			case bits == 8 && len(data) >= n: // 8-bit entries packed two to a word
				words = make([]uint16, n)
				for i := range words {
					words[i] = uint16(data[i])
				}
			default:
				return nil, fmt.Errorf("%w: palette table holds %d bytes for %d entries", ErrUnsupported, len(data), n)
			}
		}
		// Entries are 8 or 16 bits; some writers put 16-bit values under an
		// 8-bit descriptor, so decide from the data as DCMTK does.
		wide := bits > 8
		if !wide {
			for _, w := range words {
				if w > 255 {
					wide = true
					break
				}
			}
		}
		out[c] = make([]uint8, n)
		for i, w := range words {
			if wide {
				out[c][i] = uint8(w >> 8)
			} else {
				out[c][i] = uint8(w)
			}
		}
	}
	if len(out[0]) != len(out[1]) || len(out[0]) != len(out[2]) {
		return nil, fmt.Errorf("%w: palette tables of different lengths", ErrUnsupported)
	}
	p.R, p.G, p.B = out[0], out[1], out[2]
	return p, nil
}

// expandSegmented expands a segmented palette table (PS3.3 C.7.9.2):
// discrete (0), linear (1) and indirect (2) segments, to n entries.
func expandSegmented(data []byte, n int) ([]uint16, error) {
	w := make([]uint16, len(data)/2)
	for i := range w {
		w[i] = binary.LittleEndian.Uint16(data[2*i:])
	}
	out := make([]uint16, 0, n)
	bad := fmt.Errorf("%w: malformed segmented palette table", ErrUnsupported)
	// Indirect segments repeat runs of segments, nested twice: a table of
	// a few kilobytes could ask for billions of empty ones. A real table
	// has a handful of segments per entry at most.
	budget := 4 * (n + len(w))
	var expand func(start, end, depth int) error
	expand = func(start, end, depth int) error {
		if depth > 2 {
			return bad
		}
		for i := start; i < end; {
			if i+1 >= len(w) {
				return bad
			}
			if budget--; budget < 0 {
				return fmt.Errorf("%w: segmented palette table expands too many segments", ErrUnsupported)
			}
			op, length := w[i], int(w[i+1])
			i += 2
			switch op {
			case 0: // discrete
				if i+length > len(w) || len(out)+length > n {
					return bad
				}
				out = append(out, w[i:i+length]...)
				i += length
			case 1: // linear from the last value to y1
				if i >= len(w) || len(out) == 0 || len(out)+length > n {
					return bad
				}
				y0, y1 := float64(out[len(out)-1]), float64(w[i])
				for k := 1; k <= length; k++ {
					out = append(out, uint16(y0+(y1-y0)*float64(k)/float64(length)+0.5))
				}
				i++
			case 2: // indirect: repeat `length` segments starting at a word offset
				if i+1 >= len(w) {
					return bad
				}
				off := int(w[i]) | int(w[i+1])<<16
				i += 2
				if off < 0 || off >= len(w) {
					return bad
				}
				// Walk `length` segments from off.
				j := off
				for s := 0; s < length; s++ {
					segEnd, err := segmentEnd(w, j)
					if err != nil {
						return err
					}
					if err := expand(j, segEnd, depth+1); err != nil {
						return err
					}
					j = segEnd
				}
			default:
				return bad
			}
		}
		return nil
	}
	if err := expand(0, len(w), 0); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, bad
	}
	for len(out) < n { // a short table repeats its last entry
		out = append(out, out[len(out)-1])
	}
	return out, nil
}

// segmentEnd returns the word index after the segment starting at j.
func segmentEnd(w []uint16, j int) (int, error) {
	if j+1 >= len(w) {
		return 0, fmt.Errorf("%w: malformed segmented palette table", ErrUnsupported)
	}
	switch w[j] {
	case 0:
		return j + 2 + int(w[j+1]), nil
	case 1:
		return j + 3, nil
	case 2:
		return j + 4, nil
	}
	return 0, fmt.Errorf("%w: malformed segmented palette table", ErrUnsupported)
}
