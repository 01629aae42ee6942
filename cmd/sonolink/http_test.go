package main

import "testing"

func TestHTTPConnLimits(t *testing.T) {
	for _, c := range []struct {
		nofile           uint64
		assocs           int
		total, perClient int
	}{
		{256, 16, 64, 16},       // ulimit -n 256: a quarter of the descriptors left for DICOM and the rest
		{1024, 16, 448, 64},     // a common default
		{1 << 20, 16, 8192, 64}, // systemd's default hard limit
		{100, 16, 16, 4},        // too few to reserve anything: the floor
		{0, 16, 448, 64},        // unknown: as for 1024
	} {
		total, per := httpConnLimits(c.nofile, c.assocs)
		if total != c.total || per != c.perClient {
			t.Errorf("nofile %d, %d associations: caps %d/%d, want %d/%d", c.nofile, c.assocs, total, per, c.total, c.perClient)
		}
		if c.nofile >= 256 && uint64(2*total) > c.nofile-uint64(4*c.assocs) {
			t.Errorf("nofile %d: HTTP may use %d descriptors, leaving DICOM too few", c.nofile, 2*total)
		}
	}
}
