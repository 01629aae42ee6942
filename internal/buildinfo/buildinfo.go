// Package buildinfo says which build of sonolink is running.
//
// The version is, in order of preference: the value the linker set
// (make build passes -ldflags "-X sonolink/internal/buildinfo.version=…"
// with `git describe --always --dirty`), the main module's version recorded
// by the go command, the VCS revision it recorded (with "-dirty" when the
// tree had local changes), or "dev". It never changes while the process
// runs, and it is never empty.
//
// The DICOM Implementation Version Name is a separate, fixed constant of
// the DICOM layer; it does not follow this version.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// version is set at link time; see the package documentation.
var version string

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"` // VCS revision, when the go command recorded one
	Modified  bool   `json:"modified,omitempty"` // the tree had local changes at build time
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// Version returns the version of the running build.
func Version() string { return Get().Version }

// Get returns the description of the running build.
func Get() Info { return get() }

var get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return read(version, bi)
})

// read derives Info from the link-time version and the go command's build
// information (nil when the binary has none).
func read(linked string, bi *debug.BuildInfo) Info {
	info := Info{Version: linked, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	switch {
	case info.Version != "":
	case bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		info.Version = bi.Main.Version
	case info.Revision != "":
		info.Version = info.Revision[:min(12, len(info.Revision))]
		if info.Modified {
			info.Version += "-dirty"
		}
	default:
		info.Version = "dev"
	}
	return info
}
