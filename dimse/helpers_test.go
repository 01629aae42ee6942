package dimse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHandler renames spool files into its own directory as
// <SOPInstanceUID>.dcm and records what it saw.
type testHandler struct {
	dir    string
	status func(obj *Object) Status // nil: Success

	mu      sync.Mutex
	objects []Object
	closed  map[string]int
	opened  []*Association
}

func newTestHandler(t *testing.T) *testHandler {
	return &testHandler{dir: t.TempDir(), closed: map[string]int{}}
}

func (h *testHandler) HandleStore(ctx context.Context, a *Association, obj *Object) Status {
	if h.status != nil {
		if st := h.status(obj); st != StatusSuccess {
			return st
		}
	}
	if err := obj.Flushed(); err != nil {
		return StatusOutOfResources
	}
	if h.dir != "" {
		if err := os.Rename(obj.Path, filepath.Join(h.dir, obj.SOPInstanceUID+".dcm")); err != nil {
			return StatusOutOfResources
		}
	}
	h.mu.Lock()
	h.objects = append(h.objects, *obj)
	h.opened = append(h.opened, a)
	h.mu.Unlock()
	return StatusSuccess
}

func (h *testHandler) AssociationClosed(a *Association) {
	h.mu.Lock()
	h.closed[a.ID]++
	h.mu.Unlock()
}

func (h *testHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.objects)
}

// testLogWriter sends server logs to t.Log (shown on failure or with -v).
type testLogWriter struct {
	mu sync.Mutex
	t  *testing.T
	on bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

type testServer struct {
	*Server
	addr  string
	host  string
	port  string
	spool string
	h     *testHandler
	errc  chan error
}

// startServer runs a server on a loopback port with cfg (SpoolDir and
// Logger filled in) and stops it when the test ends.
func startServer(t *testing.T, cfg Config, h *testHandler) *testServer {
	t.Helper()
	if h == nil {
		h = newTestHandler(t)
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = t.TempDir()
	}
	lw := &testLogWriter{t: t, on: true}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), spool: cfg.SpoolDir, h: h, errc: make(chan error, 1)}
	ts.host, ts.port, _ = net.SplitHostPort(ts.addr)
	go func() { ts.errc <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.errc; err != nil {
			t.Errorf("Serve returned %v after Shutdown", err)
		}
		lw.mu.Lock()
		lw.on = false
		lw.mu.Unlock()
		// Every spool file was renamed or removed.
		if left, _ := filepath.Glob(filepath.Join(cfg.SpoolDir, "*")); len(left) > 0 {
			t.Errorf("spool files left behind: %v", left)
		}
	})
	return ts
}

// runTool runs a DCMTK tool with TCP_NODELAY=1 and returns its combined
// output and error.
func runTool(t *testing.T, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sampleUIDs returns the SOP Instance UID from a Part 10 file's meta.
func sampleMeta(t *testing.T, path string) *fileMeta {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := readFileMeta(bufio.NewReader(f))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return p
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %s", addr)
}

// rawAssociate opens a connection and negotiates with a hand-built RQ,
// returning the connection and the decoded answer.
func rawAssociate(t *testing.T, addr string, rq *associate) (net.Conn, any) {
	t.Helper()
	return rawAssociateFrom(t, "", addr, rq)
}

// rawAssociateFrom is rawAssociate from a chosen local (loopback) address;
// "" lets the system choose.
func rawAssociateFrom(t *testing.T, local, addr string, rq *associate) (net.Conn, any) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(encodeAssociate(rq)); err != nil {
		t.Fatal(err)
	}
	p, err := readOne(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

func readOne(r io.Reader) (any, error) {
	typ, body, _, err := readPDU(r, nil, 1<<20)
	if err != nil {
		return nil, err
	}
	return decodeBody(typ, body)
}

func echoRQ(called string, pcs ...presCtx) *associate {
	if len(pcs) == 0 {
		pcs = []presCtx{{ID: 1, Abstract: uidVerification, Transfer: []string{uidImplicitVRLE}}}
	}
	return &associate{Type: pduAssociateRQ, CalledAET: called, CallingAET: "RAWTEST", AppContext: uidApplicationContext,
		Contexts: pcs, User: userInfo{MaxLength: 16384, ImplClassUID: "1.2.3.4"}}
}

// expectAbort reads from c until an A-ABORT PDU and then EOF.
func expectAbort(t *testing.T, c net.Conn) {
	t.Helper()
	p, err := readOne(c)
	if err != nil {
		t.Fatalf("want A-ABORT, got error %v", err)
	}
	if _, ok := p.(*abortPDU); !ok {
		t.Fatalf("want A-ABORT, got %T", p)
	}
	if _, err := readOne(c); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF after A-ABORT, got %v", err)
	}
}

func mustf(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
