package anonymize

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s1, err := LoadOrCreateSecret(dir)
	if err != nil || len(s1) != SecretSize {
		t.Fatalf("create: %v (%d bytes)", err, len(s1))
	}
	st, err := os.Stat(filepath.Join(dir, SecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode: %v %v", st.Mode(), err)
	}
	s2, err := LoadOrCreateSecret(dir)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("second load differs: %v", err)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions([]string{"shift-dates", "retain-patient-chars", "keep-private=PHILIPS US:200Dxx03;ACME:0029xx10"})
	if err != nil || !o.ShiftDates || !o.RetainPatientCharacteristics || len(o.SafePrivate) != 2 {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range [][]string{{"retain-dates", "shift-dates"}, {"nope"}, {"keep-private=X:0028xx10"}} {
		if _, err := ParseOptions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	a, b := newTest(t, Options{}), newTest(t, Options{RetainFullDates: true})
	if a.Profile() == b.Profile() {
		t.Error("Profile does not change with options")
	}
}

func TestDateOptions(t *testing.T) {
	in := filepath.Join(testenv.Samples(t), "us", "deid-data__GREYSCALE_IMAGE.dcm")
	orig, err := dicomfile.ReadHeader(in)
	if err != nil {
		t.Fatal(err)
	}
	studyDate := dicomfile.String(orig, tagOf(0x0008, 0x0020))
	for _, c := range []struct {
		o     Options
		longi string
		same  bool
	}{
		{Options{}, "REMOVED", false},
		{Options{RetainFullDates: true}, "UNMODIFIED", true},
		{Options{ShiftDates: true}, "MODIFIED", false},
	} {
		var buf bytes.Buffer
		if _, err := newTest(t, c.o).File(in, &buf); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "out.dcm")
		os.WriteFile(p, buf.Bytes(), 0o600)
		out, err := dicomfile.ReadHeader(p)
		if err != nil {
			t.Fatal(err)
		}
		got := dicomfile.String(out, tagOf(0x0008, 0x0020))
		if (got == studyDate) != c.same || c.o.ShiftDates && len(got) != 8 {
			t.Errorf("%+v: study date %q (original %q)", c.o, got, studyDate)
		}
		if l := dicomfile.String(out, tagLongitudinalModified); l != c.longi {
			t.Errorf("%+v: Longitudinal Temporal Information Modified %q, want %q", c.o, l, c.longi)
		}
	}
}
