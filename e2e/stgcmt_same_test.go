package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sonolink/dicom/uid"
	"sonolink/internal/testenv"
)

// The storage commitment report on the requesting association, with a real
// requester that waits for it: dcmjs-dimse (npm, pinned in
// peers/package-lock.json) through peers/stgcmt.js. Orthanc releases its
// association before the report (stgcmt_test.go), so this is the other half
// of "once on the same association and once by callback".

// stgcmtReport is the peer's record of its N-ACTION and of the report it
// took on the same association (EventType 0: none came).
type stgcmtReport struct {
	ActionStatus int    `json:"actionStatus"`
	EventType    int    `json:"eventType"`
	Transaction  string `json:"transaction"`
	Committed    []struct {
		Class    string `json:"class"`
		Instance string `json:"instance"`
	} `json:"committed"`
	Failed []struct {
		Class    string `json:"class"`
		Instance string `json:"instance"`
		Reason   int    `json:"reason"`
	} `json:"failed"`
}

// stgcmtSame has dcmjs-dimse (AE US1) request commitment of refs under tx
// and keep its association open up to 10 s for the report.
func stgcmtSame(t *testing.T, n *shareE2ENode, tx string, refs []commitReq) stgcmtReport {
	t.Helper()
	node, mppsScript := mppsPeer(t) // the same peers folder and checks
	args := []string{filepath.Join(filepath.Dir(mppsScript), "stgcmt.js"), n.dicomHost, n.dicomPort, "SONOLINK", "US1", tx, "10000"}
	for _, r := range refs {
		args = append(args, r.SOPClassUID+":"+r.SOPInstanceUID)
	}
	cmd := exec.Command(node, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dcmjs-dimse storage commitment: %v\n%s\n%s", err, out, stderr.String())
	}
	var r stgcmtReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("peer output %q: %v", out, err)
	}
	return r
}

// A requester that keeps its association open gets the report on it: the
// stored instances committed, the unknown one failed with 0112 (no such
// object instance) once --commitment-wait is over, and no callback. The
// callback address given for US1 has no listener, so a report that went
// that way could not reach the peer at all.
func TestE2EStorageCommitmentSameAssociation(t *testing.T) {
	testenv.Long(t, "end-to-end storage commitment with dcmjs-dimse")
	mppsPeer(t)
	dataDir := shortTempDir(t)
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dataDir, lg, "--modality=US1="+shareE2EFreeAddr(t), "--commitment-wait", "1s")
	in := t.TempDir()
	var files []string
	for i := range 2 {
		files = append(files, shareE2ESample(t, in, "us/deid-data__GREYSCALE_IMAGE.dcm", fmt.Sprintf("s%d.dcm", i), true))
	}
	n.send(t, "SONOLINK", files...)
	stored := instancesOf(t, files)
	unknown := commitReq{stored[0].SOPClassUID, uid.New()}

	// Stored instances and one unknown: Event Type 2, failures exist.
	tx := uid.New()
	r := stgcmtSame(t, n, tx, append(append([]commitReq{}, stored...), unknown))
	if r.ActionStatus != 0 {
		t.Fatalf("N-ACTION status 0x%04X, want success", r.ActionStatus)
	}
	if r.EventType != 2 || r.Transaction != tx {
		t.Fatalf("report on the association: %+v; want event type 2 for transaction %s", r, tx)
	}
	var committed []string
	for _, c := range r.Committed {
		committed = append(committed, c.Instance)
	}
	sort.Strings(committed)
	if !equalStrings(committed, sortedSOPs(stored)) {
		t.Errorf("committed %v, want %v", committed, sortedSOPs(stored))
	}
	if len(r.Failed) != 1 || r.Failed[0].Instance != unknown.SOPInstanceUID || r.Failed[0].Class != unknown.SOPClassUID || r.Failed[0].Reason != 0x0112 {
		t.Errorf("failed %+v, want %s with reason 0x0112", r.Failed, unknown.SOPInstanceUID)
	}

	// Only stored instances: Event Type 1, reported at once.
	tx2 := uid.New()
	r = stgcmtSame(t, n, tx2, stored)
	if r.ActionStatus != 0 || r.EventType != 1 || r.Transaction != tx2 || len(r.Committed) != len(stored) || len(r.Failed) != 0 {
		t.Fatalf("report on the association: %+v; want event type 1 with %d committed", r, len(stored))
	}

	if got := strings.Count(lg.String(), `via="requesting association"`); got != 2 {
		t.Errorf("%d reports delivered on the requesting association in sonolink's log, want 2:\n%s", got, lg)
	}
	if lg.has("via=\"new association\"") || lg.has("sending it on a new one") {
		t.Errorf("a report went by callback:\n%s", lg)
	}
}
