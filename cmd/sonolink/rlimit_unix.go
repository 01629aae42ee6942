//go:build unix

package main

import "golang.org/x/sys/unix"

// openFileLimit is the process's RLIMIT_NOFILE soft limit (which the Go
// runtime has already raised to the hard limit); 0 when unknown.
func openFileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return uint64(rl.Cur)
}
