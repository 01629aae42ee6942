// Package dicomfile reads DICOM Part 10 files safely. The DICOM library
// (github.com/suyashkumar/dicom) allocates whatever length an element
// declares and recurses without bound; every file sonolink reads goes through
// this package, which checks the structure first and only then parses.
//
// Datasets are parsed with pixel data left unprocessed: native pixel data is
// PixelDataInfo.UnprocessedValueData (raw bytes in the file's byte order),
// encapsulated pixel data is PixelDataInfo.Frames (one entry per fragment)
// plus PixelDataInfo.Offsets (the basic offset table).
//
// Where the library is weak, this package stands in front of it: a
// deflated data set (Deflated Explicit VR Little Endian) is inflated into
// memory, at most Limits.MaxInflated bytes, before it is checked and parsed;
// transfer syntaxes the library does not know (HTJ2K) are parsed as the
// encapsulated explicit VR little endian syntaxes they are. Either way the
// file stays as received and the dataset holds its own transfer syntax.
package dicomfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// ErrInvalid marks a file whose structure is broken or hostile (declared
// lengths beyond the data, nesting too deep, not DICOM). Callers map it to
// "cannot understand" rather than to a resource failure.
var ErrInvalid = errors.New("invalid DICOM object")

// Limits bound what a file may demand of the parser.
type Limits struct {
	MaxDepth int // deepest sequence nesting accepted; 0 means DefaultMaxDepth
	// MaxInflated bounds a deflated data set once inflated (it is held in
	// memory); 0 means DefaultMaxInflated.
	MaxInflated int64
}

// DefaultMaxInflated is far above any real deflated object (structured
// reports, small images: deflate is rarely used for large pixel data) and
// small enough to hold in memory.
const DefaultMaxInflated = 256 << 20

// DefaultMaxDepth is deep enough for every real SR tree and far too shallow
// to exhaust a goroutine stack.
const DefaultMaxDepth = 32

// ReadFile checks and parses a whole file, pixel data included (unprocessed).
func ReadFile(path string) (*dicom.Dataset, error) { return Read(path, Limits{}, false) }

// ReadHeader checks and parses a file without its pixel data and without
// top-level binary elements of 1 KiB or more (palette lookup tables,
// overlays, private blobs): every text, number and sequence is there.
func ReadHeader(path string) (*dicom.Dataset, error) { return Read(path, Limits{}, true) }

// Read checks a file under lim and parses it; with headerOnly the pixel data
// is skipped (PixelDataInfo.IntentionallySkipped) and large top-level binary
// elements are left out, as in ReadHeader. A file whose header the
// library cannot take as it is (no preamble, no or a wrong File Meta
// Information Group Length, no transfer syntax) is parsed through a rebuilt
// header, so the dataset holds a corrected (0002,0000) and, when the file had
// none, the (0002,0010) that Check inferred. Failures of the structure or of
// the parser wrap ErrInvalid; I/O errors are returned as they are.
func Read(path string, lim Limits, headerOnly bool) (ds *dicom.Dataset, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ds, _, err = Parse(f, st.Size(), lim, headerOnly)
	return ds, err
}

// Parse is Read of size bytes from r, which also returns the file's layout
// (what Inspect returns), so a caller that needs both checks the file once.
func Parse(r io.ReaderAt, size int64, lim Limits, headerOnly bool) (ds *dicom.Dataset, lay Layout, err error) {
	l, err := scan(r, size, lim)
	if err != nil {
		return nil, Layout{}, err
	}
	lay = Layout{DatasetOffset: l.metaEnd, TransferSyntaxUID: l.tsUID, TransferSyntaxInferred: l.tsMissing}
	ds, err = parseChecked(l, headerOnly)
	return ds, lay, err
}

func parse(r io.ReaderAt, size int64, lim Limits, headerOnly bool) (*dicom.Dataset, error) {
	ds, _, err := Parse(r, size, lim, headerOnly)
	return ds, err
}

