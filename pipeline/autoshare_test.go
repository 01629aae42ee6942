package pipeline

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/settings"
	"sonolink/share"
	"sonolink/store"
)

// levelCounter counts log records per level.
type levelCounter struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Level]++
	c.mu.Unlock()
	return nil
}
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *levelCounter) WithGroup(string) slog.Handler      { return c }
func (c *levelCounter) errors() int                        { c.mu.Lock(); defer c.mu.Unlock(); return c.n[slog.LevelError] }

// A complete study is decided once: a restart does not apply a changed rule
// to it again (the technician chose not to share it by its AE title), only
// objects received after the decision reopen it; and a late object joining
// the existing link is not an error.
//
// It runs in a synctest bubble: the pauses that give a study its stable
// time, or an object a later arrival than the decision, cost no real time.
func TestAutoShareDecidedOnce(t *testing.T) {
	synctest.Test(t, testAutoShareDecidedOnce)
}

func testAutoShareDecidedOnce(t *testing.T) {
	dir := t.TempDir()
	lc := &levelCounter{n: map[slog.Level]int{}}
	log := slog.New(lc)
	st, sh := openStoreShare(t, dir, log)

	const studyUID = "1.2.826.0.1.3680043.10.4242.9"
	ingest := func(name string) {
		t.Helper()
		p := filepath.Join(st.SpoolDir(), name)
		testdicom.WriteFile(t, p, testdicom.Spec{PatientName: "Pat^Test", PatientID: "P9", StudyUID: studyUID,
			SeriesUID: studyUID + ".1", SOPUID: studyUID + ".1." + strings.TrimSuffix(name, ".dcm"), StudyDate: "20261101",
			SeriesNumber: "1", InstanceNumber: 1,
			Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: "pat@example.com"}}})
		if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
			t.Fatal(err)
		}
	}
	newPipeline := func() *Pipeline {
		p, err := New(Config{Store: st, Share: sh, Secret: make([]byte, 32), StableTime: time.Millisecond, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// complete runs the pipeline's completion step for what it watches.
	complete := func(p *Pipeline) {
		time.Sleep(5 * time.Millisecond)
		for _, ps := range p.tracker.due(time.Now(), time.Millisecond) {
			p.studyComplete(context.Background(), ps)
		}
	}
	links := func() int {
		l, err := sh.StudyLinks(studyUID)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	// arriving: whether the study is in the store's arriving set, what a
	// restart reads instead of every study.
	arriving := func() bool {
		a, err := st.Arriving()
		if err != nil {
			t.Fatal(err)
		}
		return len(a) == 1 && a[0].StudyUID == studyUID
	}

	if err := sh.UpdateSetting(settings.KeyAutoShare, "aet:PATIENT"); err != nil {
		t.Fatal(err)
	}
	ingest("a.dcm")
	p := newPipeline()
	p.tracker.arrived(studyUID, "assoc1", "SONOLINK", []string{"pat@example.com"}, time.Now())
	p.tracker.closed("assoc1", time.Now())
	complete(p)
	if links() != 0 {
		t.Fatal("a study sent to SONOLINK under aet:PATIENT was shared")
	}
	if d, ok := sh.AutoShareDecided(studyUID); !ok || d.Outcome != "rule" {
		t.Fatalf("decision %+v %v", d, ok)
	}
	if arriving() {
		t.Error("a decided study is still in the arriving set")
	}

	// Restart with the rule back to "all": the decided study stays unshared.
	if err := sh.UpdateSetting(settings.KeyAutoShare, "all"); err != nil {
		t.Fatal(err)
	}
	p = newPipeline()
	if n := p.watchUnshared(); n != 0 {
		t.Errorf("restart watches %d decided studies", n)
	}
	complete(p)
	if links() != 0 {
		t.Fatal("a restart shared a study decided before it")
	}

	// A new object after the decision reopens the study (here across a
	// restart): it is decided again under today's rule.
	time.Sleep(5 * time.Millisecond)
	ingest("b.dcm")
	if !arriving() {
		t.Fatal("a new object did not put its study back in the arriving set")
	}
	p = newPipeline()
	if n := p.watchUnshared(); n != 1 {
		t.Fatalf("restart after a new object watches %d studies, want 1", n)
	}
	complete(p)
	if links() != 1 {
		t.Fatalf("study with a new object: %d links, want 1", links())
	}
	if arriving() {
		t.Error("a shared study is still in the arriving set")
	}

	// A late object: the study completes again and joins the link.
	p.tracker.arrived(studyUID, "assoc2", "SONOLINK", []string{"pat@example.com"}, time.Now())
	p.tracker.closed("assoc2", time.Now())
	complete(p)
	if links() != 1 {
		t.Errorf("late object: %d links, want 1", links())
	}
	if d, _ := sh.AutoShareDecided(studyUID); d.Outcome != "joined" {
		t.Errorf("late object decision %q, want joined", d.Outcome)
	}
	if n := lc.errors(); n != 0 {
		t.Errorf("%d error log records", n)
	}
}

// A complete study whose only contact is unusable is decided "no usable
// contact": nothing is sent, and the study is in share.db's attention
// index, the staff's attention list, until a link is sent by hand.
func TestAutoShareNoContactNeedsAttention(t *testing.T) {
	synctest.Test(t, testAutoShareNoContactNeedsAttention)
}

func testAutoShareNoContactNeedsAttention(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, sh := openStoreShare(t, dir, log)
	const studyUID = "1.2.826.0.1.3680043.10.4242.10"
	p := filepath.Join(st.SpoolDir(), "a.dcm")
	testdicom.WriteFile(t, p, testdicom.Spec{PatientName: "Pat^Test", PatientID: "P10", StudyUID: studyUID,
		SeriesUID: studyUID + ".1", SOPUID: studyUID + ".1.1", StudyDate: "20261101", SeriesNumber: "1", InstanceNumber: 1,
		Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2154, VR: "SH", Value: "0701"}}})
	if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
		t.Fatal(err)
	}
	pl, err := New(Config{Store: st, Share: sh, Secret: make([]byte, 32), StableTime: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pl.tracker.arrived(studyUID, "assoc1", "SONOLINK", []string{"0701"}, time.Now())
	pl.tracker.closed("assoc1", time.Now())
	time.Sleep(5 * time.Millisecond)
	for _, ps := range pl.tracker.due(time.Now(), time.Millisecond) {
		pl.studyComplete(context.Background(), ps)
	}
	if d, ok := sh.AutoShareDecided(studyUID); !ok || d.Outcome != share.OutcomeNoContact {
		t.Fatalf("decision %+v %v, want %s", d, ok, share.OutcomeNoContact)
	}
	if a, err := sh.Attention(); err != nil || len(a.NoContact) != 1 || a.NoContact[0] != studyUID {
		t.Fatalf("attention index %+v %v, want the study without a usable contact", a, err)
	}
	if _, _, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: studyUID, Emails: []string{"pat@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if a, err := sh.Attention(); err != nil || len(a.NoContact) != 0 {
		t.Fatalf("attention index %+v %v after a link was sent by hand", a, err)
	}
}
