package dimse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"sonolink/internal/testenv"
)

// recordingProxy forwards one loopback port to target and records the bytes
// of each direction of each connection.
type recordingProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	wg     sync.WaitGroup
	flows  [][]byte // alternating client->server, server->client per connection
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "listen")
	p := &recordingProxy{l: l, target: target}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				p.wg.Done()
				continue
			}
			var up, down bytes.Buffer
			var conn sync.WaitGroup
			conn.Add(2)
			go func() { defer conn.Done(); io.Copy(io.MultiWriter(s, &up), c); s.(*net.TCPConn).CloseWrite() }()
			go func() { defer conn.Done(); io.Copy(io.MultiWriter(c, &down), s); c.(*net.TCPConn).CloseWrite() }()
			go func() {
				defer p.wg.Done()
				conn.Wait()
				c.Close()
				s.Close()
				p.mu.Lock()
				p.flows = append(p.flows, up.Bytes(), down.Bytes())
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

// splitPDUs cuts a recorded stream into PDUs; P-DATA PDUs carrying data set
// bytes are shortened to a small fragment (lengths fixed up) to keep seeds
// small.
func splitPDUs(stream []byte) (pdus [][]byte, commands [][]byte) {
	for len(stream) >= 6 {
		n := int(binary.BigEndian.Uint32(stream[2:]))
		if 6+n > len(stream) {
			break
		}
		p := stream[:6+n]
		stream = stream[6+n:]
		if p[0] == pduPData {
			if pd, err := decodePData(p[6:]); err == nil && len(pd.PDVs) == 1 {
				v := pd.PDVs[0]
				if v.isCommand() {
					commands = append(commands, append([]byte(nil), v.Data...))
				} else if len(v.Data) > 256 {
					p = append(pdataHeader(v.ContextID, v.Control, 256), v.Data[:256]...)
				}
			}
		}
		pdus = append(pdus, append([]byte(nil), p...))
	}
	return pdus, commands
}

func writeSeed(t *testing.T, dir, name string, b []byte) {
	mustf(t, os.MkdirAll(dir, 0o755), "mkdir")
	content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	mustf(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644), "write seed")
}

// TestCaptureFuzzSeeds records real DCMTK conversations (echoscu and dcmsend
// against this server, storescu against storescp) and writes their PDUs and
// command sets as fuzz seeds under testdata/fuzz. It runs only when
// SONOLINK_CAPTURE_FUZZ_SEEDS=1; the seeds are committed.
func TestCaptureFuzzSeeds(t *testing.T) {
	if os.Getenv("SONOLINK_CAPTURE_FUZZ_SEEDS") != "1" {
		t.Skip("set SONOLINK_CAPTURE_FUZZ_SEEDS=1 to re-capture the committed fuzz seeds")
	}
	echoscu := testenv.Tool(t, "echoscu")
	dcmsend := testenv.Tool(t, "dcmsend")
	storescu := testenv.Tool(t, "storescu")
	storescp := testenv.Tool(t, "storescp")
	ts := startServer(t, Config{}, nil)
	sample := filepath.Join(testenv.Samples(t), "sc/debian-pydicom__SC_ybr_full_422_uncompressed.dcm")

	record := func(name, target string, run func(host, port string)) {
		p := newRecordingProxy(t, target)
		host, port, _ := net.SplitHostPort(p.l.Addr().String())
		run(host, port)
		p.l.Close()
		p.wg.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		i := 0
		for fi, flow := range p.flows {
			dir := []string{"rq", "rsp"}[fi%2]
			pdus, cmds := splitPDUs(flow)
			for _, pdu := range pdus {
				writeSeed(t, "testdata/fuzz/FuzzDecodePDU", fmt.Sprintf("%s-%s-%02d-type%d", name, dir, i, pdu[0]), pdu)
				i++
			}
			for _, c := range cmds {
				writeSeed(t, "testdata/fuzz/FuzzDecodeCommand", fmt.Sprintf("%s-%s-%02d", name, dir, i), c)
				i++
			}
		}
	}
	record("echoscu", ts.addr, func(h, p string) {
		if out, err := runTool(t, echoscu, "-aec", "SONOLINK", h, p); err != nil {
			t.Fatalf("echoscu: %v\n%s", err, out)
		}
	})
	record("dcmsend", ts.addr, func(h, p string) {
		if out, err := runTool(t, dcmsend, "-aec", "SONOLINK", h, p, sample); err != nil {
			t.Fatalf("dcmsend: %v\n%s", err, out)
		}
	})
	record("echoscu-rj", ts.addr, func(h, p string) { runTool(t, echoscu, "-aec", "WRONG", h, p) })

	port := freePort(t)
	cmd := exec.Command(storescp, "-od", t.TempDir(), port)
	mustf(t, cmd.Start(), "storescp")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitListening(t, "127.0.0.1:"+port)
	record("storescu-storescp", "127.0.0.1:"+port, func(h, p string) {
		if out, err := runTool(t, storescu, "-R", h, p, sample); err != nil {
			t.Fatalf("storescu: %v\n%s", err, out)
		}
	})
	// Without -R storescu proposes its full list of storage contexts.
	record("storescu-all-contexts", "127.0.0.1:"+port, func(h, p string) {
		if out, err := runTool(t, storescu, h, p, sample); err != nil {
			t.Fatalf("storescu: %v\n%s", err, out)
		}
	})
}
