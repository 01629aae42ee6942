package anonymize

import (
	"path/filepath"
	"slices"
	"testing"

	"sonolink/internal/testdicom"
)

// A video object is residual even with ultrasound regions, and the reason
// says why in words the technician understands, not "unsupported
// encoding". Its bitstream is kept as received.
func TestVideoResidualReason(t *testing.T) {
	for _, c := range []struct{ ts, codec string }{
		{"1.2.840.10008.1.2.4.102", "H.264"},
		{"1.2.840.10008.1.2.4.100", "MPEG-2"},
		{"1.2.840.10008.1.2.4.107", "HEVC"},
	} {
		in := filepath.Join(t.TempDir(), "video.dcm")
		testdicom.WriteFile(t, in, testdicom.Spec{
			PatientName: "VIDEO^PATIENT", PatientID: "V1",
			StudyUID: "2.25.7001", SeriesUID: "2.25.7002", SOPUID: "2.25.7003",
			SOPClassUID: "1.2.840.10008.5.1.4.1.1.77.1.4.1", TransferSyntax: c.ts,
			Rows: 240, Columns: 320, Frames: 20, FrameTimeMS: 100, Region: [4]uint32{0, 0, 319, 239},
			Fragments: [][]byte{{0, 0, 0, 1, 0x67, 0x64}, {0, 0, 1, 0x65, 0x88}},
		})
		_, res := anonymizeTo(t, newTest(t, Options{}), in, t.TempDir())
		want := "video (" + c.codec + "): burned-in text cannot be removed from video; shown behind the password"
		if res.Verdict.Clean || !slices.Contains(res.Verdict.Reasons, want) {
			t.Errorf("%s: verdict %+v, want residual with %q", c.codec, res.Verdict, want)
		}
	}
}
