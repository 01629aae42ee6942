//go:build !linux

package store

import (
	"io/fs"
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
