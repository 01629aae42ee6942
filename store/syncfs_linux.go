package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS flushes to disk everything written on the filesystem that holds
// dir (syncfs(2)): one call instead of an fsync per file after copying
// many files, with the same durability for files and directory entries.
func SyncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
