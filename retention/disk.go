package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ErrDiskFull: the free space is below storage.reserve; new objects are
// refused. Errors of Admit match it and say how much is free.
var ErrDiskFull = errors.New("free disk space below the storage reserve")

// DiskFullError is Admit's refusal.
type DiskFullError struct {
	Free, Reserve uint64
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("%v: %s free, reserve %s", ErrDiskFull, size(int64(e.Free)), size(int64(e.Reserve)))
}

func (e *DiskFullError) Unwrap() error { return ErrDiskFull }

var (
	mFree = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_disk_free_bytes",
		Help: "Free space of the data directory's file system at the last look.",
	})
	mLow = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sonolink_disk_low",
		Help: "1 while the free space is below storage.reserve and new objects are refused (A700).",
	})
	mRefused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_disk_full_refused_total",
		Help: "Objects refused with A700 because the free space was below storage.reserve.",
	})
)

const (
	// settingsAge: Admit reads the clinic's settings at most this often.
	settingsAge = time.Second
	// rescueEvery: after a purge pass that Admit ran, the next waits this
	// long (a pass that freed nothing would otherwise run for each object).
	rescueEvery = time.Minute
	// rescueBudget bounds the purge pass Admit runs while an object waits.
	rescueBudget = 15 * time.Second
	// lowLogEvery: one "refusing objects" log line per this long.
	lowLogEvery = time.Minute
)

// reserve returns the free space and the reserve now; ok is false when
// either is unknown (nothing is then refused).
func (r *Retention) reserve() (free, reserve uint64, ok bool) {
	r.mu.Lock()
	if time.Since(r.setAt) > settingsAge {
		if set, err := r.cfg.Share.Settings(); err == nil {
			r.set, r.setAt = set, time.Now()
		} else {
			r.log.Error("reading the storage reserve", "err", err)
		}
	}
	res := r.set.StorageReserve
	r.mu.Unlock()
	free, total, err := r.cfg.Disk.Space(r.cfg.Store.Dir())
	if err != nil || res.Off() {
		return free, 0, false
	}
	mFree.Set(float64(free))
	return free, res.Of(total), true
}

// Admit says whether a new object may be stored: nil unless the free space
// is below storage.reserve. Then it first runs a purge pass that frees
// space down to the reserve (and the free-space floor), at most once a
// minute and never while another pass runs; if the space is still short it
// logs it (once a minute), counts the refusal and returns a
// *DiskFullError.
func (r *Retention) Admit() error {
	free, reserve, ok := r.reserve()
	if !ok || free >= reserve {
		mLow.Set(0)
		return nil
	}
	if r.rescue(reserve) {
		if free, reserve, ok = r.reserve(); !ok || free >= reserve {
			mLow.Set(0)
			return nil
		}
	}
	mLow.Set(1)
	mRefused.Inc()
	err := &DiskFullError{Free: free, Reserve: reserve}
	r.mu.Lock()
	logNow := time.Since(r.lastLow) >= lowLogEvery
	if logNow {
		r.lastLow = time.Now()
	}
	r.mu.Unlock()
	if logNow {
		r.log.Error("disk full: new objects are refused with A700 (Out of resources) until space is freed; retention found nothing more it may purge",
			"free_bytes", free, "reserve_bytes", reserve, "setting", "storage.reserve")
	}
	return err
}

// rescue runs a purge pass aiming above reserve, unless one ran less than
// rescueEvery ago or one is running; it reports whether it ran.
func (r *Retention) rescue(reserve uint64) bool {
	r.mu.Lock()
	if time.Since(r.lastRescue) < rescueEvery {
		r.mu.Unlock()
		return false
	}
	r.lastRescue = time.Now()
	r.mu.Unlock()
	if !r.pass.TryLock() {
		return false
	}
	r.pass.Unlock() // run takes it; a pass slipping in between is as good
	// The modality waits for this object: purge for a bounded time (what
	// is not done now, the next pass does).
	ctx, cancel := context.WithTimeout(context.Background(), rescueBudget)
	defer cancel()
	rep, err := r.run(ctx, false, "retention", reserve+reserve/10, 0)
	if err != nil {
		r.log.Error("disk low: purge pass failed", "err", err)
		return true
	}
	r.log.Warn("disk low: purge pass before refusing objects", "purged", rep.Purged, "bytes", rep.Bytes)
	return true
}

// Health is nil while new objects are taken, else why not (the free
// space below the reserve), for /healthz.
func (r *Retention) Health() error {
	free, reserve, ok := r.reserve()
	if !ok || free >= reserve {
		return nil
	}
	return &DiskFullError{Free: free, Reserve: reserve}
}
