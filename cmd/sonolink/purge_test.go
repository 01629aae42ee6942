package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/retention"
	"sonolink/share"
	"sonolink/store"
)

// With no serve running, purge works on the data directory: the dry run
// lists, the real run purges the same study, and the output names the
// reason; a study whose Storage Commitment a stopped serve left pending
// is kept.
func TestPurgeCommandLocal(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, study := range []string{"1.2.3", "1.2.4"} {
		p := filepath.Join(s.SpoolDir(), study+".dcm")
		testdicom.WriteFile(t, p, testdicom.Spec{SOPUID: study + ".1", StudyUID: study, SeriesUID: study + ".0", PatientName: "Local^Purge"})
		if _, err := s.Ingest(p, store.Source{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	sh, err := share.Open(dir, share.Options{NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	// Any real disk is below a 99% floor: every study that may go, goes.
	if err := sh.UpdateSetting("retention.free_floor", "99%"); err != nil {
		t.Fatal(err)
	}
	sh.Close()
	// A commitment request for 1.2.4's object, left by a stopped serve.
	commit := `{"tx":"1.9","requester":"US1","called":"SONOLINK","rx":"2026-01-01T00:00:00Z","refs":[{"SOPClassUID":"1.2.840.10008.5.1.4.1.1.6.1","SOPInstanceUID":"1.2.4.1"}]}`
	testWrite(t, filepath.Join(dir, "commitments", "1.9.json"), commit)

	run := func(args ...string) (string, int) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"purge", "--data-dir", dir}, args...))
		err := root.Execute()
		var ec exitCoder
		switch {
		case err == nil:
			return out.String(), exitOK
		case errors.As(err, &ec):
			return out.String() + err.Error(), ec.ExitCode()
		}
		return out.String() + err.Error(), exitError
	}
	out, code := run("--dry-run", "--json")
	var rep retention.Report
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Items) != 1 || rep.Items[0].StudyUID != "1.2.3" ||
		rep.Items[0].Reason != retention.ReasonFreeSpace || rep.Kept["busy"] != 1 {
		t.Fatalf("dry run: exit %d, %+v\n%s", code, rep, out)
	}
	out, code = run()
	if code != exitOK || !strings.Contains(out, "Purged 1 of 2 studies") || !strings.Contains(out, "free-space") || !strings.Contains(out, "Local^Purge") {
		t.Fatalf("purge: exit %d\n%s", code, out)
	}
	s, err = store.Open(dir, store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Study("1.2.3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("1.2.3 after purge: %v", err)
	}
	if _, err := s.Study("1.2.4"); err != nil {
		t.Errorf("1.2.4 (commitment pending) went: %v", err)
	}
}

func testWrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
