package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/logid"
	"sonolink/internal/testenv"
)

func TestIngestSamples(t *testing.T) {
	s := openTest(t, t.TempDir())
	files := testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset")
	studies := map[string]bool{}
	sops := map[string]bool{}
	conflicts := 0
	for _, p := range files {
		res, err := s.Ingest(spoolFile(t, s, p), Source{AssociationID: "a1", CallingAET: "MODALITY", CalledAET: "SONOLINK", PeerAddr: "127.0.0.1:4000"})
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		inst := res.Instance
		// Two sample pairs share a SOP Instance UID with different content
		// (OBXXXX1A and its RLE derivative, color-pl and color-px): the
		// second of each pair is kept as a conflict version.
		if res.Duplicate || res.StudyShortID == "" || res.Conflict != sops[inst.SOPInstanceUID] || res.Conflict != inst.Conflict {
			t.Errorf("%s: unexpected result %+v", filepath.Base(p), res)
		}
		if res.Conflict {
			conflicts++
			vs, err := s.ConflictVersions(inst.SOPInstanceUID)
			if err != nil || len(vs) != 1 || vs[0].File != inst.File {
				t.Errorf("%s: conflict versions %v %+v", filepath.Base(p), err, vs)
			}
		} else {
			prim, err := s.Instance(inst.SOPInstanceUID)
			if err != nil || prim.File != inst.File {
				t.Fatalf("%s: %v %+v", filepath.Base(p), err, prim)
			}
		}
		sops[inst.SOPInstanceUID] = true
		stored, err := os.ReadFile(s.ObjectPath(inst))
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := os.ReadFile(p)
		if !bytes.Equal(stored, orig) {
			t.Errorf("%s: stored file differs from the sample", filepath.Base(p))
		}
		if got := datasetHash(t, s.ObjectPath(inst)); got != inst.Hash {
			t.Errorf("%s: hash %s, index says %s", filepath.Base(p), got, inst.Hash)
		}
		if inst.Source.CalledAET != "SONOLINK" || inst.TransferSyntax == "" || inst.Size != int64(len(orig)) {
			t.Errorf("%s: index fields %+v", filepath.Base(p), inst)
		}
		studies[inst.StudyUID] = true
	}
	if conflicts != 2 {
		t.Errorf("%d conflict versions, want 2", conflicts)
	}
	if n := dirEntries(t, s.SpoolDir()); n != 0 {
		t.Errorf("%d files left in spool", n)
	}
	all, err := s.Studies(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(studies) {
		t.Errorf("%d studies indexed, want %d", len(all), len(studies))
	}
	total := 0
	for _, st := range all {
		insts, err := s.Instances(st.StudyUID)
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) != st.NumInstances {
			t.Errorf("study %s: %d instances listed, NumInstances %d", st.ShortID, len(insts), st.NumInstances)
		}
		total += len(insts)
	}
	if total != len(sops) {
		t.Errorf("%d instances indexed, want %d", total, len(sops))
	}

	// Multi-frame: frames counted.
	for _, p := range files {
		if strings.Contains(p, "GREYSCALE_CINE") {
			ds, _ := dicomfile.ReadHeader(p)
			sop := dicomfile.String(ds, tag.SOPInstanceUID)
			inst, _ := s.Instance(sop)
			if inst.NumFrames != 27 || inst.Rows != 600 || inst.Columns != 800 {
				t.Errorf("cine: frames %d rows %d cols %d", inst.NumFrames, inst.Rows, inst.Columns)
			}
		}
	}

	// Charset: the name is decoded to UTF-8 and searchable.
	for _, q := range []string{"ΔΙΟΝΥΣΙΟΣ", "xiaodong", "小東", "люкceмбypг"} {
		found, err := s.Studies(Query{Text: q})
		if err != nil || len(found) != 1 {
			t.Errorf("search %q: %v, %d studies", q, err, len(found))
		}
	}

	// Resending every sample: duplicates, nothing added.
	for _, p := range files {
		res, err := s.Ingest(spoolFile(t, s, p), Source{})
		if err != nil || !res.Duplicate {
			t.Fatalf("%s resent: %v %+v", filepath.Base(p), err, res)
		}
	}
	again, _ := s.Studies(Query{})
	n := 0
	for _, st := range again {
		n += st.NumInstances
	}
	if n != len(sops) {
		t.Errorf("after resend: %d instances, want %d", n, len(sops))
	}
	if c := dirEntries(t, s.SpoolDir()); c != 0 {
		t.Errorf("%d files left in spool after duplicates", c)
	}
}

