package render

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sonolink/internal/testenv"
)

// A cine loop gets an MP4 beside its GIF: ffprobe reads it as H.264 in
// yuv420p with every frame of the object, at the object's frame rate.
func TestObjectCineVideo(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	ffprobe := testenv.Tool(t, "ffprobe")
	if !HasVideo() {
		t.Fatal("ffmpeg is installed but HasVideo says no (see the log)")
	}
	out, m := renderCine(t)
	if out.Video != VideoName || out.Animation != AnimationName {
		t.Fatalf("Output = %+v, want a video and an animation", out)
	}
	mp4 := filepath.Join(t.TempDir(), "loop.mp4")
	if err := os.WriteFile(mp4, m.files[VideoName], 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,avg_frame_rate",
		"-of", "json", mp4).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var probe struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			PixFmt string `json:"pix_fmt"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Frames string `json:"nb_read_frames"`
			Rate   string `json:"avg_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &probe); err != nil || len(probe.Streams) != 1 {
		t.Fatalf("ffprobe said %s (%v)", b, err)
	}
	s := probe.Streams[0]
	if s.Codec != "h264" || s.PixFmt != "yuv420p" || s.Width != 480 || s.Height != 430 || s.Frames != strconv.Itoa(out.Frames) {
		t.Errorf("video is %+v, want h264 yuv420p 480×430 with %d frames", s, out.Frames)
	}
	num, den, _ := strings.Cut(s.Rate, "/")
	n, _ := strconv.ParseFloat(num, 64)
	d, _ := strconv.ParseFloat(den, 64)
	if want := 1000 / out.FrameTimeMS; d == 0 || n/d < want*0.98 || n/d > want*1.02 {
		t.Errorf("frame rate %s, want %.2f", s.Rate, want)
	}
	t.Logf("video %d bytes, GIF %d bytes", len(m.files[VideoName]), len(m.files[AnimationName]))
}

func TestVideoSize(t *testing.T) {
	for _, c := range [][4]int{{480, 430, 480, 430}, {1920, 1080, 1280, 720}, {800, 2000, 512, 1280}, {1281, 3, 1280, 3}} {
		if w, h := videoSize(c[0], c[1]); w != c[2] || h != c[3] {
			t.Errorf("videoSize(%d, %d) = %d, %d, want %d, %d", c[0], c[1], w, h, c[2], c[3])
		}
	}
}
