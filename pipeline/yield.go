package pipeline

import (
	"context"
	"sync"
	"time"
)

// Background work (de-identifying, rendering) yields to receiving: on a
// small clinic server both compete for the same CPUs and disk, and a
// modality waits for every C-STORE response, so while objects arrive the
// workers pause. They resume once no object arrived for the quiet time and
// no association that sent objects is still open (an open association
// counts only while it keeps sending). A worker never waits longer than
// maxDefer for one object, so processing still progresses under a
// continuous stream.
const (
	defaultIngestQuiet = 250 * time.Millisecond
	openAssocIdle      = 2 * time.Second
	maxDefer           = 30 * time.Second
)

// receiving tracks whether objects are arriving.
type receiving struct {
	quiet time.Duration // <0: never yield

	mu   sync.Mutex
	open map[string]bool // associations that stored an object and are still open
	last time.Time       // last arrival (monotonic clock)
	wake chan struct{}   // closed and replaced when an association closes
}

func newReceiving(quiet time.Duration) *receiving {
	return &receiving{quiet: quiet, open: map[string]bool{}, wake: make(chan struct{})}
}

func (r *receiving) arrived(assoc string) {
	r.mu.Lock()
	r.open[assoc] = true
	r.last = time.Now()
	r.mu.Unlock()
}

func (r *receiving) closed(assoc string) {
	r.mu.Lock()
	delete(r.open, assoc)
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

// busyFor returns how long to wait before checking again; 0 when nothing
// is arriving.
func (r *receiving) busyFor(now time.Time) (time.Duration, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.quiet < 0 || r.last.IsZero() {
		return 0, nil
	}
	since := now.Sub(r.last)
	if len(r.open) > 0 && since < openAssocIdle {
		return max(openAssocIdle-since, r.quiet-since, time.Millisecond), r.wake
	}
	if since < r.quiet {
		return r.quiet - since, r.wake
	}
	return 0, nil
}

// wait returns once nothing is arriving, after maxDefer at most, or when
// ctx ends.
func (r *receiving) wait(ctx context.Context) {
	deadline := time.Now().Add(maxDefer)
	for {
		now := time.Now()
		d, wake := r.busyFor(now)
		if d <= 0 || !now.Before(deadline) {
			return
		}
		d = min(d, deadline.Sub(now))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}
