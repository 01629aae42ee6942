package share

import (
	"os"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/dbschema"
)

// Files of the share service in a data directory. KeyFile holds the secret
// that seals tokens and one-time codes: a backup of DBFile is of no use
// for resending links without it.
const (
	DBFile  = "share.db"
	KeyFile = "share.key"
)

// SnapshotInfo describes a copy of share.db.
type SnapshotInfo struct {
	Schema int `json:"schema"`
	Links  int `json:"links"`
}

// WriteSnapshot writes share.db as one read transaction sees it (bbolt's
// Tx.WriteTo, which writers do not wait for) to path, a new file, flushed
// to disk before it returns.
func (s *Service) WriteSnapshot(path string) (SnapshotInfo, error) {
	var info SnapshotInfo
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v, err := dbschema.Version(tx)
		if err != nil {
			return err
		}
		info.Schema = v
		info.Links = tx.Bucket(bktLinks).Stats().KeyN
		_, err = tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return info, err
}
