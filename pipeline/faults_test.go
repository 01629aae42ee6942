package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/pixels"
	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
	"sonolink/share"
	"sonolink/store"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "deid.dcm", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("writing derived: %w", &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO}), true},
		{fmt.Errorf("%w: index: %w", store.ErrStorage, errors.New("tx failed")), true},
		{&fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, true},
		// A read error under the parser is wrapped as an invalid object;
		// the errno still makes it a fault, not a verdict.
		{fmt.Errorf("%w: parse: %w", dicomfile.ErrInvalid, syscall.EIO), true},
		{fmt.Errorf("%w: truncated element", dicomfile.ErrInvalid), false},
		{fmt.Errorf("%w: transfer syntax 1.2.3", pixels.ErrUnsupported), false},
		{errors.New("anonymize: object without SOP Instance UID"), false},
		{&panicError{stage: "render", value: "boom"}, false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	min, max := time.Second, 10*time.Second
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 40: 10 * time.Second} {
		if got := retryDelay(n, min, max); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", n, got, want)
		}
	}
}

// faultEnv is a store and share service in dir with objects to process.
type faultEnv struct {
	st  *store.Store
	sh  *share.Service
	log *slog.Logger
	buf *lockedBuffer
}

func newFaultEnv(t *testing.T, dir string) *faultEnv {
	t.Helper()
	buf := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(buf, nil))
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
	return &faultEnv{st: st, sh: sh, log: log, buf: buf}
}

func (e *faultEnv) logText() string {
	e.buf.mu.Lock()
	defer e.buf.mu.Unlock()
	return e.buf.b.String()
}

const faultPatient = "FAULTY^PATIENT"

// ingest stores one small image of study 1.2.826.0.1.3680043.10.4242.5 and
// returns its SOP Instance UID.
func (e *faultEnv) ingest(t *testing.T, n int) string {
	t.Helper()
	sop := fmt.Sprintf("1.2.826.0.1.3680043.10.4242.5.1.%d", n)
	data := testdicom.Bytes(testdicom.Spec{PatientName: faultPatient, PatientID: "FAULT-ID-77",
		StudyUID: "1.2.826.0.1.3680043.10.4242.5", SeriesUID: "1.2.826.0.1.3680043.10.4242.5.1", SOPUID: sop,
		Rows: 64, Columns: 64, Frames: 2, InstanceNumber: n, Region: [4]uint32{8, 8, 55, 55}})
	p := filepath.Join(e.st.SpoolDir(), fmt.Sprintf("rx%d.dcm", n))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
		t.Fatal(err)
	}
	return sop
}

