package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The cli_* tests drive the built binary, as a technician would.

var sonolinkBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sonolink-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sonolinkBin = filepath.Join(dir, "sonolink")
	out, err := exec.Command("go", "build", "-o", sonolinkBin, "sonolink/cmd/sonolink").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building sonolink: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is one run of the binary.
type cliResult struct {
	out, err string
	code     int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

// runCLI runs sonolink with args against dataDir and a clean environment
// (no SONOLINK_* from the developer's shell).
func runCLI(t *testing.T, dataDir string, args ...string) cliResult {
	t.Helper()
	full := append([]string{"--data-dir", dataDir}, args...)
	cmd := exec.Command(sonolinkBin, full...)
	cmd.Env = cleanEnv()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{out: so.String(), err: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running sonolink %v: %v", args, err)
	}
	return r
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) >= 9 && kv[:9] == "SONOLINK_" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "TZ=UTC")
}

// mustCLI runs sonolink and fails the test unless it exits with want.
func mustCLI(t *testing.T, want int, dataDir string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, dataDir, args...)
	if r.code != want {
		t.Fatalf("sonolink %v: want exit %d, got %s", args, want, r)
	}
	return r
}

// shortTempDir returns a fresh directory with a short path (Unix socket
// paths are limited to about 100 bytes and t.TempDir can be longer).
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "slcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
