package uid

import (
	"regexp"
	"strings"
	"testing"
)

var validUID = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$`)

func TestImplementationIdentity(t *testing.T) {
	if !validUID.MatchString(ImplementationClassUID) || len(ImplementationClassUID) > 64 || !strings.HasPrefix(ImplementationClassUID, "2.25.") {
		t.Errorf("ImplementationClassUID %q is not a valid 2.25 UID of at most 64 characters", ImplementationClassUID)
	}
	if n := len(ImplementationVersionName); n == 0 || n > 16 {
		t.Errorf("ImplementationVersionName %q must be 1 to 16 characters (SH)", ImplementationVersionName)
	}
}

func TestTablesAreWellFormed(t *testing.T) {
	for name, list := range map[string][]string{"storage SOP classes": StorageSOPClasses(), "transfer syntaxes": TransferSyntaxes()} {
		seen := map[string]bool{}
		for _, u := range list {
			if !validUID.MatchString(u) || len(u) > 64 {
				t.Errorf("%s: %q is not a valid UID", name, u)
			}
			if seen[u] {
				t.Errorf("%s: %s listed twice", name, u)
			}
			seen[u] = true
			if Name(u) == "" || Name(u) == u {
				t.Errorf("%s: %s has no name", name, u)
			}
		}
		if len(list) == 0 {
			t.Errorf("no %s", name)
		}
	}
	for _, c := range StorageSOPClasses() {
		if !IsStorage(c) {
			t.Errorf("%s listed but IsStorage says no", c)
		}
	}
	for _, ts := range TransferSyntaxes() {
		if IsNative(ts) == IsEncapsulated(ts) && ts != DeflatedExplicitVRLE {
			t.Errorf("%s (%s) must be native or encapsulated, not both or neither", ts, Name(ts))
		}
	}
	if !IsStorage(USMultiFrameImage) || IsStorage(Verification) || !IsNative(ExplicitVRLittleEndian) || !IsEncapsulated(JPEGLosslessSV1) {
		t.Error("the well-known constants are not classified as PS3.6 says")
	}
}
