package e2e

import (
	"bytes"
	"encoding/json"
	"image"
	"time"

	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sonolink/admin"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
	"sonolink/dicom/uid"
	"sonolink/internal/testenv"
)

// htj2kFile writes, from the native 8-bit greyscale sample src, a copy
// whose Pixel Data is the HTJ2K codestream ojph_compress (OpenJPH) makes
// of it, reversible, under transfer syntax ts, with a new SOP Instance UID.
// OpenJPH is the encoder; the DICOM wrapping is done here, as no peer
// installed writes HTJ2K objects.
func htj2kFile(t *testing.T, src, out, ts string) {
	t.Helper()
	tool := testenv.Tool(t, "ojph_compress")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ds, ref, lay, err := dicomfile.ParseRef(bytes.NewReader(b), int64(len(b)), dicomfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rows, cols := dicomfile.Int(ds, tag.Rows, 0), dicomfile.Int(ds, tag.Columns, 0)
	if ref == nil || ref.Encapsulated || lay.TransferSyntaxUID != uid.ExplicitVRLittleEndian ||
		dicomfile.Int(ds, tag.BitsAllocated, 0) != 8 || dicomfile.Int(ds, tag.SamplesPerPixel, 0) != 1 || int64(rows*cols) != ref.Spans[0].Length {
		t.Fatalf("%s is not a native explicit VR 8-bit greyscale image", src)
	}
	pixStart, pixEnd := ref.Spans[0].Offset-12, ref.Spans[0].Offset+ref.Spans[0].Length
	if !bytes.Equal(b[pixStart:pixStart+6], []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W'}) && !bytes.Equal(b[pixStart:pixStart+6], []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B'}) {
		t.Fatalf("%s: no Pixel Data header before its value", src)
	}
	dir := t.TempDir()
	pgm := filepath.Join(dir, "src.pgm")
	img := append([]byte(fmt.Sprintf("P5\n%d %d\n255\n", cols, rows)), b[ref.Spans[0].Offset:pixEnd]...)
	if err := os.WriteFile(pgm, img, 0o600); err != nil {
		t.Fatal(err)
	}
	j2c := filepath.Join(dir, "out.j2c")
	args := []string{"-i", pgm, "-o", j2c, "-reversible", "true"}
	if ts == uid.HTJ2KLosslessRPCL {
		args = append(args, "-prog_order", "RPCL")
	}
	if msg, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("ojph_compress: %v\n%s", err, msg)
	}
	cs, err := os.ReadFile(j2c)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs)%2 == 1 {
		cs = append(cs, 0)
	}

	le := binary.LittleEndian
	elem := func(w *bytes.Buffer, g, e uint16, vr string, v []byte) {
		binary.Write(w, le, [2]uint16{g, e})
		w.WriteString(vr)
		if vr == "OB" {
			binary.Write(w, le, uint16(0)) // reserved
			binary.Write(w, le, uint32(len(v)))
		} else {
			binary.Write(w, le, uint16(len(v)))
		}
		w.Write(v)
	}
	ui := func(s string) []byte {
		if len(s)%2 == 1 {
			s += "\x00"
		}
		return []byte(s)
	}
	old := ui(dicomfile.String(ds, tag.SOPInstanceUID))
	sop := strings.TrimRight(string(fitUID(uid.New(), len(old))), "\x00")
	var meta bytes.Buffer
	elem(&meta, 2, 1, "OB", []byte{0, 1})
	elem(&meta, 2, 2, "UI", ui(dicomfile.String(ds, tag.SOPClassUID)))
	elem(&meta, 2, 3, "UI", ui(sop))
	elem(&meta, 2, 0x10, "UI", ui(ts))
	elem(&meta, 2, 0x12, "UI", ui(uid.ImplementationClassUID))
	var f bytes.Buffer
	f.Write(make([]byte, 128))
	f.WriteString("DICM")
	elem(&f, 2, 0, "UL", le.AppendUint32(nil, uint32(meta.Len())))
	f.Write(meta.Bytes())
	// The data set up to Pixel Data, with the new SOP Instance UID.
	head := b[lay.DatasetOffset:pixStart]
	// Same length as the old UID, so every length stays right.
	head = bytes.Replace(head, old, fitUID(sop, len(old)), 1)
	f.Write(head)
	// Encapsulated Pixel Data: empty offset table, one fragment.
	binary.Write(&f, le, [2]uint16{0x7FE0, 0x0010})
	f.WriteString("OB")
	binary.Write(&f, le, uint16(0))
	binary.Write(&f, le, uint32(0xFFFFFFFF))
	binary.Write(&f, le, [2]uint16{0xFFFE, 0xE000})
	binary.Write(&f, le, uint32(0))
	binary.Write(&f, le, [2]uint16{0xFFFE, 0xE000})
	binary.Write(&f, le, uint32(len(cs)))
	f.Write(cs)
	binary.Write(&f, le, [2]uint16{0xFFFE, 0xE0DD})
	binary.Write(&f, le, uint32(0))
	f.Write(b[pixEnd:])
	if err := os.WriteFile(out, f.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fitUID returns a UID of exactly n bytes (even, NUL-padded as DICOM
// pads UIDs) made from u: cut, or padded.
func fitUID(u string, n int) []byte {
	b := []byte(u)
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && (b[len(b)-1] == '.' || b[len(b)-1] == 0) {
			b[len(b)-1] = '1'
		}
	}
	for len(b) < n {
		b = append(b, 0)
	}
	return b
}

// The three HTJ2K syntaxes (lossless, lossless RPCL, and the general one
// holding a reversible codestream), made with OpenJPH's ojph_compress from
// a native ultrasound sample and sent by dcmjs-dimse with each file's own
// syntax proposed (DCMTK 3.6.7 does not know HTJ2K): each is stored in its
// syntax, rendered, and de-identified clean, and the stored object decodes
// to exactly the sample's pixels.
func TestE2EHTJ2KStoredRenderedCleaned(t *testing.T) {
	testenv.Long(t, "OpenJPH encoder and a node de-identifying HTJ2K objects")
	t.Parallel()
	if !pixels.Decodable(uid.HTJ2KLossless) {
		t.Skip("built without cgo: HTJ2K is stored as received (pixels tests cover that build)")
	}
	node, mppsScript := mppsPeer(t)
	src := filepath.Join(testenv.Samples(t), "us", "deid-data__GREYSCALE_IMAGE.dcm")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("sample missing: %v", err)
	}
	dir := t.TempDir()
	want := map[string]string{} // file → syntax
	var files []string
	for _, ts := range []string{uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL, uid.HTJ2K} {
		f := filepath.Join(dir, "htj2k-"+ts+".dcm")
		htj2kFile(t, src, f, ts)
		want[f] = ts
		files = append(files, f)
	}

	dataDir := filepath.Join(shortTempDir(t), "data")
	log := &shareE2ELog{}
	n := ingestStart(t, dataDir, log)
	args := append([]string{filepath.Join(filepath.Dir(mppsScript), "store.js"), n.host, n.port, "SONOLINK", "MODALITY"}, files...)
	out, err := exec.Command(node, args...).CombinedOutput()
	// dcmjs warns about private tags on stdout; the result is the last line.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "[0,0,0]" {
		t.Fatalf("dcmjs-dimse C-STORE: %v: %s\n%s", err, out, log)
	}
	var d admin.StudyDetail
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if err := json.Unmarshal([]byte(mustCLI(t, 0, dataDir, "study", "1", "--json").out), &d); err != nil {
			t.Fatal(err)
		}
		pending := len(d.Objects) < len(files)
		for _, o := range d.Objects {
			pending = pending || o.Deid == "pending"
		}
		if !pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not de-identified within 2 min: %+v\n%s", d.Objects, log)
		}
	}
	n.stop()

	orig, err := dicomfile.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := pixels.Frame(orig, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := ingestOpenStore(t, dataDir)
	for _, f := range files {
		inst, err := st.Instance(ingestHeader(t, f).sop)
		if err != nil {
			t.Fatalf("%s: not stored: %v", want[f], err)
		}
		if inst.TransferSyntax != want[f] {
			t.Errorf("stored in %s, want %s as sent", inst.TransferSyntax, want[f])
		}
		if inst.Render == nil || inst.Render.Frames != 1 || inst.Render.Width != 1024 {
			t.Errorf("%s not rendered: %+v", want[f], inst.Render)
		}
		if inst.Deid == nil || !inst.Deid.Clean {
			t.Errorf("%s de-identification: %+v", want[f], inst.Deid)
		}
		stored, err := dicomfile.ReadFile(st.ObjectPath(inst))
		if err != nil {
			t.Fatalf("%s: %v", want[f], err)
		}
		if got := dicomfile.String(stored, tag.TransferSyntaxUID); got != want[f] {
			t.Errorf("stored object reads as %s, want %s", got, want[f])
		}
		img, err := pixels.Frame(stored, 0)
		if err != nil {
			t.Fatalf("%s: decoding the stored object: %v", want[f], err)
		}
		a, b := ref.(*image.Gray), img.(*image.Gray)
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Errorf("%s: stored object decodes to other pixels than the sample's", want[f])
		}
	}
}
