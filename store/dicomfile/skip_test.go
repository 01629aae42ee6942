package dicomfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"

	"sonolink/internal/testenv"
)

// A header-only parse does not read the pixel data it skips (zeros are
// given instead); it must yield the same dataset as one that reads them.
func TestHeaderParseSkipsPixelBytesUnchanged(t *testing.T) {
	files := testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset", "odd")
	skipped := 0
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			r := bytes.NewReader(b)
			l, err := scan(r, int64(len(b)), Limits{})
			if err != nil {
				t.Skipf("not a valid object (the check refuses it): %v", err)
			}
			var n int64
			for _, sk := range l.skips {
				if sk.start < l.metaEnd || sk.end > int64(len(b)) || sk.start > sk.end {
					t.Fatalf("skip range %v outside the dataset [%d,%d)", sk, l.metaEnd, len(b))
				}
				n += sk.end - sk.start
			}
			if n > 0 {
				skipped++
			}
			fast, ferr := parseChecked(r, l, true)
			l.skips = nil
			full, perr := parseChecked(r, l, true)
			if (ferr == nil) != (perr == nil) {
				t.Fatalf("errors differ: with skips %v, without %v", ferr, perr)
			}
			if ferr != nil {
				return
			}
			if got, want := dump(fast), dump(full); got != want {
				t.Errorf("datasets differ when %d pixel bytes are not read:\n%s\n---\n%s", n, got, want)
			}
		})
	}
	if skipped == 0 {
		t.Fatal("no sample had pixel data bytes to skip: the test checks nothing")
	}
}

func dump(ds *dicom.Dataset) string {
	var buf bytes.Buffer
	for _, e := range ds.Elements {
		fmt.Fprintf(&buf, "%v\n", e)
	}
	return buf.String()
}
