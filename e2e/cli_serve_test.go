package e2e

import (
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `sonolink version`, `--version` and `version --json` agree, and a version
// set at link time (as make build does) is the one reported.
func TestCLIVersion(t *testing.T) {
	dir := shortTempDir(t)
	line := mustCLI(t, 0, dir, "version").out
	if !strings.HasPrefix(line, "sonolink ") || strings.TrimSpace(line) == "sonolink" {
		t.Fatalf("sonolink version printed %q", line)
	}
	if got := mustCLI(t, 0, dir, "--version").out; got != line {
		t.Errorf("--version printed %q, version %q", got, line)
	}
	var info struct{ Version, GoVersion string }
	if err := json.Unmarshal([]byte(mustCLI(t, 0, dir, "version", "--json").out), &info); err != nil {
		t.Fatal(err)
	}
	if "sonolink "+info.Version+"\n" != line {
		t.Errorf("version --json says %q, version %q", info.Version, line)
	}

	// The variable the Makefile sets with -X.
	bin := filepath.Join(dir, "sonolink-stamped")
	build := exec.Command("go", "build", "-ldflags", "-X sonolink/internal/buildinfo.version=v9.9.9-e2e", "-o", bin, "sonolink/cmd/sonolink")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || string(out) != "sonolink v9.9.9-e2e\n" {
		t.Errorf("stamped binary: --version printed %q (%v)", out, err)
	}
}

// SIGTERM stops serve cleanly: it stops accepting connections, then exits 0
// after logging that it stopped. (That a request in flight is answered
// first is TestPublicHTTPDrainsRequestsInFlight in cmd/sonolink: net/http
// drops a request whose headers arrive after shutdown began, so only a
// handler already running can be caught from outside, and none is slow.)
func TestCLIServeStopsCleanlyOnSIGTERM(t *testing.T) {
	lg := &shareE2ELog{}
	n := shareE2EStart(t, shortTempDir(t), lg)
	if !lg.has("sonolink serving", "version=") {
		t.Errorf("the start-up line carries no version:\n%s", lg)
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	refused := shareE2EWait(10*time.Second, func() bool {
		c, err := net.Dial("tcp", strings.TrimPrefix(n.httpURL, "http://"))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !refused {
		t.Fatalf("still accepting connections 10 s after SIGTERM:\n%s", lg)
	}
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not exit within 30 s of SIGTERM:\n%s", lg)
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM:\n%s", code, lg)
	}
	if !lg.has("shutting down") || !lg.has("sonolink stopped") {
		t.Errorf("no shutdown log lines:\n%s", lg)
	}
}
