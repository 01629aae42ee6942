package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"sonolink/dicom/uid"
	"sonolink/dimse"
)

// sent records the reports a Commitments sent on associations of its own.
type sent struct {
	mu    sync.Mutex
	fails int // the first fails attempts fail
	reps  []*dimse.CommitmentReport
	to    []string
}

func (s *sent) send(ctx context.Context, addr, calling, called string, rep *dimse.CommitmentReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return errors.New("connection refused")
	}
	s.reps = append(s.reps, rep)
	s.to = append(s.to, calling+"->"+called+"@"+addr)
	return nil
}

func (s *sent) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reps)
}

func newCommitments(t *testing.T, e *faultEnv, dir string, s *sent) *Commitments {
	t.Helper()
	c, err := NewCommitments(CommitConfig{Store: e.st, Dir: dir, Modalities: map[string]string{"SCANNER": "127.0.0.1:104"},
		Wait: 300 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond, Logger: e.log, Send: s.send})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runCommitments(t *testing.T, c *Commitments, until func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); !until(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not delivered within 10 s")
		}
	}
}

func ref(class, sop string) dimse.SOPRef {
	return dimse.SOPRef{SOPClassUID: class, SOPInstanceUID: sop}
}

var scanner = &dimse.Association{ID: "a1", CallingAET: "SCANNER", CalledAET: "SONOLINK"}

// Stored instances of the named class are committed on the requesting
// association at once; a class that differs is a conflict (0119). Once the
// requester answers, nothing is left pending.
func TestCommitStoredOnTheAssociation(t *testing.T) {
	dir := t.TempDir()
	e := newFaultEnv(t, dir)
	a, b := e.ingest(t, 1), e.ingest(t, 2)
	class := e.instance(t, a).SOPClassUID
	c := newCommitments(t, e, filepath.Join(dir, "commitments"), &sent{})
	req := &dimse.CommitmentRequest{TransactionUID: "2.25.1", Refs: []dimse.SOPRef{ref(class, a), ref(uid.SecondaryCapture, b)}}
	if st := c.RequestCommitment(context.Background(), scanner, req); st != dimse.StatusSuccess {
		t.Fatalf("status %s", st)
	}
	rep := c.ReportNow(context.Background(), scanner, "2.25.1")
	want := &dimse.CommitmentReport{TransactionUID: "2.25.1", Committed: []dimse.SOPRef{ref(class, a)},
		Failed: []dimse.FailedSOP{{SOPRef: ref(uid.SecondaryCapture, b), Reason: dimse.FailureClassConflict}}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	c.ReportDone(scanner, "2.25.1", nil)
	if left, _ := filepath.Glob(filepath.Join(dir, "commitments", "*")); len(left) != 0 {
		t.Errorf("left pending: %v", left)
	}
}

// An instance not yet stored is not committed early: it is waited for,
// and if it arrives within Wait it is committed; a report the requester
// did not answer survives a restart and is delivered by callback, after a
// failed attempt, from our called AE title to the requester's.
func TestCommitWaitsAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newFaultEnv(t, dir)
	s := &sent{fails: 1}
	c := newCommitments(t, e, filepath.Join(dir, "commitments"), s)
	c.cfg.Wait = time.Hour
	late := "1.2.826.0.1.3680043.10.4242.5.1.3"
	req := &dimse.CommitmentRequest{TransactionUID: "2.25.2", Refs: []dimse.SOPRef{ref(uid.USMultiFrameImage, late)}}
	c.RequestCommitment(context.Background(), scanner, req)
	start := time.Now()
	if rep := c.ReportNow(context.Background(), scanner, "2.25.2"); rep != nil {
		t.Fatalf("reported %+v before the object arrived", rep)
	}
	if time.Since(start) < sameAssocWait {
		t.Errorf("gave up after %v, want %v", time.Since(start), sameAssocWait)
	}

	// Restart: a new Commitments over the same directory.
	e.ingest(t, 3)
	c = newCommitments(t, e, filepath.Join(dir, "commitments"), s)
	runCommitments(t, c, func() bool { return s.count() == 1 })
	want := &dimse.CommitmentReport{TransactionUID: "2.25.2", Committed: req.Refs}
	if !reflect.DeepEqual(s.reps[0], want) || s.to[0] != "SONOLINK->SCANNER@127.0.0.1:104" {
		t.Errorf("sent %+v to %s, want %+v to SONOLINK->SCANNER@127.0.0.1:104", s.reps[0], s.to[0], want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "commitments", "*")); len(left) != 0 {
		t.Errorf("left pending: %v", left)
	}
}

// After Wait, what is still not stored is reported failed with 0112.
func TestCommitUnknownInstanceFailsAfterWait(t *testing.T) {
	dir := t.TempDir()
	e := newFaultEnv(t, dir)
	s := &sent{}
	c := newCommitments(t, e, filepath.Join(dir, "commitments"), s)
	a := e.ingest(t, 1)
	req := &dimse.CommitmentRequest{TransactionUID: "2.25.3", Refs: []dimse.SOPRef{ref(e.instance(t, a).SOPClassUID, a), ref(uid.SecondaryCapture, "1.2.3.999")}}
	c.RequestCommitment(context.Background(), scanner, req)
	c.ReportDone(scanner, "2.25.3", errors.New("released first")) // as if the requester released at once
	runCommitments(t, c, func() bool { return s.count() == 1 })
	want := &dimse.CommitmentReport{TransactionUID: "2.25.3", Committed: req.Refs[:1],
		Failed: []dimse.FailedSOP{{SOPRef: req.Refs[1], Reason: dimse.FailureNoSuchInstance}}}
	if !reflect.DeepEqual(s.reps[0], want) {
		t.Errorf("sent %+v, want %+v", s.reps[0], want)
	}
}

// A requester sonolink cannot call back gets every instance failed (0110)
// on its association, stored or not, and nothing is kept for it.
func TestCommitUnknownRequester(t *testing.T) {
	dir := t.TempDir()
	e := newFaultEnv(t, dir)
	c := newCommitments(t, e, filepath.Join(dir, "commitments"), &sent{})
	a := e.ingest(t, 1)
	stranger := &dimse.Association{ID: "a2", CallingAET: "STRANGER", CalledAET: "SONOLINK"}
	req := &dimse.CommitmentRequest{TransactionUID: "2.25.4", Refs: []dimse.SOPRef{ref(e.instance(t, a).SOPClassUID, a)}}
	if st := c.RequestCommitment(context.Background(), stranger, req); st != dimse.StatusSuccess {
		t.Fatalf("status %s", st)
	}
	rep := c.ReportNow(context.Background(), stranger, "2.25.4")
	want := &dimse.CommitmentReport{TransactionUID: "2.25.4", Failed: []dimse.FailedSOP{{SOPRef: req.Refs[0], Reason: dimse.FailureProcessing}}}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "commitments")); len(left) != 0 {
		t.Errorf("kept %d files for an unknown requester", len(left))
	}
}
