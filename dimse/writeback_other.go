//go:build !linux

package dimse

import "os"

// startWriteback does nothing where sync_file_range(2) does not exist; the
// fsync after the last fragment writes the whole object.
func startWriteback(f *os.File, off, n int64) {}

// flushAheadSupported: see flushAhead. Elsewhere the fsync after the last
// fragment flushes the whole object.
const flushAheadSupported = false

func datasync(f *os.File) error { return f.Sync() }
