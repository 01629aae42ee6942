package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
)

// Two different objects sent under one SOP Instance UID: 'sonolink study'
// lists both as versions of the object, the first in use; --use-version
// switches to the second, which the audit log records, and the running node
// makes the de-identified copy and the renders again from it.
func TestCLIConflictVersions(t *testing.T) {
	dataDir := filepath.Join(shortTempDir(t), "data")
	log := &shareE2ELog{}
	n := ingestStart(t, dataDir, log)
	spec := testdicom.Spec{PatientName: "Versions^Vera", StudyUID: "1.2.826.0.1.3680043.10.4242.12",
		SeriesUID: "1.2.826.0.1.3680043.10.4242.12.0", SOPUID: "1.2.826.0.1.3680043.10.4242.12.1"}
	dir := t.TempDir()
	var files []string
	for i, size := range []int{8, 16} { // the second object is larger
		s := spec
		s.Rows, s.Columns = size, size
		f := filepath.Join(dir, []string{"v1.dcm", "v2.dcm"}[i])
		if err := os.WriteFile(f, testdicom.Bytes(s), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	for _, f := range files { // one association each: v1 arrives first
		out, err := ingestTool(t, "storescu", "-aet", "MODALITY", "-aec", "SONOLINK", "-v", n.host, n.port, f)
		if err != nil || !strings.Contains(out, "Received Store Response (Success)") {
			t.Fatalf("storescu %s: %v\n%s", filepath.Base(f), err, out)
		}
	}

	detail := func() admin.StudyDetail {
		t.Helper()
		var d admin.StudyDetail
		if err := json.Unmarshal([]byte(mustCLI(t, 0, dataDir, "study", "1", "--json").out), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	r := mustCLI(t, 0, dataDir, "study", "1")
	if !strings.Contains(r.out, "Image 1 has 2 versions") || !strings.Contains(r.out, "v1  in use") || !strings.Contains(r.out, "No version chosen yet") || !strings.Contains(r.out, "--use-version i1:VERSION") {
		t.Fatalf("study does not list the versions to choose from:\n%s", r.out)
	}
	d := detail()
	if len(d.Objects) != 1 || len(d.Objects[0].Versions) != 2 || !d.Objects[0].Versions[0].InUse || d.Objects[0].Versions[1].InUse || !d.Objects[0].ChooseVersion || !d.ChooseVersion {
		t.Fatalf("versions before the choice: %+v", d.Objects)
	}
	v2 := d.Objects[0].Versions[1].SHA256

	mustCLI(t, 2, dataDir, "study", "1", "--use-version", "image1:3")
	r = mustCLI(t, 0, dataDir, "study", "1", "--use-version", "2")
	if !strings.Contains(r.out, "v2  in use") || strings.Contains(r.out, "No version chosen") || !strings.Contains(r.out, "Use another:") {
		t.Fatalf("--use-version 2 did not switch, or the object is still to choose:\n%s", r.out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d = detail(); d.Objects[0].Deid == "pending"; d = detail() {
		if time.Now().After(deadline) {
			t.Fatalf("the chosen version was not de-identified again:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !d.Objects[0].Versions[1].InUse || d.Objects[0].Versions[0].InUse {
		t.Errorf("versions after the choice: %+v", d.Objects[0].Versions)
	}
	if a := mustCLI(t, 0, dataDir, "audit", "--study", "1"); !strings.Contains(a.out, "object.version") || !strings.Contains(a.out, "version 2 of 2") {
		t.Errorf("the audit log does not record the choice:\n%s", a.out)
	}
	n.stop()

	st := ingestOpenStore(t, dataDir)
	inst, err := st.Instance(spec.SOPUID)
	if err != nil || inst.Hash != v2 || inst.Deid == nil || inst.Deid.Path == "" || inst.Render == nil || inst.Render.Width != 16 {
		t.Fatalf("primary after the choice: %v %+v", err, inst)
	}
	ds, err := dicomfile.ReadHeader(st.DerivedPath(inst.SOPInstanceUID, inst.Deid.Path))
	if err != nil || dicomfile.Int(ds, tag.Rows, 0) != 16 {
		t.Errorf("the de-identified copy is not made from the chosen version: %v", err)
	}
	ingestNoPHI(t, log)
}

// The technician corrects the patient's name and ID on the scanner and
// sends the study again (dcmsend twice, the second time after dcmodify):
// each object is kept in two versions, and 'sonolink study' says under
// each which name and ID it carries. Once the corrected versions are
// chosen, the study is listed and found under the corrected name and ID,
// and no longer under the old ones; 'sonolink check' finds nothing wrong;
// neither name reached the log.
func TestCLICorrectedNameResent(t *testing.T) {
	dataDir := filepath.Join(shortTempDir(t), "data")
	log := &shareE2ELog{}
	n := ingestStart(t, dataDir, log)
	const study = "1.2.826.0.1.3680043.10.4242.13"
	dir, fixed := t.TempDir(), t.TempDir()
	var first, second []string
	for i := 1; i <= 2; i++ {
		s := testdicom.Spec{PatientName: "Felskriven^Vera", PatientID: "FEL4711", StudyUID: study, SeriesUID: study + ".0",
			SOPUID: study + ".0." + strconv.Itoa(i), InstanceNumber: i, SeriesNumber: "1", Rows: 8, Columns: 8}
		f := filepath.Join(dir, fmt.Sprintf("o%d.dcm", i))
		if err := os.WriteFile(f, testdicom.Bytes(s), 0o600); err != nil {
			t.Fatal(err)
		}
		g := filepath.Join(fixed, fmt.Sprintf("o%d.dcm", i))
		if err := os.WriteFile(g, testdicom.Bytes(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := ingestTool(t, "dcmodify", "-nb", "-m", "(0010,0010)=Rattskriven^Vera", "-m", "(0010,0020)=RATT4711", g); err != nil {
			t.Fatalf("dcmodify: %v\n%s", err, out)
		}
		first, second = append(first, f), append(second, g)
	}
	ingestDcmsend(t, n, "MODALITY", first)
	ingestDcmsend(t, n, "MODALITY", second)

	r := mustCLI(t, 0, dataDir, "study", "1")
	for _, want := range []string{"Image 1 has 2 versions", "Image 2 has 2 versions", "patient name: Felskriven, Vera", "patient name: Rattskriven, Vera",
		"patient ID: FEL4711", "patient ID: RATT4711"} {
		if !strings.Contains(r.out, want) {
			t.Fatalf("study does not say %q:\n%s", want, r.out)
		}
	}
	var d admin.StudyDetail
	if err := json.Unmarshal([]byte(mustCLI(t, 0, dataDir, "study", "1", "--json").out), &d); err != nil {
		t.Fatal(err)
	}
	want := []admin.VersionFact{{Field: "patient_name", Value: "Rattskriven^Vera"}, {Field: "patient_id", Value: "RATT4711"}}
	for _, o := range d.Objects {
		if len(o.Versions) != 2 || o.VersionsAlike || !slices.Equal(o.Versions[1].Differs, want) {
			t.Fatalf("--json: versions of object %d: %+v", o.N, o.Versions)
		}
	}
	mustCLI(t, 1, dataDir, "studies", "rattskriven")

	mustCLI(t, 0, dataDir, "study", "1", "--use-version", "i1:2")
	mustCLI(t, 0, dataDir, "study", "1", "--use-version", "i2:2")
	for _, q := range []string{"rattskriven", "RATT4711"} {
		if r := mustCLI(t, 0, dataDir, "studies", q); !strings.Contains(r.out, "Rattskriven") || strings.Contains(r.out, "Felskriven") {
			t.Errorf("studies %s:\n%s", q, r.out)
		}
	}
	mustCLI(t, 1, dataDir, "studies", "felskriven")
	mustCLI(t, 1, dataDir, "studies", "FEL4711")
	if r := mustCLI(t, 0, dataDir, "study", "1"); !strings.Contains(r.out, "Rattskriven") || !strings.Contains(r.out, "RATT4711") {
		t.Errorf("the study's header does not show the corrected patient:\n%s", r.out)
	}
	n.stop()
	mustCLI(t, 0, dataDir, "check")
	for _, v := range []string{"Felskriven", "Rattskriven", "FEL4711", "RATT4711"} {
		if strings.Contains(log.String(), v) {
			t.Errorf("the log holds patient data %q", v)
		}
	}
}
