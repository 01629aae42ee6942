package dimse

import (
	"crypto/sha256"
	"hash"
	"os"
	"sync"
)

// spoolChunk is the size of each write to a spool file. Received fragments
// (PDVs, often 16 to 128 KiB) are gathered into chunks of this size, so the
// file gets few large writes; small enough that a typical 0.5 to 1 MB
// ultrasound image is mostly hashed and written while it still arrives
// (with 1 MiB chunks most objects were hashed and written only after their
// last fragment, ~0.8 ms more per object).
const spoolChunk = 256 << 10

// spoolBuffers is how many chunks one spool uses: one being filled by the
// association's goroutine while the others are hashed and written.
const spoolBuffers = 3

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, spoolChunk); return &b }}

// spool streams one data set to a Part 10 file in SpoolDir. The receiving
// goroutine only copies fragments into chunks; a writer goroutine hashes the
// data set (SHA-256, handed to the Handler so the store need not read the
// file again), writes each chunk and starts its write-back to disk
// (startWriteback), so the fsync that makes the object durable has little
// left to do when the last fragment arrives. Memory per spool is
// spoolBuffers × spoolChunk, whatever the object's size.
type spool struct {
	f    *os.File
	path string
	err  error // first error; receiving side

	cur  []byte        // chunk being filled (nil: take one from free)
	bufs []*[]byte     // the chunks, returned to chunkPool at close
	full chan []byte   // to the writer
	free chan []byte   // back from the writer
	done chan struct{} // closed when the writer has finished

	// Owned by the writer until done is closed.
	h       hash.Hash
	hashOff int64 // file offset where the data set (and the hash) starts
	off     int64 // bytes written
	werr    error

	mu     sync.Mutex
	failed error // werr, visible to the receiving side while running

	sum []byte // SHA-256 of the data set, set by close on success

	ahead *flushAhead // nil where not supported
	alone func() bool // whether this is the only association (see flushAhead)
}

// newSpool starts writing a spool file; alone reports whether its
// association is the only one open.
func newSpool(f *os.File, header []byte, alone func() bool) *spool {
	sp := &spool{
		alone:   alone,
		f:       f,
		path:    f.Name(),
		full:    make(chan []byte, spoolBuffers),
		free:    make(chan []byte, spoolBuffers),
		done:    make(chan struct{}),
		h:       sha256.New(),
		hashOff: int64(len(header)),
	}
	for range spoolBuffers {
		b := chunkPool.Get().(*[]byte)
		sp.bufs = append(sp.bufs, b)
		sp.free <- (*b)[:0]
	}
	if flushAheadSupported {
		sp.ahead = newFlushAhead(f)
	}
	go sp.writer()
	sp.write(header)
	return sp
}

func (sp *spool) writer() {
	defer close(sp.done)
	for b := range sp.full {
		if sp.werr == nil {
			sp.werr = sp.flushChunk(b)
			if sp.werr != nil {
				sp.mu.Lock()
				sp.failed = sp.werr
				sp.mu.Unlock()
			}
		}
		sp.free <- b[:0]
	}
}

func (sp *spool) flushChunk(b []byte) error {
	// Hash what belongs to the data set (the first chunk starts with our
	// File Meta Information).
	if skip := sp.hashOff - sp.off; skip < int64(len(b)) {
		sp.h.Write(b[max(skip, 0):])
	}
	n, err := sp.f.Write(b)
	start := sp.off
	sp.off += int64(n)
	if err != nil {
		return err
	}
	startWriteback(sp.f, start, int64(n))
	if n == spoolChunk && sp.ahead != nil && sp.alone() {
		// Not for the last chunk: the handler's fsync does that. Nor while
		// other associations are open: their transfers overlap this one's
		// final flush anyway, and more flushes only add work for the disk.
		sp.ahead.request()
	}
	return nil
}

// write queues p for the file. Errors of earlier chunks show up here (and
// in close); after an error the rest is dropped.
func (sp *spool) write(p []byte) error {
	if sp.err == nil {
		sp.mu.Lock()
		sp.err = sp.failed
		sp.mu.Unlock()
	}
	if sp.err != nil {
		return sp.err
	}
	for len(p) > 0 {
		if sp.cur == nil {
			sp.cur = <-sp.free
		}
		n := copy(sp.cur[len(sp.cur):cap(sp.cur)], p)
		sp.cur = sp.cur[:len(sp.cur)+n]
		p = p[n:]
		if len(sp.cur) == cap(sp.cur) {
			sp.full <- sp.cur
			sp.cur = nil
		}
	}
	return nil
}

// close writes what is left, waits for the writer, closes the file and sets
// sp.sum (on success) and sp.err. It may be called more than once.
func (sp *spool) close() {
	if sp.f == nil {
		return
	}
	if sp.err == nil && len(sp.cur) > 0 {
		sp.full <- sp.cur
	}
	sp.cur = nil
	close(sp.full)
	<-sp.done
	if sp.err == nil {
		sp.err = sp.werr
	}
	// A flush in progress goes on: the handler waits for it (flushed).
	if err := sp.f.Close(); sp.err == nil {
		sp.err = err
	}
	if sp.err == nil {
		sp.sum = sp.h.Sum(nil)
	}
	sp.f = nil
	for _, b := range sp.bufs {
		chunkPool.Put(b)
	}
	sp.bufs = nil
}

// flushed waits for the spool's flush ahead (see flushAhead) and returns
// its error. Call it after close; it may be called more than once.
func (sp *spool) flushed() error { return sp.ahead.finish() }

// flushAhead flushes a spool file to stable storage (fdatasync) in a
// goroutine of its own while the rest of the object still arrives. On this
// project's reference machine a flush costs in proportion to what was
// written since the previous one: the handler's fsync after the last
// fragment (which the modality waits for) then has only the tail left to
// flush, not the whole object. Requests made while a flush runs are merged
// into one.
type flushAhead struct {
	f    *os.File // a descriptor of its own: it may outlive the spool's
	kick chan struct{}
	done chan struct{}
	err  error // first error; read after done
	once sync.Once
}

// newFlushAhead returns nil if f cannot be opened a second time (then the
// handler's fsync does all the work).
func newFlushAhead(f *os.File) *flushAhead {
	g, err := os.Open(f.Name())
	if err != nil {
		return nil
	}
	fa := &flushAhead{f: g, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go fa.run()
	return fa
}

func (fa *flushAhead) run() {
	defer close(fa.done)
	defer fa.f.Close()
	for range fa.kick {
		if err := datasync(fa.f); err != nil && fa.err == nil {
			fa.err = err
		}
	}
}

// request asks for a flush of everything written so far.
func (fa *flushAhead) request() {
	if fa == nil {
		return
	}
	select {
	case fa.kick <- struct{}{}:
	default: // one is already waiting to start
	}
}

// finish drops a flush that has not started, waits for the one in progress
// and returns the first error. It may be called more than once, but not
// before the spool's writer has finished (no request after it).
func (fa *flushAhead) finish() error {
	if fa == nil {
		return nil
	}
	fa.once.Do(func() {
		select {
		case <-fa.kick:
		default:
		}
		close(fa.kick)
	})
	<-fa.done
	return fa.err
}
