package admin

import (
	"io"
	"path/filepath"
	"slices"
	"testing"

	"sonolink/anonymize"
	"sonolink/internal/testdicom"
)

// TestDeidReasonsOfAnonymize: the reasons anonymize gives real objects
// read as the codes the console translates, so a changed wording in
// anonymize fails here rather than showing as an unknown reason.
func TestDeidReasonsOfAnonymize(t *testing.T) {
	a, err := anonymize.New(anonymize.Options{Secret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	base := testdicom.Spec{PatientName: "Lund^Eva", PatientID: "PID7731", StudyUID: "1.2.9", SeriesUID: "1.2.9.1",
		SOPUID: "1.2.9.1.1", StudyDate: "20261120", SeriesNumber: "1", InstanceNumber: 1, Rows: 16, Columns: 16}
	region := base
	region.Region = [4]uint32{0, 0, 15, 15}
	leak := region
	// Transducer Data is not in PS3.15's table: kept, so verification finds the ID in it.
	leak.Extra = []testdicom.Element{{Group: 0x0018, Element: 0x5010, VR: "LO", Value: "PID7731"}}
	sr := base
	sr.SR = true
	video := region
	video.TransferSyntax, video.Fragments, video.Frames = "1.2.840.10008.1.2.4.102", [][]byte{{0, 0, 0, 1, 9, 16}}, 2
	for _, c := range []struct {
		name string
		spec testdicom.Spec
		want string
	}{
		{"no regions", base, DeidNoRegions},
		{"SR", sr, DeidSR},
		{"ID left in an attribute", leak, DeidFoundPrefix + "patient_id"},
		{"video", video, DeidVideo},
	} {
		p := filepath.Join(t.TempDir(), "in.dcm")
		testdicom.WriteFile(t, p, c.spec)
		res, err := a.File(p, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var codes []string
		for _, r := range res.Verdict.Reasons {
			w := deidReason(r)
			if w.Code == "" {
				t.Errorf("%s: reason %q has no code", c.name, r)
			}
			codes = append(codes, w.Code)
		}
		if !slices.Contains(codes, c.want) {
			t.Errorf("%s: reasons %q read as %q, want %q among them", c.name, res.Verdict.Reasons, codes, c.want)
		}
	}
}

// TestDeidReasonParts: the pipeline's reasons and the technical rest of a
// reason are kept as the detail; an unknown reason is all detail.
func TestDeidReasonParts(t *testing.T) {
	for r, want := range map[string]DeidReason{
		"pixels not cleaned: unsupported encoding (cannot rewrite JPEG 2000 pixel data)": {Code: DeidEncoding, Detail: "cannot rewrite JPEG 2000 pixel data"},
		"pixels not cleaned: ultrasound regions outside the image":                       {Code: DeidPixels, Detail: "ultrasound regions outside the image"},
		"object cannot be de-identified: anonymize: object without SOP Class UID":        {Code: DeidCannot, Detail: "anonymize: object without SOP Class UID"},
		"de-identification failed: disk full":                                            {Code: DeidFailed, Detail: "disk full"},
		"internal error":                                                                 {Code: DeidInternal},
		"the stored file is gone":                                                        {Code: DeidMissing},
		"verification: shoe size found":                                                  {Code: DeidFoundUnknown, Detail: "shoe size found"},
		"burned-in text outside the regions":                                             {Detail: "burned-in text outside the regions"},
	} {
		if got := deidReason(r); got != want {
			t.Errorf("%q: %+v, want %+v", r, got, want)
		}
	}
}
