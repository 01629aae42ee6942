package store

import (
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/dbschema"
)

// indexMigrations bring an index.db written by an older sonolink to the
// layout this one uses, in order, each in one transaction (see
// internal/dbschema). Add one at the end whenever the layout changes in a
// way the code does not handle by itself at open; never change one that a
// release has run.
//
// Version 0 is an index from before versions were recorded (up to
// commit 3128d91): the buckets of today's layout, some of them missing
// (scrub, search). Version 1 is that layout with every bucket present. The
// search index, which version 0 lacks too, is built by openSearchIndex
// under its own version key, so a change of the search layout alone needs
// no migration here. Version 2 adds the choice index (versions.go): every
// object kept in more than one version awaits a choice, since earlier
// versions did not record whether a technician had made one.
var indexMigrations = []dbschema.Migration{
	{To: 1, What: "record the schema version; create the buckets an index from before versions lacks", Apply: func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
	{To: 2, What: "index the objects whose versions await a technician's choice", Apply: func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bChoose); err != nil {
			return err
		}
		ib := tx.Bucket(bInstances)
		c := tx.Bucket(bConflicts).Cursor()
		var last string
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			sop, _, _ := strings.Cut(string(k), "\x00")
			if sop == last {
				continue
			}
			last = sop
			var prim Instance
			ok, err := getJSON(ib, []byte(sop), &prim)
			if err != nil {
				return err
			}
			if ok {
				if err := awaitChoice(tx, prim.StudyUID, sop); err != nil {
					return err
				}
			}
		}
		return nil
	}},
}

// Schema is the schema version of index.db this build writes.
func Schema() int { return dbschema.Latest(indexMigrations) }

// ErrNewerSchema: the data directory was written by a newer sonolink (the
// error is a *dbschema.TooNewError and says what to do).
var ErrNewerSchema = errors.New("data directory written by a newer sonolink")

// migrate brings the index to IndexSchema, or refuses a newer one. Open
// calls it before anything else reads the index.
func (s *Store) migrate() error {
	_, _, err := dbschema.Migrate(s.db, indexFile, indexMigrations, s.log)
	var tooNew *dbschema.TooNewError
	if errors.As(err, &tooNew) {
		return fmt.Errorf("%w: %w", ErrNewerSchema, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return nil
}

// SchemaVersion reads the schema version recorded in the index.
func (s *Store) SchemaVersion() (int, error) {
	var v int
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		v, err = dbschema.Version(tx)
		return err
	})
	return v, err
}

func schemaOf(tx *bolt.Tx) (int, error) { return dbschema.Version(tx) }

// RestoreMarker is a file a restore keeps in the data directory until it
// has finished; Open refuses a directory that holds it.
const RestoreMarker = ".restore-incomplete"

// ErrRestoreUnfinished: a restore into the data directory did not finish.
var ErrRestoreUnfinished = errors.New("a restore into this data directory has not finished: run sonolink restore again (the directory holds " + RestoreMarker + ")")
