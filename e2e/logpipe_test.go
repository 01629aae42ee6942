package e2e

import (
	"bufio"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestServeOutlivesItsLogReader: when whatever reads serve's log goes
// away (a pipe to a collector that exits), serve keeps serving: it does
// not die of SIGPIPE on its next log line, and stops cleanly on SIGTERM.
func TestServeOutlivesItsLogReader(t *testing.T) {
	dir := shortTempDir(t)
	dicom, web := shareE2EFreeAddr(t), shareE2EFreeAddr(t)
	cmd := exec.Command(sonolinkBin, "--data-dir", dir, "serve", "--dicom-addr", dicom, "--http-addr", web,
		"--base-url", "http://"+web, "--log-format", "text")
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	// Read the first line, then close the pipe: the reader is gone.
	if _, err := bufio.NewReader(stderr).ReadString('\n'); err != nil {
		t.Fatalf("no first log line: %v", err)
	}
	stderr.Close()

	healthy := func() bool {
		res, err := http.Get("http://" + web + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	if !shareE2EWait(20*time.Second, healthy) {
		t.Fatal("serve not healthy after its log reader went away")
	}
	// Each of these logs a line into the broken pipe.
	for i := 0; i < 20; i++ {
		if res, err := http.Get("http://" + web + "/p/not-a-token"); err == nil {
			res.Body.Close()
		}
	}
	time.Sleep(300 * time.Millisecond) // past the web log's bundling
	select {
	case <-exited:
		t.Fatalf("serve exited after its log reader went away: %v", cmd.ProcessState)
	default:
	}
	if !healthy() {
		t.Fatal("serve stopped answering after its log reader went away")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			t.Errorf("serve killed by %v instead of exiting", st.Signal())
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop within 30 s of SIGTERM")
	}
}