func TestDuplicateAndConflict(t *testing.T) {
	s := openTest(t, t.TempDir())
	o := obj{SOP: "1.2.3.1.1", Study: "1.2.3.1", Series: "1.2.3.1.9", Name: "Doe^Jane", PatientID: "P1", Pixels: 64, Fill: 1}
	r1, err := s.Ingest(spool(t, s, o.bytes()), Source{CalledAET: "A"})
	if err != nil {
		t.Fatal(err)
	}
	// Same dataset, different meta header (another sender): still a duplicate.
	b := o.bytes()
	b[0] = 'X' // preamble differs
	r2, err := s.Ingest(spool(t, s, b), Source{CalledAET: "B"})
	if err != nil || !r2.Duplicate || r2.Conflict {
		t.Fatalf("resend: %v %+v", err, r2)
	}
	// Different content under the same UID: kept as a conflict version.
	o2 := o
	o2.Fill = 2
	r3, err := s.Ingest(spool(t, s, o2.bytes()), Source{})
	if err != nil || !r3.Conflict || r3.Duplicate {
		t.Fatalf("conflict: %v %+v", err, r3)
	}
	prim, _ := s.Instance(o.SOP)
	if prim.Hash != r1.Instance.Hash || prim.Conflicts != 1 {
		t.Errorf("primary changed or conflict not counted: %+v", prim)
	}
	vs, err := s.ConflictVersions(o.SOP)
	if err != nil || len(vs) != 1 || !vs[0].Conflict || vs[0].Hash == prim.Hash {
		t.Fatalf("conflict versions: %v %+v", err, vs)
	}
	if _, err := os.Stat(s.ObjectPath(&vs[0])); err != nil {
		t.Errorf("conflict file: %v", err)
	}
	if _, err := os.Stat(s.ObjectPath(prim)); err != nil {
		t.Errorf("primary file: %v", err)
	}
	// The conflict content again: duplicate of the conflict version.
	r4, err := s.Ingest(spool(t, s, o2.bytes()), Source{})
	if err != nil || !r4.Duplicate || !r4.Conflict || r4.Instance.Hash != vs[0].Hash || !r4.Instance.Conflict || r4.Instance.Conflicts != 0 || r4.StudyShortID != r1.StudyShortID {
		t.Fatalf("conflict resent: %v %+v", err, r4)
	}
	st, _ := s.Study(o.Study)
	if st.NumInstances != 1 || st.NumFrames != 1 {
		t.Errorf("study counts %d/%d, want 1/1", st.NumInstances, st.NumFrames)
	}
	if strings.Join(st.CalledAETs, ",") != "A" {
		t.Errorf("called AETs %v", st.CalledAETs)
	}
}

