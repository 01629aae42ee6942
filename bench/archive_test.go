package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/anonymize"
	"sonolink/pipeline"
	"sonolink/share"
	"sonolink/store"
)

// The archives of the start-up and search benchmarks: n objects, 10 per
// study, loaded through the store's own API without DICOM (no files; the
// background scrub, which would mark them missing, starts a minute after
// serve does, after the measurements), as the pipeline leaves them
// (de-identified and rendered under the current profiles), received over
// the last three years, with one study in a hundred shared by a link sent
// to an e-mail address. Each size is built once per `go test` run and
// shared by the benchmarks (BenchmarkStartup, BenchmarkSearch).

// archiveSizes are the sizes in objects: SONOLINK_BENCH_ARCHIVE
// (comma-separated), else 1,000 and 100,000, and 1,000,000 when
// SONOLINK_BENCH_1M=1 (building it takes minutes).
func archiveSizes(b *testing.B) []int {
	if v := os.Getenv("SONOLINK_BENCH_ARCHIVE"); v != "" {
		var sizes []int
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 10 {
				b.Fatalf("SONOLINK_BENCH_ARCHIVE=%q: want sizes such as 1000,100000", v)
			}
			sizes = append(sizes, n)
		}
		return sizes
	}
	sizes := []int{1_000, 100_000}
	if os.Getenv("SONOLINK_BENCH_1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	return sizes
}

const objectsPerStudy = 10

// benchArchive is a built archive and what the search queries are drawn
// from.
type benchArchive struct {
	dir                     string
	objects, studies        int
	families, ids, contacts []string
	indexBytes              int64 // index.db right after the build
}

var archives struct {
	sync.Mutex
	root string
	byN  map[int]*benchArchive
}

// TestMain removes the archives once every benchmark has used them.
func TestMain(m *testing.M) {
	code := m.Run()
	if archives.root != "" {
		os.RemoveAll(archives.root)
	}
	os.Exit(code)
}

// archiveOf returns the archive of n objects, building it the first time.
func archiveOf(b *testing.B, n int) *benchArchive {
	archives.Lock()
	defer archives.Unlock()
	if a := archives.byN[n]; a != nil {
		return a
	}
	if archives.root == "" {
		root, err := os.MkdirTemp("", "sonolink-bench-archives")
		if err != nil {
			b.Fatal(err)
		}
		archives.root, archives.byN = root, map[int]*benchArchive{}
	}
	dir := filepath.Join(archives.root, strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	a := buildArchive(b, dir, n)
	if fi, err := os.Stat(filepath.Join(dir, "index.db")); err == nil {
		a.indexBytes = fi.Size()
	}
	b.Logf("archive of %d objects (%d studies, %d links) built in %v", n, a.studies, len(a.contacts), time.Since(t0).Round(time.Second))
	archives.byN[n] = a
	return a
}

var benchSyllables = []string{"mu", "ñoz", "gar", "cí", "a", "ber", "gé", "lo", "pez", "san", "chez", "mül", "ler", "nils", "son", "ø", "de", "gård", "ro", "dri", "guez", "kow", "ski", "li", "wei", "tan", "ha", "sen"}
var benchGiven = []string{"José", "Zoë", "Anna María", "Björn", "Chloé", "Wei", "Sofía", "Jean-Luc", "Fatima", "Oskar", "Ingrid", "Lucía"}

func buildArchive(b *testing.B, dir string, n int) *benchArchive {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dir, store.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	secret, err := anonymize.LoadOrCreateSecret(dir)
	if err != nil {
		b.Fatal(err)
	}
	anon, err := anonymize.New(anonymize.Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	a := &benchArchive{dir: dir, objects: n, studies: (n + objectsPerStudy - 1) / objectsPerStudy}
	end := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Minute)
	span := 3 * 365 * 24 * time.Hour
	const batch = 10_000
	objs := make([]store.BulkObject, 0, batch)
	for study := range a.studies {
		var fam strings.Builder
		for range 2 + rng.IntN(2) {
			fam.WriteString(benchSyllables[rng.IntN(len(benchSyllables))])
		}
		family := strings.ToUpper(fam.String()[:1]) + fam.String()[1:]
		pat := store.Patient{Name: family + "^" + benchGiven[rng.IntN(len(benchGiven))], ID: fmt.Sprintf("P%07d", rng.IntN(10*a.studies)), BirthDate: "19900101"}
		// Studies arrive in order over the span, a few minutes apart.
		rx := end.Add(-span + time.Duration(int64(span)/int64(a.studies)*int64(study)))
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.%d", study)
		if study%97 == 0 {
			a.families = append(a.families, family)
			a.ids = append(a.ids, pat.ID)
		}
		for i := 0; i < objectsPerStudy && study*objectsPerStudy+i < n; i++ {
			at := rx.Add(time.Duration(i) * time.Second)
			objs = append(objs, store.BulkObject{
				Instance: store.Instance{SOPInstanceUID: fmt.Sprintf("%s.1.%d", uid, i+1), StudyUID: uid, SeriesUID: uid + ".1",
					SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", Modality: "US", SeriesNumber: 1, InstanceNumber: i + 1,
					TransferSyntax: "1.2.840.10008.1.2.1", NumFrames: 1, Rows: 480, Columns: 640, Size: 300 << 10, ReceivedAt: at,
					Source: store.Source{CallingAET: "US1", CalledAET: "SONOLINK"}, Hash: fmt.Sprintf("%064x", study*objectsPerStudy+i),
					Deid:   &store.Deid{Path: store.DeidName, Clean: true, Profile: anon.Profile(), At: at},
					Render: &store.Render{Frames: 1, Width: 640, Height: 480, Thumbnail: "thumb.jpg", FramePattern: "render/f%04d.jpg", Profile: pipeline.RenderProfile()}},
				Patient: pat, Date: rx.Format("20060102"), Time: rx.Format("150405"), Description: "Obstetric",
				Accession: fmt.Sprintf("A%08d", study),
			})
			if len(objs) == batch {
				if err := st.LoadUnsynced(objs); err != nil {
					b.Fatal(err)
				}
				objs = objs[:0]
			}
		}
	}
	if err := st.LoadUnsynced(objs); err != nil {
		b.Fatal(err)
	}
	// Every object is processed under the current profiles: a start has
	// nothing to redo.
	if err := st.SetWorkProfile(pipeline.WorkProfile(anon.Profile())); err != nil {
		b.Fatal(err)
	}
	sh, err := share.Open(dir, share.Options{NoWorker: true, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer sh.Close()
	for i := range max(a.studies/100, 10) {
		study := fmt.Sprintf("1.2.826.0.1.3680043.10.%d", rng.IntN(a.studies))
		email := fmt.Sprintf("patient%d@example.com", i)
		if _, _, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: study, Emails: []string{email}}); err != nil {
			b.Fatal(err)
		}
		a.contacts = append(a.contacts, email)
	}
	return a
}
