package pixels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
)

// Value is the value of a Pixel Data element to be written: native bytes
// read (and masked) one frame at a time, or encapsulated fragments. It is
// what CleanValue and OriginalValue return; WriteTo writes it.
type Value struct {
	s *source // cleaned data: its source; nil for OriginalValue

	// Native data.
	length int64    // bytes written (even when cleaned)
	mask   []bool   // cleaned: pixels kept; nil: frames copied as they are
	black  []uint16 // cleaned: the stored black
	raw    io.ReaderAt
	rawOff int64
	rawLen int64
	swap   bool // write 16-bit words byte-swapped (big endian data as little endian)

	// Encapsulated data: offsets (the Basic Offset Table) and fragments,
	// each written as one item.
	encapsulated bool
	offsets      []uint32
	frags        []fragment
}

// Encapsulated reports whether the value is written as items (undefined
// length) rather than as Length bytes.
func (v *Value) Encapsulated() bool { return v.encapsulated }

// Length is the length of a native value, as written.
func (v *Value) Length() int64 { return v.length }

// fragmentsValue is the value of re-encoded fragments, one per frame, with
// a basic offset table; odd fragments are padded to an even length.
func (s *source) fragmentsValue(frags [][]byte) *Value {
	v := &Value{s: s, encapsulated: true}
	off := uint32(0)
	for _, f := range frags {
		if len(f)%2 != 0 {
			f = append(f, 0)
		}
		v.offsets = append(v.offsets, off)
		off += 8 + uint32(len(f))
		v.frags = append(v.frags, fragment{data: f})
	}
	return v
}

// OriginalValue is the pixel data of ds as it is, read through ref (nil:
// the value of the dataset's Pixel Data element), for an object whose
// pixels are not cleaned. Encapsulated data is written with an empty Basic
// Offset Table and every fragment padded to an even length, as the DICOM
// library writes what it parsed.
func OriginalValue(ds *dicom.Dataset, ref *dicomfile.PixelRef) (*Value, error) {
	if ref == nil {
		el, err := ds.FindElementByTag(tag.PixelData)
		if err != nil || el.Value == nil {
			return nil, fmt.Errorf("%w: no pixel data", ErrUnsupported)
		}
		pdi, ok := el.Value.GetValue().(dicom.PixelDataInfo)
		if !ok {
			return nil, fmt.Errorf("%w: pixel data of unexpected type %T", ErrUnsupported, el.Value.GetValue())
		}
		if pdi.IsEncapsulated {
			v := &Value{encapsulated: true, offsets: pdi.Offsets}
			for _, f := range pdi.Frames {
				if f != nil {
					v.frags = append(v.frags, fragment{data: f.EncapsulatedData.Data})
				}
			}
			return v, nil
		}
		d := pdi.UnprocessedValueData
		return &Value{raw: bytes.NewReader(d), rawLen: int64(len(d)), length: int64(len(d))}, nil
	}
	if ref.Encapsulated {
		v := &Value{encapsulated: true}
		for _, sp := range ref.Spans[1:] {
			v.frags = append(v.frags, fragment{r: ref.R, off: sp.Offset, n: sp.Length})
		}
		return v, nil
	}
	sp := ref.Spans[0]
	return &Value{raw: ref.R, rawOff: sp.Offset, rawLen: sp.Length, length: sp.Length}, nil
}

// LittleEndian makes WriteTo write native pixel data of a dataset read as
// Explicit VR Big Endian in little endian, as ToLittleEndian does: every
// 16-bit word is swapped (8-bit data too when its VR is OW). The Transfer
// Syntax UID is ToLittleEndian's to change. Other data: no change.
func (v *Value) LittleEndian(ds *dicom.Dataset) error {
	if strOf(ds, tag.TransferSyntaxUID) != tsExplicitBE {
		return nil
	}
	if v.encapsulated {
		return fmt.Errorf("%w: encapsulated pixel data under Explicit VR Big Endian", ErrUnsupported)
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil
	}
	bits := dicomfile.Int(ds, tag.BitsAllocated, 8)
	if bits > 8 || el.RawValueRepresentation == "OW" {
		if bits > 16 {
			return fmt.Errorf("%w: %d-bit big endian pixel data", ErrUnsupported, bits)
		}
		v.swap = true
	}
	return nil
}

