package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sonolink/dicom/uid"
	"sonolink/dimse"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

const (
	mppsStudy   = "1.2.826.0.1.3680043.10.4242.77"
	mppsPatient = "EXAM^ENDED"
)

// mppsEnv is a store, share service, pipeline and MPPS database in one
// directory.
type mppsEnv struct {
	*faultEnv
	dir   string
	p     *Pipeline
	steps *ProcedureSteps
	quiet time.Duration // Config.IngestQuiet: -1 (never yield) unless a test sets it
}

func newMPPSEnv(t *testing.T, stable time.Duration) *mppsEnv {
	t.Helper()
	dir := t.TempDir()
	e := &mppsEnv{faultEnv: newFaultEnv(t, dir), dir: dir, quiet: -1}
	e.open(t, stable)
	return e
}

// open (re)creates the pipeline and opens the MPPS database, as a start does.
func (e *mppsEnv) open(t *testing.T, stable time.Duration) {
	t.Helper()
	var err error
	e.p, err = New(Config{Store: e.st, Share: e.sh, Secret: make([]byte, 32), Logger: e.log,
		StableTime: stable, Tick: 10 * time.Millisecond, IngestQuiet: e.quiet})
	if err != nil {
		t.Fatal(err)
	}
	if e.steps, err = OpenProcedureSteps(filepath.Join(e.dir, "mpps.db"), e.p); err != nil {
		t.Fatal(err)
	}
	steps := e.steps
	t.Cleanup(func() { steps.Close() })
}

// sopOf is the SOP Instance UID of the study's object n.
func sopOf(n int) string { return fmt.Sprintf("%s.1.%d", mppsStudy, n) }

// deliver stores object n of the study as HandleStore does: indexed, its
// study watched on the still open association "a1", queued for processing.
func (e *mppsEnv) deliver(t *testing.T, n int) {
	t.Helper()
	data := testdicom.Bytes(testdicom.Spec{PatientName: mppsPatient, PatientID: "MPPS-ID-5", StudyUID: mppsStudy,
		SeriesUID: mppsStudy + ".1", SOPUID: sopOf(n), Rows: 32, Columns: 32, InstanceNumber: n,
		Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: "pat@example.com"}}})
	path := filepath.Join(e.st.SpoolDir(), fmt.Sprintf("rx%d.dcm", n))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := e.st.Ingest(path, store.Source{CalledAET: "SONOLINK", AssociationID: "a1"})
	if err != nil {
		t.Fatal(err)
	}
	e.p.rx.arrived("a1")
	e.p.tracker.arrived(res.Instance.StudyUID, "a1", "SONOLINK", []string{"pat@example.com"}, time.Now())
	e.p.queue.push(res.Instance.SOPInstanceUID)
	e.p.wakeMPPS()
}

func refsTo(ns ...int) []dimse.SOPRef {
	var out []dimse.SOPRef
	for _, n := range ns {
		out = append(out, dimse.SOPRef{SOPClassUID: uid.USImage, SOPInstanceUID: sopOf(n)})
	}
	return out
}

var modality = &dimse.Association{ID: "a2", CallingAET: "US1", CalledAET: "SONOLINK"}

func (e *mppsEnv) create(t *testing.T, step string) {
	t.Helper()
	if err := e.steps.CreateMPPS(context.Background(), modality, step,
		&dimse.ProcedureStep{Status: dimse.MPPSInProgress, StudyUIDs: []string{mppsStudy}, HasSeries: true}); err != nil {
		t.Fatal(err)
	}
}

func (e *mppsEnv) set(t *testing.T, step, status string, refs []dimse.SOPRef) {
	t.Helper()
	if err := e.steps.SetMPPS(context.Background(), modality, step, &dimse.ProcedureStep{Status: status, HasSeries: true, Refs: refs}); err != nil {
		t.Fatal(err)
	}
}

func (e *mppsEnv) links(t *testing.T) int {
	t.Helper()
	l, err := e.sh.StudyLinks(mppsStudy)
	if err != nil {
		t.Fatal(err)
	}
	return len(l)
}

// background runs the pipeline until the test ends.
func (e *mppsEnv) background(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
	}
}

// N-SET COMPLETED, every referenced object processed: the link is issued
// at once, an hour before the stable time and while the association that
// sent the objects is still open.
func TestMPPSCompletedSharesAtOnce(t *testing.T) {
	e := newMPPSEnv(t, time.Hour)
	e.background(t)
	e.deliver(t, 1)
	e.deliver(t, 2)
	e.create(t, "1.2.3.100")
	waitFor(t, "processing", 10*time.Second, func() bool { return e.p.queue.idle() })
	if e.links(t) != 0 {
		t.Fatal("shared before the exam ended")
	}
	e.set(t, "1.2.3.100", dimse.MPPSCompleted, refsTo(1, 2))
	waitFor(t, "link after N-SET COMPLETED", 2*time.Second, func() bool {
		d, _ := e.sh.AutoShareDecided(mppsStudy)
		return d.Outcome == "shared"
	})
	if e.links(t) != 1 {
		t.Errorf("%d links, want 1", e.links(t))
	}
	// No patient data or UIDs in the log.
	log := e.logText()
	for _, phi := range []string{mppsStudy, "1.2.3.100", mppsPatient, "pat@example.com"} {
		if strings.Contains(log, phi) {
			t.Errorf("log holds %q", phi)
		}
	}
	if !strings.Contains(log, "without waiting for the stable time") {
		t.Errorf("no log line says why the study completed early:\n%s", log)
	}
}

