package store

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LoadUnsynced indexes many spool files in one index transaction, for
// building test and benchmark archives quickly: nothing is flushed (no
// fsync of files, directories or the index beyond bbolt's commit), so it
// gives none of Ingest's guarantees and is not for received objects.
// Objects whose SOP Instance UID is already indexed are dropped. annotate,
// if set, may fill in what the pipeline would have recorded (Deid, Render)
// before the entry is written.
func (s *Store) LoadUnsynced(spoolPaths []string, src Source, annotate func(*Instance)) error {
	metas := make([]*described, 0, len(spoolPaths))
	for _, p := range spoolPaths {
		meta, _, err := s.describeFile(p)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		inst := meta.inst
		inst.Source, inst.File = src, objectFile(inst.SOPInstanceUID, inst.Hash)
		inst.ReceivedAt = time.Now().UTC()
		if err := os.Rename(p, filepath.Join(s.dir, filepath.FromSlash(inst.File))); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if annotate != nil {
			annotate(inst)
		}
		metas = append(metas, meta)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, m := range metas {
			if tx.Bucket(bInstances).Get([]byte(m.inst.SOPInstanceUID)) != nil {
				continue
			}
			if err := indexInstance(tx, m.inst, m.patient, m.study); err != nil {
				return err
			}
		}
		return nil
	})
}
