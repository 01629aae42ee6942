package pixels

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// source is the pixel data of one object, split into frames without
// decoding anything.
type source struct {
	info    *Info
	elem    *dicom.Element
	swapped bool   // native data whose 16-bit words are big endian (OW in Explicit VR Big Endian)
	native  []byte // native pixel data (nil when encapsulated)
	frags   [][]byte
	groups  [][]int // fragment indices of each frame (encapsulated)
	frames  int     // frames actually present
}

func open(ds *dicom.Dataset) (*source, error) {
	in, err := ReadInfo(ds)
	if err != nil {
		return nil, err
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil || el.Value == nil {
		return nil, fmt.Errorf("%w: no pixel data", ErrUnsupported)
	}
	pdi, ok := el.Value.GetValue().(dicom.PixelDataInfo)
	if !ok {
		return nil, fmt.Errorf("%w: pixel data of unexpected type %T", ErrUnsupported, el.Value.GetValue())
	}
	if pdi.IntentionallySkipped {
		return nil, fmt.Errorf("%w: pixel data was not read (dataset parsed without pixel data)", ErrUnsupported)
	}
	s := &source{info: in, elem: el}
	if !pdi.IsEncapsulated {
		if in.Encoding != EncNative {
			return nil, fmt.Errorf("%w: transfer syntax %s but pixel data is not encapsulated", ErrUnsupported, in.TransferSyntax)
		}
		if !pdi.IntentionallyUnprocessed {
			return nil, fmt.Errorf("%w: native pixel data must be left unprocessed (read with dicom/dicomfile)", ErrUnsupported)
		}
		s.native = pdi.UnprocessedValueData
		s.swapped = in.BigEndian && (in.BitsAllocated == 16 || el.RawValueRepresentation == "OW")
		size := in.nativeFrameSize()
		if int64(len(s.native)) < size {
			return nil, fmt.Errorf("%w: pixel data holds %d bytes, one %d×%d frame needs %d", ErrUnsupported, len(s.native), in.Columns, in.Rows, size)
		}
		s.frames = in.Frames
		if have := int64(len(s.native)) / size; have < int64(s.frames) {
			s.frames = int(have)
		}
		return s, nil
	}
	if in.Encoding == EncNative {
		return nil, fmt.Errorf("%w: encapsulated pixel data under native transfer syntax %q", ErrUnsupported, in.TransferSyntax)
	}
	for _, f := range pdi.Frames {
		if f != nil && len(f.EncapsulatedData.Data) > 0 {
			s.frags = append(s.frags, f.EncapsulatedData.Data)
		}
	}
	if len(s.frags) == 0 {
		return nil, fmt.Errorf("%w: encapsulated pixel data without fragments", ErrUnsupported)
	}
	s.groups, err = groupFragments(s.frags, pdi.Offsets, in)
	if err != nil {
		return nil, err
	}
	s.frames = len(s.groups)
	return s, nil
}

// groupFragments assigns fragments to frames: by the basic offset table when
// there is one, one fragment per frame when the counts agree, otherwise at
// the fragments that start a new codestream (a JPEG SOI marker or an RLE
// header).
func groupFragments(frags [][]byte, offsets []uint32, in *Info) ([][]int, error) {
	n := in.Frames
	if len(offsets) == n && n > 0 && offsets[0] == 0 {
		groups := make([][]int, 0, n)
		pos, k := uint32(0), 0
		for j, f := range frags {
			if k < n && pos == offsets[k] {
				groups = append(groups, nil)
				k++
			}
			if len(groups) == 0 {
				break
			}
			groups[len(groups)-1] = append(groups[len(groups)-1], j)
			pos += 8 + uint32(len(f))
		}
		if len(groups) == n {
			return groups, nil
		}
		// An offset table that does not fit the fragments: fall through.
	}
	if len(frags) == n || n == 1 && in.Encoding != EncRLE {
		if len(frags) == n {
			groups := make([][]int, n)
			for i := range groups {
				groups[i] = []int{i}
			}
			return groups, nil
		}
		all := make([]int, len(frags))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}, nil
	}
	var groups [][]int
	for j, f := range frags {
		starts := false
		switch in.Encoding {
		case EncRLE:
			starts = validRLEHeader(f)
		default:
			starts = len(f) >= 3 && f[0] == 0xFF && f[1] == 0xD8 && f[2] == 0xFF
		}
		if starts || len(groups) == 0 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], j)
	}
	if len(groups) < n {
		return nil, fmt.Errorf("%w: %d fragments hold %d frames, %d declared", ErrUnsupported, len(frags), len(groups), n)
	}
	return groups[:n], nil
}

func validRLEHeader(f []byte) bool {
	if len(f) < 64 {
		return false
	}
	ns := binary.LittleEndian.Uint32(f)
	if ns < 1 || ns > 15 || binary.LittleEndian.Uint32(f[4:]) != 64 {
		return false
	}
	prev := uint32(64)
	for i := 1; i < int(ns); i++ {
		o := binary.LittleEndian.Uint32(f[4+4*i:])
		if o < prev {
			return false
		}
		prev = o
	}
	return true
}

// frameData returns the bytes of frame i: a slice of the native data, or
// the frame's codestream (its fragments joined).
func (s *source) frameData(i int) ([]byte, error) {
	if i < 0 || i >= s.frames {
		return nil, fmt.Errorf("pixels: frame %d out of range (%d frames)", i, s.frames)
	}
	if s.native != nil {
		size := s.info.nativeFrameSize()
		return s.native[int64(i)*size : int64(i+1)*size], nil
	}
	g := s.groups[i]
	if len(g) == 1 {
		return s.frags[g[0]], nil
	}
	var b bytes.Buffer
	for _, j := range g {
		b.Write(s.frags[j])
	}
	return b.Bytes(), nil
}

// NumFrames returns how many frames the object's pixel data holds (0: none
// or unreadable). For native data it is the declared Number of Frames,
// capped by the frames the data really holds.
func NumFrames(ds *dicom.Dataset) int {
	s, err := open(ds)
	if err != nil {
		return 0
	}
	return s.frames
}
