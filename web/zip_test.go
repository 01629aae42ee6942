package web

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/internal/testenv"
)

// TestDownloadAllDICOMDIR: the ZIP holds an image and a DICOM file per
// item, and a DICOMDIR that DCMTK reads and dciodvfy accepts (the Basic
// Directory IOD, offsets included), built from objects whose headers the
// test controls. Over HTTP: the browser adds nothing to what the ZIP holds.
func TestDownloadAllDICOMDIR(t *testing.T) {
	fx := newFixture(t, nil)
	res, body := fx.get(t, "/p/"+tokOpen+"/all.zip")
	if res.StatusCode != 200 {
		t.Fatalf("zip: %d", res.StatusCode)
	}
	checkZip(t, []byte(body), 5)
}

// checkZip asserts the ZIP holds an image per shared item, the DICOM
// objects and a DICOMDIR that dcmdump reads.
func checkZip(t *testing.T, body []byte, items int) {
	t.Helper()
	dir, names := testenv.Unzip(t, body)
	var images, dicoms int
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "images/"):
			images++
		case strings.HasPrefix(n, "DICOM/IMG"):
			dicoms++
		}
	}
	if images != items || dicoms != items {
		t.Fatalf("zip holds %d images and %d DICOM files, want %d each", images, dicoms, items)
	}
	dcmdump := testenv.Tool(t, "dcmdump")
	out, err := exec.Command(dcmdump, "-E", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	if err != nil || strings.Count(string(out), "IMAGE") < items {
		t.Fatalf("dcmdump DICOMDIR: %v\n%s", err, out)
	}
	// dciodvfy checks the Basic Directory IOD, offsets included.
	dciodvfy := testenv.Tool(t, "dciodvfy")
	out, _ = exec.Command(dciodvfy, filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	if strings.Contains(string(out), "Error") {
		t.Errorf("dciodvfy DICOMDIR:\n%s", out)
	}
	if readme, err := os.ReadFile(filepath.Join(dir, "README.txt")); err != nil || !strings.Contains(string(readme), "de-identified copies") {
		t.Errorf("README.txt does not say the DICOM files are de-identified copies (%v)", err)
	}
	// Every referenced file exists in the ZIP.
	for i := 1; i <= items; i++ {
		if _, err := os.Stat(filepath.Join(dir, "DICOM", "IMG0000"+string(rune('0'+i)))); err != nil {
			t.Errorf("DICOM/IMG0000%d missing", i)
		}
	}
}
