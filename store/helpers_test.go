package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
)

// obj describes a small synthetic object in the store tests' terms.
type obj struct {
	SOP, Study, Series       string
	Name, PatientID, Birth   string
	Date, Time, Desc, Acc    string
	SeriesNo, InstNo, Frames int
	Pixels                   int // pixel data bytes
	Fill                     byte
	CharSet                  string
	SkipSOP                  bool
}

// bytes builds the object with the shared test DICOM writer: Pixels
// bytes of Fill in one row per frame, or no image module when Pixels is 0.
func (o obj) bytes() []byte {
	spec := testdicom.Spec{
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.3.1", SOPUID: o.SOP, NoSOPInstanceUID: o.SkipSOP,
		StudyUID: o.Study, SeriesUID: o.Series,
		PatientName: o.Name, PatientID: o.PatientID, PatientBirthDate: o.Birth,
		StudyDate: o.Date, StudyTime: o.Time, StudyDescription: o.Desc, AccessionNumber: o.Acc,
		InstanceNumber: o.InstNo, SpecificCharacterSet: o.CharSet,
		NoPixelData: o.Pixels == 0,
	}
	if o.SeriesNo > 0 {
		spec.SeriesNumber = strconv.Itoa(o.SeriesNo)
	}
	if o.Pixels > 0 {
		spec.Frames = max(o.Frames, 1)
		spec.Rows, spec.Columns = 1, o.Pixels/spec.Frames
		spec.PixelData = bytes.Repeat([]byte{o.Fill}, o.Pixels)
	}
	return testdicom.Bytes(spec)
}

func quietLogger() *slog.Logger {
	if os.Getenv("STORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// spool writes b into the store's spool directory and returns its path.
func spool(t testing.TB, s *Store, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(s.SpoolDir(), "rx-*.dcm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func spoolFile(t testing.TB, s *Store, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return spool(t, s, b)
}

// datasetHash recomputes the content hash of a stored file.
func datasetHash(t testing.TB, p string) string {
	sum, _ := datasetSum(t, p)
	return hex.EncodeToString(sum)
}

// datasetSum returns the SHA-256 and the size of a file's data set (what
// follows its File Meta Information).
func datasetSum(t testing.TB, p string) ([]byte, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	lay, err := dicomfile.Inspect(f, st.Size(), dicomfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, lay.DatasetOffset, st.Size()-lay.DatasetOffset))
	if err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil), n
}

// tempFiles lists temporary files left anywhere under dir.
func tempFiles(t testing.TB, dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p)[0] == '.' {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func dirEntries(t testing.TB, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
