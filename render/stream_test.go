package render

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// h264Object writes a Video Photographic Image of 20 frames at 10 frames
// per second (2 s), 320×240, whose pixel data is an H.264 byte stream
// ffmpeg encoded (libx264 with x264args), split into two fragments. It
// returns the object and the raw stream.
func h264Object(t *testing.T, x264args ...string) (string, string) {
	t.Helper()
	ffmpeg := testenv.Tool(t, "ffmpeg")
	dir := t.TempDir()
	raw := filepath.Join(dir, "clip.h264")
	args := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2", "-c:v", "libx264"}, x264args...)
	if msg, err := exec.Command(ffmpeg, append(args, "-pix_fmt", "yuv420p", "-f", "h264", raw)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	bs, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	half := len(bs) / 2 &^ 1 // fragments have even lengths: no padding inside the stream
	p := filepath.Join(dir, "video.dcm")
	testdicom.WriteFile(t, p, testdicom.Spec{
		PatientName: "VIDEO^PATIENT", PatientID: "V1",
		StudyUID: "2.25.7001", SeriesUID: "2.25.7002", SOPUID: "2.25.7003",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.77.1.4.1", TransferSyntax: "1.2.840.10008.1.2.4.102",
		Rows: 240, Columns: 320, Frames: 20, FrameTimeMS: 100,
		Fragments: [][]byte{bs[:half], bs[half:]},
	})
	return p, raw
}

// An H.264 video object becomes an MP4 ffprobe reads as h264 with the
// object's 20 frames over 2 s, with a JPEG first frame as thumbnail. A
// stream without B-frames is remuxed: its decoded frames are those of the
// object's stream, in order. One with B-frames (libx264's default) is
// re-encoded, as a copy would show its frames out of order.
func TestVideoObjectH264(t *testing.T) {
	t.Run("no B-frames, remuxed", func(t *testing.T) { testH264(t, true, "-bf", "0") })
	t.Run("B-frames, re-encoded", func(t *testing.T) { testH264(t, false) })
}

func testH264(t *testing.T, remux bool, x264args ...string) {
	obj, rawStream := h264Object(t, x264args...)
	ffmpeg := testenv.Tool(t, "ffmpeg")
	ffprobe := testenv.Tool(t, "ffprobe")
	var m memPut
	out, err := File(obj, m.put)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if out.Video != VideoName || out.Thumbnail != ThumbnailName || out.Frames != 20 || out.FrameTimeMS != 100 || out.Width != 320 || out.Height != 240 {
		t.Fatalf("Output = %+v", out)
	}
	for _, name := range []string{ThumbnailName, "render/f0000.jpg"} {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(m.files[name]))
		if err != nil {
			t.Fatalf("%s is not a JPEG: %v", name, err)
		}
		if name == ThumbnailName && (cfg.Width != 256 || cfg.Height != 192) {
			t.Errorf("thumbnail is %d×%d, want 256×192", cfg.Width, cfg.Height)
		}
	}
	mp4 := filepath.Join(t.TempDir(), "v.mp4")
	if err := os.WriteFile(mp4, m.files[VideoName], 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames:format=duration,format_name",
		"-of", "json", mp4).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var probe struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Name     string `json:"format_name"`
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil || len(probe.Streams) != 1 {
		t.Fatalf("ffprobe said %s (%v)", b, err)
	}
	s := probe.Streams[0]
	if s.Codec != "h264" || s.Width != 320 || s.Height != 240 || s.Frames != "20" {
		t.Errorf("video is %+v, want h264 320×240 with 20 frames", s)
	}
	if d, _ := strconv.ParseFloat(probe.Format.Duration, 64); d < 1.9 || d > 2.1 {
		t.Errorf("duration %q s, want 2", probe.Format.Duration)
	}
	// Frames in presentation order, their times increasing.
	pts, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "frame=pts_time", "-of", "csv=p=0", mp4).Output()
	if err != nil {
		t.Fatalf("ffprobe frames: %v", err)
	}
	last := -1.0
	for _, l := range strings.Fields(string(pts)) {
		v, _ := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if v <= last {
			t.Fatalf("frame times not increasing: %s", pts)
		}
		last = v
	}
	md5s := func(args ...string) string {
		b, err := exec.Command(ffmpeg, append(append([]string{"-v", "error"}, args...), "-f", "framemd5", "-")...).Output()
		if err != nil {
			t.Fatalf("ffmpeg framemd5: %v", err)
		}
		var sums []string
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Split(l, ","); len(f) == 6 && !strings.HasPrefix(l, "#") {
				sums = append(sums, strings.TrimSpace(f[5]))
			}
		}
		return strings.Join(sums, " ")
	}
	if same := md5s("-i", mp4) == md5s("-f", "h264", "-i", rawStream); same != remux {
		t.Errorf("decoded frames identical to the object's stream: %v, want %v", same, remux)
	}
	t.Logf("MP4 %d bytes, %s", len(m.files[VideoName]), b)
}

