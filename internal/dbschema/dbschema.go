// Package dbschema keeps the layout version of a bbolt database and brings
// an older layout up to date when the database is opened.
//
// The version is a decimal number under the key "schema" of the bucket
// "meta". A database without it has version 0: it was written before
// versions were recorded. Migrate applies, in order, every migration whose
// version is above the database's, each in its own transaction that also
// records the new version, so a crash leaves the database at the last
// version fully applied and the next open carries on from there. A
// migration must be idempotent (it may meet a layout partly like its
// result, e.g. written by a newer binary that was rolled back). A database
// whose version is above the last migration's was written by a newer
// sonolink: Migrate refuses it (TooNewError) and writes nothing.
package dbschema

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

var (
	metaBucket = []byte("meta")
	versionKey = []byte("schema")
)

// Migration brings a database to version To from To-1.
type Migration struct {
	To    int
	What  string // what it changes, for the log
	Apply func(tx *bolt.Tx) error
}

// TooNewError: the database was written by a newer sonolink.
type TooNewError struct {
	Name       string // e.g. "index.db"
	Have, Know int
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("%s has schema version %d, and this sonolink knows versions up to %d: the data directory was written by a newer sonolink. Run that version (or a newer one), or restore a backup made with this one", e.Name, e.Have, e.Know)
}

// Latest is the version the migrations lead to.
func Latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].To
}

// Version reads the recorded version (0 when none is recorded).
func Version(tx *bolt.Tx) (int, error) {
	b := tx.Bucket(metaBucket)
	if b == nil {
		return 0, nil
	}
	raw := b.Get(versionKey)
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("schema version %q is damaged", raw)
	}
	return v, nil
}

// SetVersion records v (inside a migration's transaction, or for tests).
func SetVersion(tx *bolt.Tx, v int) error {
	b, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	return b.Put(versionKey, []byte(strconv.Itoa(v)))
}

// Check reports the database's version, and a TooNewError when it is above
// what ms lead to. It writes nothing.
func Check(db *bolt.DB, name string, ms []Migration) (int, error) {
	var have int
	err := db.View(func(tx *bolt.Tx) (err error) {
		have, err = Version(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if know := Latest(ms); have > know {
		return have, &TooNewError{Name: name, Have: have, Know: know}
	}
	return have, nil
}

// Migrate brings db (called name in messages) to Latest(ms) and returns
// the versions before and after. ms must be in increasing order of To,
// starting at 1.
func Migrate(db *bolt.DB, name string, ms []Migration, log *slog.Logger) (from, to int, err error) {
	for i, m := range ms {
		if m.To != i+1 || m.Apply == nil {
			return 0, 0, errors.New("dbschema: migrations must be numbered 1, 2, 3… and have a function")
		}
	}
	from, err = Check(db, name, ms)
	if err != nil {
		return from, from, err
	}
	to = from
	for _, m := range ms {
		if m.To <= to {
			continue
		}
		err := db.Update(func(tx *bolt.Tx) error {
			// Another process cannot hold the database, but read the
			// version again so the step stays right if that ever changes.
			if v, err := Version(tx); err != nil || v >= m.To {
				return err
			}
			if err := m.Apply(tx); err != nil {
				return err
			}
			return SetVersion(tx, m.To)
		})
		if err != nil {
			return from, to, fmt.Errorf("upgrading %s from schema version %d to %d (%s): %w; it stays at version %d, which this sonolink cannot use: run the sonolink that wrote it, or restore a backup", name, to, m.To, m.What, err, to)
		}
		if log != nil {
			log.Info("database upgraded", "db", name, "from", to, "to", m.To, "change", m.What)
		}
		to = m.To
	}
	return from, to, nil
}