// parseChecked parses what scan checked (l.r). The dataset holds the
// file's own transfer syntax even where the library was given another
// (libraryTS).
func parseChecked(l *layout, headerOnly bool) (ds *dicom.Dataset, err error) {
	rd, n := l.normalized(l.r, headerOnly)
	opts := []dicom.ParseOption{dicom.AllowMissingMetaElementGroupLength(), dicom.AllowUnknownSpecificCharacterSet()}
	if headerOnly {
		opts = append(opts, dicom.SkipPixelData())
	} else {
		opts = append(opts, dicom.SkipProcessingPixelDataValue())
	}
	defer func() {
		// The structure was checked, but the library has panicked on
		// inputs before (type assertions on hostile data): never let a file
		// take the process down.
		if r := recover(); r != nil {
			if re, ok := r.(error); ok { // runtime errors name types and indexes, not values
				ds, err = nil, fmt.Errorf("%w: the DICOM parser failed on this file: %w", ErrInvalid, re)
				return
			}
			ds, err = nil, fmt.Errorf("%w: the DICOM parser failed on this file: %v", ErrInvalid, r)
		}
	}()
	parsed, err := dicom.Parse(rd, n, nil, opts...)
	if err != nil {
		// Some library errors print the offending element, value included;
		// callers log these errors, so the text keeps only the description.
		// The cause stays in the chain for errors.Is (io.ErrUnexpectedEOF…).
		msg := err.Error()
		if i := strings.Index(msg, "got:"); i >= 0 {
			msg = msg[:i] + "(element omitted)"
		}
		return nil, &parseError{msg: ErrInvalid.Error() + ": " + msg, cause: err}
	}
	if l.libTS != l.tsUID && !l.tsMissing {
		e, err := parsed.FindElementByTag(tag.TransferSyntaxUID)
		if err != nil {
			return nil, fmt.Errorf("%w: the transfer syntax element is missing after parsing", ErrInvalid)
		}
		v, err := dicom.NewValue([]string{l.tsUID})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		e.Value = v
	}
	return &parsed, nil
}

// parseError is a library parse failure whose text is scrubbed of element
// values. Unwrap gives ErrInvalid and the library's error; the latter's own
// text may quote a value, so it is for errors.Is and errors.As, not for logs.
type parseError struct {
	msg   string
	cause error
}

func (e *parseError) Error() string   { return e.msg }
func (e *parseError) Unwrap() []error { return []error{ErrInvalid, e.cause} }

// String returns the first value of a string element, trimmed, or "".
func String(ds *dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return ""
	}
	if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// Strings returns every value of a string element, trimmed.
func Strings(ds *dicom.Dataset, t tag.Tag) []string {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return nil
	}
	v, _ := e.Value.GetValue().([]string)
	out := make([]string, 0, len(v))
	for _, s := range v {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// Int returns the first value of an integer (or integer string) element, or def.
func Int(ds *dicom.Dataset, t tag.Tag, def int) int {
	e, err := ds.FindElementByTag(t)
	if err != nil || e.Value == nil {
		return def
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		if len(v) > 0 {
			return v[0]
		}
	case []string:
		if len(v) > 0 {
			if n, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil {
				return n
			}
		}
	case []byte:
		// An implicit VR element the library's dictionary does not know
		// (e.g. in a private or retired context) comes as raw bytes; the
		// integer elements this is used for are US.
		if len(v) >= 2 {
			return int(binary.LittleEndian.Uint16(v))
		}
	}
	return def
}

// Layout is what Inspect learns about a file's structure.
type Layout struct {
	// DatasetOffset is where the dataset starts, after the preamble and the
	// File Meta Information: hashing from here identifies the content
	// whatever meta header a sender wrote.
	DatasetOffset int64
	// TransferSyntaxUID from (0002,0010), or the one inferred when the file
	// has none (TransferSyntaxInferred).
	TransferSyntaxUID      string
	TransferSyntaxInferred bool
}

// Inspect runs Check and reports the file's layout.
func Inspect(r io.ReaderAt, size int64, lim Limits) (Layout, error) {
	l, err := scan(r, size, lim)
	if err != nil {
		return Layout{}, err
	}
	return Layout{DatasetOffset: l.metaEnd, TransferSyntaxUID: l.tsUID, TransferSyntaxInferred: l.tsMissing}, nil
}
