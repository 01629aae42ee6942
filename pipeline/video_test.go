package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
	"sonolink/render"
	"sonolink/store"
)

// An H.264 video object received through the store is residual with the
// video reason, and rendered as an MP4 of its 2 seconds with a JPEG
// thumbnail, recorded as a cine loop's MP4 is.
func TestVideoObjectThroughPipeline(t *testing.T) {
	ffmpeg := testenv.Tool(t, "ffmpeg")
	ffprobe := testenv.Tool(t, "ffprobe")
	e := newFaultEnv(t, t.TempDir())
	raw := filepath.Join(t.TempDir(), "clip.h264")
	if msg, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
		"-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "h264", raw).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	bs, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	const sop = "1.2.826.0.1.3680043.10.4242.9.1.1"
	p := filepath.Join(e.st.SpoolDir(), "video.dcm")
	testdicom.WriteFile(t, p, testdicom.Spec{PatientName: faultPatient, PatientID: "VID-1",
		StudyUID: "1.2.826.0.1.3680043.10.4242.9", SeriesUID: "1.2.826.0.1.3680043.10.4242.9.1", SOPUID: sop,
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.77.1.4.1", TransferSyntax: "1.2.840.10008.1.2.4.102",
		Rows: 240, Columns: 320, Frames: 20, FrameTimeMS: 100, Fragments: [][]byte{bs}})
	if _, err := e.st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
		t.Fatal(err)
	}
	pl := e.pipeline(t)
	run(t, pl, pl.queue.idle)
	in := e.instance(t, sop)
	want := "video (H.264): burned-in text cannot be removed from video; shown behind the password"
	if in.Deid == nil || in.Deid.Clean || !slices.Contains(in.Deid.Reasons, want) {
		t.Fatalf("deid %+v, want residual with %q", in.Deid, want)
	}
	r := in.Render
	if r == nil || r.Video != render.VideoName || r.Thumbnail != render.ThumbnailName || r.Frames != 20 || r.FrameTimeMS != 100 {
		t.Fatalf("render %+v, want an MP4 and a thumbnail of 20 frames of 100 ms", r)
	}
	thumb, err := os.ReadFile(e.st.DerivedPath(sop, r.Thumbnail))
	if err != nil || len(thumb) < 3 || thumb[0] != 0xFF || thumb[1] != 0xD8 {
		t.Errorf("thumbnail is not a JPEG (%v)", err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name:format=duration",
		"-of", "default=noprint_wrappers=1", e.st.DerivedPath(sop, r.Video)).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	s := string(out)
	if !strings.Contains(s, "codec_name=h264") {
		t.Errorf("MP4 is not H.264: %s", s)
	}
	_, dur, _ := strings.Cut(s, "duration=")
	if d, _ := strconv.ParseFloat(strings.TrimSpace(dur), 64); d < 1.9 || d > 2.1 {
		t.Errorf("MP4 lasts %q s, want 2", dur)
	}
}
