package render

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"golang.org/x/image/draw"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
)

// Video objects (MPEG-2, H.264, HEVC transfer syntaxes) hold one video
// bitstream in their fragments (PS3.5 8.2.5–8.2.8). They are played as an
// MP4: H.264 is remuxed without re-encoding, MPEG-2 and HEVC (which
// browsers do not play) are transcoded to H.264. The first frame is the
// thumbnail and frame 1.
const (
	// streamMaxBytes bounds the bitstream read from an object and the MP4
	// written from it.
	streamMaxBytes = 4 << 30
)

// videoStream renders a video object: the MP4 under VideoName, the first
// frame under FramePattern and ThumbnailName. Without ffmpeg it returns
// ErrUnsupported saying so.
func videoStream(ds *dicom.Dataset, ref *dicomfile.PixelRef, codec string, put func(name string, write func(io.Writer) error) error) (*Output, error) {
	ffmpeg := ffmpegPath()
	if ffmpeg == "" {
		return nil, fmt.Errorf("%w: video (%s): playback needs ffmpeg, which is not installed", ErrUnsupported, codec)
	}
	if !ref.Encapsulated || len(ref.Spans) < 2 {
		return nil, fmt.Errorf("%w: video (%s) without encapsulated fragments", ErrUnsupported, codec)
	}
	var total int64
	stream := func() io.Reader {
		var parts []io.Reader
		for _, s := range ref.Spans[1:] { // the Basic Offset Table first
			parts = append(parts, io.NewSectionReader(ref.R, s.Offset, s.Length))
		}
		return io.MultiReader(parts...)
	}
	for _, s := range ref.Spans[1:] {
		total += s.Length
	}
	if total > streamMaxBytes {
		return nil, fmt.Errorf("%w: video (%s) of %d bytes exceeds the limit of %d", ErrUnsupported, codec, total, int64(streamMaxBytes))
	}
	frameMS := FrameTime(ds)
	frames := dicomfile.Int(ds, tag.NumberOfFrames, 0)

	tmp, err := os.CreateTemp("", "sonolink-video-*.mp4")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	ctx, cancel := context.WithTimeout(context.Background(), videoTimeout)
	defer cancel()
	args := []string{"-hide_banner", "-loglevel", "error", "-y"}
	if codec == "H.264" && !reorders(ctx, stream()) {
		// A raw byte stream has no timing: the object's frame rate gives it.
		args = append(args, "-framerate", strconv.FormatFloat(1000/frameMS, 'f', 3, 64), "-f", "h264", "-i", "-", "-c:v", "copy")
	} else {
		// MPEG-2 and HEVC, which browsers do not play, and H.264 with
		// B-frames: ffmpeg's raw H.264 reader gives its frames no
		// presentation times, so a copy would show them out of order
		// (and cut the first ones); decoding reorders them.
		if codec == "H.264" {
			args = append(args, "-framerate", strconv.FormatFloat(1000/frameMS, 'f', 3, 64), "-f", "h264")
		}
		if codec == "HEVC" {
			args = append(args, "-f", "hevc", "-framerate", strconv.FormatFloat(1000/frameMS, 'f', 3, 64))
		}
		args = append(args, "-i", "-",
			"-vf", fmt.Sprintf("scale=w='min(%d,iw)':h='min(%d,ih)':force_original_aspect_ratio=decrease,scale=trunc(iw/2)*2:trunc(ih/2)*2", VideoSize, VideoSize),
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-threads", "2")
	}
	args = append(args, "-an", "-sn", "-dn", "-map_metadata", "-1", "-fs", strconv.Itoa(streamMaxBytes),
		"-movflags", "+faststart", "-f", "mp4", tmp.Name())
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = stream()
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		slog.Warn("render: video not converted", "codec", codec, "reason", err.Error(), "ffmpeg", stderr.String())
		return nil, fmt.Errorf("%w: video (%s) not converted by ffmpeg: %v", ErrUnsupported, codec, err)
	}

	// The first frame, as PNG through a pipe: the thumbnail and frame 1.
	var png1 bytes.Buffer
	stderr = limitedBuffer{}
	cmd = exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error",
		"-i", tmp.Name(), "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-")
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = &png1, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: video (%s): first frame not extracted: %v (%s)", ErrUnsupported, codec, err, stderr.String())
	}
	first, err := png.Decode(&png1)
	if err != nil {
		return nil, fmt.Errorf("%w: video (%s): first frame: %v", ErrUnsupported, codec, err)
	}
	if frames < 1 {
		frames = 1
	}
	b := first.Bounds()
	out := &Output{
		Frames: frames, FrameTimeMS: frameMS, Width: b.Dx(), Height: b.Dy(),
		FramePattern: FramePattern, Thumbnail: ThumbnailName, Video: VideoName,
	}
	if err := put(fmt.Sprintf(FramePattern, 0), func(w io.Writer) error {
		return jpeg.Encode(w, first, &jpeg.Options{Quality: FrameQuality})
	}); err != nil {
		return nil, fmt.Errorf("render: writing frame 0: %w", err)
	}
	th := scale(toRGBA(first), ThumbnailSize, draw.CatmullRom)
	if err := put(ThumbnailName, func(w io.Writer) error {
		return jpeg.Encode(w, th, &jpeg.Options{Quality: ThumbnailQuality})
	}); err != nil {
		return nil, fmt.Errorf("render: writing thumbnail: %w", err)
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := put(VideoName, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	}); err != nil {
		return nil, fmt.Errorf("render: writing video: %w", err)
	}
	return out, nil
}

// reorders reports whether an H.264 stream may have B-frames (frames shown
// in another order than they are stored), as ffprobe reads its first
// 8 MiB; true when ffprobe is absent or cannot tell.
func reorders(ctx context.Context, stream io.Reader) bool {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		return true
	}
	cmd := exec.CommandContext(ctx, ffprobe, "-v", "error", "-f", "h264", "-select_streams", "v:0",
		"-show_entries", "stream=has_b_frames", "-of", "default=noprint_wrappers=1:nokey=1", "-")
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = io.LimitReader(stream, 8<<20)
	b, err := cmd.Output()
	if err != nil {
		return true
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	return err != nil || n != 0
}

func toRGBA(img image.Image) image.Image {
	if _, ok := img.(*image.RGBA); ok {
		return img
	}
	dst := image.NewRGBA(img.Bounds())
	draw.Draw(dst, dst.Rect, img, img.Bounds().Min, draw.Src)
	return dst
}

// videoCodecOf is the video codec of the object's transfer syntax, "" for
// an object that is not a video.
func videoCodecOf(ds *dicom.Dataset) string {
	return pixels.VideoCodec(dicomfile.String(ds, tag.TransferSyntaxUID))
}
