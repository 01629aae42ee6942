package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// TestE2EBackupWhileReceiving: `sonolink backup` while serve receives a
// large object over a slow link, then `sonolink restore` into a new data
// directory and serve on it. Every object acknowledged before the backup
// started is there, the link its patient was sent opens with its images,
// the restored directory checks clean, and the object in flight was
// acknowledged all the same.
func TestE2EBackupWhileReceiving(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dcmsend := testenv.Tool(t, "dcmsend")
	dir := shortTempDir(t)
	data := filepath.Join(dir, "data")
	lg := &shareE2ELog{}
	n := shareE2EStart(t, data, lg)

	// Study A: three small images with the patient's e-mail; acknowledged
	// (dcmsend exits 0 only then) and shared before the backup.
	var files []string
	for i := 1; i <= 3; i++ {
		f := filepath.Join(dir, fmt.Sprintf("a%d.dcm", i))
		testdicom.WriteFile(t, f, testdicom.Spec{PatientName: "Backup^Bodil", PatientID: "BK-1",
			StudyUID: "1.2.826.0.1.3680043.10.4242.910", SeriesUID: "1.2.826.0.1.3680043.10.4242.910.1",
			SOPUID: fmt.Sprintf("1.2.826.0.1.3680043.10.4242.910.1.%d", i), StudyDate: "20261201", InstanceNumber: i,
			Rows: 64, Columns: 64, Frames: 1, Region: [4]uint32{0, 0, 63, 63}, Fill: byte(40 * i),
			Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: "bodil@example.com"}}})
		files = append(files, f)
	}
	before := shareE2EOutboxFiles(data)
	n.send(t, "SONOLINK", files...)
	link := outboxLink(t, data, before, regexp.MustCompile(`https?://[^\s"<>]+/p/[A-Za-z0-9_-]+`), lg)

	// Study B: one 30-frame object (9 MB) sent through a proxy that lets
	// 2 MB/s through, so it is in flight while the backup runs.
	big := filepath.Join(dir, "b.dcm")
	testdicom.WriteFile(t, big, testdicom.Spec{PatientName: "Later^Lars", PatientID: "BK-2",
		StudyUID: "1.2.826.0.1.3680043.10.4242.911", SeriesUID: "1.2.826.0.1.3680043.10.4242.911.1",
		SOPUID: "1.2.826.0.1.3680043.10.4242.911.1.1", StudyDate: "20261202", InstanceNumber: 1,
		Rows: 480, Columns: 640, Frames: 30, FrameTimeMS: 40})
	proxy, moved := slowProxy(t, net.JoinHostPort(n.dicomHost, n.dicomPort), 2<<20)
	ph, pp, _ := net.SplitHostPort(proxy)
	sender := exec.Command(dcmsend, "-aet", "E2EMODALITY", "-aec", "SONOLINK", ph, pp, big)
	var senderOut strings.Builder
	sender.Stdout, sender.Stderr = &senderOut, &senderOut
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- sender.Wait() }()
	if !shareE2EWait(20*time.Second, func() bool { return moved.Load() > 1<<20 }) {
		t.Fatalf("the large object did not start moving:\n%s", senderOut.String())
	}
	inFlight := func(when string) {
		select {
		case err := <-sent:
			t.Fatalf("the large object was done (%v) %s the backup; the test proves nothing", err, when)
		default:
		}
	}
	inFlight("before")
	backup := filepath.Join(dir, "backup")
	r := mustCLI(t, 0, data, "backup", backup, "--json")
	inFlight("by the end of")
	var m admin.Manifest
	if err := json.Unmarshal([]byte(r.out), &m); err != nil {
		t.Fatalf("backup --json: %v\n%s", err, r)
	}
	if !lg.has("backup written") {
		t.Errorf("serve did not write the backup (it must, holding the databases):\n%s", lg)
	}
	if m.Store.Instances < 3 || m.Share.Links != 1 || m.Store.Missing != 0 {
		t.Errorf("manifest: %d instances, %d links, %d missing; want at least the 3 acknowledged, 1 link, none missing", m.Store.Instances, m.Share.Links, m.Store.Missing)
	}
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("the object in flight during the backup was not acknowledged: %v\n%s", err, senderOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the large object did not arrive within 60 s")
	}
	n.stop(t)

	// A restore refuses a data directory in use or not empty…
	if r := runCLI(t, data, "restore", backup); r.code != 2 || !strings.Contains(r.err, "not empty") {
		t.Errorf("restore into the live data directory: want exit 2 and 'not empty', got %s", r)
	}
	// …and detects damage before a node could start on it.
	damaged := filepath.Join(dir, "damaged")
	copyTree(t, backup, damaged)
	obj, _ := filepath.Glob(filepath.Join(damaged, "objects", "*", "*.dcm"))
	if len(obj) == 0 {
		t.Fatal("no object files in the backup")
	}
	os.WriteFile(obj[0], []byte("not what was backed up"), 0o600)
	if r := runCLI(t, filepath.Join(dir, "r0"), "restore", damaged); r.code != 2 || !strings.Contains(r.err, "checksum") {
		t.Errorf("restore of a damaged backup: want exit 2 naming the checksum, got %s", r)
	}

	restored := filepath.Join(dir, "r1")
	mustCLI(t, 0, restored, "restore", backup)
	if r := mustCLI(t, 0, restored, "check"); !strings.Contains(r.out, "No problems") {
		t.Errorf("check of the restored directory:\n%s", r)
	}
	var found []struct {
		Images int `json:"images"`
	}
	r = mustCLI(t, 0, restored, "studies", "bodil", "--json")
	if err := json.Unmarshal([]byte(r.out), &found); err != nil || len(found) != 1 || found[0].Images != 3 {
		t.Fatalf("restored studies bodil: want 1 study with the 3 acknowledged images, got %+v (%v)\n%s", found, err, r)
	}

	lg2 := &shareE2ELog{}
	n2 := shareE2EStart(t, restored, lg2)
	code, body := shareE2EGet(t, nil, shareE2EWithBase(link, n2.httpURL))
	if code != 200 {
		t.Fatalf("the link on the restored node: HTTP %d\n%s", code, lg2)
	}
	imgs := regexp.MustCompile(`/p/[A-Za-z0-9_-]+/i/\d+/thumb\.jpg`).FindAllString(string(body), -1)
	if len(imgs) != 3 {
		t.Fatalf("restored landing page shows %d images, want 3", len(imgs))
	}
	for _, p := range imgs {
		if code, b := shareE2EGet(t, nil, n2.httpURL+p); code != 200 || len(b) < 100 {
			t.Errorf("restored image %s: HTTP %d, %d bytes", shareE2ERedact(p), code, len(b))
		}
	}
}

// slowProxy forwards TCP connections to target, letting at most rate
// bytes per second go from the client to target; moved counts them.
func slowProxy(t *testing.T, target string, rate int) (addr string, moved *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	moved = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(c, s); c.Close() }()
			go func() {
				defer s.Close()
				chunk := rate / 20
				buf := make([]byte, chunk)
				for {
					k, err := c.Read(buf)
					if k > 0 {
						if _, werr := s.Write(buf[:k]); werr != nil {
							return
						}
						moved.Add(int64(k))
						time.Sleep(time.Duration(k) * time.Second / time.Duration(rate))
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), moved
}
