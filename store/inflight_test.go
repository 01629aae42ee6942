package store

import (
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func unprocessed(t *testing.T, s *Store) []string {
	t.Helper()
	u, err := s.Unprocessed()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(u)
	return u
}

func arriving(t *testing.T, s *Store) []string {
	t.Helper()
	a, err := s.Arriving()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range a {
		out = append(out, e.StudyUID)
	}
	slices.Sort(out)
	return out
}

// TestWorkSet: a received object is in the work set until its render is
// recorded, survives a restart (Close and Open, as after a crash: the set
// is written with the entry), comes back with RemoveDerived or
// MarkUnprocessed, and goes with the object.
func TestWorkSet(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	for i, sop := range []string{"1.5.1", "1.5.2"} {
		o := obj{SOP: sop, Study: "1.5", Series: "1.5.9", Name: "Work^Set", Pixels: 8, Fill: byte(i)}
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := unprocessed(t, s); !slices.Equal(got, []string{"1.5.1", "1.5.2"}) {
		t.Fatalf("after ingest: work set %v", got)
	}
	s.Close()
	s = openTest(t, dir)
	if got := unprocessed(t, s); !slices.Equal(got, []string{"1.5.1", "1.5.2"}) {
		t.Fatalf("after restart: work set %v", got)
	}
	if err := s.SetDeid("1.5.1", Deid{Profile: "p"}); err != nil {
		t.Fatal(err)
	}
	if got := unprocessed(t, s); len(got) != 2 {
		t.Fatalf("a de-identified object without render left the work set: %v", got)
	}
	if err := s.SetRender("1.5.1", Render{Profile: "r"}); err != nil {
		t.Fatal(err)
	}
	if got := unprocessed(t, s); !slices.Equal(got, []string{"1.5.2"}) {
		t.Fatalf("after SetRender: work set %v", got)
	}
	if err := s.RemoveDerived("1.5.1"); err != nil {
		t.Fatal(err)
	}
	if got := unprocessed(t, s); len(got) != 2 {
		t.Fatalf("after RemoveDerived: work set %v", got)
	}
	if err := s.SetRender("1.5.1", Render{Profile: "r"}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkUnprocessed([]string{"1.5.1", "no.such.object"}); err != nil {
		t.Fatal(err)
	}
	if got := unprocessed(t, s); !slices.Equal(got, []string{"1.5.1", "1.5.2"}) {
		t.Fatalf("after MarkUnprocessed: work set %v", got)
	}
	if err := s.Processed("1.5.1"); err != nil {
		t.Fatal(err)
	}
	if got := unprocessed(t, s); !slices.Equal(got, []string{"1.5.2"}) {
		t.Fatalf("after Processed: work set %v", got)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return unindexInstance(tx, []byte("1.5.2"), patientKey(Patient{Name: "Work^Set"}))
	}); err != nil {
		t.Fatal(err)
	}
	if got := unprocessed(t, s); len(got) != 0 {
		t.Fatalf("after the object went: work set %v", got)
	}
	if p, err := s.WorkProfile(); err != nil || p != "" {
		t.Fatalf("work profile %q %v before any was set", p, err)
	}
	if err := s.SetWorkProfile("p|r"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir)
	if p, err := s.WorkProfile(); err != nil || p != "p|r" {
		t.Fatalf("work profile %q %v after restart", p, err)
	}
}

// TestArrivingSet: a study is in the arriving set from its first object
// until Settle, whatever restarts happen between; a decision older than
// its last object does not settle it; a new object puts it back; it goes
// with its last object.
func TestArrivingSet(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	ingest := func(sop string) {
		o := obj{SOP: sop, Study: "1.6", Series: "1.6.9", Name: "Arriving^Set", Pixels: 8}
		if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
			t.Fatal(err)
		}
	}
	ingest("1.6.1")
	if got := arriving(t, s); !slices.Equal(got, []string{"1.6"}) {
		t.Fatalf("after ingest: arriving %v", got)
	}
	s.Close()
	s = openTest(t, dir)
	a, err := s.Arriving()
	if err != nil || len(a) != 1 {
		t.Fatalf("after restart: arriving %v %v", a, err)
	}
	st, err := s.Study("1.6")
	if err != nil {
		t.Fatal(err)
	}
	if !a[0].LastReceived.Equal(st.LastReceived) {
		t.Errorf("arriving entry says last received %v, study %v", a[0].LastReceived, st.LastReceived)
	}
	if err := s.Settle("1.6", st.LastReceived.Add(-time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got := arriving(t, s); len(got) != 1 {
		t.Fatalf("a decision older than the last object settled the study: %v", got)
	}
	if err := s.Settle("1.6", st.LastReceived); err != nil {
		t.Fatal(err)
	}
	if got := arriving(t, s); len(got) != 0 {
		t.Fatalf("after Settle: arriving %v", got)
	}
	time.Sleep(2 * time.Millisecond)
	ingest("1.6.2")
	if got := arriving(t, s); !slices.Equal(got, []string{"1.6"}) {
		t.Fatalf("a new object did not reopen the study: arriving %v", got)
	}
	for _, sop := range []string{"1.6.1", "1.6.2"} {
		if err := s.db.Update(func(tx *bolt.Tx) error {
			return unindexInstance(tx, []byte(sop), patientKey(Patient{Name: "Arriving^Set"}))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := arriving(t, s); len(got) != 0 {
		t.Fatalf("after the study went: arriving %v", got)
	}
}

// TestInflightSetsOfAnOlderIndex: an index.db from before the sets gets
// them at Open: arriving holds the studies received in the last day (from
// the search index, or from the studies while it is not built), work is
// empty and no work profile is recorded (the pipeline then fills it).
func TestInflightSetsOfAnOlderIndex(t *testing.T) {
	for _, searchBuilt := range []bool{true, false} {
		dir := t.TempDir()
		s := openTest(t, dir)
		old := time.Now().Add(-72 * time.Hour).UTC()
		if err := s.LoadUnsynced([]BulkObject{
			{Instance: Instance{SOPInstanceUID: "1.7.1.1", StudyUID: "1.7.1", SeriesUID: "1.7.1.9"}, Patient: Patient{Name: "New^Study"}},
			{Instance: Instance{SOPInstanceUID: "1.7.2.1", StudyUID: "1.7.2", SeriesUID: "1.7.2.9", ReceivedAt: old}, Patient: Patient{Name: "Old^Study"}},
		}); err != nil {
			t.Fatal(err)
		}
		if got := arriving(t, s); !slices.Equal(got, []string{"1.7.1"}) {
			t.Fatalf("LoadUnsynced: arriving %v, want the recent study only", got)
		}
		drop := slices.Clone(inflightBuckets)
		if !searchBuilt {
			drop = append(drop, bSearchMeta)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error {
			for _, b := range drop {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = openTest(t, dir)
		if got := arriving(t, s); !slices.Equal(got, []string{"1.7.1"}) {
			t.Errorf("search index built %v: arriving %v, want the recent study only", searchBuilt, got)
		}
		if got := unprocessed(t, s); len(got) != 0 {
			t.Errorf("work set %v", got)
		}
		if p, _ := s.WorkProfile(); p != "" {
			t.Errorf("work profile %q", p)
		}
	}
}
