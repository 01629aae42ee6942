package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// BenchmarkBackup measures `sonolink backup` of a live data directory (an
// archive of 1,000 objects of 256 KiB, 10 per study, each with a
// de-identified copy of the same size and a thumbnail: about 500 MB),
// beside the peer an operator would otherwise use, `cp -a` of the stopped
// directory followed by `sync` (the same durability: sonolink flushes every
// file it writes). It also reports the latency of storing a small object
// while the backup runs against the same with no backup (the cost to
// scanners; that backup runs a second time, beside the ingest). Run: go test ./bench/ -run '^$' -bench Backup -benchtime 1x
func BenchmarkBackup(b *testing.B) {
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(data, store.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sh, err := share.Open(data, share.Options{Logger: quiet, NoWorker: true})
	if err != nil {
		b.Fatal(err)
	}
	defer sh.Close()
	const objects, size = 1000, 256 << 10
	pix := make([]byte, size)
	for i := range objects {
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.4242.7.%d.%d", i/10, i%10)
		p := filepath.Join(st.SpoolDir(), "b.dcm")
		pix[0] = byte(i)
		testdicom.WriteFile(b, p, testdicom.Spec{PatientName: "Bench^B", PatientID: fmt.Sprint(i / 10),
			StudyUID: fmt.Sprintf("1.2.826.0.1.3680043.10.4242.7.%d", i/10), SeriesUID: fmt.Sprintf("1.2.826.0.1.3680043.10.4242.7.%d.0", i/10),
			SOPUID: uid, Rows: 512, Columns: 512, Frames: 1, PixelData: pix})
		if _, err := st.Ingest(p, store.Source{}); err != nil {
			b.Fatal(err)
		}
		for name, n := range map[string]int{store.DeidName: size, "render/thumb.jpg": 8 << 10} {
			if _, err := st.PutDerived(uid, name, func(w io.Writer) error { _, err := w.Write(pix[:n]); return err }); err != nil {
				b.Fatal(err)
			}
		}
		st.SetDeid(uid, store.Deid{Path: store.DeidName, Clean: true})
		st.SetRender(uid, store.Render{Frames: 1, Thumbnail: "render/thumb.jpg"})
	}
	svc := admin.New(st, sh, nil, quiet)
	b.ResetTimer()
	for i := range b.N {
		idle := ingestLatencies(b, st, i*2, 2*time.Second, nil)

		// The peer first (the archive was just written: both read it from
		// the page cache).
		cpDst := filepath.Join(dir, fmt.Sprintf("cp%d", i))
		t0 := time.Now()
		if out, err := exec.Command("cp", "-a", data, cpDst).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		if out, err := exec.Command("sync", "-f", cpDst).CombinedOutput(); err != nil {
			b.Fatalf("sync: %v %s", err, out)
		}
		cpTook := time.Since(t0)

		// Alone, as cp runs, for the side-by-side time.
		alone := filepath.Join(dir, fmt.Sprintf("alone%d", i))
		t0 = time.Now()
		if _, err := svc.Backup(context.Background(), admin.BackupRequest{Dir: alone}); err != nil {
			b.Fatal(err)
		}
		aloneTook := time.Since(t0)
		os.RemoveAll(alone)

		stop := make(chan struct{})
		var during []time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); during = ingestLatencies(b, st, i*2+1, 0, stop) }()
		t0 = time.Now()
		m, err := svc.Backup(context.Background(), admin.BackupRequest{Dir: filepath.Join(dir, fmt.Sprintf("bk%d", i))})
		took := time.Since(t0)
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}

		b.ReportMetric(aloneTook.Seconds(), "backup-s")
		b.ReportMetric(cpTook.Seconds(), "cp-a+sync-s")
		b.ReportMetric(aloneTook.Seconds()/cpTook.Seconds(), "backup/cp")
		b.ReportMetric(float64(m.Bytes)/(1<<20)/aloneTook.Seconds(), "backup-MB/s")
		b.ReportMetric(took.Seconds(), "backup-while-storing-s")
		b.ReportMetric(ms(pct(idle, 50)), "store-idle-p50-ms")
		b.ReportMetric(ms(pct(idle, 99)), "store-idle-p99-ms")
		b.ReportMetric(ms(pct(during, 50)), "store-during-p50-ms")
		b.ReportMetric(ms(pct(during, 99)), "store-during-p99-ms")
		b.ReportMetric(float64(len(during)), "stored-during")
		os.RemoveAll(cpDst)
		os.RemoveAll(filepath.Join(dir, fmt.Sprintf("bk%d", i)))
	}
}

// ingestLatencies stores small objects one after another, for d or until
// stop closes, and returns how long each took.
func ingestLatencies(b *testing.B, st *store.Store, round int, d time.Duration, stop chan struct{}) []time.Duration {
	var out []time.Duration
	end := time.Now().Add(d)
	for n := 0; ; n++ {
		if stop != nil {
			select {
			case <-stop:
				return out
			default:
			}
		} else if time.Now().After(end) {
			return out
		}
		p := filepath.Join(st.SpoolDir(), fmt.Sprintf("l%d.dcm", round))
		testdicom.WriteFile(b, p, testdicom.Spec{PatientName: "Lat^L", StudyUID: fmt.Sprintf("1.2.826.0.1.3680043.10.4242.8.%d", round),
			SeriesUID: fmt.Sprintf("1.2.826.0.1.3680043.10.4242.8.%d.0", round), SOPUID: fmt.Sprintf("1.2.826.0.1.3680043.10.4242.8.%d.%d", round, n),
			Rows: 64, Columns: 64, Frames: 1})
		t0 := time.Now()
		if _, err := st.Ingest(p, store.Source{}); err != nil {
			b.Error(err)
			return out
		}
		out = append(out, time.Since(t0))
	}
}
