package share

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/dbschema"
)

// shareMigrations bring a share.db written by an older sonolink to the
// layout this one uses, in order, each in one transaction (see
// internal/dbschema), at the service's time now. Add one at the end whenever the layout changes in a
// way the code does not handle by itself at open; never change one that a
// release has run.
//
// Version 0 is a share.db from before versions were recorded (up to commit
// 3128d91): some buckets (renewal requests) and the contact index may be
// missing. Version 1 has every bucket and the contact index. Version 2 adds
// the attention indexes (attention.go), filled from the links' deliveries
// and the auto-share decisions.
func shareMigrations(now func() time.Time) []dbschema.Migration {
	return []dbschema.Migration{
		{To: 1, What: "record the schema version; create the buckets and the contact index a share.db from before versions lacks", Apply: func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return openContactIndex(tx)
		}},
		{To: 2, What: "index the failed deliveries and the studies without a usable contact for the attention list", Apply: func(tx *bolt.Tx) error {
			return backfillAttention(tx, now())
		}},
	}
}

// Schema is the schema version of share.db this build writes.
func Schema() int { return dbschema.Latest(shareMigrations(time.Now)) }

// ErrNewerSchema: share.db was written by a newer sonolink (the error is
// also a *dbschema.TooNewError and says what to do).
var ErrNewerSchema = errors.New("share.db written by a newer sonolink")

func migrate(db *bolt.DB, s *Service) error {
	_, _, err := dbschema.Migrate(db, "share.db", shareMigrations(s.now), s.log)
	var tooNew *dbschema.TooNewError
	if errors.As(err, &tooNew) {
		return fmt.Errorf("%w: %w", ErrNewerSchema, err)
	}
	return err
}

// SchemaVersion reads the schema version recorded in share.db.
func (s *Service) SchemaVersion() (int, error) {
	var v int
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		v, err = dbschema.Version(tx)
		return err
	})
	return v, err
}
