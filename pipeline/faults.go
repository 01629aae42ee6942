package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"sonolink/store"
)

// What can go wrong while an object is de-identified and rendered falls in
// two kinds, and only one of them is a verdict on the object:
//
//   - a fault of the node (disk full, an I/O error, a file that vanished,
//     the index unwritable): the object stays pending, nothing of it is shown,
//     and it is tried again with a growing delay and at every start;
//   - a property of the object (it does not parse, its pixels cannot be
//     rewritten, a decoder panicked on it): the object is residual, shown
//     only behind the patient's password, and not tried again until the
//     de-identification profile changes.

// transient reports whether err is a fault of the node rather than of the
// object, so that trying again later may succeed.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *panicError
	if errors.As(err, &pe) {
		return false
	}
	// Errno values first: a read error under the DICOM parser is also
	// wrapped as an invalid object, but EIO is never the object's doing.
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.ENOENT,
		syscall.EROFS, syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE, syscall.EAGAIN, syscall.EINTR, syscall.ESTALE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, store.ErrStorage) {
		return true
	}
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	var sysErr *os.SyscallError
	return errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr)
}

// panicError is a panic recovered while working on one object. Its text
// names the panic value's type only: a runtime error may quote indexes, but
// a panic value built from the object's data could quote patient data.
type panicError struct {
	stage string // "de-identification" or "render"
	value any
	stack []byte
}

func (e *panicError) Error() string {
	if re, ok := e.value.(interface{ RuntimeError() }); ok {
		return fmt.Sprintf("internal error during %s: %v", e.stage, re)
	}
	return fmt.Sprintf("internal error during %s: panic with a %T", e.stage, e.value)
}

// guard runs fn and turns a panic in it into a *panicError, so one object
// a hand-written decoder chokes on cannot take the process down, and
// whatever called fn (a store write) cleans up as after any error.
func guard(stage string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{stage: stage, value: r, stack: debug.Stack()}
		}
	}()
	return fn()
}

// retryDelay is the wait before attempt n+1 (n ≥ 1) after a fault:
// doubling from min, at most max.
func retryDelay(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
