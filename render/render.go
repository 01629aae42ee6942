// Package render turns the frames of a DICOM object into browser images:
// a full-resolution JPEG per frame, a thumbnail, and for a cine loop an
// animated GIF a phone can play and share. Decoding is dicom/pixels';
// this package scales, encodes and names the files.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"golang.org/x/image/draw"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
)

// Output names what Object wrote and how to play it.
type Output struct {
	Frames       int
	FrameTimeMS  float64 // display time of one frame (see FrameTime)
	Width        int
	Height       int
	FramePattern string // fmt pattern of the frame files, e.g. "render/f%04d.jpg" (frame index from 0)
	Thumbnail    string // "render/thumb.jpg"
	Animation    string // "render/loop.gif" for multi-frame objects, else ""
	Video        string // "render/loop.mp4" for multi-frame objects when HasVideo, and for video objects (MPEG-2, H.264, HEVC), else ""
}

// File names and sizes.
const (
	FramePattern  = "render/f%04d.jpg"
	ThumbnailName = "render/thumb.jpg"
	AnimationName = "render/loop.gif"

	ThumbnailSize = 256 // longest side of the thumbnail
	AnimationSize = 480 // longest side of the animation
	// AnimationMaxFrames caps the frames of the animation; longer loops keep
	// every n-th frame and show each n times as long, so the loop lasts as
	// long as the original.
	AnimationMaxFrames = 120
	FrameQuality       = 90
	ThumbnailQuality   = 85
)

// ErrUnsupported is returned (wrapped) for objects that cannot be rendered:
// no pixel data, hostile or inconsistent sizes, unsupported encodings.
var ErrUnsupported = pixels.ErrUnsupported

// Object renders every frame to a full-resolution JPEG, a thumbnail (longest
// side ThumbnailSize, Catmull-Rom), and for multi-frame objects an animated
// GIF (longest side ≤ AnimationSize, at most AnimationMaxFrames frames, at
// the object's frame rate), and an H.264 MP4 of every frame (longest side
// ≤ VideoSize) when HasVideo. put writes one named file atomically (the
// store provides it). Frames are decoded one at a time; only the encoded
// animation frames are kept.
func Object(ds *dicom.Dataset, put func(name string, write func(io.Writer) error) error) (*Output, error) {
	return object(ds, nil, put)
}

// File is Object for the DICOM file at path, read through dicom/dicomfile
// with its pixel data left in the file: frames are read one at a time, so
// memory use does not grow with the number of frames.
func File(path string, put func(name string, write func(io.Writer) error) error) (*Output, error) {
	f, err := dicomfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	defer f.Close()
	if f.Pixels == nil {
		slog.Warn("render: object refused", "reason", ErrUnsupported.Error()+": no pixel data")
		return nil, fmt.Errorf("render: %w: no pixel data", ErrUnsupported)
	}
	if codec := videoCodecOf(f.Dataset); codec != "" {
		out, err := videoStream(f.Dataset, f.Pixels, codec, put)
		if err != nil {
			slog.Warn("render: object refused", "reason", err.Error())
		}
		return out, err
	}
	return object(f.Dataset, f.Pixels, put)
}

