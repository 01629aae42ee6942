package pixels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
)

// source is the pixel data of one object, split into frames without
// decoding anything. The data stays where it is (in the file, or in the
// dataset's memory) and is read one frame at a time.
type source struct {
	info    *Info
	elem    *dicom.Element
	swapped bool        // native data whose 16-bit words are big endian (OW in Explicit VR Big Endian)
	native  []byte      // native pixel data in memory (nil when encapsulated or read through nativeR)
	nativeR io.ReaderAt // native pixel data (nil when encapsulated)
	// nativeOff and nativeLen are where the native value lies in nativeR.
	nativeOff, nativeLen int64
	frags                []fragment // non-empty fragments (encapsulated)
	groups               [][]int    // fragment indices of each frame (encapsulated)
	frames               int        // frames actually present
	buf                  []byte     // native frame buffer, reused
}

// fragment is one encapsulated fragment: in memory (data), or n bytes at
// off of r.
type fragment struct {
	data []byte
	r    io.ReaderAt
	off  int64
	n    int64
}

func (f fragment) len() int64 {
	if f.r == nil {
		return int64(len(f.data))
	}
	return f.n
}

// head returns up to n bytes from the start of the fragment.
func (f fragment) head(n int) ([]byte, error) {
	n = int(min(int64(n), f.len()))
	if f.r == nil {
		return f.data[:n], nil
	}
	b := make([]byte, n)
	if _, err := f.r.ReadAt(b, f.off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("pixels: reading pixel data: %w", err)
	}
	return b, nil
}

// appendTo appends the fragment's bytes to b.
func (f fragment) appendTo(b []byte) ([]byte, error) {
	if f.r == nil {
		return append(b, f.data...), nil
	}
	k := len(b)
	b = append(b, make([]byte, f.n)...)
	if _, err := f.r.ReadAt(b[k:], f.off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("pixels: reading pixel data: %w", err)
	}
	return b, nil
}

func open(ds *dicom.Dataset) (*source, error) { return openRef(ds, nil) }

