package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// orthanc is a running Orthanc, the storage commitment requester here.
type orthanc struct {
	url     string // REST API
	dicomAt string // host:port of its DICOM server
	log     *shareE2ELog
}

// startOrthanc runs Orthanc with its own temporary database, AE title
// ORTHANC on a free DICOM port, and sonolink (AE SONOLINK at sonolinkAddr)
// as its modality "sonolink". dicomAddr is the DICOM address it listens on.
func startOrthanc(t *testing.T, dicomAddr, sonolinkAddr string) *orthanc {
	t.Helper()
	bin := testenv.Tool(t, "Orthanc")
	dir := t.TempDir()
	httpAddr := shareE2EFreeAddr(t)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	_, dicomPort, _ := net.SplitHostPort(dicomAddr)
	sHost, sPort, _ := net.SplitHostPort(sonolinkAddr)
	cfg := map[string]any{
		"Name": "sonolink-e2e", "StorageDirectory": filepath.Join(dir, "db"), "IndexDirectory": filepath.Join(dir, "db"),
		"HttpPort": mustAtoi(t, httpPort), "DicomPort": mustAtoi(t, dicomPort), "DicomAet": "ORTHANC",
		"RemoteAccessAllowed": false, "AuthenticationEnabled": false, "Plugins": []string{},
		"DicomModalities": map[string]any{"sonolink": []any{"SONOLINK", sHost, mustAtoi(t, sPort)}},
		"DicomScuTimeout": 10,
	}
	b, _ := json.Marshal(cfg)
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &orthanc{url: "http://" + httpAddr, dicomAt: dicomAddr, log: &shareE2ELog{}}
	cmd := exec.Command(bin, "--verbose", conf)
	cmd.Stdout, cmd.Stderr = o.log, o.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("Orthanc log:\n%s", o.log)
		}
	})
	if !shareE2EWait(30*time.Second, func() bool {
		res, err := http.Get(o.url + "/system")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}) {
		t.Fatalf("Orthanc not up after 30 s:\n%s", o.log)
	}
	return o
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// commitReq is one instance Orthanc asks sonolink to commit.
type commitReq struct {
	SOPClassUID    string `json:"SOPClassUID"`
	SOPInstanceUID string `json:"SOPInstanceUID"`
}

// commitResult is Orthanc's record of a storage commitment it requested.
type commitResult struct {
	Status   string      `json:"Status"`
	Success  []commitReq `json:"Success"`
	Failures []struct {
		SOPClassUID    string `json:"SOPClassUID"`
		SOPInstanceUID string `json:"SOPInstanceUID"`
		FailureReason  int    `json:"FailureReason"`
	} `json:"Failures"`
}

// requestCommitment has Orthanc ask sonolink (its modality "sonolink")
// for storage commitment of refs and returns the transaction's REST path.
func (o *orthanc) requestCommitment(t *testing.T, refs []commitReq) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"DicomInstances": refs})
	res, err := http.Post(o.url+"/modalities/sonolink/storage-commitment", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out struct{ Path string }
	if res.StatusCode != 200 || json.Unmarshal(b, &out) != nil || out.Path == "" {
		t.Fatalf("POST storage-commitment: %s: %s", res.Status, b)
	}
	return out.Path
}

// result reads Orthanc's record of the transaction at path.
func (o *orthanc) result(t *testing.T, path string) commitResult {
	t.Helper()
	res, err := http.Get(o.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r commitResult
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// await polls the transaction until Orthanc has its report.
func (o *orthanc) await(t *testing.T, path string, within time.Duration) commitResult {
	t.Helper()
	var r commitResult
	if !shareE2EWait(within, func() bool { r = o.result(t, path); return r.Status != "Pending" }) {
		t.Fatalf("no storage commitment report within %v; Orthanc still says %+v", within, r)
	}
	return r
}

func instancesOf(t *testing.T, files []string) []commitReq {
	var out []commitReq
	for _, f := range files {
		h := ingestHeader(t, f)
		out = append(out, commitReq{h.class, h.sop})
	}
	return out
}

func sortedSOPs(refs []commitReq) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.SOPInstanceUID)
	}
	sort.Strings(out)
	return out
}

