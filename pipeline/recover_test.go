package pipeline

import (
	"context"
	"slices"
	"sync"
	"testing"

	"sonolink/settings"
	"sonolink/share"
)

// A start queues the objects of the store's work set and only those; the
// first start over an archive without a recorded work profile (an older
// one, or new options) makes one pass over every object in the background
// and records the profile, after which a start reads only the set.
func TestRecoverReadsTheWorkSet(t *testing.T) {
	e := newFaultEnv(t, t.TempDir())
	sop1, sop2 := e.ingest(t, 1), e.ingest(t, 2)
	p := e.pipeline(t)
	if n := p.requeueUnprocessed(); n != 2 {
		t.Fatalf("restart after two objects were received queued %d, want 2", n)
	}
	if err := p.Process(sop1); err != nil {
		t.Fatal(err)
	}
	// A restart (a new pipeline over the same index) queues what is left.
	p = e.pipeline(t)
	if n := p.requeueUnprocessed(); n != 1 {
		t.Fatalf("restart after one of two was processed queued %d, want 1", n)
	}
	if got, _ := e.st.Unprocessed(); !slices.Equal(got, []string{sop2}) {
		t.Fatalf("work set %v, want [%s]", got, sop2)
	}

	// No work profile recorded yet: recover's pass records it.
	var wg sync.WaitGroup
	p.recover(context.Background(), &wg)
	wg.Wait()
	want, err := p.workProfile()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.WorkProfile(); got != want {
		t.Fatalf("work profile %q after the pass, want %q", got, want)
	}
	if got, _ := e.st.Unprocessed(); !slices.Equal(got, []string{sop2}) {
		t.Fatalf("after the pass: work set %v, want [%s]", got, sop2)
	}

	// New de-identification options: every object is to be redone, and the
	// set says so durably before any of it is.
	if err := e.sh.UpdateSetting(settings.KeyDeidOptions, "retain-dates"); err != nil {
		t.Skipf("cannot change the de-identification options here: %v", err)
	}
	p = e.pipeline(t)
	if n := p.requeueStale(); n != 2 {
		t.Fatalf("new options: %d objects queued, want 2", n)
	}
	if got, _ := e.st.Unprocessed(); len(got) != 2 {
		t.Fatalf("new options: work set %v, want both objects", got)
	}
	if got, _ := e.st.WorkProfile(); got == want {
		t.Fatal("work profile unchanged after new options")
	}
	if err := p.Process(sop1); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.Unprocessed(); !slices.Equal(got, []string{sop2}) {
		t.Fatalf("after processing under the new options: work set %v", got)
	}
}

// A study shared by hand before the pipeline decided on it leaves the
// arriving set at the next start instead of being watched.
func TestRecoverSettlesStudiesSharedByHand(t *testing.T) {
	e := newFaultEnv(t, t.TempDir())
	e.ingest(t, 1)
	const study = "1.2.826.0.1.3680043.10.4242.5"
	if a, _ := e.st.Arriving(); len(a) != 1 || a[0].StudyUID != study {
		t.Fatalf("arriving set %v after ingest", a)
	}
	if _, _, err := e.sh.Create(context.Background(), share.CreateRequest{StudyUID: study, Emails: []string{"pat@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if n := e.pipeline(t).watchUnshared(); n != 0 {
		t.Errorf("restart watches %d studies, want 0 (shared by hand)", n)
	}
	if a, _ := e.st.Arriving(); len(a) != 0 {
		t.Errorf("arriving set %v after the restart, want empty", a)
	}
}