// openRef opens the pixel data of ds: the value of its Pixel Data element,
// or with ref the pixel data where ref says it lies.
func openRef(ds *dicom.Dataset, ref *dicomfile.PixelRef) (*source, error) {
	in, err := ReadInfo(ds)
	if err != nil {
		return nil, err
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil || el.Value == nil {
		return nil, fmt.Errorf("%w: no pixel data", ErrUnsupported)
	}
	s := &source{info: in, elem: el}
	var offsets []uint32
	encapsulated := false
	if ref != nil {
		encapsulated = ref.Encapsulated
		if !encapsulated {
			s.nativeR, s.nativeOff, s.nativeLen = ref.R, ref.Spans[0].Offset, ref.Spans[0].Length
		} else {
			// The Basic Offset Table (Spans[0]) is not used, as when the
			// pixel data is parsed into memory (the library skips it).
			for _, sp := range ref.Spans[1:] {
				if sp.Length > 0 {
					s.frags = append(s.frags, fragment{r: ref.R, off: sp.Offset, n: sp.Length})
				}
			}
		}
	} else {
		pdi, ok := el.Value.GetValue().(dicom.PixelDataInfo)
		if !ok {
			return nil, fmt.Errorf("%w: pixel data of unexpected type %T", ErrUnsupported, el.Value.GetValue())
		}
		if pdi.IntentionallySkipped {
			return nil, fmt.Errorf("%w: pixel data was not read (dataset parsed without pixel data)", ErrUnsupported)
		}
		encapsulated = pdi.IsEncapsulated
		if !encapsulated {
			if in.Encoding == EncNative && !pdi.IntentionallyUnprocessed {
				return nil, fmt.Errorf("%w: native pixel data must be left unprocessed (read with dicom/dicomfile)", ErrUnsupported)
			}
			s.native = pdi.UnprocessedValueData
			s.nativeR, s.nativeLen = bytes.NewReader(s.native), int64(len(s.native))
		} else {
			for _, f := range pdi.Frames {
				if f != nil && len(f.EncapsulatedData.Data) > 0 {
					s.frags = append(s.frags, fragment{data: f.EncapsulatedData.Data})
				}
			}
			offsets = pdi.Offsets
		}
	}
	if !encapsulated {
		if in.Encoding != EncNative {
			return nil, fmt.Errorf("%w: transfer syntax %s but pixel data is not encapsulated", ErrUnsupported, in.TransferSyntax)
		}
		s.swapped = in.BigEndian && (in.BitsAllocated == 16 || el.RawValueRepresentation == "OW")
		size := in.nativeFrameSize()
		if s.nativeLen < size {
			return nil, fmt.Errorf("%w: pixel data holds %d bytes, one %d×%d frame needs %d", ErrUnsupported, s.nativeLen, in.Columns, in.Rows, size)
		}
		s.frames = in.Frames
		if have := s.nativeLen / size; have < int64(s.frames) {
			s.frames = int(have)
		}
		return s, nil
	}
	if in.Encoding == EncNative {
		return nil, fmt.Errorf("%w: encapsulated pixel data under native transfer syntax %q", ErrUnsupported, in.TransferSyntax)
	}
	if len(s.frags) == 0 {
		return nil, fmt.Errorf("%w: encapsulated pixel data without fragments", ErrUnsupported)
	}
	s.groups, err = groupFragments(s.frags, offsets, in)
	if err != nil {
		return nil, err
	}
	s.frames = len(s.groups)
	return s, nil
}

// groupFragments assigns fragments to frames: by the basic offset table when
// there is one, one fragment per frame when the counts agree, otherwise at
// the fragments that start a new codestream (a JPEG or JPEG-LS SOI marker,
// a JPEG 2000 SOC marker or JP2 signature, or an RLE header).
func groupFragments(frags []fragment, offsets []uint32, in *Info) ([][]int, error) {
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
			pos += 8 + uint32(f.len())
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
	for j, fr := range frags {
		f, err := fr.head(64)
		if err != nil {
			return nil, err
		}
		starts := false
		switch in.Encoding {
		case EncRLE:
			starts = validRLEHeader(f)
		case EncJPEG2000:
			// A J2K codestream (SOC, SIZ) or a JP2 signature box.
			starts = len(f) >= 4 && f[0] == 0xFF && f[1] == 0x4F && f[2] == 0xFF && f[3] == 0x51 ||
				len(f) >= 8 && f[4] == 'j' && f[5] == 'P' && f[6] == ' ' && f[7] == ' '
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

// frameData returns the bytes of frame i: the native frame (a slice of the
// data in memory, or read from the file into a buffer the next call
// reuses), or the frame's codestream (its fragments joined).
func (s *source) frameData(i int) ([]byte, error) {
	if i < 0 || i >= s.frames {
		return nil, fmt.Errorf("pixels: frame %d out of range (%d frames)", i, s.frames)
	}
	if s.nativeR != nil {
		size := s.info.nativeFrameSize()
		if s.native != nil {
			return s.native[int64(i)*size : int64(i+1)*size], nil
		}
		if int64(len(s.buf)) != size {
			s.buf = make([]byte, size)
		}
		if _, err := s.nativeR.ReadAt(s.buf, s.nativeOff+int64(i)*size); err != nil && err != io.EOF {
			return nil, fmt.Errorf("pixels: reading frame %d: %w", i, err)
		}
		return s.buf, nil
	}
	g := s.groups[i]
	if len(g) == 1 && s.frags[g[0]].r == nil {
		return s.frags[g[0]].data, nil
	}
	var b []byte
	for _, j := range g {
		var err error
		if b, err = s.frags[j].appendTo(b); err != nil {
			return nil, err
		}
	}
	return b, nil
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
