package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/dimse"
	"sonolink/internal/testdicom"
	"sonolink/store"
)

// A refusal from Admit (a full disk) is answered A700 with a log line that
// says so, and nothing is stored; the object's study is busy while it is
// still arriving and while its objects wait to be processed.
func TestAdmitAndBusy(t *testing.T) {
	e := newFaultEnv(t, t.TempDir())
	p := e.pipeline(t)
	full := true
	p.cfg.Admit = func() error {
		if full {
			return errors.New("free disk space below the storage reserve")
		}
		return nil
	}
	const study = "1.2.826.0.1.3680043.10.4242.8"
	const sop = study + ".1.1"
	store1 := func() dimse.Status {
		path := filepath.Join(e.st.SpoolDir(), "rx.dcm")
		if err := os.WriteFile(path, testdicom.Bytes(testdicom.Spec{StudyUID: study, SeriesUID: study + ".1", SOPUID: sop}), 0o600); err != nil {
			t.Fatal(err)
		}
		a := &dimse.Association{ID: "a1", CallingAET: "US1", CalledAET: "SONOLINK"}
		return p.HandleStore(context.Background(), a, &dimse.Object{SOPInstanceUID: sop, Path: path})
	}
	if got := store1(); got != dimse.StatusOutOfResources {
		t.Fatalf("status %v, want A700", got)
	}
	if _, err := e.st.Instance(sop); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused object indexed: %v", err)
	}
	if !strings.Contains(e.logText(), "object refused: disk full") {
		t.Errorf("no log line for the refusal:\n%s", e.logText())
	}
	if why := p.Busy(study); why != "" {
		t.Errorf("a study with nothing stored is busy: %s", why)
	}
	full = false
	if got := store1(); got != dimse.StatusSuccess {
		t.Fatalf("status %v after space was freed", got)
	}
	if why := p.Busy(study); why != "being received" {
		t.Errorf("arriving study: %q", why)
	}
	p.tracker.closed("a1", p.cfg.Now())
	if got := p.tracker.due(p.cfg.Now().Add(1<<40), 0); len(got) != 1 { // complete
		t.Fatalf("complete studies: %d", len(got))
	}
	p.work.studies = nil
	if why := p.Busy(study); why != "being processed" {
		t.Errorf("study with a queued object: %q", why)
	}
}
