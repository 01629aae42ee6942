package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"sonolink/dimse"
	"sonolink/internal/testdicom"
)

// BenchmarkStartup reports, for each archive (archive_test.go: 1,000 and
// 100,000 objects, and 1,000,000 with SONOLINK_BENCH_1M=1; 10 per study),
// the time from starting `sonolink serve` to its first accepted C-ECHO
// (median of 3 starts), the C-STORE latency of a small object (p50, p99;
// one association each, 25 per start) and the size of index.db per object.
// Start-up must not grow with the archive: target under 2 s at 1,000,000
// objects and the same as at 1,000 within noise.
func BenchmarkStartup(b *testing.B) {
	bin := buildSonolink(b)
	for _, n := range archiveSizes(b) {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			a := archiveOf(b, n)
			b.ReportMetric(float64(a.indexBytes)/float64(n), "index-B/object")
			var startups, stores []time.Duration
			for range b.N {
				for range 3 {
					up, lat := runServe(b, bin, a.dir, 25)
					startups = append(startups, up)
					stores = append(stores, lat...)
				}
			}
			b.ReportMetric(pct(startups, 50).Seconds()*1000, "startup-ms")
			b.ReportMetric(pct(stores, 50).Seconds()*1000, "store-p50-ms")
			b.ReportMetric(pct(stores, 99).Seconds()*1000, "store-p99-ms")
		})
	}
}

// runServe starts serve on dir, times it to the first accepted C-ECHO,
// sends stores small objects (one association each) and stops it.
func runServe(b *testing.B, bin, dir string, stores int) (time.Duration, []time.Duration) {
	port := freePort(b)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "--data-dir", dir, "--dicom-addr", addr, "--http-addr", "127.0.0.1:0")
	logPath := filepath.Join(b.TempDir(), "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if os.Getenv("SONOLINK_BENCH_LOG") != "" {
			out, _ := os.ReadFile(logPath)
			b.Logf("serve log:\n%s", out)
		}
	}()
	var up time.Duration
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := dimse.Echo(ctx, addr, "BENCH", "SONOLINK")
		cancel()
		if err == nil {
			up = time.Since(t0)
			break
		}
		if time.Since(t0) > 5*time.Minute {
			b.Fatalf("serve did not answer C-ECHO: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	src := b.TempDir()
	var lat []time.Duration
	for i := range stores {
		p := filepath.Join(src, fmt.Sprintf("s%d.dcm", i))
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.2.%d.%d", time.Now().UnixNano(), i)
		testdicom.WriteFile(b, p, testdicom.Spec{SOPUID: uid, StudyUID: uid + ".1", SeriesUID: uid + ".2", PatientName: "Store^Bench", Rows: 2, Columns: 4})
		t := time.Now()
		st, err := dimse.StoreFile(context.Background(), addr, "BENCH", "SONOLINK", p)
		if err != nil || st != dimse.StatusSuccess {
			b.Fatalf("C-STORE: %v %v", st, err)
		}
		lat = append(lat, time.Since(t))
	}
	return up, lat
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}