func TestSearchAndOrder(t *testing.T) {
	s := openTest(t, t.TempDir())
	objs := []obj{
		{SOP: "9.1.1", Study: "9.1", Series: "9.1.0", Name: "Müller^Zoë", PatientID: "ID-77", Acc: "ACC100", Date: "20260301", Time: "101500", Desc: "Obstetric", SeriesNo: 2, InstNo: 1},
		{SOP: "9.1.2", Study: "9.1", Series: "9.1.0", Name: "Müller^Zoë", PatientID: "ID-77", Acc: "ACC100", Date: "20260301", SeriesNo: 1, InstNo: 5, Pixels: 30, Frames: 3},
		{SOP: "9.1.3", Study: "9.1", Series: "9.1.0", Name: "Müller^Zoë", PatientID: "ID-77", Acc: "ACC100", Date: "20260301", SeriesNo: 1, InstNo: 2},
		{SOP: "9.2.1", Study: "9.2", Series: "9.2.0", Name: "O'Brien^Seán", PatientID: "X1", Acc: "DUP", Date: "20260415", Time: "083000"},
		{SOP: "9.3.1", Study: "9.3", Series: "9.3.0", Name: "Ng^Li", PatientID: "X2", Acc: "DUP", Date: "20250101"},
	}
	for _, o := range objs {
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{CalledAET: "SONOLINK"}); err != nil {
			t.Fatal(err)
		}
	}
	q := func(q Query) string {
		t.Helper()
		st, err := s.Studies(q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range st {
			ids = append(ids, x.StudyUID)
		}
		return strings.Join(ids, " ")
	}
	cases := []struct {
		q    Query
		want string
	}{
		{Query{}, "9.2 9.1 9.3"},
		{Query{Text: "zoe"}, "9.1"},
		{Query{Text: "MULLER"}, "9.1"},
		{Query{Text: "müller zoë"}, "9.1"},
		{Query{Text: "sean"}, "9.2"},
		{Query{Text: "id-7"}, "9.1"},
		{Query{Text: "acc1"}, "9.1"},
		{Query{Text: "9.3"}, "9.3"},
		{Query{Text: "nobody"}, ""},
		{Query{From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, "9.2 9.1"},
		{Query{To: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, "9.1 9.3"},
		{Query{Limit: 1}, "9.2"},
	}
	for _, c := range cases {
		if got := q(c.q); got != c.want {
			t.Errorf("Studies(%+v) = %q, want %q", c.q, got, c.want)
		}
	}
	st, err := s.Study("9.1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Patient.Name != "Müller^Zoë" || st.Patient.ID != "ID-77" || st.NumInstances != 3 || st.NumFrames != 3 || st.Description != "Obstetric" || st.ShortID != "1" {
		t.Errorf("study %+v", st)
	}
	if st2, err := s.Study(st.ShortID); err != nil || st2.StudyUID != "9.1" {
		t.Errorf("by short id: %v %v", err, st2)
	}
	if st3, err := s.Study("ACC100"); err != nil || st3.StudyUID != "9.1" {
		t.Errorf("by accession: %v %v", err, st3)
	}
	if _, err := s.Study("DUP"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("ambiguous accession: %v", err)
	}
	if _, err := s.Study("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	insts, err := s.Instances("9.1")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for i, in := range insts {
		order = append(order, in.SOPInstanceUID)
		if in.Position != i+1 {
			t.Errorf("position %d at %d", in.Position, i)
		}
	}
	if got := strings.Join(order, " "); got != "9.1.3 9.1.2 9.1.1" {
		t.Errorf("instance order %q", got)
	}
	if _, err := s.Instance("1.2.nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
}

func TestFoldName(t *testing.T) {
	for in, want := range map[string]string{
		"Müller^Zoë":          "muller zoe",
		"  O'BRIEN^Seán^^Dr ": "o'brien sean dr",
		"Yamada^Tarou=山田^太郎":  "yamada tarou 山田 太郎",
		"ÅSA^Øre":             "asa øre",
	} {
		if got := FoldName(in); got != want {
			t.Errorf("FoldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInvalidObjects(t *testing.T) {
	s := openTest(t, t.TempDir())
	// Missing SOP Instance UID.
	p := spool(t, s, obj{SOP: "1.5.1", Study: "1.5", Series: "1.5.0", SkipSOP: true}.bytes())
	_, err := s.Ingest(p, Source{})
	if !errors.Is(err, ErrInvalidObject) || !strings.Contains(err.Error(), "SOP Instance UID") {
		t.Fatalf("missing UID: %v", err)
	}
	if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("spool file not removed: %v", serr)
	}
	// Not DICOM at all.
	_, err = s.Ingest(spool(t, s, []byte("hello, this is not DICOM, but long enough to look at")), Source{})
	if !errors.Is(err, ErrInvalidObject) {
		t.Fatalf("garbage: %v", err)
	}
	// Missing spool file: an I/O failure.
	_, err = s.Ingest(filepath.Join(s.SpoolDir(), "nope.dcm"), Source{})
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("missing spool: %v", err)
	}
}

func TestOddFiles(t *testing.T) {
	s := openTest(t, t.TempDir())
	// "" = stored; otherwise a substring of the error (always ErrInvalidObject).
	want := map[string]string{
		"cornerstone3D__no-meta-length-test.dcm":                           "",
		"debian-pydicom__MR_truncated.dcm":                                 "element (7FE0,0010) declares 8192 bytes",
		"fodicom__GH177_D_CLUNIE_CT1_IVRLE_BigEndian_undefined_length.dcm": "expected an item",
		"orthanc__2017-06-27-XSSInjection.dcm":                             "",
		"orthanc__2026-05-06-Deeply-Nested-Sequence.dcm":                   "nests deeper than 32",
		"orthanc__2026-05-26-oob-monochrome-46341.dcm":                     "",
		"orthanc__2026-05-26-oob-monochrome-65535.dcm":                     "",
		"orthanc__UnknownSopClassUid.dcm":                                  "",
	}
	for _, p := range testenv.SampleFiles(t, "odd") {
		name := filepath.Base(p)
		sp := spoolFile(t, s, p)
		res, err := s.Ingest(sp, Source{})
		exp, known := want[name]
		t.Logf("%s: %v", name, err)
		switch {
		case !known:
			if err != nil && !errors.Is(err, ErrInvalidObject) {
				t.Errorf("%s: want stored or an invalid object, got %v", name, err)
			}
		case exp == "":
			if err != nil || res.Instance == nil {
				t.Errorf("%s: want stored, got %v", name, err)
			}
		default:
			if !errors.Is(err, ErrInvalidObject) || !errors.Is(err, dicomfile.ErrInvalid) || !strings.Contains(err.Error(), exp) {
				t.Errorf("%s: want an invalid object with %q, got %v", name, exp, err)
			}
		}
		if _, serr := os.Stat(sp); err != nil && !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%s: spool file left behind", name)
		}
	}
	// Still usable.
	if _, err := s.Ingest(spool(t, s, obj{SOP: "7.1.1", Study: "7.1", Series: "7.1.0"}.bytes()), Source{}); err != nil {
		t.Fatalf("store unusable after hostile input: %v", err)
	}
}

func TestUnwritableStore(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	// objects/ replaced by a regular file: every write below it fails,
	// even as root (chmod would not stop root).
	if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.forgetDir(filepath.Join(dir, "objects"))
	p := spool(t, s, obj{SOP: "3.1.1", Study: "3.1", Series: "3.1.0", Pixels: 100}.bytes())
	_, err := s.Ingest(p, Source{})
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("want a storage error, got %v", err)
	}
	if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("spool file not removed")
	}
	if _, err := s.Instance("3.1.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed object is indexed: %v", err)
	}
}

