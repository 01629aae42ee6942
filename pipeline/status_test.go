package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"sonolink/dimse"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

func TestStoreStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		want dimse.Status
	}{
		{nil, dimse.StatusSuccess},
		{fmt.Errorf("%w: SOP Instance UID (0008,0018) is missing or empty", store.ErrInvalidObject), dimse.StatusCannotUnderstand},
		{fmt.Errorf("%w: fsync of received object: %w", store.ErrStorage, syscall.ENOSPC), dimse.StatusOutOfResources},
		{errors.New("something else"), dimse.StatusOutOfResources},
	} {
		if got := storeStatus(c.err); got != c.want {
			t.Errorf("storeStatus(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// errorLog keeps the errors of log records' "err" attributes.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

// A disk that fills up while an object is made durable: the modality gets
// A700 (it may send again later), nothing is indexed, and the error logged
// still says ENOSPC.
func TestHandleStoreDiskFull(t *testing.T) {
	dir := t.TempDir()
	errs := &errorLog{}
	log := slog.New(errs)
	st, sh := openStoreShare(t, dir, log)
	p, err := New(Config{Store: st, Share: sh, Secret: make([]byte, 32), Logger: log})
	if err != nil {
		t.Fatal(err)
	}

	const sop = "1.2.826.0.1.3680043.10.4242.7.1"
	path := filepath.Join(st.SpoolDir(), "rx.dcm")
	data := testdicom.Bytes(testdicom.Spec{StudyUID: "1.2.826.0.1.3680043.10.4242.7", SeriesUID: "1.2.826.0.1.3680043.10.4242.7.0", SOPUID: sop})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// The receiver's flush of the spool file is where the disk ran out.
	obj := &dimse.Object{SOPInstanceUID: sop, Path: path, Flushed: func() error { return syscall.ENOSPC }}
	a := &dimse.Association{ID: "a1", CallingAET: "US1", CalledAET: "SONOLINK"}
	if got := p.HandleStore(context.Background(), a, obj); got != dimse.StatusOutOfResources {
		t.Fatalf("status %v, want A700", got)
	}
	if _, err := st.Instance(sop); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an object that did not reach the disk is indexed: %v", err)
	}
	errs.mu.Lock()
	defer errs.mu.Unlock()
	found := false
	for _, err := range errs.errs {
		found = found || errors.Is(err, syscall.ENOSPC) && errors.Is(err, store.ErrStorage)
	}
	if !found {
		t.Errorf("no logged error is both ErrStorage and ENOSPC: %v", errs.errs)
	}
}

// openStoreShare opens the store and the share service of a data
// directory, as serve does, closed when the test ends.
func openStoreShare(t *testing.T, dir string, log *slog.Logger) (*store.Store, *share.Service) {
	t.Helper()
	st, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sh, err := share.Open(dir, share.Options{NoWorker: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return st, sh
}
