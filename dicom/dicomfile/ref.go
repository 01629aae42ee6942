package dicomfile

import (
	"fmt"
	"io"
	"os"

	"github.com/suyashkumar/dicom"
)

// PixelRef says where the top-level Pixel Data of a parsed file lies, so
// that it can be read frame by frame instead of into memory. Offsets are
// those of R, the file as it is (or, for a deflated data set, the file meta
// information followed by the inflated data set).
type PixelRef struct {
	R io.ReaderAt
	// Encapsulated is true for undefined-length (compressed) pixel data.
	Encapsulated bool
	// Native pixel data: the value. Encapsulated: the value of every
	// item, the Basic Offset Table first, then the fragments.
	Spans []Span
}

// Span is a byte range of a file.
type Span struct{ Offset, Length int64 }

// File is a Part 10 file parsed with its pixel data left where it is: the
// dataset holds every element (the Pixel Data element's value is marked
// IntentionallySkipped), Pixels says where the pixel data lies. Close
// releases the file.
type File struct {
	Dataset *dicom.Dataset
	Layout  Layout
	Pixels  *PixelRef // nil: no top-level Pixel Data
	f       *os.File
}

// Close closes the file; Pixels cannot be read after.
func (f *File) Close() error { return f.f.Close() }

// Open checks the file at path and parses everything but the value of its
// top-level Pixel Data, which stays in the file (File.Pixels); unlike
// ReadHeader, large binary elements are kept. Memory use does not depend
// on the size of the pixel data. Errors are those of Read.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	ds, ref, lay, err := ParseRef(f, st.Size(), Limits{})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{Dataset: ds, Layout: lay, Pixels: ref, f: f}, nil
}

// ParseRef is Open of size bytes from r: the dataset without the value of
// its top-level Pixel Data, and where that value lies in r. Only the
// headers of the pixel data (and of its items) are read from r. For a
// deflated data set, PixelRef.R is the inflated data set in memory, not r.
func ParseRef(r io.ReaderAt, size int64, lim Limits) (ds *dicom.Dataset, ref *PixelRef, lay Layout, err error) {
	l, err := scan(r, size, lim)
	if err != nil {
		return nil, nil, Layout{}, err
	}
	lay = Layout{DatasetOffset: l.metaEnd, TransferSyntaxUID: l.tsUID, TransferSyntaxInferred: l.tsMissing}
	// Skip the pixel data, keep every other element.
	pl := *l
	pl.skips = nil
	for _, sk := range l.skips {
		if !sk.drop {
			pl.skips = append(pl.skips, sk)
		}
	}
	ds, err = parseChecked(&pl, true)
	if err != nil {
		return nil, nil, Layout{}, err
	}
	if l.pixels != pixelsAbsent {
		ref = &PixelRef{R: l.r, Encapsulated: l.pixels == pixelsEncapsulated}
		for _, sp := range l.pixelSpans {
			ref.Spans = append(ref.Spans, Span{Offset: sp.start, Length: sp.end - sp.start})
		}
		if ref.Encapsulated && len(ref.Spans) == 0 {
			return nil, nil, Layout{}, fmt.Errorf("%w: encapsulated pixel data without items", ErrInvalid)
		}
	}
	return ds, ref, lay, nil
}
