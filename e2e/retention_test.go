package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size MB on a fresh directory, or skips:
// only root may mount one.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a small tmpfs, and mounting one needs root")
	}
	dir := shortTempDir(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the full-disk logic is tested with a fake disk in package retention", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func freeBytes(t *testing.T, dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// fill leaves about left bytes free on dir's file system with a filler
// file, replacing the previous one.
func fill(t *testing.T, dir string, left uint64) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	_ = os.Remove(p)
	free := freeBytes(t, dir)
	if free <= left {
		return
	}
	if err := os.WriteFile(p, make([]byte, free-left), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A real full disk (a 24 MB tmpfs): below storage.reserve, a new object
// first makes retention purge the oldest study that may go, and is then
// stored; when nothing more may go it is refused with A700, /healthz says
// degraded with the reason, and the patient port still answers. Freeing
// space ends it.
func TestFullDiskTmpfs(t *testing.T) {
	testenv.Long(t, "runs serve on a tmpfs and waits for a study to complete")
	storescu := testenv.Tool(t, "storescu")
	dir := mountTmpfs(t, 24)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, 0, data, "settings", "set", "storage.reserve", "6MB")
	mustCLI(t, 0, data, "settings", "set", "retention.free_floor", "off")
	files := t.TempDir()
	object := func(study string, mb int) string {
		p := filepath.Join(files, study+".dcm")
		b := testdicom.Bytes(testdicom.Spec{PatientName: "Full^Disk", PatientID: "FD1", StudyUID: "1.2.826.0.1.3680043.10.4242.90." + study,
			SeriesUID: "1.2.826.0.1.3680043.10.4242.90." + study + ".1", SOPUID: "1.2.826.0.1.3680043.10.4242.90." + study + ".1.1",
			Rows: 1000, Columns: 1000, Frames: mb})
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lg := &shareE2ELog{}
	n := shareE2EStart(t, data, lg)
	send := func(p string) (bool, string) {
		out, _ := exec.Command(storescu, "-v", "-aet", "E2EMODALITY", "-aec", "SONOLINK", n.dicomHost, n.dicomPort, p).CombinedOutput()
		return strings.Contains(string(out), "Store Response (Success)"), string(out)
	}
	health := func() string {
		code, body := shareE2EGet(t, n.client, n.httpURL+"/healthz")
		if code != 200 {
			t.Errorf("/healthz answered %d", code)
		}
		return string(body)
	}

	if ok, out := send(object("1", 3)); !ok {
		t.Fatalf("first study refused:\n%s\n%s", out, lg)
	}
	// Processed and complete (stable time), so it may go.
	time.Sleep(shareE2EStable + 2*time.Second)
	if r := mustCLI(t, 0, data, "purge", "--dry-run"); !strings.Contains(r.out, "Would purge 0 of 1 studies") {
		t.Errorf("dry run with space to spare:\n%s", r)
	}
	fill(t, dir, 4<<20)
	if h := health(); !strings.HasPrefix(h, "degraded:") || !strings.Contains(h, "reserve") {
		t.Errorf("/healthz below the reserve: %q", h)
	}
	if r := mustCLI(t, 0, data, "purge", "--dry-run", "--json"); !strings.Contains(r.out, `"items": []`) {
		// The floor is off: a dry run purges nothing for space.
		t.Errorf("dry run:\n%s", r)
	}
	// The next object makes retention purge the first study, then is stored.
	if ok, out := send(object("2", 1)); !ok {
		t.Fatalf("second study refused though the first could go:\n%s\n%s", out, lg)
	}
	if !lg.has("study purged", "reason=free-space") {
		t.Errorf("no purge logged:\n%s", lg)
	}
	r := mustCLI(t, 0, data, "audit", "--json")
	var events []struct{ Event, Detail string }
	if err := json.Unmarshal([]byte(r.out), &events); err != nil {
		t.Fatal(err)
	}
	purged := false
	for _, e := range events {
		if e.Event == "study.purged" {
			purged = true
			if strings.Contains(e.Detail, "Full") || strings.Contains(e.Detail, "FD1") {
				t.Errorf("audit detail carries patient data: %s", e.Detail)
			}
		}
	}
	if !purged {
		t.Errorf("no study.purged in the audit log:\n%s", r.out)
	}
	if h := health(); h != "ok\n" {
		t.Errorf("/healthz after the purge: %q", h)
	}

	// Nothing more may go (the second study is still arriving, and a
	// purge pass ran less than a minute ago): refused with A700.
	fill(t, dir, 3<<20)
	if ok, out := send(object("3", 1)); ok {
		t.Errorf("object accepted below the reserve:\n%s", out)
	} else if !regexp.MustCompile(`(?i)0xa700|out ?of ?resources`).MatchString(out) {
		t.Errorf("refusal is not A700:\n%s", out)
	}
	if !lg.has("object refused: disk full") || !lg.has("disk full: new objects are refused") {
		t.Errorf("no log line says the disk is full:\n%s", lg)
	}
	if h := health(); !strings.HasPrefix(h, "degraded:") {
		t.Errorf("/healthz on a full disk: %q", h)
	}
	if code, _ := shareE2EGet(t, n.client, n.httpURL+"/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); code != 404 && code != 410 {
		t.Errorf("patient port on a full disk answered %d", code)
	}
	_ = os.Remove(filepath.Join(dir, "filler"))
	if ok, out := send(object("3", 1)); !ok {
		t.Errorf("refused after space was freed:\n%s", out)
	}
	if h := health(); h != "ok\n" {
		t.Errorf("/healthz after space was freed: %q", h)
	}
}

// `sonolink purge` with serve running goes through serve: a study with a
// live link is kept whatever the free-space floor says; once its link is
// revoked a dry run lists it, the real run purges exactly that, the old
// link answers 404 and its outbox files are gone, and the audit log has
// the purge without patient data.
func TestPurgeThroughServe(t *testing.T) {
	testenv.Long(t, "runs serve and waits for a study to complete")
	storescu := testenv.Tool(t, "storescu")
	data := filepath.Join(shortTempDir(t), "data")
	lg := &shareE2ELog{}
	n := shareE2EStart(t, data, lg)
	p := filepath.Join(t.TempDir(), "o.dcm")
	if err := os.WriteFile(p, testdicom.Bytes(testdicom.Spec{PatientName: "Purge^Me", PatientID: "PM77", StudyUID: "1.2.826.0.1.3680043.10.4242.91",
		SeriesUID: "1.2.826.0.1.3680043.10.4242.91.1", SOPUID: "1.2.826.0.1.3680043.10.4242.91.1.1", Rows: 8, Columns: 8}), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(storescu, "-v", "-aec", "SONOLINK", n.dicomHost, n.dicomPort, p).CombinedOutput(); !strings.Contains(string(out), "Store Response (Success)") {
		t.Fatalf("storescu:\n%s", out)
	}
	before := outboxURLs(t, data)
	res := decodeJSON[struct{ ID string }](t, mustCLI(t, 0, data, "send", "1", "--to", "purge@example.com", "--json"))
	if !shareE2EWait(10*time.Second, func() bool { l, _ := shareE2ENewLink(t, data, before); return l != "" }) {
		t.Fatalf("no link in the outbox:\n%s", lg)
	}
	link, files := shareE2ENewLink(t, data, before)
	if code, _ := shareE2EGet(t, n.client, link); code != 200 {
		t.Fatalf("link answered %d before the purge", code)
	}
	time.Sleep(shareE2EStable + time.Second) // complete, processed
	mustCLI(t, 0, data, "settings", "set", "retention.free_floor", "99%")
	type report struct {
		Items []struct{ Study, Reason, Patient string }
		Kept  map[string]int
	}
	dry := decodeJSON[report](t, mustCLI(t, 0, data, "purge", "--dry-run", "--json"))
	if len(dry.Items) != 0 || dry.Kept["live-link"] != 1 {
		t.Fatalf("a study with a live link is listed: %+v", dry)
	}
	mustCLI(t, 0, data, "revoke", res.ID, "--reason", "purge test")
	dry = decodeJSON[report](t, mustCLI(t, 0, data, "purge", "--dry-run", "--json"))
	if len(dry.Items) != 1 || dry.Items[0].Study != "1" || dry.Items[0].Reason != "free-space" || dry.Items[0].Patient != "Purge^Me" {
		t.Fatalf("dry run: %+v", dry)
	}
	r := mustCLI(t, 0, data, "purge")
	if !strings.Contains(r.out, "Purged 1 of 1 studies") || !strings.Contains(r.out, "free-space") {
		t.Errorf("purge:\n%s", r)
	}
	if !lg.has("study purged", "reason=free-space", "actor=cli:") {
		t.Errorf("serve did not run the purge:\n%s", lg)
	}
	if strings.Contains(lg.String(), "Purge^Me") || strings.Contains(lg.String(), "PM77") {
		t.Errorf("patient data in serve's log")
	}
	if code, _ := shareE2EGet(t, n.client, link); code != 404 {
		t.Errorf("the purged study's link answered %d, want 404", code)
	}
	if len(files) == 0 {
		t.Fatal("no outbox file carried the link")
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(data, "outbox", f)); !os.IsNotExist(err) {
			t.Errorf("outbox file %s kept: %v", filepath.Base(f), err)
		}
	}
	if r := mustCLI(t, 1, data, "studies"); strings.Contains(r.out, "Purge") {
		t.Errorf("studies after the purge:\n%s", r)
	}
	audit := mustCLI(t, 0, data, "audit", "--json").out
	if !strings.Contains(audit, "study.purged") || strings.Contains(audit, "Purge^Me") || strings.Contains(audit, "PM77") {
		t.Errorf("audit log:\n%s", audit)
	}
}