func object(ds *dicom.Dataset, ref *dicomfile.PixelRef, put func(name string, write func(io.Writer) error) error) (*Output, error) {
	dec, err := pixels.NewDecoderRef(ds, ref)
	if err != nil {
		slog.Warn("render: object refused", "reason", err.Error())
		return nil, fmt.Errorf("render: %w", err)
	}
	in := dec.Info()
	n := dec.NumFrames()
	if n == 0 {
		return nil, fmt.Errorf("render: %w: no frames", ErrUnsupported)
	}
	out := &Output{
		Frames:       n,
		FrameTimeMS:  FrameTime(ds),
		Width:        in.Columns,
		Height:       in.Rows,
		FramePattern: FramePattern,
		Thumbnail:    ThumbnailName,
	}
	var anim *animation
	var vid *video
	step := 1
	var quant *quantizer
	if n > 1 {
		out.Animation = AnimationName
		anim = &animation{}
		step = (n + AnimationMaxFrames - 1) / AnimationMaxFrames
		if in.SamplesPerPixel == 1 && strings.HasPrefix(in.Photometric, "MONOCHROME") {
			quant = grayQuantizer()
		} else {
			quant = colourQuantizer()
		}
		if vid = newVideo(in.Columns, in.Rows, out.FrameTimeMS); vid != nil {
			defer func() {
				if vid != nil { // not handed over: the render failed
					vid.cancel()
				}
			}()
		}
	}
	delay := int(math.Round(out.FrameTimeMS * float64(step) / 10))
	if delay < 2 {
		delay = 2 // browsers slow down anything faster
	}
	for i := 0; i < n; i++ {
		img, err := dec.Frame(i)
		if err != nil {
			slog.Warn("render: frame not decoded", "frame", i, "reason", err.Error())
			return nil, fmt.Errorf("render: frame %d: %w", i, err)
		}
		if err := put(fmt.Sprintf(FramePattern, i), func(w io.Writer) error {
			return jpeg.Encode(w, img, &jpeg.Options{Quality: FrameQuality})
		}); err != nil {
			return nil, fmt.Errorf("render: writing frame %d: %w", i, err)
		}
		if i == 0 {
			th := scale(img, ThumbnailSize, draw.CatmullRom)
			if err := put(ThumbnailName, func(w io.Writer) error {
				return jpeg.Encode(w, th, &jpeg.Options{Quality: ThumbnailQuality})
			}); err != nil {
				return nil, fmt.Errorf("render: writing thumbnail: %w", err)
			}
		}
		if anim != nil && i%step == 0 {
			small := scale(img, AnimationSize, draw.ApproxBiLinear)
			if err := anim.add(quant.paletted(small), delay); err != nil {
				return nil, fmt.Errorf("render: encoding animation frame %d: %w", i, err)
			}
		}
		if vid != nil {
			vid.add(img)
		}
	}
	if anim != nil {
		if err := put(AnimationName, anim.writeTo); err != nil {
			return nil, fmt.Errorf("render: writing animation: %w", err)
		}
	}
	if vid != nil {
		v := vid
		vid = nil
		ok, err := v.done(put)
		if err != nil {
			return nil, fmt.Errorf("render: writing video: %w", err)
		}
		if ok {
			out.Video = VideoName
		}
	}
	return out, nil
}

// animation is an animated GIF encoded frame by frame: each frame is
// compressed as it comes and only its encoded block is kept, so the file
// is what gif.EncodeAll writes for all frames (a looping GIF, a local
// palette per frame) without holding the frames.
type animation struct {
	header []byte // "GIF89a" and the logical screen descriptor
	blocks bytes.Buffer
}

// gifHeaderLen is the length of the header gif.EncodeAll writes without a
// global colour table: signature, screen size, flags, background, aspect.
const gifHeaderLen = 13

func (a *animation) add(p *image.Paletted, delay int) error {
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{p}, Delay: []int{delay}, LoopCount: 0}); err != nil {
		return err
	}
	one := b.Bytes()
	if len(one) < gifHeaderLen+1 || one[len(one)-1] != 0x3B {
		return errors.New("unexpected GIF encoding")
	}
	if a.header == nil {
		a.header = bytes.Clone(one[:gifHeaderLen])
	}
	a.blocks.Write(one[gifHeaderLen : len(one)-1])
	return nil
}

