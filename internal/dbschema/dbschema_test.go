package dbschema

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "x.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func version(t *testing.T, db *bolt.DB) int {
	t.Helper()
	var v int
	if err := db.View(func(tx *bolt.Tx) (err error) { v, err = Version(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrateInOrderOnce(t *testing.T) {
	db := openDB(t)
	var ran []int
	ms := []Migration{
		{To: 1, What: "one", Apply: func(tx *bolt.Tx) error {
			ran = append(ran, 1)
			_, err := tx.CreateBucketIfNotExists([]byte("a"))
			return err
		}},
		{To: 2, What: "two", Apply: func(tx *bolt.Tx) error { ran = append(ran, 2); return nil }},
	}
	from, to, err := Migrate(db, "x.db", ms[:1], nil)
	if err != nil || from != 0 || to != 1 {
		t.Fatalf("first: %d→%d %v", from, to, err)
	}
	from, to, err = Migrate(db, "x.db", ms, nil)
	if err != nil || from != 1 || to != 2 {
		t.Fatalf("second: %d→%d %v", from, to, err)
	}
	if _, _, err := Migrate(db, "x.db", ms, nil); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 2 || ran[0] != 1 || ran[1] != 2 || version(t, db) != 2 {
		t.Fatalf("ran %v, version %d; want [1 2] once each and version 2", ran, version(t, db))
	}
}

func TestMigrateRefusesNewer(t *testing.T) {
	db := openDB(t)
	if err := db.Update(func(tx *bolt.Tx) error { return SetVersion(tx, 5) }); err != nil {
		t.Fatal(err)
	}
	ran := false
	ms := []Migration{{To: 1, What: "one", Apply: func(*bolt.Tx) error { ran = true; return nil }}}
	_, _, err := Migrate(db, "index.db", ms, nil)
	var tn *TooNewError
	if !errors.As(err, &tn) || tn.Have != 5 || tn.Know != 1 || !strings.Contains(err.Error(), "newer sonolink") {
		t.Fatalf("got %v, want a TooNewError 5 > 1 that says a newer sonolink wrote it", err)
	}
	if ran || version(t, db) != 5 {
		t.Fatalf("a newer database was changed (ran %v, version %d)", ran, version(t, db))
	}
}

func TestFailedMigrationKeepsThePreviousVersion(t *testing.T) {
	db := openDB(t)
	boom := errors.New("boom")
	ms := []Migration{
		{To: 1, What: "one", Apply: func(*bolt.Tx) error { return nil }},
		{To: 2, What: "two", Apply: func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucket([]byte("half")); err != nil {
				return err
			}
			return boom
		}},
	}
	_, to, err := Migrate(db, "x.db", ms, nil)
	if !errors.Is(err, boom) || to != 1 || version(t, db) != 1 {
		t.Fatalf("got to=%d version=%d err=%v; want stopped at 1 with the cause", to, version(t, db), err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("half")) != nil {
			t.Error("the failed migration's change was committed")
		}
		return nil
	})
}

func TestDamagedVersion(t *testing.T) {
	db := openDB(t)
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists(metaBucket)
		return b.Put(versionKey, []byte("x1"))
	})
	if _, _, err := Migrate(db, "x.db", []Migration{{To: 1, What: "one", Apply: func(*bolt.Tx) error { return nil }}}, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("got %v, want a damaged-version error", err)
	}
}
