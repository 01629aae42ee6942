//go:build !linux

package store

import (
	"io/fs"
	"os"
	"path/filepath"
)

// SyncFS flushes every file and directory below dir to disk (fsync each;
// Linux has one call for it).
func SyncFS(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return syncPath(p)
	})
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
