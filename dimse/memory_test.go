package dimse

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// writeBigMultiframe writes an Explicit VR LE US Multi-frame object of about
// size bytes (8-bit 600x800 frames) and returns its SOP Instance UID.
func writeBigMultiframe(t *testing.T, path string, size int64) string {
	t.Helper()
	const rows, cols = 600, 800
	frames := max(size/(rows*cols), 1)
	uid := fmt.Sprintf("2.25.%d", time.Now().UnixNano())
	f, err := os.Create(path)
	mustf(t, err, "create")
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(part10Header("1.2.840.10008.5.1.4.1.1.3.1", uid, uidExplicitVRLE, "GEN"))
	el := func(group, elem uint16, vr string, val []byte) {
		if len(val)%2 == 1 {
			pad := byte(' ')
			if vr == "UI" {
				pad = 0
			}
			val = append(val, pad)
		}
		binary.Write(w, binary.LittleEndian, [2]uint16{group, elem})
		w.WriteString(vr)
		binary.Write(w, binary.LittleEndian, uint16(len(val)))
		w.Write(val)
	}
	us := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	el(0x0008, 0x0016, "UI", []byte("1.2.840.10008.5.1.4.1.1.3.1"))
	el(0x0008, 0x0018, "UI", []byte(uid))
	el(0x0008, 0x0060, "CS", []byte("US"))
	el(0x0020, 0x000D, "UI", []byte(uid+".1"))
	el(0x0020, 0x000E, "UI", []byte(uid+".2"))
	el(0x0028, 0x0002, "US", us(1))
	el(0x0028, 0x0004, "CS", []byte("MONOCHROME2"))
	el(0x0028, 0x0008, "IS", []byte(strconv.FormatInt(frames, 10)))
	el(0x0028, 0x0010, "US", us(rows))
	el(0x0028, 0x0011, "US", us(cols))
	el(0x0028, 0x0100, "US", us(8))
	el(0x0028, 0x0101, "US", us(8))
	el(0x0028, 0x0102, "US", us(7))
	el(0x0028, 0x0103, "US", us(0))
	n := frames * rows * cols
	binary.Write(w, binary.LittleEndian, [2]uint16{0x7FE0, 0x0010})
	w.WriteString("OB\x00\x00")
	binary.Write(w, binary.LittleEndian, uint32(n))
	frame := make([]byte, rows*cols)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	for range frames {
		w.Write(frame)
	}
	mustf(t, w.Flush(), "write big object")
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