// Without ffmpeg a video object is not rendered, and the reason says that
// playback needs ffmpeg.
func TestVideoObjectWithoutFFmpeg(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.dcm")
	testdicom.WriteFile(t, p, testdicom.Spec{StudyUID: "2.25.1", SeriesUID: "2.25.2", SOPUID: "2.25.3",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.77.1.4.1", TransferSyntax: "1.2.840.10008.1.2.4.107",
		Rows: 240, Columns: 320, Frames: 20, FrameTimeMS: 100, Fragments: [][]byte{{0, 0, 0, 1}}})
	saved := ffmpegPath
	ffmpegPath = func() string { return "" }
	defer func() { ffmpegPath = saved }()
	var m memPut
	_, err := File(p, m.put)
	if !IsUnsupported(err) || !strings.Contains(err.Error(), "video (HEVC): playback needs ffmpeg") {
		t.Fatalf("err = %v, want unsupported: playback needs ffmpeg", err)
	}
	if len(m.files) != 0 {
		t.Errorf("files written without ffmpeg: %d", len(m.files))
	}
}

// An MPEG-2 video object (browsers do not play MPEG-2) is transcoded to an
// H.264 MP4 of its 2 seconds.
func TestVideoObjectMPEG2(t *testing.T) {
	ffmpeg := testenv.Tool(t, "ffmpeg")
	ffprobe := testenv.Tool(t, "ffprobe")
	dir := t.TempDir()
	raw := filepath.Join(dir, "clip.m2v")
	if msg, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-t", "2", "-c:v", "mpeg2video", "-f", "mpeg2video", raw).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	bs, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "v.dcm")
	testdicom.WriteFile(t, p, testdicom.Spec{StudyUID: "2.25.1", SeriesUID: "2.25.2", SOPUID: "2.25.3",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.77.1.4.1", TransferSyntax: "1.2.840.10008.1.2.4.100",
		Rows: 240, Columns: 320, Frames: 50, FrameTimeMS: 40, Fragments: [][]byte{bs}})
	var m memPut
	out, err := File(p, m.put)
	if err != nil || out.Video != VideoName || m.files[ThumbnailName] == nil {
		t.Fatalf("render: %v %+v", err, out)
	}
	mp4 := filepath.Join(dir, "v.mp4")
	if err := os.WriteFile(mp4, m.files[VideoName], 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name:format=duration",
		"-of", "default=noprint_wrappers=1", mp4).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	_, dur, _ := strings.Cut(string(b), "duration=")
	if d, _ := strconv.ParseFloat(strings.TrimSpace(dur), 64); !strings.Contains(string(b), "codec_name=h264") || d < 1.9 || d > 2.1 {
		t.Errorf("MP4 is %s, want h264 of 2 s", b)
	}
}
