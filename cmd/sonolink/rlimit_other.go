//go:build !unix

package main

// openFileLimit: no RLIMIT_NOFILE here; the default caps apply.
func openFileLimit() uint64 { return 0 }
