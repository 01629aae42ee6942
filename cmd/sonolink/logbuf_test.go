package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogBuffer: info lines wait (at most the interval), a warning goes
// out at once with the lines before it, in order, and nothing is lost.
func TestLogBuffer(t *testing.T) {
	var out lockedBuffer
	b := newLogBuffer(&out, time.Hour) // only a warning or Flush writes here
	logger, err := newLogger(b, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("first")
	logger.Info("second")
	if out.String() != "" {
		t.Fatalf("info lines written at once: %q", out.String())
	}
	logger.Warn("third")
	if msgs := jsonLines(t, out.String()); strings.Join(msgs, ",") != "first,second,third" {
		t.Fatalf("after a warning: %q", msgs)
	}
	logger.Info("fourth")
	b.Flush()
	if msgs := jsonLines(t, out.String()); len(msgs) != 4 || msgs[3] != "fourth" {
		t.Fatalf("after Flush: %q", msgs)
	}

	// The interval: a line waits no longer than it.
	var out2 lockedBuffer
	b2 := newLogBuffer(&out2, 20*time.Millisecond)
	logger2, _ := newLogger(b2, "text", "info")
	logger2.Info("soon")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out2.String(), "soon") {
		if time.Now().After(deadline) {
			t.Fatal("an info line was not written within the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The size: a full buffer is written without waiting.
	var out3 lockedBuffer
	b3 := newLogBuffer(&out3, time.Hour)
	b3.Write(bytes.Repeat([]byte("x"), logBufferSize))
	if len(out3.String()) != logBufferSize {
		t.Fatalf("a full buffer waited: %d bytes written", len(out3.String()))
	}
}
