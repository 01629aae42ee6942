package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer gathers serve's log lines and writes them out together: a
// busy patient page logs a line per request, and one write system call
// per line was a measurable part of a page view. A warning or worse is
// written at once with everything before it (warnFlusher); other lines
// wait at most logFlushEvery, or until logBufferSize bytes are waiting.
// Flush at exit writes the rest.
type logBuffer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer
	every time.Duration
}

const (
	logFlushEvery = 100 * time.Millisecond
	logBufferSize = 32 << 10
)

func newLogBuffer(w io.Writer, every time.Duration) *logBuffer {
	return &logBuffer{w: w, every: every}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logBufferSize {
		b.flushLocked()
	} else if b.timer == nil {
		b.timer = time.AfterFunc(b.every, b.Flush)
	}
	return len(p), nil
}

// Flush writes what is waiting.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) > 0 {
		_, _ = b.w.Write(b.buf) // stderr: nowhere else to say it failed
		b.buf = b.buf[:0]
	}
}

// warnFlusher writes a warning or an error out at once.
type warnFlusher struct {
	slog.Handler
	b *logBuffer
}

func (h warnFlusher) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.b.Flush()
	}
	return err
}

func (h warnFlusher) WithAttrs(as []slog.Attr) slog.Handler {
	return warnFlusher{h.Handler.WithAttrs(as), h.b}
}

func (h warnFlusher) WithGroup(name string) slog.Handler {
	return warnFlusher{h.Handler.WithGroup(name), h.b}
}
