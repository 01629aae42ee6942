package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"sonolink/internal/buildinfo"
)

func runRoot(t *testing.T, args ...string) string {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("sonolink %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

func TestVersionCommandAndFlagAgree(t *testing.T) {
	want := "sonolink " + buildinfo.Version() + "\n"
	if got := runRoot(t, "version"); got != want {
		t.Errorf("sonolink version printed %q, want %q", got, want)
	}
	if got := runRoot(t, "--version"); got != want {
		t.Errorf("sonolink --version printed %q, want %q", got, want)
	}
	// A config file that cannot be read does not hide the version.
	missing := filepath.Join(t.TempDir(), "missing.conf")
	if got := runRoot(t, "--config", missing, "version"); got != want {
		t.Errorf("with a missing config file, sonolink version printed %q, want %q", got, want)
	}
}

func TestVersionJSON(t *testing.T) {
	var got buildinfo.Info
	if err := json.Unmarshal([]byte(runRoot(t, "version", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got != buildinfo.Get() {
		t.Errorf("version --json decoded to %+v, want %+v", got, buildinfo.Get())
	}
}
