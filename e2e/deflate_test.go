package e2e

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/dicom/dicomfile"
	"sonolink/dicom/uid"
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

// deflateBomb writes a deflated Part 10 object of a few hundred KB whose
// data set inflates to more than 256 MiB (sonolink's limit): a private OB
// element of zeros.
func deflateBomb(t *testing.T, path string) (sop string) {
	t.Helper()
	le := binary.LittleEndian
	el := func(w *bytes.Buffer, g, e uint16, vr string, v []byte) {
		if len(v)%2 == 1 {
			v = append(v, 0)
		}
		binary.Write(w, le, [2]uint16{g, e})
		w.WriteString(vr)
		if vr == "OB" {
			binary.Write(w, le, uint16(0))
			binary.Write(w, le, uint32(len(v)))
		} else {
			binary.Write(w, le, uint16(len(v)))
		}
		w.Write(v)
	}
	const class = "1.2.840.10008.5.1.4.1.1.7" // Secondary Capture
	sop = uid.New()
	var ds bytes.Buffer
	el(&ds, 0x0008, 0x0016, "UI", []byte(class))
	el(&ds, 0x0008, 0x0018, "UI", []byte(sop))
	el(&ds, 0x0010, 0x0020, "LO", []byte("BOMB"))
	el(&ds, 0x0020, 0x000D, "UI", []byte(uid.New()))
	el(&ds, 0x0020, 0x000E, "UI", []byte(uid.New()))
	el(&ds, 0x7FE1, 0x0010, "LO", []byte("SONOLINK TEST"))
	const big = 300 << 20
	binary.Write(&ds, le, [2]uint16{0x7FE1, 0x1001})
	ds.WriteString("OB")
	binary.Write(&ds, le, uint16(0))
	binary.Write(&ds, le, uint32(big))
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write(ds.Bytes())
	zero := make([]byte, 1<<20)
	for range big >> 20 {
		fw.Write(zero)
	}
	fw.Close()
	if z.Len()%2 == 1 {
		z.WriteByte(0)
	}
	var meta bytes.Buffer
	el(&meta, 2, 1, "OB", []byte{0, 1})
	el(&meta, 2, 2, "UI", []byte(class))
	el(&meta, 2, 3, "UI", []byte(sop))
	el(&meta, 2, 0x10, "UI", []byte(deflatedTS))
	el(&meta, 2, 0x12, "UI", []byte(uid.ImplementationClassUID))
	var f bytes.Buffer
	f.Write(make([]byte, 128))
	f.WriteString("DICM")
	el(&f, 2, 0, "UL", le.AppendUint32(nil, uint32(meta.Len())))
	f.Write(meta.Bytes())
	f.Write(z.Bytes())
	if err := os.WriteFile(path, f.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return sop
}

// A deflate bomb (300 MiB of zeros in some 300 KB) sent by storescu -xd is
// refused with C000 Cannot Understand and a log line that says why, and
// not stored; sonolink holds none of it in memory.
func TestE2EDeflateBombRefused(t *testing.T) {
	testenv.Long(t, "storescu sends a deflate bomb")
	t.Parallel()
	f := filepath.Join(t.TempDir(), "bomb.dcm")
	sop := deflateBomb(t, f)
	dataDir := filepath.Join(shortTempDir(t), "data")
	log := &shareE2ELog{}
	n := ingestStart(t, dataDir, log)
	out, err := ingestTool(t, "storescu", "-xd", "+cl", "1", "-aet", "MODALITY", "-aec", "SONOLINK", n.host, n.port, f)
	if err == nil {
		t.Errorf("storescu reported no failure:\n%s", out)
	}
	if !shareE2EWait(10*time.Second, func() bool {
		return log.has("C-STORE answered", `"status":"cannot understand (0xC000)"`) && log.has("deflated data set too large once inflated", "268435456")
	}) {
		t.Fatalf("no C000 with the reason in the log:\n%s", log)
	}
	n.stop()
	if _, err := ingestOpenStore(t, dataDir).Instance(sop); err == nil {
		t.Error("the bomb was stored")
	}
}