// writeTo writes the GIF: header, the NETSCAPE2.0 extension (loop
// forever), the frames, the trailer.
func (a *animation) writeTo(w io.Writer) error {
	loop := []byte{0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0', 0x03, 0x01, 0x00, 0x00, 0x00}
	for _, b := range [][]byte{a.header, loop, a.blocks.Bytes(), {0x3B}} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// scale fits img into a square of side max (never enlarging) as RGBA or Gray.
func scale(img image.Image, side int, k draw.Interpolator) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	if w >= h {
		h = max(1, int(math.Round(float64(h)*float64(side)/float64(w))))
		w = side
	} else {
		w = max(1, int(math.Round(float64(w)*float64(side)/float64(h))))
		h = side
	}
	r := image.Rect(0, 0, w, h)
	dst := image.NewRGBA(r)
	k.Scale(dst, r, img, b, draw.Src, nil)
	if _, gray := img.(*image.Gray); gray {
		// x/image/draw has fast paths from Gray into RGBA but none into
		// Gray (its generic path was a third of a cine's render time):
		// scale into RGBA, then keep one channel.
		g := image.NewGray(r)
		for i := range g.Pix {
			g.Pix[i] = dst.Pix[4*i]
		}
		return g
	}
	return dst
}

// quantizer maps images to a fixed 256-colour palette: 256 grays for
// monochrome objects, else a 6×6×6 colour cube plus 40 grays (ultrasound is
// mostly gray with some colour Doppler), through a 32×32×32 lookup cube.
type quantizer struct {
	pal  color.Palette
	gray bool
	cube []uint8
}

// The quantizers are built once and shared (read-only).
var (
	grayQuantizer   = sync.OnceValue(func() *quantizer { return newQuantizer(true) })
	colourQuantizer = sync.OnceValue(func() *quantizer { return newQuantizer(false) })
)

func newQuantizer(gray bool) *quantizer {
	q := &quantizer{gray: gray}
	if gray {
		for i := 0; i < 256; i++ {
			q.pal = append(q.pal, color.Gray{Y: uint8(i)})
		}
		return q
	}
	for r := 0; r < 6; r++ {
		for g := 0; g < 6; g++ {
			for b := 0; b < 6; b++ {
				q.pal = append(q.pal, color.RGBA{uint8(r * 51), uint8(g * 51), uint8(b * 51), 255})
			}
		}
	}
	for i := 0; i < 40; i++ {
		v := uint8(math.Round(float64(i+1) * 255 / 41))
		q.pal = append(q.pal, color.RGBA{v, v, v, 255})
	}
	q.cube = make([]uint8, 32*32*32)
	for r := 0; r < 32; r++ {
		for g := 0; g < 32; g++ {
			for b := 0; b < 32; b++ {
				c := color.RGBA{uint8(r<<3 | r>>2), uint8(g<<3 | g>>2), uint8(b<<3 | b>>2), 255}
				q.cube[r<<10|g<<5|b] = uint8(q.pal.Index(c))
			}
		}
	}
	return q
}

func (q *quantizer) paletted(img image.Image) *image.Paletted {
	b := img.Bounds()
	p := image.NewPaletted(image.Rect(0, 0, b.Dx(), b.Dy()), q.pal)
	switch m := img.(type) {
	case *image.Gray:
		if q.gray {
			for y := 0; y < b.Dy(); y++ {
				copy(p.Pix[y*p.Stride:y*p.Stride+b.Dx()], m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+(b.Min.X-m.Rect.Min.X):])
			}
			return p
		}
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				v := m.GrayAt(b.Min.X+x, b.Min.Y+y).Y >> 3
				p.Pix[y*p.Stride+x] = q.cube[int(v)<<10|int(v)<<5|int(v)]
			}
		}
		return p
	case *image.RGBA:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				o := m.PixOffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := m.Pix[o], m.Pix[o+1], m.Pix[o+2]
				if q.gray {
					p.Pix[y*p.Stride+x] = uint8((299*int(r) + 587*int(g) + 114*int(bb) + 500) / 1000)
				} else {
					p.Pix[y*p.Stride+x] = q.cube[int(r>>3)<<10|int(g>>3)<<5|int(bb>>3)]
				}
			}
		}
		return p
	}
	draw.Draw(p, p.Rect, img, b.Min, draw.Src)
	return p
}

// FrameTime returns the display time of one frame in milliseconds: Frame
// Time (0018,1063), else the mean of the Frame Time Vector (0018,1065), else
// 1000 / Cine Rate (0018,0040), else 1000 / Recommended Display Frame Rate
// (0008,2144), else 33.3 (30 frames per second). Values outside 1 ms – 10 s
// are ignored.
func FrameTime(ds *dicom.Dataset) float64 {
	ok := func(ms float64) bool { return ms >= 1 && ms <= 10000 && !math.IsNaN(ms) }
	if v := floats(ds, tag.Tag{Group: 0x0018, Element: 0x1063}); len(v) > 0 && ok(v[0]) {
		return v[0]
	}
	if v := floats(ds, tag.Tag{Group: 0x0018, Element: 0x1065}); len(v) > 1 {
		// The first entry is the first frame's offset (0); the rest are increments.
		sum := 0.0
		for _, x := range v[1:] {
			sum += x
		}
		if ms := sum / float64(len(v)-1); ok(ms) {
			return ms
		}
	}
	for _, t := range []tag.Tag{{Group: 0x0018, Element: 0x0040}, {Group: 0x0008, Element: 0x2144}} {
		if v := floats(ds, t); len(v) > 0 && v[0] > 0 && ok(1000/v[0]) {
			return 1000 / v[0]
		}
	}
	return 33.3
}

func floats(ds *dicom.Dataset, t tag.Tag) []float64 {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	var out []float64
	switch v := e.Value.GetValue().(type) {
	case []string:
		for _, s := range v {
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				out = append(out, f)
			}
		}
	case []int:
		for _, x := range v {
			out = append(out, float64(x))
		}
	case []float64:
		out = v
	}
	return out
}

// IsUnsupported reports whether err says the object cannot be rendered
// (as opposed to a failure writing the files).
func IsUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }
