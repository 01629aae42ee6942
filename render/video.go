package render

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"golang.org/x/image/draw"
)

// Video output: an H.264 MP4 of a cine loop, which phones save to their
// photo library and play everywhere. It is encoded by ffmpeg (libx264)
// when ffmpeg is installed; without it a loop has only its GIF.
const (
	VideoName = "render/loop.mp4"
	// VideoSize is the longest side of the video; larger frames are
	// scaled down, smaller ones are kept as they are.
	VideoSize = 1280
	// videoTimeout bounds the encoding of one loop: a stuck encoder must
	// not hold a render worker.
	videoTimeout = 5 * time.Minute
)

// HasVideo reports whether cine loops get an MP4: ffmpeg was found and
// encoded a tiny test clip. It is checked once, on first use, and its
// absence logged once.
func HasVideo() bool { return ffmpegPath() != "" }

var ffmpegPath = sync.OnceValue(func() string {
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		slog.Info("render: ffmpeg not found; cine loops are rendered as GIF only")
		return ""
	}
	// Two black 16×16 frames through the same command the loops use.
	tmp, err := os.CreateTemp("", "sonolink-probe-*.mp4")
	if err == nil {
		tmp.Close()
		defer os.Remove(tmp.Name())
		var enc *videoEncoder
		enc, err = startVideo(path, tmp.Name(), 16, 16, 40)
		if err == nil {
			black := image.NewGray(image.Rect(0, 0, 16, 16))
			for i := 0; i < 2 && err == nil; i++ {
				err = enc.add(black)
			}
			err = errors.Join(err, enc.finish())
		}
	}
	if err != nil {
		slog.Warn("render: ffmpeg cannot encode H.264; cine loops are rendered as GIF only", "ffmpeg", path, "err", err)
		return ""
	}
	return path
})

// videoEncoder pipes raw RGB frames, one at a time, into ffmpeg, which
// writes an MP4 to a temporary file. Only one frame's bytes are held.
type videoEncoder struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  io.WriteCloser
	stderr limitedBuffer
	w, h   int
	rgb    []byte
}

// startVideo starts ffmpeg for frames of w×h at one frame per frameMS,
// writing the MP4 to out. Its arguments hold sizes and rates only, never
// anything read from the object.
func startVideo(ffmpeg, out string, w, h int, frameMS float64) (*videoEncoder, error) {
	ctx, cancel := context.WithTimeout(context.Background(), videoTimeout)
	fps := strconv.FormatFloat(1000/frameMS, 'f', 3, 64)
	cmd := exec.CommandContext(ctx, ffmpeg,
		"-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "-framerate", fps, "-i", "-",
		// Even dimensions, as 4:2:0 chroma needs; yuv420p, as phones play.
		"-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
		"-threads", "2", "-an", "-map_metadata", "-1",
		"-fflags", "+bitexact", "-flags:v", "+bitexact",
		"-movflags", "+faststart", "-f", "mp4", out)
	cmd.WaitDelay = 5 * time.Second
	e := &videoEncoder{cmd: cmd, cancel: cancel, w: w, h: h, rgb: make([]byte, 3*w*h)}
	cmd.Stderr = &e.stderr
	stdin, err := cmd.StdinPipe()
	if err == nil {
		e.stdin = stdin
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	return e, nil
}

// add writes one frame, scaled to the encoder's size if need be.
func (e *videoEncoder) add(img image.Image) error {
	b := img.Bounds()
	if b.Dx() != e.w || b.Dy() != e.h {
		dst := image.NewRGBA(image.Rect(0, 0, e.w, e.h))
		draw.ApproxBiLinear.Scale(dst, dst.Rect, img, b, draw.Src, nil)
		img, b = dst, dst.Rect
	}
	p := e.rgb
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < e.h; y++ {
			row := m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+(b.Min.X-m.Rect.Min.X):]
			for x := 0; x < e.w; x++ {
				v := row[x]
				o := 3 * (y*e.w + x)
				p[o], p[o+1], p[o+2] = v, v, v
			}
		}
	case *image.RGBA:
		for y := 0; y < e.h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := 0; x < e.w; x++ {
				o := 3 * (y*e.w + x)
				p[o], p[o+1], p[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	default:
		for y := 0; y < e.h; y++ {
			for x := 0; x < e.w; x++ {
				r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				o := 3 * (y*e.w + x)
				p[o], p[o+1], p[o+2] = uint8(r>>8), uint8(g>>8), uint8(bb>>8)
			}
		}
	}
	if _, err := e.stdin.Write(p); err != nil {
		return fmt.Errorf("ffmpeg: %w (%s)", err, e.stderr.String())
	}
	return nil
}

// finish closes the input and waits for ffmpeg to write the file.
func (e *videoEncoder) finish() error {
	defer e.cancel()
	err := e.stdin.Close()
	if werr := e.cmd.Wait(); werr != nil {
		err = fmt.Errorf("ffmpeg: %w (%s)", werr, e.stderr.String())
	}
	return err
}

// abort stops ffmpeg without waiting for a file.
func (e *videoEncoder) abort() {
	e.cancel()
	_ = e.stdin.Close()
	_ = e.cmd.Wait()
}

// videoSize fits w×h into VideoSize (never enlarging), as scale does.
func videoSize(w, h int) (int, int) {
	if w <= VideoSize && h <= VideoSize {
		return w, h
	}
	if w >= h {
		return VideoSize, max(1, (h*VideoSize+w/2)/w)
	}
	return max(1, (w*VideoSize+h/2)/h), VideoSize
}

// limitedBuffer keeps the first 2 KiB of ffmpeg's messages for the log.
type limitedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := 2048 - len(l.b); n > 0 {
		l.b = append(l.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// video is a loop's MP4 while it is being encoded: frames go in as they
// are decoded, and done hands the finished file to put.
type video struct {
	enc  *videoEncoder
	path string
	err  error // the first failure; the loop then keeps its GIF only
}

// newVideo starts the MP4 of a loop of w×h frames, or returns nil when
// there is no encoder or it cannot start (logged: the GIF remains).
func newVideo(w, h int, frameMS float64) *video {
	ffmpeg := ffmpegPath()
	if ffmpeg == "" {
		return nil
	}
	tmp, err := os.CreateTemp("", "sonolink-loop-*.mp4")
	if err != nil {
		slog.Warn("render: no video for this loop", "reason", err.Error())
		return nil
	}
	tmp.Close()
	vw, vh := videoSize(w, h)
	enc, err := startVideo(ffmpeg, tmp.Name(), vw, vh, frameMS)
	if err != nil {
		os.Remove(tmp.Name())
		slog.Warn("render: no video for this loop", "reason", err.Error())
		return nil
	}
	return &video{enc: enc, path: tmp.Name()}
}

func (v *video) add(img image.Image) {
	if v.err == nil {
		v.err = v.enc.add(img)
	}
}

// done finishes the encoding and writes the MP4 through put under
// VideoName. It reports whether the loop has a video; a failure of the
// encoder is logged and leaves the GIF as the only animation, while a
// failure of put is returned.
func (v *video) done(put func(name string, write func(io.Writer) error) error) (bool, error) {
	defer os.Remove(v.path)
	if v.err != nil {
		v.enc.abort()
	} else {
		v.err = v.enc.finish()
	}
	if v.err != nil {
		slog.Warn("render: no video for this loop", "reason", v.err.Error())
		return false, nil
	}
	f, err := os.Open(v.path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := put(VideoName, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	}); err != nil {
		return false, err
	}
	return true, nil
}

// cancel stops the encoding of a loop whose render failed.
func (v *video) cancel() {
	v.enc.abort()
	os.Remove(v.path)
}
