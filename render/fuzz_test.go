package render

import (
	"bytes"
	"os"
	"testing"
	"unicode/utf8"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// FuzzSR renders structured reports a scanner sent, as the patient page
// does (header parse, then SR and its text form): an error or a report,
// never a panic, and valid UTF-8 text.
func FuzzSR(f *testing.F) {
	for _, p := range testenv.SampleFiles(f, "sr") {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 64<<10 {
			f.Add(b)
		}
	}
	f.Add(testdicom.Bytes(testdicom.Spec{SR: true, SOPUID: "2.25.1", StudyUID: "2.25.2", SeriesUID: "2.25.3", SRTitle: "Findings",
		SRTexts: [][2]string{{"Impression", "normal"}, {"Comment", "ünïcode"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, _, err := dicomfile.Parse(bytes.NewReader(b), int64(len(b)), dicomfile.Limits{MaxDepth: 8}, true)
		if err != nil {
			return
		}
		r, err := SR(ds)
		if err != nil {
			return
		}
		if txt := r.Text(en); !utf8.ValidString(txt) {
			t.Fatalf("report text is not valid UTF-8")
		}
	})
}
