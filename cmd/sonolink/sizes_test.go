package main

import "testing"

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"2GiB": 2 << 30, "512MB": 512e6, "1048576": 1 << 20, "1.5 KiB": 1536} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1GB", "GB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
	if s := formatBytes(2 << 30); s != "2GiB" {
		t.Errorf("formatBytes = %q", s)
	}
}