// An association that stays open after its last object holds processing
// back for a while (yield.go); the end of the exam releases it, so the link
// does not wait for that.
func TestMPPSCompletedReleasesTheSendingAssociation(t *testing.T) {
	e := newMPPSEnv(t, time.Hour)
	e.steps.Close()
	e.quiet = defaultIngestQuiet
	e.open(t, time.Hour)
	e.deliver(t, 1)
	e.create(t, "1.2.3.150")
	if d, _ := e.p.rx.busyFor(time.Now()); d <= 0 {
		t.Fatal("an open association that just sent does not hold processing back")
	}
	e.set(t, "1.2.3.150", dimse.MPPSCompleted, refsTo(1))
	time.Sleep(defaultIngestQuiet)
	if d, _ := e.p.rx.busyFor(time.Now()); d > 0 {
		t.Errorf("after N-SET COMPLETED, processing still waits %v for the sending association", d)
	}
}

// N-SET COMPLETED before the objects: the study is complete when the last
// referenced object is processed, not before. The waiting step survives a
// restart.
func TestMPPSCompletedBeforeTheObjects(t *testing.T) {
	e := newMPPSEnv(t, time.Hour)
	e.create(t, "1.2.3.200")
	e.set(t, "1.2.3.200", dimse.MPPSCompleted, refsTo(1, 2))
	// Restart: the final step is watched again.
	e.steps.Close()
	e.open(t, time.Hour)
	if !e.steps.waiting["1.2.3.200"] {
		t.Fatal("a completed step waiting for its objects was forgotten at restart")
	}
	e.background(t)
	e.deliver(t, 1)
	waitFor(t, "first object processed", 10*time.Second, func() bool { return e.p.queue.idle() })
	time.Sleep(100 * time.Millisecond) // several ticks
	if e.links(t) != 0 {
		t.Fatal("shared with one referenced object still missing")
	}
	e.deliver(t, 2)
	waitFor(t, "link after the last referenced object", 5*time.Second, func() bool { return e.links(t) == 1 })
}

// DISCONTINUED: nothing is sent, neither at once nor when the stable time
// passes, and the decision the technician sees says why.
func TestMPPSDiscontinuedHoldsTheStudy(t *testing.T) {
	e := newMPPSEnv(t, 50*time.Millisecond)
	e.background(t)
	e.create(t, "1.2.3.300")
	e.deliver(t, 1)
	e.set(t, "1.2.3.300", dimse.MPPSDiscontinued, refsTo(1))
	e.p.AssociationClosed(&dimse.Association{ID: "a1"})
	waitFor(t, "stable time", 5*time.Second, func() bool { return e.p.tracker.pending() == 0 && e.p.queue.idle() })
	time.Sleep(100 * time.Millisecond)
	if e.links(t) != 0 {
		t.Fatal("a discontinued exam was shared")
	}
	if d, _ := e.sh.AutoShareDecided(mppsStudy); d.Outcome != share.OutcomeDiscontinued {
		t.Errorf("decision %q, want %q", d.Outcome, share.OutcomeDiscontinued)
	}
	// A later step of the same study that completes lifts the hold, even
	// when it names only objects the discontinued one held back.
	e.create(t, "1.2.3.301")
	e.set(t, "1.2.3.301", dimse.MPPSCompleted, refsTo(1))
	waitFor(t, "link after a completed step of the same study", 5*time.Second, func() bool { return e.links(t) == 1 })
}

// The rules of PS3.4 F.7.2 that depend on earlier messages, across a
// restart: a duplicate N-CREATE, an N-SET of an unknown step, and any N-SET
// after the final one are refused.
func TestMPPSStateRules(t *testing.T) {
	e := newMPPSEnv(t, time.Hour)
	e.create(t, "1.2.3.400")
	ctx := context.Background()
	start := &dimse.ProcedureStep{Status: dimse.MPPSInProgress}
	if err := e.steps.CreateMPPS(ctx, modality, "1.2.3.400", start); !errors.Is(err, dimse.ErrMPPSExists) {
		t.Errorf("duplicate N-CREATE: %v", err)
	}
	if err := e.steps.SetMPPS(ctx, modality, "1.2.3.404", &dimse.ProcedureStep{Status: dimse.MPPSCompleted}); !errors.Is(err, dimse.ErrMPPSUnknown) {
		t.Errorf("N-SET of an unknown step: %v", err)
	}
	e.set(t, "1.2.3.400", dimse.MPPSInProgress, refsTo(1)) // an intermediate N-SET
	e.steps.Close()
	e.open(t, time.Hour)
	if err := e.steps.CreateMPPS(ctx, modality, "1.2.3.400", start); !errors.Is(err, dimse.ErrMPPSExists) {
		t.Errorf("duplicate N-CREATE after restart: %v", err)
	}
	e.set(t, "1.2.3.400", dimse.MPPSDiscontinued, nil)
	for _, st := range []string{dimse.MPPSCompleted, dimse.MPPSInProgress, ""} {
		if err := e.steps.SetMPPS(ctx, modality, "1.2.3.400", &dimse.ProcedureStep{Status: st}); !errors.Is(err, dimse.ErrMPPSFinal) {
			t.Errorf("N-SET %q after DISCONTINUED: %v, want ErrMPPSFinal", st, err)
		}
	}
	if !e.steps.held(mppsStudy) {
		t.Error("the study named by the discontinued step is not held")
	}
}
