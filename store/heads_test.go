package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StudyHeads answers what Instances(uid)[:n] answers, on a generated
// archive whose objects share series and instance numbers and arrival
// times in every combination, and on a study indexed before the order was
// kept (empty study_inst values), which it reads the old way.
func TestStudyHeadsMatchesInstances(t *testing.T) {
	s := openTest(t, t.TempDir())
	rng := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var objs []BulkObject
	studies := 40
	for st := range studies {
		uid := fmt.Sprintf("1.2.3.%d", st)
		for i := range 1 + rng.IntN(14) {
			objs = append(objs, BulkObject{
				Instance: Instance{SOPInstanceUID: fmt.Sprintf("%s.%d.%d", uid, rng.IntN(1000), i), StudyUID: uid, SeriesUID: uid + ".1",
					SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", SeriesNumber: rng.IntN(3) - 1, InstanceNumber: rng.IntN(4) - 1,
					ReceivedAt: at.Add(time.Duration(rng.IntN(3)) * time.Second), Hash: fmt.Sprintf("%064x", st*100+i)},
				Patient: Patient{Name: "Heads^Test", ID: "H1"},
			})
		}
	}
	if err := s.LoadUnsynced(objs); err != nil {
		t.Fatal(err)
	}
	// Study 0 as an index from before StudyHeads left it.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bStudyInst)
		var ks [][]byte
		c := b.Cursor()
		p := key("1.2.3.0", "")
		for k, _ := c.Seek(p); k != nil && string(k[:len(p)]) == string(p); k, _ = c.Next() {
			ks = append(ks, append([]byte(nil), k...))
		}
		for _, k := range ks {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for st := range studies {
		uid := fmt.Sprintf("1.2.3.%d", st)
		all, err := s.Instances(uid)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 3, len(all), len(all) + 2} {
			heads, err := s.StudyHeads(uid, n)
			if err != nil {
				t.Fatal(err)
			}
			want := all[:min(n, len(all))]
			if len(heads) != len(want) {
				t.Fatalf("study %s, n=%d: %d heads, want %d", uid, n, len(heads), len(want))
			}
			for i := range want {
				if heads[i].SOPInstanceUID != want[i].SOPInstanceUID || heads[i].Position != want[i].Position {
					t.Fatalf("study %s, n=%d, #%d: %s at %d, want %s at %d", uid, n, i, heads[i].SOPInstanceUID, heads[i].Position, want[i].SOPInstanceUID, want[i].Position)
				}
			}
		}
	}
	if _, err := s.StudyHeads("9.9", 3); err == nil {
		t.Fatal("StudyHeads of an unknown study: no error")
	}
}
