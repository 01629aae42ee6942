package render

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sonolink/dicom/pixels"
	"sonolink/internal/testenv"
)

// JPEG 2000 and JPEG-LS objects render to the same files as their reference
// decode: US1_J2KR as US1_UNCR (its uncompressed original), US1_J2KI and
// files dcmcjpls and gdcmconv made from a sample as gdcmconv --raw's decode
// of each.
func TestRendersCodecsAsReference(t *testing.T) {
	if !pixels.Decodable("1.2.840.10008.1.2.4.90") {
		t.Skip("built without cgo: JPEG 2000 and JPEG-LS are not rendered (residual)")
	}
	us := filepath.Join(testenv.Samples(t), "us")
	gdcmconv := testenv.Tool(t, "gdcmconv")
	dir := t.TempDir()
	raw := func(p string) string {
		out := filepath.Join(dir, filepath.Base(p)+".raw.dcm")
		if msg, err := exec.Command(gdcmconv, "--raw", p, out).CombinedOutput(); err != nil {
			t.Fatalf("gdcmconv --raw: %v\n%s", err, msg)
		}
		return out
	}
	encode := func(tool string, args ...string) string {
		out := filepath.Join(dir, fmt.Sprintf("%s%v.dcm", tool, args[:len(args)-1]))
		if msg, err := exec.Command(testenv.Tool(t, tool), append(args, out)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, msg)
		}
		return out
	}
	grey := filepath.Join(us, "deid-data__GREYSCALE_IMAGE.dcm")
	j2ki := filepath.Join(us, "pydicom-data__US1_J2KI.dcm")
	for _, c := range []struct{ name, obj, ref string }{
		{"US1_J2KR", filepath.Join(us, "pydicom-data__US1_J2KR.dcm"), filepath.Join(us, "pydicom-data__US1_UNCR.dcm")},
		{"US1_J2KI", j2ki, ""},
		{"JPEG-LS", encode("dcmcjpls", "+el", grey), grey},
		{"JPEG-LS near-lossless", encode("dcmcjpls", "+en", grey), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range []string{c.obj, c.ref} {
				if _, err := os.Stat(p); p != "" && err != nil {
					t.Skipf("sample missing: %v", err)
				}
			}
			ref := c.ref
			if ref == "" {
				ref = raw(c.obj)
			}
			var a, b memPut
			oa, err := File(c.obj, a.put)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			ob, err := File(ref, b.put)
			if err != nil {
				t.Fatalf("render of the reference: %v", err)
			}
			if oa.Frames != ob.Frames || oa.Width != ob.Width || oa.Height != ob.Height {
				t.Fatalf("rendered %+v, reference %+v", *oa, *ob)
			}
			for name, want := range b.files {
				if !bytes.Equal(a.files[name], want) {
					t.Errorf("%s differs from the reference's", name)
				}
			}
		})
	}
}
