package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"sonolink/dicom/dicomfile"
)

// obj describes a small synthetic object.
type obj struct {
	SOP, Study, Series       string
	Name, PatientID, Birth   string
	Date, Time, Desc, Acc    string
	SeriesNo, InstNo, Frames int
	Pixels                   int // pixel data bytes
	Fill                     byte
	CharSet                  string
	SkipSOP                  bool
}

func elem(buf *bytes.Buffer, g, e uint16, vr string, val []byte) {
	if len(val)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" || vr == "OB" {
			pad = 0
		}
		val = append(val, pad)
	}
	_ = binary.Write(buf, binary.LittleEndian, g)
	_ = binary.Write(buf, binary.LittleEndian, e)
	buf.WriteString(vr)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT":
		buf.Write([]byte{0, 0})
		_ = binary.Write(buf, binary.LittleEndian, uint32(len(val)))
	default:
		_ = binary.Write(buf, binary.LittleEndian, uint16(len(val)))
	}
	buf.Write(val)
}

func u16(v int) []byte { b := make([]byte, 2); binary.LittleEndian.PutUint16(b, uint16(v)); return b }

// bytes builds an explicit VR little endian Part 10 file.
func (o obj) bytes() []byte {
	var ds bytes.Buffer
	s := func(g, e uint16, vr, v string) {
		if v != "" {
			elem(&ds, g, e, vr, []byte(v))
		}
	}
	s(0x0008, 0x0005, "CS", o.CharSet)
	s(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.3.1")
	if !o.SkipSOP {
		s(0x0008, 0x0018, "UI", o.SOP)
	}
	s(0x0008, 0x0020, "DA", o.Date)
	s(0x0008, 0x0030, "TM", o.Time)
	s(0x0008, 0x0050, "SH", o.Acc)
	s(0x0008, 0x0060, "CS", "US")
	s(0x0008, 0x1030, "LO", o.Desc)
	s(0x0010, 0x0010, "PN", o.Name)
	s(0x0010, 0x0020, "LO", o.PatientID)
	s(0x0010, 0x0030, "DA", o.Birth)
	s(0x0020, 0x000D, "UI", o.Study)
	s(0x0020, 0x000E, "UI", o.Series)
	if o.SeriesNo > 0 {
		s(0x0020, 0x0011, "IS", itoa(o.SeriesNo))
	}
	if o.InstNo > 0 {
		s(0x0020, 0x0013, "IS", itoa(o.InstNo))
	}
	if o.Pixels > 0 {
		frames := o.Frames
		if frames == 0 {
			frames = 1
		}
		elem(&ds, 0x0028, 0x0002, "US", u16(1))
		s(0x0028, 0x0004, "CS", "MONOCHROME2")
		s(0x0028, 0x0008, "IS", itoa(frames))
		elem(&ds, 0x0028, 0x0010, "US", u16(1))
		elem(&ds, 0x0028, 0x0011, "US", u16(o.Pixels/frames))
		elem(&ds, 0x0028, 0x0100, "US", u16(8))
		px := bytes.Repeat([]byte{o.Fill}, o.Pixels)
		elem(&ds, 0x7FE0, 0x0010, "OB", px)
	}
	var meta bytes.Buffer
	elem(&meta, 0x0002, 0x0001, "OB", []byte{0, 1})
	elem(&meta, 0x0002, 0x0002, "UI", []byte("1.2.840.10008.5.1.4.1.1.3.1"))
	elem(&meta, 0x0002, 0x0003, "UI", []byte(o.SOP))
	elem(&meta, 0x0002, 0x0010, "UI", []byte("1.2.840.10008.1.2.1"))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	elem(&out, 0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(meta.Len())))
	out.Write(meta.Bytes())
	out.Write(ds.Bytes())
	return out.Bytes()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func quietLogger() *slog.Logger {
	if os.Getenv("STORE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// spool writes b into the store's spool directory and returns its path.
func spool(t testing.TB, s *Store, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(s.SpoolDir(), "rx-*.dcm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func spoolFile(t testing.TB, s *Store, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return spool(t, s, b)
}

// datasetHash recomputes the content hash of a stored file.
func datasetHash(t testing.TB, p string) string {
	sum, _ := datasetSum(t, p)
	return hex.EncodeToString(sum)
}

// datasetSum returns the SHA-256 and the size of a file's data set (what
// follows its File Meta Information).
func datasetSum(t testing.TB, p string) ([]byte, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	lay, err := dicomfile.Inspect(f, st.Size(), dicomfile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, lay.DatasetOffset, st.Size()-lay.DatasetOffset))
	if err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil), n
}

// tempFiles lists temporary files left anywhere under dir.
func tempFiles(t testing.TB, dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p)[0] == '.' {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func dirEntries(t testing.TB, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
