package dicomfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/internal/testenv"
)

// A header-only parse does not read the pixel data it skips (zeros are
// given instead) nor the large top-level binary elements it drops; it must
// yield the same dataset as one that reads everything, less those elements.
func TestHeaderParseSkipsPixelBytesUnchanged(t *testing.T) {
	files := testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset", "odd")
	skipped, withDrops := 0, 0
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
			dropped := map[int64]bool{} // by end offset
			for _, sk := range l.skips {
				if sk.drop {
					dropped[sk.end] = true
				}
				if sk.start < l.metaEnd || sk.end > int64(len(b)) || sk.start > sk.end {
					t.Fatalf("skip range %v outside the dataset [%d,%d)", sk, l.metaEnd, len(b))
				}
				n += sk.end - sk.start
			}
			if n > 0 {
				skipped++
			}
			if len(dropped) > 0 {
				withDrops++
			}
			fast, ferr := parseChecked(l, true)
			l.skips = nil
			full, perr := parseChecked(l, true)
			if (ferr == nil) != (perr == nil) {
				t.Fatalf("errors differ: with skips %v, without %v", ferr, perr)
			}
			if ferr != nil {
				return
			}
			// Leave the dropped elements out of the full parse.
			var kept []*dicom.Element
			for _, e := range full.Elements {
				if e.Tag != tag.PixelData && binaryVR[e.RawValueRepresentation] && e.ValueLength >= dropMin && e.ValueLength != 0xFFFFFFFF {
					continue
				}
				kept = append(kept, e)
			}
			if len(full.Elements)-len(kept) != len(dropped) {
				t.Errorf("%d elements dropped, %d large binary elements in the full parse", len(dropped), len(full.Elements)-len(kept))
			}
			full.Elements = kept
			if got, want := dump(fast), dump(full); got != want {
				t.Errorf("datasets differ when %d pixel bytes are not read:\n%s\n---\n%s", n, got, want)
			}
		})
	}
	if skipped == 0 {
		t.Fatal("no sample had pixel data bytes to skip: the test checks nothing")
	}
	if withDrops == 0 {
		t.Fatal("no sample had a large binary element to drop: the test checks nothing")
	}
	t.Logf("%d of %d samples with pixel data skipped, %d with elements dropped", skipped, len(files), withDrops)
}

func dump(ds *dicom.Dataset) string {
	var buf bytes.Buffer
	for _, e := range ds.Elements {
		fmt.Fprintf(&buf, "%v\n", e)
	}
	return buf.String()
}
