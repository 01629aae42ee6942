package pipeline

import (
	"context"
	"testing"
	"time"
)

func TestReceivingYieldsWhileObjectsArrive(t *testing.T) {
	r := newReceiving(50 * time.Millisecond)
	if d, _ := r.busyFor(time.Now()); d != 0 {
		t.Fatalf("busy before anything arrived: %v", d)
	}
	r.arrived("a1")
	now := time.Now()
	if d, _ := r.busyFor(now); d <= 0 {
		t.Fatal("not busy right after an arrival")
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
	r.closed("a1")
	select {
	case waited := <-done:
		if waited > time.Second {
			t.Fatalf("worker waited %v after the association closed", waited)
		}
	case <-time.After(openAssocIdle):
		t.Fatal("worker not released after the association closed")
	}
	if d, _ := r.busyFor(time.Now()); d != 0 {
		t.Fatalf("busy %v with nothing arriving", d)
	}
}

func TestReceivingNeverYieldsWhenDisabled(t *testing.T) {
	r := newReceiving(-1)
	r.arrived("a1")
	if d, _ := r.busyFor(time.Now()); d != 0 {
		t.Fatalf("busy although disabled: %v", d)
	}
}

func TestReceivingWaitEndsWithContext(t *testing.T) {
	r := newReceiving(time.Hour)
	r.arrived("a1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	r.wait(ctx)
	if time.Since(t0) > time.Second {
		t.Fatal("wait ignored the context")
	}
}
