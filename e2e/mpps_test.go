package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/dicom/uid"
	"sonolink/internal/testenv"
)

// The MPPS tests drive `sonolink serve` with a real, independent MPPS SCU:
// dcmjs-dimse (npm, pinned in peers/package-lock.json; .ci/run runs npm ci
// there), through the small script peers/mpps.js. The study goes by
// storescu, and the stable time is 60 s, so a link in the outbox within
// 2 s can only come from the end of the exam.

// mppsPeer returns the script, skipping (failing under CI) when node or
// the installed dcmjs-dimse is missing.
func mppsPeer(t *testing.T) (node, script string) {
	t.Helper()
	node = testenv.Tool(t, "node")
	dir, err := filepath.Abs("peers")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dcmjs-dimse")); err != nil {
		why := "dcmjs-dimse not installed: run npm ci in e2e/peers (.ci/run does)"
		if testenv.CI() {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return node, filepath.Join(dir, "mpps.js")
}

// mppsResult is the peer's report of a response.
type mppsResult struct {
	Status   int    `json:"status"`
	Instance string `json:"instance"`
	Comment  string `json:"comment"`
	At       time.Time
}

// mpps runs one N-CREATE or N-SET with dcmjs-dimse and returns the
// response, timed when its line arrived (before the peer releases).
func mpps(t *testing.T, n *shareE2ENode, args ...string) mppsResult {
	t.Helper()
	node, script := mppsPeer(t)
	cmd := exec.Command(node, append([]string{script, n.dicomHost, n.dicomPort, "SONOLINK", "US1"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var r mppsResult
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "{") && r.At.IsZero() {
			r.At = time.Now()
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("peer output %q: %v", line, err)
			}
		}
	}
	if err := cmd.Wait(); err != nil || r.At.IsZero() {
		t.Fatalf("dcmjs-dimse %v: %v\n%s", args, err, stderr.String())
	}
	return r
}

// mppsStudy is one exam: its files (copies of a sample with a new study,
// new instance UIDs and the patient's contact) and its step's UID.
type mppsStudy struct {
	uid, step, contact string
	files              []string
}

func newMPPSStudy(t *testing.T, dir, contact string, samples ...string) *mppsStudy {
	t.Helper()
	s := &mppsStudy{uid: uid.New(), step: uid.New(), contact: contact}
	for i, sample := range samples {
		s.files = append(s.files, shareE2ESample(t, dir, "us/"+sample, fmt.Sprintf("%s-%d.dcm", contact, i), true,
			"(0020,000D)="+s.uid, "(0010,2155)="+contact))
	}
	return s
}

// refs are the N-SET arguments naming the study's instances.
func (s *mppsStudy) refs(t *testing.T) []string {
	var out []string
	for _, f := range s.files {
		h := ingestHeader(t, f)
		out = append(out, h.class+":"+h.sop)
	}
	return out
}

// storescu sends the study as a modality would (one association).
func (s *mppsStudy) storescu(t *testing.T, n *shareE2ENode) {
	t.Helper()
	bin := testenv.Tool(t, "storescu")
	args := append([]string{"-aet", "US1", "-aec", "SONOLINK", n.dicomHost, n.dicomPort}, s.files...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
}

// messageTo returns when a message to contact appeared in the outbox
// (polled every 20 ms), or the zero time if none did within d.
func messageTo(dataDir, contact string, d time.Duration) time.Time {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		for f := range shareE2EOutboxFiles(dataDir) {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), contact) && strings.Contains(string(b), "/p/") {
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}
		}
	}
}

