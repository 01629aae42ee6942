package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sonolink/dimse"
	"sonolink/internal/testdicom"
	"sonolink/store"
)

// A C-STORE whose data set is not the object the command names (another
// SOP Instance UID, or another SOP Class UID) is answered A900 and nothing
// is stored under either UID; the matching object on the same server is
// stored with Success. dimse.StoreFile takes the command's UIDs from the
// file meta, so a file whose meta disagrees with its data set is such a
// request, built by hand.
func TestCStoreDataSetMismatch(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, sh := openStoreShare(t, dir, log)
	p, err := New(Config{Store: st, Share: sh, Secret: make([]byte, 32), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dimse.NewServer(dimse.Config{SpoolDir: st.SpoolDir(), Logger: log}, p)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	const (
		study     = "1.2.826.0.1.3680043.10.4242.9"
		series    = "1.2.826.0.1.3680043.10.4242.9.0"
		sop       = "1.2.826.0.1.3680043.10.4242.9.1"
		other     = "1.2.826.0.1.3680043.10.4242.9.2" // same length as sop
		usImage   = "1.2.840.10008.5.1.4.1.1.6.1"
		usMulti   = "1.2.840.10008.5.1.4.1.1.3.1" // same length as usImage
		wantFail  = dimse.StatusDataSetMismatch
		wantStore = dimse.StatusSuccess
	)
	good := testdicom.Bytes(testdicom.Spec{StudyUID: study, SeriesUID: series, SOPUID: sop})
	// The first occurrence of each UID is in the file meta.
	otherInstance := bytes.Replace(good, []byte(sop), []byte(other), 1)
	otherClass := bytes.Replace(good, []byte(usImage), []byte(usMulti), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		name string
		data []byte
		want dimse.Status
	}{
		{"another SOP Instance UID", otherInstance, wantFail},
		{"another SOP Class UID", otherClass, wantFail},
		{"matching", good, wantStore},
	} {
		path := filepath.Join(t.TempDir(), "x.dcm")
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := dimse.StoreFile(ctx, l.Addr().String(), "US1", "SONOLINK", path)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: status %v, want %v", c.name, got, c.want)
		}
		if c.want == wantFail {
			for _, uid := range []string{sop, other} {
				if _, err := st.Instance(uid); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: something is stored under %s after a refused C-STORE (%v)", c.name, uid, err)
				}
			}
		}
	}
	if _, err := st.Instance(sop); err != nil {
		t.Errorf("the matching object is not stored: %v", err)
	}
}
