package settings

import (
	"errors"
	"testing"
	"time"
)

// Free-space amounts: shares and sizes read, shown and applied to a disk;
// nonsense refused with the key named.
func TestSpace(t *testing.T) {
	for _, tc := range []struct {
		in    string
		shown string
		of    uint64 // on a disk of 200 GB
	}{
		{"10%", "10%", 20e9},
		{"0.5%", "0.5%", 1e9},
		{"50gb", "50GB", 50e9},
		{"1.5TB", "1500GB", 1.5e12},
		{"4096", "", 0},
		{"4096B", "4096B", 4096},
		{"off", "off", 0},
	} {
		s, err := ParseSpace(tc.in)
		if tc.shown == "" {
			if err == nil {
				t.Errorf("%q accepted as %v", tc.in, s)
			}
			continue
		}
		if err != nil || s.String() != tc.shown || s.Of(200e9) != tc.of {
			t.Errorf("%q: %v (%v), %d bytes of 200 GB; want %s, %d", tc.in, s, err, s.Of(200e9), tc.shown, tc.of)
		}
		if back, err := ParseSpace(s.String()); err != nil || back != s {
			t.Errorf("%q shown as %s reads back as %v %v", tc.in, s, back, err)
		}
	}
	r := testRegistry()
	for _, bad := range []string{"100%", "-1GB", "lots", "5 GiB"} {
		var ie *InvalidError
		if _, err := r.Parse(KeyFreeFloor, bad); !errors.As(err, &ie) || ie.Key != KeyFreeFloor {
			t.Errorf("free floor %q: %v", bad, err)
		}
	}
	d := r.Defaults()
	if d.RetainAfterLink != 30*24*time.Hour || d.RetainUnshared != 180*24*time.Hour || d.FreeFloor.Percent != 10 || d.StorageReserve.Percent != 2 {
		t.Errorf("retention defaults: %+v %+v %v %v", d.RetainAfterLink, d.RetainUnshared, d.FreeFloor, d.StorageReserve)
	}
	if _, err := r.Parse(KeyRetainAfterLink, "30m"); !errors.Is(err, ErrInvalid) {
		t.Errorf("after_link 30m: %v", err)
	}
}
