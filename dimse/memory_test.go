package dimse

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// writeBigMultiframe writes an Explicit VR LE US Multi-frame object of about
// size bytes (8-bit 600x800 frames) and returns its SOP Instance UID.
func writeBigMultiframe(t *testing.T, path string, size int64) string {
	t.Helper()
	const rows, cols = 600, 800
	uid := fmt.Sprintf("2.25.%d", time.Now().UnixNano())
	testdicom.WriteFile(t, path, testdicom.Spec{SOPClassUID: "1.2.840.10008.5.1.4.1.1.3.1", SOPUID: uid,
		StudyUID: uid + ".1", SeriesUID: uid + ".2", Rows: rows, Columns: cols, Frames: int(max(size/(rows*cols), 1)), FrameTimeMS: 33.3})
	return uid
}

// TestMemoryBoundedForLargeObject sends one large multi-frame object with
// dcmsend and samples the server process's heap meanwhile. The object is
// 300 MB by default (about 5 s here), 48 MB with -short, or
// SONOLINK_BIG_OBJECT_MB megabytes.
func TestMemoryBoundedForLargeObject(t *testing.T) {
	dcmsend := testenv.Tool(t, "dcmsend")
	mb := int64(300)
	if testing.Short() {
		mb = 48
	}
	if v := os.Getenv("SONOLINK_BIG_OBJECT_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		mustf(t, err, "SONOLINK_BIG_OBJECT_MB")
		mb = n
	}
	h := newTestHandler(t)
	h.dir = "" // let the server remove the spool file
	var gotSize int64
	h.status = func(obj *Object) Status {
		st, err := os.Stat(obj.Path)
		if err != nil || st.Size() < obj.Size {
			return StatusProcessingFailure
		}
		gotSize = obj.Size
		return StatusSuccess
	}
	ts := startServer(t, Config{}, h)
	src := filepath.Join(t.TempDir(), "big.dcm")
	writeBigMultiframe(t, src, mb<<20)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	samples := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			samples++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	out, err := runTool(t, dcmsend, "-aec", "SONOLINK", ts.host, ts.port, src)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("dcmsend: %v\n%s", err, out)
	}
	st, _ := os.Stat(src)
	if gotSize == 0 || gotSize < st.Size()-1024 {
		t.Fatalf("handler saw %d data set bytes for a %d-byte file", gotSize, st.Size())
	}
	if samples < 3 {
		t.Fatalf("only %d heap samples during the transfer", samples)
	}
	delta := int64(peak) - int64(base)
	t.Logf("%d MB object in %v (%.0f MB/s); server heap in use (%d samples): base %d MB, peak %d MB, delta %.1f MB",
		mb, elapsed.Round(time.Millisecond), float64(st.Size())/1e6/elapsed.Seconds(), samples, base>>20, peak>>20, float64(delta)/(1<<20))
	if delta > 32<<20 {
		t.Errorf("heap grew by %.1f MB while receiving a %d MB object (limit 32 MB)", float64(delta)/(1<<20), mb)
	}
}
