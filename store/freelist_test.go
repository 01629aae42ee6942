package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// After kill -9 with objects in flight, index.db names a free list
// (freelistSync), so Open reads it rather than walking every page of the
// index; and every acknowledged object is there. The store runs in a child
// process (this test binary again) that ingests from two goroutines and
// prints each acknowledged SOP Instance UID.
func TestCrashLeavesFreelist(t *testing.T) {
	if dir := os.Getenv("STORE_CRASH_CHILD"); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLeavesFreelist$")
	cmd.Env = append(os.Environ(), "STORE_CRASH_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 40 {
		if uid, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, uid)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(acked) < 40 {
		t.Fatalf("the child acknowledged %d objects before it stopped", len(acked))
	}
	freelist, high := metaFreelist(t, filepath.Join(dir, indexFile))
	if freelist == ^uint64(0) || freelist < 2 || freelist >= high {
		t.Fatalf("after kill -9 the index's meta page names free list page %#x (high water %d): Open would walk every page", freelist, high)
	}
	s := openTest(t, dir)
	for _, uid := range acked {
		if _, err := s.Instance(uid); err != nil {
			t.Errorf("acknowledged %s, then after kill -9: %v", uid, err)
		}
	}
}

// crashChild ingests small objects until it is killed.
func crashChild(t *testing.T, dir string) {
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				o := obj{SOP: fmt.Sprintf("4.%d.%d", g, i), Study: fmt.Sprintf("4.%d", i/5), Series: "4.0", Name: "Crash^Test", Pixels: 256, Fill: byte(i)}
				if _, err := s.Ingest(spool(t, s, o.bytes()), Source{}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Printf("acked %s\n", o.SOP)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Minute) // an ingest failed: wait to be killed
}

// metaFreelist reads bbolt's two meta pages and returns the free list
// page and the high-water page id of the newer valid one. Layout (bbolt
// v1.4, internal/common/meta.go): a 16-byte page header, then magic,
// version, page size, flags (4 bytes each), the root bucket (16), the
// free list page id, the high-water page id, the transaction id and a
// checksum (8 each), little-endian on the machines we build for.
func metaFreelist(t *testing.T, p string) (freelist, high uint64) {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4096 {
		t.Fatalf("index.db is %d bytes", len(b))
	}
	le := binary.LittleEndian
	pageSize := int(le.Uint32(b[16+8:]))
	var best uint64
	found := false
	for _, off := range []int{0, pageSize} {
		m := b[off+16:]
		if le.Uint32(m) != 0xED0CDAED {
			continue
		}
		if txid := le.Uint64(m[48:]); !found || txid > best {
			best, found = txid, true
			freelist, high = le.Uint64(m[32:]), le.Uint64(m[40:])
		}
	}
	if !found {
		t.Fatal("index.db has no valid meta page")
	}
	return freelist, high
}