func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	s.faultSync = func(string) error { return syscall.ENOSPC }
	p := spool(t, s, obj{SOP: "3.2.1", Study: "3.2", Series: "3.2.0", Pixels: 100}.bytes())
	_, err := s.Ingest(p, Source{})
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("want a storage error caused by ENOSPC, got %v", err)
	}
	if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("spool file not removed")
	}
	if _, err := s.Instance("3.2.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed object is indexed: %v", err)
	}
	// A failure after the rename (the file's or the directory's fsync,
	// which run at the same time as the index commit) leaves no file
	// behind and takes the entry back.
	var calls atomic.Int32
	s.faultSync = func(p string) error {
		if calls.Add(1) == 2 {
			return syscall.EIO
		}
		return nil
	}
	_, err = s.Ingest(spool(t, s, obj{SOP: "3.2.2", Study: "3.2", Series: "3.2.0"}.bytes()), Source{})
	if !errors.Is(err, ErrStorage) {
		t.Fatalf("want a storage error, got %v", err)
	}
	var files int
	_ = filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files != 0 {
		t.Errorf("%d files in objects/ after failed ingests", files)
	}
	if _, err := s.Instance("3.2.2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed object is indexed: %v", err)
	}
	if _, err := s.Study("3.2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("study of failed objects is indexed: %v", err)
	}
	s.faultSync = nil
	if _, err := s.Ingest(spool(t, s, obj{SOP: "3.2.2", Study: "3.2", Series: "3.2.0"}.bytes()), Source{}); err != nil {
		t.Fatalf("after the disk recovers: %v", err)
	}
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	t0 := time.Now()
	_, err := Open(dir, Options{Logger: quietLogger(), LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "in use by another sonolink process") {
		t.Fatalf("second Open: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestDerived(t *testing.T) {
	s := openTest(t, t.TempDir())
	sop := "4.1.1"
	if _, err := s.Ingest(spool(t, s, obj{SOP: sop, Study: "4.1", Series: "4.1.0"}.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	p, err := s.PutDerived(sop, "render/f0001.jpg", func(w io.Writer) error { _, err := w.Write([]byte("jpeg")); return err })
	if err != nil {
		t.Fatal(err)
	}
	if p != s.DerivedPath(sop, "render/f0001.jpg") || !strings.Contains(p, filepath.Join("derived", InstanceKey(sop))) {
		t.Errorf("path %s", p)
	}
	if b, _ := os.ReadFile(p); string(b) != "jpeg" {
		t.Errorf("content %q", b)
	}
	// A failing writer leaves nothing, not even a temp file.
	_, err = s.PutDerived(sop, "deid.dcm", func(w io.Writer) error { w.Write([]byte("half")); return errors.New("boom") })
	if err == nil {
		t.Fatal("want error")
	}
	if _, serr := os.Stat(s.DerivedPath(sop, "deid.dcm")); !errors.Is(serr, os.ErrNotExist) {
		t.Error("partial derived file exists")
	}
	if tf := tempFiles(t, filepath.Join(s.Dir(), "derived")); len(tf) != 0 {
		t.Errorf("temp files left: %v", tf)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/b/c", ".hidden", "a/../../x", ""} {
		if _, err := s.PutDerived(sop, bad, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if _, err := s.PutDerived("no.such", "x", func(io.Writer) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
	d := Deid{Path: "deid.dcm", Clean: false, Reasons: []string{"pixels not cleaned"}, NewSOPInstanceUID: "2.25.1", Profile: "p1", At: time.Now().UTC().Truncate(time.Second)}
	if err := s.SetDeid(sop, d); err != nil {
		t.Fatal(err)
	}
	r := Render{Frames: 3, FrameTimeMS: 33.3, Width: 640, Height: 480, Thumbnail: "render/thumb.jpg", FramePattern: "render/f%04d.jpg", Profile: "r1"}
	if err := s.SetRender(sop, r); err != nil {
		t.Fatal(err)
	}
	inst, _ := s.Instance(sop)
	if inst.Deid == nil || inst.Deid.Reasons[0] != "pixels not cleaned" || !inst.Deid.At.Equal(d.At) || inst.Render == nil || inst.Render.Frames != 3 {
		t.Errorf("instance %+v", inst)
	}
	if err := s.RemoveDerived(sop); err != nil {
		t.Fatal(err)
	}
	inst, _ = s.Instance(sop)
	if inst.Deid != nil || inst.Render != nil {
		t.Error("records not cleared")
	}
	if _, serr := os.Stat(p); !errors.Is(serr, os.ErrNotExist) {
		t.Error("derived file still there")
	}
	// And writable again afterwards.
	if _, err := s.PutDerived(sop, "render/f0001.jpg", func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeid("no.such", d); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetDeid unknown: %v", err)
	}
}

func TestStartupRecovery(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	a := obj{SOP: "5.1.1", Study: "5.1", Series: "5.1.0", Name: "A^B"}
	b := obj{SOP: "5.1.2", Study: "5.1", Series: "5.1.0", Name: "A^B"}
	ra, err := s.Ingest(spool(t, s, a.bytes()), Source{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(spool(t, s, b.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Crash debris: a spool file, a temp file, a file renamed into place
	// whose index commit never happened, and a lost file; and the temp
	// files older versions wrote next to their targets.
	os.WriteFile(filepath.Join(dir, "spool", "rx-1.dcm"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, tmpDir, tmpPrefix+"7"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, "objects", tmpPrefix+"123"), []byte("partial"), 0o600)
	os.MkdirAll(filepath.Join(dir, "derived", InstanceKey(b.SOP), "render"), 0o750)
	os.WriteFile(filepath.Join(dir, "derived", InstanceKey(b.SOP), "render", tmpPrefix+"9"), []byte("partial"), 0o600)
	c := obj{SOP: "5.1.3", Study: "5.1", Series: "5.1.0", Name: "A^B", Pixels: 10, Fill: 3}
	orphan := filepath.Join(dir, "objects", "zz", "orphan.dcm")
	os.MkdirAll(filepath.Dir(orphan), 0o750)
	os.WriteFile(orphan, c.bytes(), 0o600)
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(ra.Instance.File))); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	if r := s.Recovery(); r != (Recovery{SpoolRemoved: 1, TempRemoved: 1}) {
		t.Errorf("recovery %+v", r)
	}
	// The rest is the scrub's.
	r, err := s.Scrub(t.Context(), ScrubOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ScrubResult{Checked: 4, Missing: 1, Reindexed: 1, TempRemoved: 2}); r.Checked != want.Checked || r.Missing != want.Missing ||
		r.Reindexed != want.Reindexed || r.TempRemoved != want.TempRemoved || r.Found+r.Unreadable+r.Incomplete != 0 || r.Finished.IsZero() {
		t.Errorf("scrub %+v, want %+v", r, want)
	}
	if tf := tempFiles(t, dir); len(tf) != 0 {
		t.Errorf("temp files left: %v", tf)
	}
	if n := dirEntries(t, s.SpoolDir()); n != 0 {
		t.Errorf("spool not empty")
	}
	ia, err := s.Instance(a.SOP)
	if err != nil || !ia.Missing {
		t.Errorf("lost file's entry: %v %+v", err, ia)
	}
	ic, err := s.Instance(c.SOP)
	if err != nil || ic.Source != (Source{}) || ic.Hash != datasetHash(t, orphan) {
		t.Errorf("orphan not re-indexed: %v %+v", err, ic)
	}
	st, _ := s.Study("5.1")
	if st.NumInstances != 3 {
		t.Errorf("study has %d instances", st.NumInstances)
	}
	// Resending the lost object restores it.
	res, err := s.Ingest(spool(t, s, a.bytes()), Source{})
	if err != nil || res.Duplicate {
		t.Fatalf("resend of a missing object: %v %+v", err, res)
	}
	ia, _ = s.Instance(a.SOP)
	if ia.Missing {
		t.Error("still missing after resend")
	}
	if _, err := os.Stat(s.ObjectPath(ia)); err != nil {
		t.Error(err)
	}
	st, _ = s.Study("5.1")
	if st.NumInstances != 3 {
		t.Errorf("restore changed the count: %d", st.NumInstances)
	}
}

func TestConcurrentIngest(t *testing.T) {
	s := openTest(t, t.TempDir())
	const workers, per = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				// Half the objects are sent by two workers (same UID and
				// content): exactly one is stored.
				id := w*per + i
				if i%2 == 0 {
					id = (w%2)*per + i
				}
				o := obj{SOP: fmt.Sprintf("6.%d.%d", id%4, id), Study: fmt.Sprintf("6.%d", id%4), Series: "6.0", Name: "C^D", Pixels: 2000, Fill: byte(id)}
				if _, err := s.Ingest(spool(t, s, o.bytes()), Source{AssociationID: fmt.Sprint(w)}); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := map[string]bool{}
	for w := 0; w < workers; w++ {
		for i := 0; i < per; i++ {
			id := w*per + i
			if i%2 == 0 {
				id = (w%2)*per + i
			}
			want[fmt.Sprintf("6.%d.%d", id%4, id)] = true
		}
	}
	sts, _ := s.Studies(Query{})
	total := 0
	for _, st := range sts {
		insts, _ := s.Instances(st.StudyUID)
		total += len(insts)
		if len(insts) != st.NumInstances {
			t.Errorf("study %s: %d listed, %d counted", st.StudyUID, len(insts), st.NumInstances)
		}
	}
	if total != len(want) {
		t.Errorf("%d instances, want %d", total, len(want))
	}
	for sop := range want {
		inst, err := s.Instance(sop)
		if err != nil || inst.Conflicts != 0 {
			t.Errorf("%s: %v %+v", sop, err, inst)
		}
	}
}

// Log lines name a study and an object as every component does (logid),
// never by the UID itself; an object's name begins its InstanceKey.
func TestLogIDs(t *testing.T) {
	var buf bytes.Buffer
	s, err := Open(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o := obj{SOP: "4.7.1.1", Study: "4.7.1", Series: "4.7.1.0", Name: "A^B", Pixels: 8}
	if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
		t.Fatal(err)
	}
	if id := logid.ID(o.SOP); !strings.HasPrefix(InstanceKey(o.SOP), id) {
		t.Errorf("the log name %q of an object does not begin its InstanceKey %q", id, InstanceKey(o.SOP))
	}
	line := buf.String()
	for _, want := range []string{"msg=\"object stored\"", "object=" + logid.ID(o.SOP), "study=" + logid.ID(o.Study)} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %s:\n%s", want, line)
		}
	}
	if strings.Contains(line, o.Study) {
		t.Errorf("log names a UID:\n%s", line)
	}
}
