package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/share"
	"sonolink/store"
)

// BenchmarkSearch measures the technician's search (`sonolink studies
// QUERY`, through admin.Service.ListStudies in this process, first page of
// 50 as the CLI asks) on archives of 1,000 and 100,000 studies built
// through store.Seed (one object per study, no files) with one study in a
// hundred shared by link. Reported: p50 and p99 (nearest rank) over 200
// queries of each kind: a part of a name (a family name, as technicians
// type it: lower case, no accents), a patient ID, and a contact a link was
// sent to. Run: go test ./bench/ -run '^$' -bench Search -benchtime 1x
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("studies=%d", n), func(b *testing.B) {
			svc, arc := searchArchive(b, n)
			b.ResetTimer()
			for range b.N {
				for _, kind := range []string{"name", "id", "contact"} {
					rng := rand.New(rand.NewPCG(7, uint64(len(kind))))
					var took []time.Duration
					for range 200 {
						q := arc.query(rng, kind)
						t0 := time.Now()
						res, err := svc.ListStudies(context.Background(), admin.StudyQuery{Text: q, Limit: 50})
						took = append(took, time.Since(t0))
						if err != nil || len(res) == 0 {
							b.Fatalf("%s query %q: %d studies, %v", kind, q, len(res), err)
						}
					}
					slices.Sort(took)
					b.ReportMetric(ms(took[len(took)/2]), kind+"-p50-ms")
					b.ReportMetric(ms(took[(len(took)*99+99)/100-1]), kind+"-p99-ms")
				}
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// searchArc is what the queries are drawn from.
type searchArc struct {
	families, ids, contacts []string
}

func (a *searchArc) query(rng *rand.Rand, kind string) string {
	switch kind {
	case "name":
		return store.FoldName(a.families[rng.IntN(len(a.families))])
	case "id":
		return a.ids[rng.IntN(len(a.ids))]
	}
	return a.contacts[rng.IntN(len(a.contacts))]
}

var searchSyllables = []string{"mu", "ñoz", "gar", "cí", "a", "ber", "gé", "lo", "pez", "san", "chez", "mül", "ler", "nils", "son", "ø", "de", "gård", "ro", "dri", "guez", "kow", "ski", "li", "wei", "tan", "ha", "sen"}
var searchGiven = []string{"José", "Zoë", "Anna María", "Björn", "Chloé", "Wei", "Sofía", "Jean-Luc", "Fatima", "Oskar", "Ingrid", "Lucía"}

// searchArchive builds a data directory of n studies and returns the
// admin service over it and what the queries are drawn from.
func searchArchive(b *testing.B, n int) (*admin.Service, *searchArc) {
	b.Helper()
	dir := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, store.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	sh, err := share.Open(dir, share.Options{NoWorker: true, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sh.Close() })

	rng := rand.New(rand.NewPCG(1, uint64(n)))
	arc := &searchArc{}
	t0 := time.Now()
	base := time.Date(2020, 1, 1, 8, 0, 0, 0, time.UTC)
	var batch []store.SeedObject
	for i := range n {
		var fam strings.Builder
		for range 2 + rng.IntN(2) {
			fam.WriteString(searchSyllables[rng.IntN(len(searchSyllables))])
		}
		family := strings.ToUpper(fam.String()[:1]) + fam.String()[1:]
		id := fmt.Sprintf("P%07d", rng.IntN(10*n))
		rx := base.Add(time.Duration(i) * 30 * time.Minute)
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.%d", i)
		batch = append(batch, store.SeedObject{
			Instance: store.Instance{SOPInstanceUID: uid + ".1.1", StudyUID: uid, SeriesUID: uid + ".1",
				SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", Modality: "US", NumFrames: 1, ReceivedAt: rx},
			Patient: store.Patient{Name: family + "^" + searchGiven[rng.IntN(len(searchGiven))], ID: id},
			Date:    rx.Format("20060102"), Time: rx.Format("150405"), Description: "Obstetric",
			Accession: fmt.Sprintf("A%08d", i),
		})
		if i%97 == 0 {
			arc.families = append(arc.families, family)
			arc.ids = append(arc.ids, id)
		}
		if len(batch) == 5000 || i == n-1 {
			if err := st.Seed(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	seeded := time.Since(t0)
	for i := 0; i < max(n/100, 50); i++ {
		study := fmt.Sprintf("1.2.826.0.1.3680043.10.%d", rng.IntN(n))
		email := fmt.Sprintf("patient%d@example.com", i)
		if _, _, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: study, Emails: []string{email}}); err != nil {
			b.Fatal(err)
		}
		arc.contacts = append(arc.contacts, email)
	}
	b.Logf("%d studies seeded in %v, %d links in %v", n, seeded.Round(time.Millisecond), len(arc.contacts), (time.Since(t0) - seeded).Round(time.Millisecond))
	return admin.New(st, sh, nil, quiet), arc
}
