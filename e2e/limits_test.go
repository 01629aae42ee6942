package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// limitsNode is one `sonolink serve` started for the resource-limit tests.
type limitsNode struct {
	dicomHost, dicomPort  string
	httpAddr, metricsAddr string
	log                   *shareE2ELog
	exited                chan struct{}
	cmd                   *exec.Cmd
}

// limitsStart runs serve on loopback ports with args, under `ulimit -n
// nofile` when nofile > 0, and waits until it serves.
func limitsStart(t *testing.T, nofile int, args ...string) *limitsNode {
	t.Helper()
	full := append([]string{"--data-dir", shortTempDir(t), "serve", "--dicom-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-format", "json", "--stable-time", "1h"}, args...)
	var cmd *exec.Cmd
	if nofile > 0 {
		cmd = exec.Command("bash", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile), sonolinkBin}, full...)...)
	} else {
		cmd = exec.Command(sonolinkBin, full...)
	}
	cmd.Env = cleanEnv()
	n := &limitsNode{log: &shareE2ELog{}, exited: make(chan struct{}), cmd: cmd}
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-n.exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, l := range strings.Split(n.log.String(), "\n") {
			var rec struct {
				Msg         string `json:"msg"`
				DicomAddr   string `json:"dicom_addr"`
				HTTPAddr    string `json:"http_addr"`
				MetricsAddr string `json:"metrics_addr"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "sonolink serving" {
				n.dicomHost, n.dicomPort, _ = net.SplitHostPort(rec.DicomAddr)
				n.httpAddr, n.metricsAddr = rec.HTTPAddr, rec.MetricsAddr
				return n
			}
		}
		select {
		case <-n.exited:
			t.Fatalf("sonolink serve exited at start:\n%s", n.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sonolink serve not serving after 20 s:\n%s", n.log.String())
		}
	}
}

func (n *limitsNode) alive() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func limitsGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// TestE2EServeOutOfDescriptors: with `ulimit -n 256`, 300 idle HTTP
// connections from 30 addresses do not stop the node from answering a
// C-ECHO, and once they are gone the pages and DICOM work as before.
func TestE2EServeOutOfDescriptors(t *testing.T) {
	t.Parallel()
	n := limitsStart(t, 256)
	if !n.log.has(`"HTTP connection caps"`, `"open_file_limit":256`) {
		t.Errorf("caps not derived from the descriptor limit:\n%s", n.log.String())
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := range 300 {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%30))}}
		c, err := d.Dial("tcp", n.httpAddr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	time.Sleep(500 * time.Millisecond) // let the server take what it will

	out, err := ingestTool(t, "echoscu", "-aet", "MODALITY", "-aec", "SONOLINK", n.dicomHost, n.dicomPort)
	if err != nil && !strings.Contains(out, "Association Rejected") {
		t.Errorf("C-ECHO while 300 HTTP connections are held: %v\n%s", err, out)
	}
	if !n.alive() {
		t.Fatalf("serve exited while HTTP connections were held:\n%s", n.log.String())
	}
	if !n.log.has(`"HTTP connection refused: connection cap reached`, `"cap":"total"`) {
		t.Errorf("refused connections not logged")
	}

	for _, c := range idle {
		c.Close()
	}
	idle = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := limitsGet("http://" + n.httpAddr + "/healthz")
		if err == nil && code == 200 && strings.TrimSpace(body) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz after the connections closed: %d %q %v", code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, err := limitsGet("http://" + n.httpAddr + "/p/not-a-token"); err != nil || code != 404 {
		t.Errorf("landing page after the connections closed: %d %v", code, err)
	}
	if out, err := ingestTool(t, "echoscu", "-aet", "MODALITY", "-aec", "SONOLINK", n.dicomHost, n.dicomPort); err != nil {
		t.Errorf("C-ECHO after the connections closed: %v\n%s", err, out)
	}
	if !n.alive() {
		t.Fatalf("serve exited:\n%s", n.log.String())
	}
}

// TestE2EMetricsAddr: with --metrics-addr, /metrics is served there and
// not on the patient port; without it, on the patient port as before.
func TestE2EMetricsAddr(t *testing.T) {
	t.Parallel()
	n := limitsStart(t, 0, "--metrics-addr", "127.0.0.1:0")
	if n.metricsAddr == "" || n.metricsAddr == n.httpAddr {
		t.Fatalf("metrics address %q (patient port %q)", n.metricsAddr, n.httpAddr)
	}
	if code, body, err := limitsGet("http://" + n.metricsAddr + "/metrics"); err != nil || code != 200 || !strings.Contains(body, "sonolink_dimse_associations_active") {
		t.Errorf("/metrics on --metrics-addr: %d %v", code, err)
	}
	if code, body, err := limitsGet("http://" + n.httpAddr + "/metrics"); err != nil || code != 404 || strings.Contains(body, "sonolink_") {
		t.Errorf("/metrics on the patient port with --metrics-addr set: %d %v", code, err)
	}
	if code, _, err := limitsGet("http://" + n.httpAddr + "/healthz"); err != nil || code != 200 {
		t.Errorf("/healthz on the patient port: %d %v", code, err)
	}

	plain := limitsStart(t, 0)
	if plain.metricsAddr != plain.httpAddr {
		t.Errorf("without --metrics-addr, metrics_addr %q, want the patient port %q", plain.metricsAddr, plain.httpAddr)
	}
	if code, body, err := limitsGet("http://" + plain.httpAddr + "/metrics"); err != nil || code != 200 || !strings.Contains(body, "sonolink_dimse") {
		t.Errorf("/metrics on the patient port without --metrics-addr: %d %v", code, err)
	}
}

// limitsAllJSON fails unless every line of out is a JSON object.
func limitsAllJSON(t *testing.T, out string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(l)) || !strings.HasPrefix(l, "{") {
			t.Errorf("log line is not JSON: %q", l)
		}
	}
}

// TestE2EServeLogsJSON: with --log-format json every line serve writes is
// JSON, the error it stops on included; a world-readable config file with
// a password in it is warned about.
func TestE2EServeLogsJSON(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "sonolink.conf")
	if err := os.WriteFile(conf, []byte("smtp-password = not-a-real-one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	n := limitsStart(t, 0, "--config", conf)
	deadline := time.Now().Add(5 * time.Second)
	for !n.log.has(`"level":"WARN"`, `config file holding secrets`, `"secret_keys":["smtp-password"]`) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the world-readable config file:\n%s", n.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(n.log.String(), "not-a-real-one") {
		t.Error("the secret itself was logged")
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	<-n.exited
	limitsAllJSON(t, n.log.String())

	// A busy port stops serve: that error is a JSON line too.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := runCLI(t, shortTempDir(t), "serve", "--dicom-addr", "127.0.0.1:0", "--http-addr", busy.Addr().String(), "--log-format", "json")
	if r.code != 2 || !strings.Contains(r.err, "address already in use") {
		t.Fatalf("serve on a busy port: %s", r)
	}
	limitsAllJSON(t, r.err)
}
