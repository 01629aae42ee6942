package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"sonolink/retention"
	"sonolink/share"
	"sonolink/store"
)

// BenchmarkPurge measures retention's purge throughput (studies/s and
// objects/s) on an archive of SONOLINK_BENCH_PURGE objects (default
// 10000, 10 per study, built like BenchmarkStartup's), every study past
// retention.unshared. Beside it, in the same run, the floor any purge
// pays: `rm -r` of a copy of the same objects/ directory, without index,
// share.db, audit or fsync.
func BenchmarkPurge(b *testing.B) {
	n := 10000
	if v := os.Getenv("SONOLINK_BENCH_PURGE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("SONOLINK_BENCH_PURGE=%q: want a number of objects such as 10000", v)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range b.N {
		dir := b.TempDir()
		t0 := time.Now()
		buildArchive(b, dir, n)
		b.Logf("archive of %d objects built in %s", n, time.Since(t0).Round(time.Second))
		peer := b.TempDir()
		if out, err := exec.Command("cp", "-a", filepath.Join(dir, "objects"), peer).CombinedOutput(); err != nil {
			b.Fatalf("copying objects/: %v\n%s", err, out)
		}

		// Both start from a disk with nothing left to write back.
		if out, err := exec.Command("sync").CombinedOutput(); err != nil {
			b.Fatalf("sync: %v\n%s", err, out)
		}
		s, err := store.Open(dir, store.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		sh, err := share.Open(dir, share.Options{Logger: quiet, NoWorker: true})
		if err != nil {
			b.Fatal(err)
		}
		r := retention.New(retention.Config{Store: s, Share: sh, Logger: quiet,
			Now: func() time.Time { return time.Now().Add(365 * 24 * time.Hour) }})
		t1 := time.Now()
		rep, err := r.Purge(context.Background(), false, "bench")
		took := time.Since(t1)
		sh.Close()
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Purged != n/10 || rep.Objects != n {
			b.Fatalf("purged %d studies, %d objects; want %d, %d", rep.Purged, rep.Objects, n/10, n)
		}
		t2 := time.Now()
		if out, err := exec.Command("rm", "-r", filepath.Join(peer, "objects")).CombinedOutput(); err != nil {
			b.Fatalf("rm -r: %v\n%s", err, out)
		}
		rm := time.Since(t2)
		b.ReportMetric(float64(rep.Purged)/took.Seconds(), "studies/s")
		b.ReportMetric(float64(rep.Objects)/took.Seconds(), "objects/s")
		b.ReportMetric(float64(n)/rm.Seconds(), "rm-objects/s")
		b.ReportMetric(took.Seconds()/rm.Seconds(), "x-rm")
		b.Logf("%s", fmt.Sprintf("purge of %d studies (%d objects): %s; rm -r of the same files: %s", rep.Purged, rep.Objects, took.Round(time.Millisecond), rm.Round(time.Millisecond)))
	}
}