// WriteTo writes the value as it follows the element header: the native
// bytes, or the items (Basic Offset Table first, then one per fragment)
// and the sequence delimiter.
func (v *Value) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	var err error
	switch {
	case v.encapsulated:
		err = v.writeItems(cw)
	case v.s != nil:
		err = v.writeCleaned(cw)
	default:
		err = v.writeOriginal(cw)
	}
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (v *Value) writeItems(w io.Writer) error {
	var hdr [8]byte
	item := func(n int) error {
		binary.LittleEndian.PutUint16(hdr[0:], tag.Item.Group)
		binary.LittleEndian.PutUint16(hdr[2:], tag.Item.Element)
		binary.LittleEndian.PutUint32(hdr[4:], uint32(n))
		_, err := w.Write(hdr[:])
		return err
	}
	bot := make([]byte, 0, 4*len(v.offsets))
	for _, o := range v.offsets {
		bot = binary.LittleEndian.AppendUint32(bot, o)
	}
	if err := item(len(bot)); err != nil {
		return err
	}
	if _, err := w.Write(bot); err != nil {
		return err
	}
	var buf []byte
	for _, f := range v.frags {
		var err error
		if buf, err = f.appendTo(buf[:0]); err != nil {
			return err
		}
		if len(buf)%2 != 0 {
			buf = append(buf, 0)
		}
		if err := item(len(buf)); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	binary.LittleEndian.PutUint16(hdr[0:], tag.SequenceDelimitationItem.Group)
	binary.LittleEndian.PutUint16(hdr[2:], tag.SequenceDelimitationItem.Element)
	binary.LittleEndian.PutUint32(hdr[4:], 0)
	_, err := w.Write(hdr[:])
	return err
}

// writeCleaned writes native data frame by frame, masked; bytes after the
// declared frames are not part of any frame and are written as zeros (they
// could hold anything), as is the padding byte of an odd value.
func (v *Value) writeCleaned(w io.Writer) error {
	s := v.s
	sw := v.swapper(w)
	var scratch []byte
	for f := 0; f < s.frames; f++ {
		buf, err := s.frameData(f)
		if err != nil {
			return err
		}
		if s.native != nil { // the dataset's own bytes: mask a copy
			buf = append(scratch[:0], buf...)
			scratch = buf
		}
		s.maskNative(buf, v.mask, v.black)
		if _, err := sw.Write(buf); err != nil {
			return err
		}
	}
	rest := v.length - int64(s.frames)*s.info.nativeFrameSize()
	zeros := make([]byte, min(rest, 1<<20))
	for rest > 0 {
		n := min(rest, int64(len(zeros)))
		if _, err := sw.Write(zeros[:n]); err != nil {
			return err
		}
		rest -= n
	}
	return sw.flush()
}

// writeOriginal copies native data as it is, in chunks.
func (v *Value) writeOriginal(w io.Writer) error {
	sw := v.swapper(w)
	buf := make([]byte, min(v.rawLen, 4<<20))
	for off := int64(0); off < v.rawLen; {
		n := min(v.rawLen-off, int64(len(buf)))
		if _, err := v.raw.ReadAt(buf[:n], v.rawOff+off); err != nil && err != io.EOF {
			return fmt.Errorf("pixels: reading pixel data: %w", err)
		}
		if _, err := sw.Write(buf[:n]); err != nil {
			return err
		}
		off += n
	}
	return sw.flush()
}

// swapWriter swaps the bytes of every 16-bit word of the stream written
// through it (counted from its first byte); a last odd byte is written as
// it is.
type swapWriter struct {
	w       io.Writer
	on      bool
	pending []byte // an odd byte held back for the next write
	buf     []byte
}

func (v *Value) swapper(w io.Writer) *swapWriter { return &swapWriter{w: w, on: v.swap} }

func (sw *swapWriter) Write(p []byte) (int, error) {
	if !sw.on {
		return sw.w.Write(p)
	}
	sw.buf = append(append(sw.buf[:0], sw.pending...), p...)
	sw.pending = sw.pending[:0]
	n := len(sw.buf) &^ 1
	for i := 0; i < n; i += 2 {
		sw.buf[i], sw.buf[i+1] = sw.buf[i+1], sw.buf[i]
	}
	if n < len(sw.buf) {
		sw.pending = append(sw.pending, sw.buf[n])
	}
	if _, err := sw.w.Write(sw.buf[:n]); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (sw *swapWriter) flush() error {
	if len(sw.pending) == 0 {
		return nil
	}
	_, err := sw.w.Write(sw.pending)
	sw.pending = sw.pending[:0]
	return err
}

// replace stores the value in the dataset's Pixel Data element (the
// in-memory form Clean produces).
func (v *Value) replace() error {
	s := v.s
	var pdi dicom.PixelDataInfo
	length := uint32(tag.VLUndefinedLength)
	if v.encapsulated {
		pdi = dicom.PixelDataInfo{IsEncapsulated: true, Offsets: v.offsets}
		for _, f := range v.frags {
			pdi.Frames = append(pdi.Frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: f.data}})
		}
	} else {
		var b bytes.Buffer
		b.Grow(int(v.length))
		if _, err := v.WriteTo(&b); err != nil {
			return err
		}
		pdi = dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: b.Bytes()}
		length = uint32(b.Len())
	}
	nv, err := dicom.NewValue(pdi)
	if err != nil {
		return err
	}
	s.elem.Value = nv
	s.elem.ValueLength = length
	return nil
}