// Orthanc (1.10) as a modality that commits: it asks sonolink with
// N-ACTION, releases the association at once, and takes the report on an
// association sonolink opens to it.
//
// First, instances sonolink stored are committed and one it never received
// is failed with 0112 once --commitment-wait is over, by callback. Then a
// request for stored instances only: its report is ready at once, but
// Orthanc is already releasing, so it too goes by callback (the report on
// the requesting association, with dcmjs-dimse as a requester that waits
// for it, is in stgcmt_same_test.go). Last, a request that arrives before its instances does not
// commit them early: it stays pending across a restart of sonolink, and
// once the instances arrive they are committed by callback.
func TestE2EStorageCommitmentWithOrthanc(t *testing.T) {
	testenv.Long(t, "end-to-end storage commitment with Orthanc")
	testenv.Tool(t, "Orthanc")
	dataDir := shortTempDir(t)
	lg := &shareE2ELog{}
	orthancDICOM := shareE2EFreeAddr(t)
	// The same DICOM address across restarts: Orthanc knows sonolink by it.
	sonolinkDICOM := shareE2EFreeAddr(t)
	node := []string{"--modality=ORTHANC=" + orthancDICOM, "--dicom-addr", sonolinkDICOM}
	start := func(wait string) *shareE2ENode {
		n := shareE2EStart(t, dataDir, lg, append(node, "--commitment-wait", wait)...)
		n.dicomHost, n.dicomPort, _ = net.SplitHostPort(sonolinkDICOM)
		return n
	}

	// 1. Stored instances and one unknown.
	n := start("3s")
	o := startOrthanc(t, orthancDICOM, sonolinkDICOM)
	in := t.TempDir()
	var files []string
	for i, s := range []string{"us/deid-data__GREYSCALE_IMAGE.dcm", "us/deid-data__GREYSCALE_IMAGE.dcm"} {
		files = append(files, shareE2ESample(t, in, s, fmt.Sprintf("a%d.dcm", i), true))
	}
	n.send(t, "SONOLINK", files...)
	stored := instancesOf(t, files)
	unknown := commitReq{stored[0].SOPClassUID, "1.2.826.0.1.3680043.10.4242.999.1"}
	path := o.requestCommitment(t, append(append([]commitReq{}, stored...), unknown))
	r := o.await(t, path, 30*time.Second)
	if r.Status != "Failure" || !equalStrings(sortedSOPs(r.Success), sortedSOPs(stored)) ||
		len(r.Failures) != 1 || r.Failures[0].SOPInstanceUID != unknown.SOPInstanceUID {
		t.Fatalf("Orthanc's record: %+v; want the %d stored instances committed and %s failed", r, len(stored), unknown.SOPInstanceUID)
	}
	t.Logf("Orthanc's record: %+v", r)
	if !shareE2EWait(10*time.Second, func() bool { return lg.has("storage commitment reported", "via=\"new association\"") }) {
		t.Errorf("no callback delivery in sonolink's log:\n%s", lg)
	}

	// 2. Only stored instances: the report is ready at once, but Orthanc
	// releases its association right after the N-ACTION-RSP, so sonolink
	// leaves it alone and calls back.
	path = o.requestCommitment(t, stored)
	r = o.await(t, path, 30*time.Second)
	if r.Status != "Success" || !equalStrings(sortedSOPs(r.Success), sortedSOPs(stored)) || len(r.Failures) != 0 {
		t.Fatalf("Orthanc's record: %+v; want both instances committed", r)
	}
	if !shareE2EWait(10*time.Second, func() bool {
		return lg.has("sending it on a new one", "before the report") && strings.Count(lg.String(), `via="new association"`) == 2
	}) {
		t.Errorf("report not handed to the callback after Orthanc's release:\n%s", lg)
	}
	n.stop(t)

	// 3. Request before the instances, across a restart.
	n = start("2m")
	var later []string
	for i := range 2 {
		later = append(later, shareE2ESample(t, in, "us/deid-data__GREYSCALE_IMAGE.dcm", fmt.Sprintf("b%d.dcm", i), true))
	}
	want := instancesOf(t, later)
	path = o.requestCommitment(t, want)
	time.Sleep(4 * time.Second) // past the requesting association's own wait
	if r := o.result(t, path); r.Status != "Pending" {
		t.Fatalf("instances committed before they were sent: %+v", r)
	}
	n.stop(t)
	if left, _ := filepath.Glob(filepath.Join(dataDir, "commitments", "*.json")); len(left) != 1 {
		t.Fatalf("pending requests on disk after the stop: %v, want 1", left)
	}
	n = start("2m")
	n.send(t, "SONOLINK", later...)
	r = o.await(t, path, 30*time.Second)
	if r.Status != "Success" || !equalStrings(sortedSOPs(r.Success), sortedSOPs(want)) || len(r.Failures) != 0 {
		t.Fatalf("Orthanc's record: %+v; want both instances committed", r)
	}
	if !lg.has("storage commitment reports pending from before the restart", "count=1") {
		t.Errorf("the restart did not pick up the pending request:\n%s", lg)
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
