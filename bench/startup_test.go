package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"sonolink/anonymize"
	"sonolink/dimse"
	"sonolink/internal/testdicom"
	"sonolink/store"
)

// BenchmarkStartup builds archives of SONOLINK_BENCH_ARCHIVE objects
// (comma-separated sizes, default 1000,100000; 10 objects per study)
// through the store's own API, without DICOM, and reports for each: the
// time from starting `sonolink serve` to its first accepted C-ECHO, the
// C-STORE latency of a small object (p50, p99; one association each) and
// the index size per object. Start-up must not grow with the archive.
func BenchmarkStartup(b *testing.B) {
	sizes := []int{1000, 100000}
	if v := os.Getenv("SONOLINK_BENCH_ARCHIVE"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 10 {
				b.Fatalf("SONOLINK_BENCH_ARCHIVE=%q: want sizes such as 1000,100000", v)
			}
			sizes = append(sizes, n)
		}
	}
	bin := buildSonolink(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			t0 := time.Now()
			buildArchive(b, dir, n)
			b.Logf("archive of %d objects built in %s", n, time.Since(t0).Round(time.Second))
			if fi, err := os.Stat(filepath.Join(dir, "index.db")); err == nil {
				b.ReportMetric(float64(fi.Size())/float64(n), "index-B/object")
			}
			var startups, stores []time.Duration
			for range b.N {
				up, lat := runServe(b, bin, dir, 25)
				startups = append(startups, up)
				stores = append(stores, lat...)
			}
			b.ReportMetric(pct(startups, 50).Seconds()*1000, "startup-ms")
			b.ReportMetric(pct(stores, 50).Seconds()*1000, "store-p50-ms")
			b.ReportMetric(pct(stores, 99).Seconds()*1000, "store-p99-ms")
		})
	}
}

// buildArchive loads n small objects, 10 per study, as the pipeline would
// have left them (de-identified and rendered under the default profile).
func buildArchive(b *testing.B, dir string, n int) {
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	secret, err := anonymize.LoadOrCreateSecret(dir)
	if err != nil {
		b.Fatal(err)
	}
	a, err := anonymize.New(anonymize.Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	done := func(in *store.Instance) {
		in.Deid = &store.Deid{Path: store.DeidName, Clean: true, Profile: a.Profile(), At: in.ReceivedAt}
		in.Render = &store.Render{Frames: 1, Width: 4, Height: 2, Profile: "render-1"}
	}
	const batch = 2000
	paths := make([]string, 0, batch)
	for i := 0; i < n; i++ {
		study := i / 10
		p := filepath.Join(s.SpoolDir(), fmt.Sprintf("bulk-%d.dcm", i))
		spec := testdicom.Spec{
			SOPUID: fmt.Sprintf("1.2.826.0.1.3680043.10.1.%d.%d", study, i%10), StudyUID: fmt.Sprintf("1.2.826.0.1.3680043.10.1.%d", study),
			SeriesUID: fmt.Sprintf("1.2.826.0.1.3680043.10.1.%d.0", study), PatientName: fmt.Sprintf("P%d^Bench", study%5000),
			PatientID: strconv.Itoa(study % 5000), StudyDate: "20260101", InstanceNumber: i%10 + 1, Rows: 2, Columns: 4,
		}
		if err := os.WriteFile(p, testdicom.Bytes(spec), 0o600); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
		if len(paths) == batch || i == n-1 {
			if err := s.LoadUnsynced(paths, store.Source{CallingAET: "BENCH"}, done); err != nil {
				b.Fatal(err)
			}
			paths = paths[:0]
		}
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
