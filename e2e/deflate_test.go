package e2e

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

const deflatedTS = "1.2.840.10008.1.2.1.99"

func inflateAll(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("inflating: %v", err)
	}
	return out
}

// Deflated Explicit VR Little Endian objects, written by DCMTK's dcmconv
// +td (an ultrasound image and a structured report), sent by storescu -xd
// (deflated proposed first) and by dcmsend (the file's own syntax): each
// is stored as received (deflated, holding the data set sent), and the
// image is rendered and
// de-identified clean from its inflated data set.
func TestE2EDeflatedStoredAndCleaned(t *testing.T) {
	testenv.Long(t, "peer encoders and a node de-identifying deflated objects")
	t.Parallel()
	s := testenv.Samples(t)
	dir := t.TempDir()
	var files []string
	for i, src := range []string{"us/deid-data__GREYSCALE_IMAGE.dcm", "sr/orthanc__StructuredReports_IM0.dcm", "us/deid-data__GREYSCALE_IMAGE.dcm"} {
		in := filepath.Join(s, src)
		if _, err := os.Stat(in); err != nil {
			t.Skipf("sample missing: %v", err)
		}
		cp := filepath.Join(dir, "copy.dcm")
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// A new SOP Instance UID each, then deflated.
		if out, err := ingestTool(t, "dcmodify", "-nb", "-gin", cp); err != nil {
			t.Fatalf("dcmodify: %v\n%s", err, out)
		}
		out := filepath.Join(dir, []string{"us.dcm", "sr.dcm", "us2.dcm"}[i])
		if msg, err := ingestTool(t, "dcmconv", "+td", cp, out); err != nil {
			t.Fatalf("dcmconv +td: %v\n%s", err, msg)
		}
		ds, err := dicomfile.ReadHeader(out)
		if err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if ts := dicomfile.String(ds, tag.TransferSyntaxUID); ts != deflatedTS {
			t.Fatalf("dcmconv +td wrote %s", ts)
		}
		files = append(files, out)
	}

	dataDir := filepath.Join(shortTempDir(t), "data")
	log := &shareE2ELog{}
	n := ingestStart(t, dataDir, log)
	if out, err := ingestTool(t, "storescu", "-xd", "-aet", "MODALITY", "-aec", "SONOLINK", n.host, n.port, files[0], files[1]); err != nil {
		t.Fatalf("storescu -xd: %v\n%s", err, out)
	}
	ingestDcmsend(t, n, "MODALITY", files[2:])

	var d admin.StudyDetail
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		res := mustCLI(t, 0, dataDir, "studies", "--json")
		var list []admin.StudySummary
		if err := json.Unmarshal([]byte(res.out), &list); err != nil {
			t.Fatal(err)
		}
		pending := false
		found := 0
		for _, st := range list {
			if err := json.Unmarshal([]byte(mustCLI(t, 0, dataDir, "study", st.ShortID, "--json").out), &d); err != nil {
				t.Fatal(err)
			}
			for _, o := range d.Objects {
				found++
				pending = pending || o.Deid == "pending"
			}
		}
		if found == len(files) && !pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not de-identified within 2 min:\n%s", log.String())
		}
	}
	n.stop()

	st := ingestOpenStore(t, dataDir)
	for i, f := range files {
		inst, err := st.Instance(ingestHeader(t, f).sop)
		if err != nil {
			t.Fatalf("%s: not stored: %v", filepath.Base(f), err)
		}
		if inst.TransferSyntax != deflatedTS {
			t.Errorf("%s stored in %s, want deflated as sent", filepath.Base(f), inst.TransferSyntax)
		}
		sent, _ := os.ReadFile(f)
		stored, err := os.ReadFile(st.ObjectPath(inst))
		if err != nil {
			t.Fatal(err)
		}
		// The data set as sent (the stored file meta is sonolink's own).
		sentLay, err := dicomfile.Inspect(bytes.NewReader(sent), int64(len(sent)), dicomfile.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		storedLay, err := dicomfile.Inspect(bytes.NewReader(stored), int64(len(stored)), dicomfile.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		// DCMTK deflates again when it sends, so the deflated bytes may
		// differ from its file's: what they hold must not.
		if !bytes.Equal(inflateAll(t, sent[sentLay.DatasetOffset:]), inflateAll(t, stored[storedLay.DatasetOffset:])) {
			t.Errorf("%s: stored data set differs from the one sent", filepath.Base(f))
		}
		if i == 1 {
			continue // the report has no image
		}
		if inst.Render == nil || inst.Render.Frames != 1 || inst.Render.Width != 1024 {
			t.Errorf("%s not rendered: %+v", filepath.Base(f), inst.Render)
		}
		if inst.Deid == nil || !inst.Deid.Clean {
			t.Errorf("%s de-identification: %+v", filepath.Base(f), inst.Deid)
		}
	}
}
