package pipeline

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// The tests run in a synctest bubble: time moves only when every goroutine
// waits, so the durations below are exact, not upper bounds.

func TestReceivingYieldsWhileObjectsArrive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const quiet = 50 * time.Millisecond
		r := newReceiving(quiet)
		if d, _ := r.busyFor(time.Now()); d != 0 {
			t.Fatalf("busy before anything arrived: %v", d)
		}
		r.arrived("a1")
		now := time.Now()
		if d, _ := r.busyFor(now); d != openAssocIdle {
			t.Fatalf("busy %v right after an arrival on an open association, want %v", d, openAssocIdle)
		}
		// An open association that keeps quiet stops counting after a while.
		if d, _ := r.busyFor(now.Add(openAssocIdle + time.Millisecond)); d != 0 {
			t.Fatalf("still busy %v after the open association went idle", d)
		}
		// Closing wakes a waiting worker, which then waits out the quiet time.
		done := make(chan time.Duration)
		go func() {
			t0 := time.Now()
			r.wait(context.Background())
			done <- time.Since(t0)
		}()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait() // the worker waits on its timer or the wake channel
		r.closed("a1")
		if waited := <-done; waited != 100*time.Millisecond {
			t.Fatalf("worker waited %v, want to be released when the association closed (100ms)", waited)
		}
		if d, _ := r.busyFor(time.Now()); d != 0 {
			t.Fatalf("busy %v with nothing arriving", d)
		}

		// Without the close, the worker waits for the open association to
		// go idle, and no longer.
		r.arrived("a2")
		t0 := time.Now()
		r.wait(context.Background())
		if waited := time.Since(t0); waited != openAssocIdle {
			t.Fatalf("worker waited %v for a quiet open association, want %v", waited, openAssocIdle)
		}
	})
}

func TestReceivingNeverYieldsWhenDisabled(t *testing.T) {
	r := newReceiving(-1)
	r.arrived("a1")
	if d, _ := r.busyFor(time.Now()); d != 0 {
		t.Fatalf("busy although disabled: %v", d)
	}
}

func TestReceivingWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReceiving(time.Hour)
		r.arrived("a1")
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		r.wait(ctx)
		if waited := time.Since(t0); waited != 50*time.Millisecond {
			t.Fatalf("wait returned after %v, want when the context ended (50ms)", waited)
		}
	})
}