// The exam ends (N-SET COMPLETED) after its objects arrived: the link is in
// the outbox within 2 s of the N-SET response, with the stable time at
// 60 s. The N-SET may also come first: the study is then complete when its
// last object is stored, not before, also after a restart in between.
func TestE2EMPPSCompletedSharesAtOnce(t *testing.T) {
	testenv.Long(t, "end-to-end MPPS with dcmjs-dimse")
	mppsPeer(t)
	dataDir := shortTempDir(t)
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dataDir, lg, "--stable-time", "60s")
	in := t.TempDir()

	// Objects first, then the end of the exam.
	a := newMPPSStudy(t, in, "after.objects@example.com", "deid-data__GREYSCALE_IMAGE.dcm", "deid-data__RGB_IMAGE.dcm")
	if r := mpps(t, n, "create", a.step, a.uid); r.Status != 0 || r.Instance != a.step {
		t.Fatalf("N-CREATE: %+v", r)
	}
	a.storescu(t, n)
	if at := messageTo(dataDir, a.contact, time.Second); !at.IsZero() {
		t.Fatal("a message went out before the exam ended, with a stable time of 60 s")
	}
	r := mpps(t, n, append([]string{"set", a.step, "COMPLETED"}, a.refs(t)...)...)
	if r.Status != 0 {
		t.Fatalf("N-SET COMPLETED: %+v", r)
	}
	at := messageTo(dataDir, a.contact, 10*time.Second)
	if at.IsZero() || at.Sub(r.At) > 2*time.Second {
		t.Fatalf("link %v after the N-SET COMPLETED response, want within 2 s:\n%s", at.Sub(r.At), lg)
	}
	t.Logf("link in the outbox %v after the N-SET COMPLETED response", at.Sub(r.At).Round(time.Millisecond))
	// A step may not change once final (PS3.4 F.7.2.2.2).
	if r := mpps(t, n, "set", a.step, "DISCONTINUED"); r.Status != 0x0110 {
		t.Errorf("N-SET after COMPLETED: %+v, want 0x0110", r)
	}

	// The end of the exam first (the N-CREATE leaves the UID to sonolink).
	b := newMPPSStudy(t, in, "before.objects@example.com", "deid-data__GREYSCALE_IMAGE.dcm", "deid-data__RGB_IMAGE.dcm")
	r = mpps(t, n, "create", "-", b.uid)
	if r.Status != 0 || !strings.HasPrefix(r.Instance, "2.25.") {
		t.Fatalf("N-CREATE without UID: %+v", r)
	}
	b.step = r.Instance
	if r := mpps(t, n, append([]string{"set", b.step, "COMPLETED"}, b.refs(t)...)...); r.Status != 0 {
		t.Fatalf("N-SET COMPLETED: %+v", r)
	}
	if at := messageTo(dataDir, b.contact, time.Second); !at.IsZero() {
		t.Fatal("a message went out before the exam's objects arrived")
	}
	b.storescu(t, n)
	sent := time.Now()
	at = messageTo(dataDir, b.contact, 10*time.Second)
	// This time includes de-identifying and rendering both objects (about
	// 1 s on a loaded two-core machine), which the N-SET above found done.
	if at.IsZero() || at.Sub(sent) > 5*time.Second {
		t.Fatalf("link %v after the last object, want within 5 s (stable time 60 s):\n%s", at.Sub(sent), lg)
	}
	t.Logf("link in the outbox %v after storescu sent the last object", at.Sub(sent).Round(time.Millisecond))

	// A step waits for its objects across a restart. Right after a start,
	// the pipeline's recovery pass comes first (seconds on a loaded
	// machine), so the bound here is only well below the stable time.
	c := newMPPSStudy(t, in, "after.restart@example.com", "deid-data__GREYSCALE_IMAGE.dcm")
	if r := mpps(t, n, "create", c.step, c.uid); r.Status != 0 {
		t.Fatalf("N-CREATE: %+v", r)
	}
	if r := mpps(t, n, append([]string{"set", c.step, "COMPLETED"}, c.refs(t)...)...); r.Status != 0 {
		t.Fatalf("N-SET COMPLETED: %+v", r)
	}
	n.stop(t)
	n = shareE2EStart(t, dataDir, lg, "--stable-time", "60s")
	c.storescu(t, n)
	sent = time.Now()
	if at = messageTo(dataDir, c.contact, 15*time.Second); at.IsZero() {
		t.Fatalf("no link within 15 s of the last object after a restart (stable time 60 s):\n%s", lg)
	}
	t.Logf("after a restart, link in the outbox %v after the last object", at.Sub(sent).Round(time.Millisecond))
	for _, phi := range []string{a.uid, a.step, b.uid, c.step, a.contact, "MPPS^E2E"} {
		if strings.Contains(lg.String(), phi) {
			t.Errorf("the log holds %q", phi)
		}
	}
}

// A discontinued exam sends nothing, and `sonolink studies` and `sonolink
// study` say why.
func TestE2EMPPSDiscontinued(t *testing.T) {
	testenv.Long(t, "end-to-end MPPS with dcmjs-dimse")
	mppsPeer(t)
	dataDir := shortTempDir(t)
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dataDir, lg, "--stable-time", "60s")
	s := newMPPSStudy(t, t.TempDir(), "stopped@example.com", "deid-data__GREYSCALE_IMAGE.dcm")
	if r := mpps(t, n, "create", s.step, s.uid); r.Status != 0 {
		t.Fatalf("N-CREATE: %+v", r)
	}
	s.storescu(t, n)
	if r := mpps(t, n, append([]string{"set", s.step, "DISCONTINUED"}, s.refs(t)...)...); r.Status != 0 {
		t.Fatalf("N-SET DISCONTINUED: %+v", r)
	}
	if at := messageTo(dataDir, s.contact, 3*time.Second); !at.IsZero() {
		t.Fatal("a discontinued exam was shared")
	}
	res := mustCLI(t, 0, dataDir, "studies", "--json")
	list := decodeJSON[[]admin.StudySummary](t, res)
	if len(list) != 1 || list[0].StudyUID != s.uid || !strings.Contains(list[0].Attention, "discontinued") {
		t.Fatalf("studies --json: %s", res.out)
	}
	if out := mustCLI(t, 0, dataDir, "studies").out; !strings.Contains(out, "! exam discontinued") {
		t.Errorf("studies does not flag the discontinued exam:\n%s", out)
	}
	if out := mustCLI(t, 0, dataDir, "study", list[0].ShortID).out; !strings.Contains(out, "Note: the scanner reported this exam as discontinued") {
		t.Errorf("study does not explain the discontinued exam:\n%s", out)
	}
}
