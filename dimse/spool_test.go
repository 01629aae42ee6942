package dimse

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// The spool's flush ahead: requests while one waits are merged, finish may
// be called again, and a failed flush is reported by finish (here the
// flusher's own descriptor is closed under it).
func TestFlushAhead(t *testing.T) {
	if !flushAheadSupported {
		t.Skip("no flush ahead on this platform: the handler's fsync does it all")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "x.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fa := newFlushAhead(f)
	if fa == nil {
		t.Fatal("no flush ahead for a regular file")
	}
	for range 5 {
		f.Write(bytes.Repeat([]byte{1}, 4096))
		fa.request()
	}
	if err := fa.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if err := fa.finish(); err != nil {
		t.Fatalf("second finish: %v", err)
	}

	fb := newFlushAhead(f)
	fb.f.Close()
	fb.request()
	for len(fb.kick) > 0 { // started, so finish does not drop it
		runtime.Gosched()
	}
	if err := fb.finish(); err == nil {
		t.Fatal("a failed flush was not reported")
	}
	var none *flushAhead // unsupported platform, or the file could not be reopened
	none.request()
	if err := none.finish(); err != nil {
		t.Fatalf("nil flush ahead: %v", err)
	}
}

// A whole object through the spool: the file is complete when close
// returns, and flushed reports success.
func TestSpoolFlushed(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "rx.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	sp := newSpool(f, []byte("HEAD"), func() bool { return true })
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*spoolChunk/16+100) // several full chunks and a tail
	for len(data) > 0 {
		n := min(len(data), 40000)
		if err := sp.write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	sp.close()
	if sp.err != nil {
		t.Fatal(sp.err)
	}
	if err := sp.flushed(); err != nil {
		t.Fatalf("flushed: %v", err)
	}
	fi, err := os.Stat(sp.path)
	if err != nil || fi.Size() != int64(4+3*spoolChunk+1600) {
		t.Fatalf("spool file: %v, size %d", err, fi.Size())
	}
}
