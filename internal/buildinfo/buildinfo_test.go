package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestReadPrefersLinkedThenModuleThenRevision(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		want   string
	}{
		{"linked", "v1.2.0-3-gabc1234-dirty", &debug.BuildInfo{Main: debug.Module{Version: "v1.1.0"}, Settings: rev}, "v1.2.0-3-gabc1234-dirty"},
		{"module version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.1.0"}, Settings: rev}, "v1.1.0"},
		{"revision", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "0123456789ab-dirty"},
		{"clean revision", "", &debug.BuildInfo{Settings: rev[:1]}, "0123456789ab"},
		{"nothing recorded", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"no build info", "", nil, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := read(tc.linked, tc.bi).Version; got != tc.want {
				t.Errorf("version %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGetIsNeverEmpty(t *testing.T) {
	info := Get()
	if info.Version == "" || info.GoVersion == "" || info.Platform == "" {
		t.Errorf("incomplete build info: %+v", info)
	}
}
