package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// scanStudies is the search as it was before the index: every study read
// and matched. It is the reference the indexed search must agree with
// (its filter is unchanged; the order is Query's, and Include, Offset and
// Limit are applied the same way).
func scanStudies(s *Store, q Query) ([]Study, error) {
	text := strings.TrimSpace(q.Text)
	fold := FoldName(text)
	lower := strings.ToLower(text)
	from, to := "", ""
	if !q.From.IsZero() {
		from = q.From.Format("20060102")
	}
	if !q.To.IsZero() {
		to = q.To.Format("20060102")
	}
	var out []Study
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bStudies).ForEach(func(k, v []byte) error {
			var st Study
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("%w: corrupt study entry: %w", ErrStorage, err)
			}
			if from != "" && (st.Date == "" || st.Date < from) {
				return nil
			}
			if to != "" && (st.Date == "" || st.Date > to) {
				return nil
			}
			if text != "" && !slices.Contains(q.Include, st.StudyUID) {
				ok := (fold != "" && strings.Contains(st.NameKey, fold)) ||
					strings.Contains(strings.ToLower(st.Patient.ID), lower) ||
					(st.Accession != "" && strings.Contains(strings.ToLower(st.Accession), lower)) ||
					strings.HasPrefix(st.StudyUID, text)
				if !ok {
					return nil
				}
			}
			out = append(out, st)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Study) int {
		if q.Sort == SortDate {
			if c := strings.Compare(sortKey(b), sortKey(a)); c != 0 {
				return c
			}
		}
		if c := b.LastReceived.Compare(a.LastReceived); c != 0 {
			return c
		}
		return strings.Compare(b.StudyUID, a.StudyUID)
	})
	out = out[min(q.Offset, len(out)):]
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

var (
	testFamilies = []string{"Muñoz", "MÜLLER", "García López", "O'Brien", "Ødegård", "Nguyễn", "Li", "Δημητρίου", "Smith", "de la Cruz", "Åberg", "Ng"}
	testGiven    = []string{"José", "Zoë", "ANNA MARIA", "Björn", "Chloé", "Wei", "Ío", "Σοφία", "Jean-Luc", "Al"}
)

