package pipeline

import (
	"testing"
	"time"
)

func TestTrackerWaitsForStableTimeAndOpenAssociations(t *testing.T) {
	tr := newTracker()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	stable := 60 * time.Second

	tr.arrived("1.2.3", "a1", "SONOLINK", []string{"x@example.com, +46 70 123 45 67"}, t0)
	tr.arrived("1.2.3", "a1", "SONOLINK", []string{"x@example.com, +46 70 123 45 67"}, t0.Add(10*time.Second))
	if got := tr.due(t0.Add(65*time.Second), stable); len(got) != 0 {
		t.Fatalf("study due while its association is open: %v", got)
	}
	tr.closed("a1", t0.Add(11*time.Second))
	if got := tr.due(t0.Add(69*time.Second), stable); len(got) != 0 {
		t.Fatalf("study due before stable time after last object: %v", got)
	}
	got := tr.due(t0.Add(70*time.Second), stable)
	if len(got) != 1 || got[0].StudyUID != "1.2.3" {
		t.Fatalf("due = %v, want study 1.2.3", got)
	}
	if len(got[0].Contacts) != 1 {
		t.Fatalf("contacts not deduplicated: %q", got[0].Contacts)
	}
	if _, ok := got[0].CalledAETs["SONOLINK"]; !ok {
		t.Fatalf("called AE not recorded")
	}
	if tr.pending() != 0 {
		t.Fatalf("due study still pending")
	}
}

func TestTrackerStudyOverTwoAssociations(t *testing.T) {
	tr := newTracker()
	t0 := time.Now()
	tr.arrived("s", "a1", "", nil, t0)
	tr.arrived("s", "a2", "", nil, t0)
	tr.closed("a1", t0)
	if got := tr.due(t0.Add(time.Hour), time.Second); len(got) != 0 {
		t.Fatalf("due while a2 still open")
	}
	tr.closed("a2", t0)
	if got := tr.due(t0.Add(time.Hour), time.Second); len(got) != 1 {
		t.Fatalf("not due after both closed")
	}
}
