package e2e

import (
	"encoding/binary"
	"encoding/json"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
	"sonolink/internal/testenv"
)

// Ultrasound images with a region, in JPEG 2000 (lossless, lossy), JPEG-LS
// (lossless, near-lossless) and 12-bit JPEG Extended, made with gdcmconv,
// dcmcjpls and dcmcjpeg from a native sample (widened to 12 bits for
// dcmcjpeg) and sent by dcmsend as they are: each is
// stored in its own syntax, rendered, and de-identified clean, its copy in
// JPEG Lossless with everything outside the region black and the region
// unchanged (as this build decodes the object sent).
func TestE2ECodecsRenderedAndCleaned(t *testing.T) {
	testenv.Long(t, "peer encoders and a node de-identifying five objects")
	t.Parallel()
	src := filepath.Join(testenv.Samples(t), "us", "deid-data__GREYSCALE_IMAGE.dcm")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("sample missing: %v", err)
	}
	if !pixels.Decodable("1.2.840.10008.1.2.4.90") {
		t.Skip("built without cgo: JPEG 2000 and JPEG-LS stay residual (pixels tests cover that build)")
	}
	dir := t.TempDir()
	makers := []struct {
		name, ts string
		tool     string
		args     []string
	}{
		{"j2k.dcm", "1.2.840.10008.1.2.4.90", "gdcmconv", []string{"--j2k"}},
		{"j2k-lossy.dcm", "1.2.840.10008.1.2.4.91", "gdcmconv", []string{"--j2k", "--lossy", "-q", "50"}},
		{"jls.dcm", "1.2.840.10008.1.2.4.80", "dcmcjpls", []string{"+el"}},
		{"jls-near.dcm", "1.2.840.10008.1.2.4.81", "dcmcjpls", []string{"+en"}},
		{"jpeg-ext.dcm", "1.2.840.10008.1.2.4.51", "dcmcjpeg", []string{"+ee"}},
	}
	src12 := widenTo12Bits(t, src, filepath.Join(dir, "native12.dcm"))
	dcmodify := testenv.Tool(t, "dcmodify")
	var files []string
	wantTS := map[string]string{}
	for _, m := range makers {
		tool := testenv.Tool(t, m.tool)
		out := filepath.Join(dir, m.name)
		from := src
		if m.tool == "dcmcjpeg" {
			from = src12
		}
		if msg, err := exec.Command(tool, append(append([]string{}, m.args...), from, out)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", m.tool, err, msg)
		}
		// A new SOP Instance UID each, so they are five objects.
		if msg, err := exec.Command(dcmodify, "-nb", "-gin", out).CombinedOutput(); err != nil {
			t.Fatalf("dcmodify: %v\n%s", err, msg)
		}
		ds, err := dicomfile.ReadHeader(out)
		if err != nil {
			t.Fatal(err)
		}
		if ts := dicomfile.String(ds, tag.TransferSyntaxUID); ts != m.ts {
			t.Fatalf("%s wrote %s, want %s", m.tool, ts, m.ts)
		}
		wantTS[dicomfile.String(ds, tag.SOPInstanceUID)] = m.ts
		files = append(files, out)
	}

	dataDir := filepath.Join(shortTempDir(t), "data")
	log := &shareE2ELog{}
	n := ingestStart(t, dataDir, log)
	ingestDcmsend(t, n, "MODALITY", files)
	var d admin.StudyDetail
	deadline := time.Now().Add(2 * time.Minute)
	for {
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
			t.Fatalf("not de-identified within 2 min: %+v\n%s", d.Objects, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, o := range d.Objects {
		if o.Deid != "clean" {
			t.Errorf("object %d (%s): %s %q, want clean", o.N, wantTS[o.SOPInstance], o.Deid, o.Reasons)
		}
	}
	n.stop()

	orig, err := dicomfile.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := pixels.Regions(orig)
	if err != nil || len(keep) == 0 {
		t.Fatalf("sample regions: %v %v", keep, err)
	}
	st := ingestOpenStore(t, dataDir)
	for sop, ts := range wantTS {
		t.Run(ts, func(t *testing.T) {
			inst, err := st.Instance(sop)
			if err != nil {
				t.Fatal(err)
			}
			if inst.TransferSyntax != ts {
				t.Errorf("stored in %s, want %s as sent", inst.TransferSyntax, ts)
			}
			if inst.Render == nil || inst.Render.Frames != 1 || inst.Render.Width != 1024 {
				t.Errorf("not rendered: %+v", inst.Render)
			}
			if inst.Deid == nil || !inst.Deid.Clean {
				t.Fatalf("de-identification: %+v", inst.Deid)
			}
			sent, err := dicomfile.ReadFile(st.ObjectPath(inst))
			if err != nil {
				t.Fatal(err)
			}
			copyDS, err := dicomfile.ReadFile(st.DerivedPath(sop, inst.Deid.Path))
			if err != nil {
				t.Fatal(err)
			}
			if got := dicomfile.String(copyDS, tag.TransferSyntaxUID); got != "1.2.840.10008.1.2.4.70" {
				t.Errorf("de-identified copy in %s, want JPEG Lossless SV1", got)
			}
			a, err := pixels.Frame(sent, 0)
			if err != nil {
				t.Fatalf("sent object: %v", err)
			}
			b, err := pixels.Frame(copyDS, 0)
			if err != nil {
				t.Fatalf("de-identified copy: %v", err)
			}
			ga, gb := a.(*image.Gray), b.(*image.Gray)
			changed, lit, dirty := 0, 0, 0
			for y := 0; y < ga.Rect.Dy(); y++ {
				for x := 0; x < ga.Rect.Dx(); x++ {
					in := false
					for _, r := range keep {
						in = in || image.Pt(x, y).In(r)
					}
					p := y*ga.Stride + x
					switch {
					case in && ga.Pix[p] != gb.Pix[p]:
						changed++
					case !in && gb.Pix[p] != 0:
						lit++
					case !in && ga.Pix[p] != 0:
						dirty++
					}
				}
			}
			if changed > 0 || lit > 0 {
				t.Errorf("%d pixels inside the region changed, %d outside not black", changed, lit)
			}
			if dirty == 0 {
				t.Errorf("nothing outside the region to black out: the check proves nothing")
			}
		})
	}
	if strings.Contains(log.String(), "cannot decode") {
		t.Errorf("a context was accepted as undecodable:\n%s", log.String())
	}
}

// widenTo12Bits writes a copy of the 8-bit native sample at path with 16
// bits allocated and 12 stored (each value ×16), for a 12-bit JPEG encoder.
func widenTo12Bits(t *testing.T, path, out string) string {
	t.Helper()
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	pdi := pe.Value.GetValue().(dicom.PixelDataInfo)
	wide := make([]byte, 2*len(pdi.UnprocessedValueData))
	for i, v := range pdi.UnprocessedValueData {
		binary.LittleEndian.PutUint16(wide[2*i:], uint16(v)*16)
	}
	if pe.Value, err = dicom.NewValue(dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: wide}); err != nil {
		t.Fatal(err)
	}
	pe.RawValueRepresentation, pe.ValueLength = "OW", uint32(len(wide))
	for tg, v := range map[tag.Tag]int{tag.BitsAllocated: 16, tag.BitsStored: 12, tag.HighBit: 11} {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatal(err)
		}
		e.Value, _ = dicom.NewValue([]int{v})
	}
	for _, tg := range []tag.Tag{tag.WindowCenter, tag.WindowWidth} {
		if e, err := ds.FindElementByTag(tg); err == nil {
			e.Value, _ = dicom.NewValue([]string{map[tag.Tag]string{tag.WindowCenter: "2048", tag.WindowWidth: "4096"}[tg]})
		}
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := dicom.Write(f, *ds, dicom.SkipVRVerification()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