// seedRandom indexes n random studies (1 to 3 objects each, arriving over
// a few days) through indexInstance, as Ingest does, without files; then
// it takes some objects out again (unindexInstance), emptying some studies.
func seedRandom(t testing.TB, s *Store, rng *rand.Rand, n int) {
	t.Helper()
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	call := rng.Uint32() // study UIDs differ between calls
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			name := testFamilies[rng.IntN(len(testFamilies))] + "^" + testGiven[rng.IntN(len(testGiven))]
			if rng.IntN(4) == 0 {
				name += "^" + testGiven[rng.IntN(len(testGiven))]
			}
			if rng.IntN(20) == 0 {
				name = ""
			}
			pat := Patient{Name: name, ID: fmt.Sprintf("P%05d", rng.IntN(n)), BirthDate: "19800101"}
			if rng.IntN(10) == 0 {
				pat.ID = fmt.Sprintf("mrn-%d-x", rng.IntN(999))
			}
			sf := studyFields{Time: fmt.Sprintf("%02d%02d%02d", rng.IntN(24), rng.IntN(60), rng.IntN(60))}
			if rng.IntN(8) != 0 {
				sf.Date = base.AddDate(0, 0, rng.IntN(60)).Format("20060102")
			}
			if rng.IntN(3) != 0 {
				sf.Accession = fmt.Sprintf("ACC%d", rng.IntN(100000))
			}
			study := fmt.Sprintf("1.2.%d.%d.%d", rng.IntN(50), call, i)
			rx := base.Add(time.Duration(rng.IntN(60*24*60)) * time.Minute)
			for j := range 1 + rng.IntN(3) {
				inst := &Instance{SOPInstanceUID: fmt.Sprintf("%s.%d", study, j), StudyUID: study, SeriesUID: study + ".1",
					Modality: "US", ReceivedAt: rx.Add(time.Duration(rng.IntN(3000)) * time.Second), File: fmt.Sprintf("f/%d.%d", i, j)}
				if err := indexInstance(tx, inst, pat, sf); err != nil {
					return err
				}
			}
			if rng.IntN(6) == 0 {
				if err := unindexInstance(tx, []byte(study+".0"), patientKey(pat)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// randomQuery picks a query like a technician's: part of a name (any
// case, with or without accents), of an ID or accession, a UID prefix,
// very short text or nonsense, with or without dates, either order, paged.
func randomQuery(rng *rand.Rand, sts []Study) Query {
	var q Query
	st := sts[rng.IntN(len(sts))]
	part := func(s string) string {
		r := []rune(s)
		if len(r) == 0 {
			return ""
		}
		i := rng.IntN(len(r))
		j := i + 1 + rng.IntN(len(r)-i)
		return string(r[i:j])
	}
	switch rng.IntN(10) {
	case 0, 1, 2:
		q.Text = part(st.Patient.Name)
	case 3:
		q.Text = strings.ToUpper(part(st.NameKey))
	case 4:
		q.Text = part(st.Patient.ID)
	case 5:
		q.Text = strings.ToLower(part(st.Accession))
	case 6:
		q.Text = st.StudyUID[:1+rng.IntN(len(st.StudyUID))]
	case 7:
		q.Text = []string{"a", "li", "zz", "xyzzy", "é", " ", "ng", "o'b", "^"}[rng.IntN(9)]
	case 8:
		q.Text = testFamilies[rng.IntN(len(testFamilies))] + " " + part(testGiven[rng.IntN(len(testGiven))])
	}
	if rng.IntN(3) == 0 {
		q.From = time.Date(2026, 3, 1+rng.IntN(60), 0, 0, 0, 0, time.UTC)
	}
	if rng.IntN(3) == 0 {
		q.To = time.Date(2026, 3, 1+rng.IntN(60), 0, 0, 0, 0, time.UTC)
	}
	if rng.IntN(5) == 0 {
		q.Include = []string{sts[rng.IntN(len(sts))].StudyUID, "no.such.study"}
	}
	q.Sort = Sort(rng.IntN(2))
	if rng.IntN(2) == 0 {
		q.Limit = 1 + rng.IntN(30)
		q.Offset = rng.IntN(3) * q.Limit
	}
	return q
}

func uidsOf(sts []Study) []string {
	out := make([]string, len(sts))
	for i, s := range sts {
		out[i] = s.StudyUID
	}
	return out
}

func compareSearches(t *testing.T, s *Store, rng *rand.Rand, queries int) {
	t.Helper()
	all, err := scanStudies(s, Query{})
	if err != nil {
		t.Fatal(err)
	}
	for range queries {
		q := randomQuery(rng, all)
		want, err := scanStudies(s, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Studies(q)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := uidsOf(got), uidsOf(want); !slices.Equal(g, w) {
			t.Fatalf("query %+v:\n got %d %v\nwant %d %v", q, len(g), g, len(w), w)
		}
	}
}

// TestSearchMatchesScan: on a random archive, the indexed search returns
// what the scan returns, in the same order, for many queries.
func TestSearchMatchesScan(t *testing.T) {
	s := openTest(t, t.TempDir())
	rng := rand.New(rand.NewPCG(1, 2))
	seedRandom(t, s, rng, 400)
	compareSearches(t, s, rng, queries(1000))
	// Queries that hit many terms walk the order bucket instead.
	defer func(n int) { maxCandidates = n }(maxCandidates)
	maxCandidates = 10
	compareSearches(t, s, rng, queries(500))
}

// TestSearchIndexBuiltAtOpen: an index.db from before the search index
// (no search buckets), or with the previous layout, gets the current one
// in the background after Open; searches answer like the scan while it is
// built and after, and the previous layout's bucket is dropped.
func TestSearchIndexBuiltAtOpen(t *testing.T) {
	for _, from := range []string{"none", "v1"} {
		t.Run(from, func(t *testing.T) {
			dir := t.TempDir()
			s := openTest(t, dir)
			rng := rand.New(rand.NewPCG(3, 4))
			seedRandom(t, s, rng, 200)
			if err := s.db.Update(func(tx *bolt.Tx) error {
				for _, b := range append(slices.Clone(searchBkts), bSearchMeta) {
					if err := tx.DeleteBucket(b); err != nil {
						return err
					}
				}
				if from == "v1" {
					old, err := tx.CreateBucket(oldSearchBkts[0])
					if err != nil {
						return err
					}
					return old.Put([]byte("munoz\x001.2.3"), nil)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, dir)
			compareSearches(t, s, rng, queries(100)) // during the build or after it
			deadline := time.Now().Add(30 * time.Second)
			for !s.searchReady.Load() {
				if time.Now().After(deadline) {
					t.Fatal("search index not built after 30 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			compareSearches(t, s, rng, queries(300))
			s.bg.Wait()
			if err := s.db.View(func(tx *bolt.Tx) error {
				if tx.Bucket(oldSearchBkts[0]) != nil {
					return fmt.Errorf("bucket %s of the previous layout still there", oldSearchBkts[0])
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSearchByScanMatchesScan: the fallback Studies uses while the index
// is being built answers like the reference scan.
func TestSearchByScanMatchesScan(t *testing.T) {
	s := openTest(t, t.TempDir())
	rng := rand.New(rand.NewPCG(5, 6))
	seedRandom(t, s, rng, 300)
	s.searchReady.Store(false)
	compareSearches(t, s, rng, queries(200))
}

// BenchmarkSearchVsScan compares the indexed search with the scan it
// replaced (first page of 50, a family name as technicians type it), and
// reports how long Open takes to build the search index of an index.db
// written without it. Run: go test ./store/ -run '^$' -bench SearchVsScan -benchtime 1x
func BenchmarkSearchVsScan(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("studies=%d", n), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rng := rand.New(rand.NewPCG(9, 9))
			for done := 0; done < n; done += 5000 {
				seedRandom(b, s, rng, min(5000, n-done))
			}
			if err := s.db.Update(func(tx *bolt.Tx) error {
				for _, bk := range searchBkts {
					if err := tx.DeleteBucket(bk); err != nil {
						return err
					}
				}
				return tx.DeleteBucket(bSearchMeta)
			}); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if _, err := s.openSearchIndex(); err != nil {
				b.Fatal(err)
			}
			if err := s.buildSearchIndex(context.Background(), 0); err != nil {
				b.Fatal(err)
			}
			b.Logf("search index of %d studies built in %v", n, time.Since(t0).Round(time.Millisecond))
			b.ResetTimer()
			for range b.N {
				for _, impl := range []struct {
					name string
					fn   func(Query) ([]Study, error)
				}{{"index", s.Studies}, {"scan", func(q Query) ([]Study, error) { return scanStudies(s, q) }}} {
					var took []time.Duration
					for i := range 20 {
						q := Query{Text: FoldName(testFamilies[i%len(testFamilies)]), Limit: 50}
						t0 := time.Now()
						if _, err := impl.fn(q); err != nil {
							b.Fatal(err)
						}
						took = append(took, time.Since(t0))
					}
					slices.Sort(took)
					b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, impl.name+"-p50-ms")
					b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, impl.name+"-max-ms")
				}
			}
		})
	}
}

// queries is n, or a sixth of it under the race detector (raceEnabled).
func queries(n int) int {
	if raceEnabled {
		return max(n/6, 20)
	}
	return n
}