func (e *faultEnv) pipeline(t *testing.T) *Pipeline {
	t.Helper()
	p, err := New(Config{Store: e.st, Share: e.sh, Secret: make([]byte, 32), Logger: e.log,
		StableTime: time.Hour, Tick: 10 * time.Millisecond, IngestQuiet: -1, RetryMin: 20 * time.Millisecond, RetryMax: 80 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs p until until() holds (or the test's patience ends) and stops
// it. What a previous run left undone is queued first, as Run does at its
// start, so that an idle queue means the work is done.
func run(t *testing.T, p *Pipeline, until func() bool) {
	t.Helper()
	p.requeueStale()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !until() {
		if time.Now().After(deadline) {
			t.Fatal("pipeline did not get there within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *faultEnv) instance(t *testing.T, sop string) *store.Instance {
	t.Helper()
	in, err := e.st.Instance(sop)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// A decoder that panics on one object (here a test hook in its place) does
// not take the process down: that object is residual with reason "internal
// error" and no renders, the panic is logged with its stack and without
// patient data and counted, and the workers go on with the next object.
func TestPanicMarksObjectResidualAndWorkersGoOn(t *testing.T) {
	for _, stage := range []string{"de-identification", "render"} {
		t.Run(stage, func(t *testing.T) {
			e := newFaultEnv(t, t.TempDir())
			bad, good := e.ingest(t, 1), e.ingest(t, 2)
			p := e.pipeline(t)
			p.cfg.Workers = 1
			p.hook = func(s, sop string) error {
				if s == stage && sop == bad {
					var b []byte
					_ = b[len(sop)] // an index out of range, as a decoder would
				}
				return nil
			}
			before := counterValue(mInternalErrors.WithLabelValues(stage))
			run(t, p, p.queue.idle)

			in := e.instance(t, bad)
			if in.Deid == nil || in.Deid.Clean || !strings.Contains(strings.Join(in.Deid.Reasons, ";"), reasonInternalError) {
				t.Fatalf("object whose %s panicked: deid %+v, want residual with reason %q", stage, in.Deid, reasonInternalError)
			}
			if in.Render == nil || in.Render.Profile != currentRenderProfile() || in.Render.Frames != 0 {
				t.Errorf("object whose %s panicked: render %+v, want an empty record of the current profile", stage, in.Render)
			}
			if g := e.instance(t, good); g.Deid == nil || !g.Deid.Clean || g.Render == nil || g.Render.Frames != 2 {
				t.Errorf("the next object was not processed: deid %+v render %+v", g.Deid, g.Render)
			}
			if got := counterValue(mInternalErrors.WithLabelValues(stage)) - before; got != 1 {
				t.Errorf("internal errors counted: %v, want 1", got)
			}
			logs := e.logText()
			if !strings.Contains(logs, "index out of range") || !strings.Contains(logs, "runtime/debug.Stack") {
				t.Errorf("panic not logged with its cause and stack:\n%s", logs)
			}
			if strings.Contains(logs, "FAULTY") || strings.Contains(logs, "FAULT-ID-77") {
				t.Errorf("log names the patient:\n%s", logs)
			}
			// Start-up does not retry it under the same profile.
			if n := e.pipeline(t).requeueStale(); n != 0 {
				t.Errorf("recovery queued %d objects, want 0", n)
			}
		})
	}
}

// A storage fault during de-identification is not a verdict: the object
// stays pending (nothing of it recorded, so nothing of it shown) and is tried
// again with backoff until the fault is gone; then it is clean.
func TestFaultLeavesObjectPendingThenClean(t *testing.T) {
	e := newFaultEnv(t, t.TempDir())
	sop := e.ingest(t, 1)
	p := e.pipeline(t)
	var mu sync.Mutex
	faults := map[string]int{}
	p.hook = func(stage, s string) error {
		mu.Lock()
		defer mu.Unlock()
		if faults[stage] < 3 {
			faults[stage]++
			if stage == "de-identification" {
				// What a write to a full disk returns.
				return &fs.PathError{Op: "write", Path: "deid.dcm", Err: syscall.ENOSPC}
			}
			return fmt.Errorf("%w: %w", store.ErrStorage, &fs.PathError{Op: "read", Path: "deid.dcm", Err: syscall.EIO})
		}
		if stage == "de-identification" {
			// Until the fault is gone the object was never given a verdict.
			if in := e.instance(t, sop); in.Deid != nil {
				t.Errorf("object faulted during de-identification has a verdict: %+v", in.Deid)
			}
		}
		return nil
	}
	retries := counterValue(mRetries)
	run(t, p, p.queue.idle)
	in := e.instance(t, sop)
	if in.Deid == nil || !in.Deid.Clean || in.Deid.Path == "" {
		t.Fatalf("after the faults: deid %+v, want a clean copy", in.Deid)
	}
	if in.Render == nil || in.Render.Frames != 2 {
		t.Errorf("after the faults: render %+v, want 2 frames", in.Render)
	}
	if got := counterValue(mRetries) - retries; got != 6 {
		t.Errorf("retries counted: %v, want 6", got)
	}
}

// Records written before faults were told apart made a full disk a
// residual verdict ("de-identification failed: …"); a start redoes them.
func TestLegacyFailureRecordIsRedone(t *testing.T) {
	e := newFaultEnv(t, t.TempDir())
	sop := e.ingest(t, 1)
	p := e.pipeline(t)
	a, err := p.anonymizer()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDeid(sop, store.Deid{Profile: a.Profile(), Reasons: []string{reasonLegacyFailed + "write deid.dcm: no space left on device"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetRender(sop, store.Render{Profile: currentRenderProfile()}); err != nil {
		t.Fatal(err)
	}
	run(t, p, p.queue.idle)
	if in := e.instance(t, sop); in.Deid == nil || !in.Deid.Clean {
		t.Fatalf("legacy failure record not redone: %+v", in.Deid)
	}
}

// De-identification on a really full filesystem (a small tmpfs): the object
// stays pending while the disk is full, and once space is freed it ends up
// clean, without a restart; and a restart while the disk is still full
// resumes it too.
func TestDeidOnFullDiskEndsClean(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	e := newFaultEnv(t, dir)
	sop := e.ingest(t, 1)
	filler := fillDisk(t, dir)

	p := e.pipeline(t)
	run(t, p, func() bool { return counterValue(mRetries) > 0 && p.attemptsOf(sop) >= 2 })
	if in := e.instance(t, sop); in.Deid != nil {
		t.Fatalf("with the disk full the object got a verdict: %+v", in.Deid)
	}
	if !strings.Contains(e.logText(), "no space left on device") {
		t.Errorf("the fault is not logged as ENOSPC:\n%s", e.logText())
	}

	// Space freed while a new process runs: it is resumed at start-up
	// (still pending) and ends clean.
	p = e.pipeline(t)
	if n := p.requeueStale(); n != 1 {
		t.Errorf("start-up queued %d objects, want the pending one", n)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Remove(filler)
	}()
	run(t, p, p.queue.idle)
	in := e.instance(t, sop)
	if in.Deid == nil || !in.Deid.Clean || in.Deid.Path == "" {
		t.Fatalf("after space was freed: deid %+v, want a clean copy", in.Deid)
	}
	if in.Render == nil || in.Render.Frames != 2 {
		t.Errorf("after space was freed: render %+v", in.Render)
	}
}

func (p *Pipeline) attemptsOf(sop string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[sop]
}

// mountTmpfs mounts a tmpfs of the given size on a new directory for the
// test. It needs root; CI runs as root and expects the mount to work.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		if testenv.CI() {
			t.Fatalf("required under CI: mount tmpfs as root: %v", err)
		}
		t.Skipf("cannot mount a tmpfs here (a container without CAP_SYS_ADMIN?): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

// fillDisk writes a file until the filesystem of dir is full and returns
// its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for len(buf) > 1 { // the last partial blocks too
		buf = buf[:len(buf)/2]
		f.Write(buf)
	}
	return p
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
