package dicomdir

import (
	"bytes"
	"io"
	"os"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// FuzzReadFile reads the header of an object a scanner sent into its
// directory fields, writes a DICOMDIR with it, and checks that the
// DICOMDIR is a DICOM file sonolink itself accepts.
func FuzzReadFile(f *testing.F) {
	for _, p := range testenv.SampleFiles(f, "us", "sr", "pdf", "charset") {
		if st, err := os.Stat(p); err == nil && st.Size() <= 32<<10 {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add(testdicom.Bytes(testdicom.Spec{PatientName: "A^B", StudyUID: "1.2.3", SeriesUID: "1.2.3.1", SOPUID: "1.2.3.1.1", StudyDate: "20250101"}))
	f.Add(testdicom.Bytes(testdicom.Spec{SR: true, SOPUID: "2.25.1", StudyUID: "2.25.2", SeriesUID: "2.25.3", SRTitle: "Findings", SRTexts: [][2]string{{"A", "b"}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ReadFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		file.ID = []string{"DICOM", FileName(1)}
		var out bytes.Buffer
		if err := Write(&out, "SONOLINK", []File{file}); err != nil {
			return
		}
		if _, _, err := dicomfile.Parse(bytes.NewReader(out.Bytes()), int64(out.Len()), dicomfile.Limits{}, false); err != nil {
			t.Fatalf("the DICOMDIR written from the header does not parse: %v", err)
		}
		_ = Write(io.Discard, "SONOLINK", []File{file, file})
	})
}
