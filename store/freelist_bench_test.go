package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// BenchmarkFreelist compares how the index keeps its free list, on an
// index of n objects (SONOLINK_BENCH_FREELIST, comma-separated; default
// 10000; 10 per study, loaded with LoadUnsynced, then closed cleanly):
//
//	nosync-map   free list written only at Close (hashmap in memory)
//	sync-map     written at every commit, hashmap in memory
//	sync-array   written at every commit, sorted array in memory
//
// For each, on a copy of the same index: the latency (p50, p99) of 200
// Ingests of a small object, one after the other (files and index
// fsynced, as a C-STORE), then the time bolt.Open takes on an image of
// index.db copied while the store was open (what a power cut leaves),
// with that image evicted from the page cache first (cold start).
// Run: SONOLINK_BENCH_FREELIST=100000,1000000 go test ./store -run '^$' -bench Freelist -benchtime 1x
//
// Measured 2026-12 on 2 shared cores (load average 10-14), one run each:
//
//	objects  variant     ingest p50/p99   crash Open, cold   free pages
//	100,000  nosync-map   7.3 / 145 ms       29,506 ms          3,195
//	100,000  sync-map     6.1 /  54 ms            8.7 ms        3,188
//	100,000  sync-array   8.3 /  87 ms            3.6 ms        3,188
//	1e6      nosync-map  16.2 / 174 ms      307,268 ms         10,550
//	1e6      sync-map    12.6 / 136 ms           16.9 ms       10,529
//	1e6      sync-array   6.1 /  56 ms            7.0 ms       10,529
//
// The ingest figures move with the machine's load more than with the
// variant; the crash start-up falls from minutes to milliseconds.
func BenchmarkFreelist(b *testing.B) {
	sizes := []int{10_000}
	if v := os.Getenv("SONOLINK_BENCH_FREELIST"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 10 {
				b.Fatalf("SONOLINK_BENCH_FREELIST=%q: want sizes such as 100000,1000000", v)
			}
			sizes = append(sizes, n)
		}
	}
	variants := []struct {
		name string
		sync bool
		typ  bolt.FreelistType
	}{{"nosync-map", false, bolt.FreelistMapType}, {"sync-map", true, bolt.FreelistMapType}, {"sync-array", true, bolt.FreelistArrayType}}
	defer func(s bool, t bolt.FreelistType) { freelistSync, freelistType = s, t }(freelistSync, freelistType)
	for _, n := range sizes {
		base := b.TempDir()
		t0 := time.Now()
		buildFreelistIndex(b, base, n)
		fi, err := os.Stat(filepath.Join(base, indexFile))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("index of %d objects: %d MB, built in %v", n, fi.Size()>>20, time.Since(t0).Round(time.Second))
		for _, v := range variants {
			b.Run(fmt.Sprintf("objects=%d/%s", n, v.name), func(b *testing.B) {
				freelistSync, freelistType = v.sync, v.typ
				dir := b.TempDir()
				copyFile(b, filepath.Join(base, indexFile), filepath.Join(dir, indexFile))
				s, err := Open(dir, Options{Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				var lat []time.Duration
				for i := range 200 {
					o := obj{SOP: fmt.Sprintf("3.%d", i), Study: fmt.Sprintf("3.%d", i/10), Series: "3.0", Name: "Free^List", Pixels: 64, Fill: byte(i)}
					p := spool(b, s, o.bytes())
					t := time.Now()
					if _, err := s.Ingest(p, Source{}); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t))
				}
				free := s.db.Stats().FreePageN + s.db.Stats().PendingPageN
				crash := filepath.Join(b.TempDir(), indexFile)
				copyFile(b, filepath.Join(dir, indexFile), crash) // the power cut
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				evict(b, crash)
				t0 := time.Now()
				db, err := bolt.Open(crash, 0o600, &bolt.Options{NoFreelistSync: !v.sync, FreelistType: v.typ})
				if err != nil {
					b.Fatal(err)
				}
				cold := time.Since(t0)
				db.Close()
				slices.Sort(lat)
				b.ReportMetric(ms(lat[len(lat)/2]), "ingest-p50-ms")
				b.ReportMetric(ms(lat[(len(lat)*99+99)/100-1]), "ingest-p99-ms")
				b.ReportMetric(ms(cold), "crash-open-cold-ms")
				b.ReportMetric(float64(free), "free-pages")
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// buildFreelistIndex loads n objects, 10 per study, in batches of 10,000
// (each batch a transaction, as the benchmarks' archives are built) and
// closes the store.
func buildFreelistIndex(b *testing.B, dir string, n int) {
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now().Add(-72 * time.Hour).UTC()
	var objs []BulkObject
	for i := range n {
		study := fmt.Sprintf("1.2.826.0.1.3680043.10.%d", i/10)
		objs = append(objs, BulkObject{
			Instance: Instance{SOPInstanceUID: fmt.Sprintf("%s.1.%d", study, i%10), StudyUID: study, SeriesUID: study + ".1",
				SOPClassUID: "1.2.840.10008.5.1.4.1.1.6.1", Modality: "US", InstanceNumber: i%10 + 1, NumFrames: 1,
				Rows: 480, Columns: 640, Size: 300 << 10, ReceivedAt: at.Add(time.Duration(i) * time.Second),
				Hash: fmt.Sprintf("%064x", i), Render: &Render{Frames: 1}},
			Patient: Patient{Name: fmt.Sprintf("Name%d^Given", i/10), ID: fmt.Sprintf("P%07d", i/10)}, Date: "20250101",
			Accession: fmt.Sprintf("A%08d", i/10),
		})
		if len(objs) == 10_000 {
			if err := s.LoadUnsynced(objs); err != nil {
				b.Fatal(err)
			}
			objs = objs[:0]
		}
	}
	if err := s.LoadUnsynced(objs); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

func copyFile(b *testing.B, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// evict drops p's pages from the page cache (flushed first), so the next
// read comes from the disk as after a power cut.
func evict(b *testing.B, p string) {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Logf("fadvise: %v (open time is with a warm cache)", err)
	}
}
