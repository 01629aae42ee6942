package dicomdir

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

func sampleSet(t *testing.T, dir string) []File {
	t.Helper()
	specs := []testdicom.Spec{
		{PatientName: "ANON^PATIENT", PatientID: "P1", StudyUID: "1.2.3.4", SeriesUID: "1.2.3.4.1", SOPUID: "1.2.3.4.1.1", StudyDate: "20250627", StudyTime: "101500", StudyID: "S1", SeriesNumber: "1", InstanceNumber: 1},
		{PatientName: "ANON^PATIENT", PatientID: "P1", StudyUID: "1.2.3.4", SeriesUID: "1.2.3.4.1", SOPUID: "1.2.3.4.1.2", StudyDate: "20250627", StudyTime: "101500", StudyID: "S1", SeriesNumber: "1", InstanceNumber: 2, Frames: 3, FrameTimeMS: 33.3},
		{PatientName: "ANON^PATIENT", PatientID: "P1", StudyUID: "1.2.3.4", SeriesUID: "1.2.3.4.2", SOPUID: "1.2.3.4.2.1", StudyDate: "20250627", StudyTime: "101500", StudyID: "S1", SeriesNumber: "2", InstanceNumber: 1},
	}
	var files []File
	if err := os.MkdirAll(filepath.Join(dir, "DICOM"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range specs {
		b := testdicom.Bytes(s)
		name := FileName(i + 1)
		if err := os.WriteFile(filepath.Join(dir, "DICOM", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("ReadFile: %v", err)
		}
		if f.SOPInstanceUID != s.SOPUID || f.StudyUID != s.StudyUID || f.TransferSyntaxUID != "1.2.840.10008.1.2.1" {
			t.Fatalf("header fields not read: %+v", f)
		}
		f.ID = []string{"DICOM", name}
		files = append(files, f)
	}
	return files
}

func TestWriteOffsets(t *testing.T) {
	dir := t.TempDir()
	files := sampleSet(t, dir)
	var buf bytes.Buffer
	if err := Write(&buf, "SONOLINK", files); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[128:132]) != "DICM" {
		t.Fatal("no DICM prefix")
	}
	// Every record offset must point at an Item tag (FFFE,E000).
	item := []byte{0xFE, 0xFF, 0x00, 0xE0}
	checked := 0
	for _, tagBytes := range [][]byte{
		{0x04, 0x00, 0x00, 0x12, 'U', 'L'}, // root first
		{0x04, 0x00, 0x02, 0x12, 'U', 'L'}, // root last
		{0x04, 0x00, 0x00, 0x14, 'U', 'L'}, // next
		{0x04, 0x00, 0x20, 0x14, 'U', 'L'}, // lower
	} {
		for i := 0; ; {
			j := bytes.Index(b[i:], tagBytes)
			if j < 0 {
				break
			}
			off := binary.LittleEndian.Uint32(b[i+j+8:])
			if off != 0 {
				if int(off)+4 > len(b) || !bytes.Equal(b[off:off+4], item) {
					t.Fatalf("offset %d does not point at an item", off)
				}
				checked++
			}
			i += j + 1
		}
	}
	// 1 patient, 1 study, 2 series, 3 images: 2 root + 1+1+... links.
	if checked < 8 {
		t.Fatalf("only %d offsets checked", checked)
	}
	if bytes.Count(b, []byte("IMAGE ")) != 3 || !bytes.Contains(b, []byte(`DICOM\IMG00002`)) {
		t.Fatal("image records missing")
	}
}

func TestDCMTKAcceptsDICOMDIR(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	dir := t.TempDir()
	files := sampleSet(t, dir)
	p := writeDICOMDIR(t, dir, files)
	out, err := exec.Command(dcmdump, "-E", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "E:") || strings.Contains(string(out), "W:") {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	for _, want := range []string{"MediaStorageDirectoryStorage", "PATIENT", "STUDY", "SERIES", "IMAGE", `DICOM\IMG00003`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("dcmdump output lacks %q:\n%s", want, out)
		}
	}
	dciodvfy(t, p)
}

// Structured reports get SR DOCUMENT records and PDFs ENCAP DOC records
// that DCMTK and dicom3tools accept, next to the images.
func TestDocumentRecords(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	dir := t.TempDir()
	files := sampleSet(t, dir)
	docs := append(testenv.SampleFiles(t, "sr"), testenv.SampleFiles(t, "pdf")...)
	if len(docs) < 4 {
		t.Fatalf("want 3 SR and 1 PDF sample, found %d", len(docs))
	}
	srs := 0
	for _, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ReadFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if IsSR(f.SOPClassUID) {
			srs++
			if f.ConceptCode.Value == "" || f.CompletionFlag == "" {
				t.Errorf("%s: SR fields not read: %+v", filepath.Base(p), f)
			}
		}
		// The samples' patients differ: put them under one patient, as
		// the de-identified copies of one study would be.
		f.PatientName, f.PatientID, f.StudyUID = files[0].PatientName, files[0].PatientID, files[0].StudyUID
		name := FileName(len(files) + 1)
		if err := os.WriteFile(filepath.Join(dir, "DICOM", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		f.ID = []string{"DICOM", name}
		files = append(files, f)
	}
	if srs != 3 {
		t.Fatalf("%d SR samples recognised, want 3", srs)
	}
	p := writeDICOMDIR(t, dir, files)
	out, err := exec.Command(dcmdump, "-E", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "E:") || strings.Contains(string(out), "W:") {
		t.Fatalf("dcmdump: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "[SR DOCUMENT]"); n != 3 {
		t.Errorf("%d SR DOCUMENT records, want 3:\n%s", n, out)
	}
	for _, want := range []string{"[ENCAP DOC]", "Imaging Measurement Report", "CompletionFlag", "VerificationFlag"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dcmdump output lacks %q", want)
		}
	}
	dciodvfy(t, p)
}

// dciodvfy checks the Basic Directory IOD and its record offsets, where
// dicom3tools is installed, and fails the test on any error it reports.
func dciodvfy(t *testing.T, path string) {
	t.Helper()
	v, err := exec.LookPath("dciodvfy")
	if err != nil {
		if testenv.CI() {
			t.Fatal("dciodvfy (dicom3tools) not installed")
		}
		t.Log("dciodvfy not installed; the IOD is not checked")
		return
	}
	out, _ := exec.Command(v, path).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error") {
			t.Errorf("dciodvfy: %s", line)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("dciodvfy output:\n%s", out)
	}
}

// A de-identified set has no study date or time (PS3.15 Table E.1-1
// empties them), yet the STUDY record requires both (Type 1): the
// DICOMDIR must still be valid for the hospital that imports it.
func TestDeidentifiedSetIsValid(t *testing.T) {
	dir := t.TempDir()
	files := sampleSet(t, dir)
	for i := range files {
		files[i].StudyDate, files[i].StudyTime, files[i].StudyID = "", "", ""
	}
	p := writeDICOMDIR(t, dir, files)
	dciodvfy(t, p)
}

// writeDICOMDIR writes the DICOMDIR of files into dir and returns its path.
func writeDICOMDIR(t *testing.T, dir string, files []File) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, "SONOLINK", files); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "DICOMDIR")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
