package dicomfile

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// An object whose Pixel Data contradicts its transfer syntax is refused (a
// sender once labelled JPEG 2000 fragments Explicit VR Little Endian, got
// Success, and the patient got a link without an image); consistent ones,
// and objects without pixel data in any syntax, pass.
func TestCheckPixelFormAgainstTransferSyntax(t *testing.T) {
	le := binary.LittleEndian
	encapsulated := func() []byte {
		e := minimal(le, false)
		e.hdr(0x7FE0, 0x0010, "OB", undefinedLength)
		e.item(0)
		e.item(4).raw([]byte{0xFF, 0x4F, 0xFF, 0x51}) // a J2K codestream start
		return e.seqEnd().bytes()
	}
	native := func() []byte {
		e := minimal(le, false)
		return e.hdr(0x7FE0, 0x0010, "OW", 4).raw([]byte{1, 2, 3, 4}).bytes()
	}
	noPixels := func() []byte { return minimal(le, false).bytes() }
	for _, c := range []struct {
		name, ts string
		ds       []byte
		bad      string // "" when the file must pass
	}{
		{"encapsulated under Explicit VR LE", "1.2.840.10008.1.2.1", encapsulated(), "is encapsulated (undefined length, compressed fragments) but the transfer syntax Explicit VR Little Endian (1.2.840.10008.1.2.1) is native"},
		{"native under JPEG 2000", "1.2.840.10008.1.2.4.91", native(), "is native (defined length) but the transfer syntax JPEG 2000 (1.2.840.10008.1.2.4.91) is encapsulated"},
		{"native under RLE", "1.2.840.10008.1.2.5", native(), "is native"},
		{"encapsulated under JPEG 2000", "1.2.840.10008.1.2.4.91", encapsulated(), ""},
		{"native under Explicit VR LE", "1.2.840.10008.1.2.1", native(), ""},
		{"no pixel data under RLE", "1.2.840.10008.1.2.5", noPixels(), ""},
		{"no pixel data under Explicit VR LE", "1.2.840.10008.1.2.1", noPixels(), ""},
	} {
		err := check(part10(c.ts, c.ds), 0)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (!errors.Is(err, ErrPixelEncoding) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%s: got %v, want ErrPixelEncoding wrapping ErrInvalid", c.name, err)
		case c.bad != "" && !strings.Contains(err.Error(), c.bad):
			t.Errorf("%s: error %q does not say %q", c.name, err, c.bad)
		}
	}
}

func TestReadable(t *testing.T) {
	for ts, want := range map[string]bool{
		"1.2.840.10008.1.2": true, "1.2.840.10008.1.2.1": true, "1.2.840.10008.1.2.2": true,
		"1.2.840.10008.1.2.4.90": true, "1.2.840.10008.1.2.4.80": true, "1.2.840.10008.1.2.4.102": true,
		"1.2.840.10008.1.2.1.99":  true,                                                                   // deflated: inflated before the walk
		"1.2.840.10008.1.2.4.201": true, "1.2.840.10008.1.2.4.202": true, "1.2.840.10008.1.2.4.203": true, // HTJ2K: unknown to the library
		"1.2.3.4.5.6": false, // not a transfer syntax
	} {
		if got := Readable(ts); got != want {
			t.Errorf("Readable(%s) = %v, want %v", ts, got, want)
		}
	}
}
