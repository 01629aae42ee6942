package store

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/dbschema"
)

func TestSchemaRecordedAndNewerRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(); err != nil || v != Schema() || v < 1 {
		t.Fatalf("fresh index: schema %d (%v), want %d", v, err, Schema())
	}
	s.Close()

	db, err := bolt.Open(filepath.Join(dir, indexFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return dbschema.SetVersion(tx, Schema()+1) })
	db.Close()
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("index of a newer sonolink: got %v, want ErrNewerSchema", err)
	}
}
