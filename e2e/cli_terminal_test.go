package e2e

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/admin"
	"sonolink/internal/testdicom"
	"sonolink/store"
)

// A modality's values reach the technician's terminal inert: a patient name
// that clears the screen and writes the clipboard (OSC 52), and a
// description with a bidirectional override, are printed by 'studies' and
// 'study' with their control characters escaped, while --json keeps them
// exact.
func TestCLITerminalSafeOutput(t *testing.T) {
	const (
		name = "Evil\x1b]52;c;SGVsbG8h\a^Eve\x1b[2J"
		desc = "Abdomen\u202etxt.exe\x07"
	)
	dataDir := filepath.Join(shortTempDir(t), "data")
	st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(st.SpoolDir(), "x.dcm")
	data := testdicom.Bytes(testdicom.Spec{PatientName: name, PatientID: "ID\x1b[31m1", StudyDescription: desc,
		StudyUID: "1.2.826.0.1.3680043.10.4242.11", SeriesUID: "1.2.826.0.1.3680043.10.4242.11.0", SOPUID: "1.2.826.0.1.3680043.10.4242.11.1"})
	if err := os.WriteFile(spool, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := st.Ingest(spool, store.Source{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, args := range [][]string{{"studies"}, {"study", res.StudyShortID}, {"studies", "evil"}} {
		r := mustCLI(t, 0, dataDir, args...)
		for _, bad := range []string{"\x1b", "\a", "\u202e"} {
			if strings.Contains(r.out, bad) || strings.Contains(r.err, bad) {
				t.Errorf("sonolink %v prints %q raw:\n%q", args, bad, r.out)
			}
		}
		if !strings.Contains(r.out, `\x1b]52;c;`) || !strings.Contains(r.out, `\x1b[2J`) {
			t.Errorf("sonolink %v does not show the escaped sequences:\n%s", args, r.out)
		}
	}
	// A study key typed back (or pasted) into an error message is escaped too.
	if r := mustCLI(t, 1, dataDir, "study", "no\x1b[2Jsuch"); strings.Contains(r.err, "\x1b") {
		t.Errorf("error message prints ESC raw: %q", r.err)
	}

	var list []admin.StudySummary
	if err := json.Unmarshal([]byte(mustCLI(t, 0, dataDir, "studies", "--json").out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PatientName != name || list[0].Description != desc {
		t.Errorf("--json is not exact: %+v", list)
	}
	var d admin.StudyDetail
	if err := json.Unmarshal([]byte(mustCLI(t, 0, dataDir, "study", res.StudyShortID, "--json").out), &d); err != nil {
		t.Fatal(err)
	}
	if d.PatientName != name || d.PatientID != "ID\x1b[31m1" {
		t.Errorf("study --json is not exact: %q %q", d.PatientName, d.PatientID)
	}
}
