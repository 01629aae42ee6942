package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/suyashkumar/dicom"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"sonolink/dicom/dicomfile"
)

// Errors callers tell apart. Each wraps its cause, so callers can also ask
// errors.Is(err, syscall.ENOSPC) and the like.
var (
	// ErrInvalidObject: the object is broken, hostile, or lacks a required
	// UID; resending it will not help. It also matches dicomfile.ErrInvalid
	// when that was the cause.
	ErrInvalidObject = errors.New("invalid object")
	// ErrStorage: the object could not be made durable (disk full,
	// unwritable directory, index failure); the sender may retry later.
	ErrStorage = errors.New("storage failure")
	// ErrDataSetMismatch: the data set's SOP Class or SOP Instance UID is
	// not the one the request announced (IngestOptions); nothing was stored.
	// It also matches ErrInvalidObject.
	ErrDataSetMismatch = errors.New("data set does not match the request")
	// ErrNotFound: no such study or instance.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: a study key (an accession number) names several studies.
	ErrAmbiguous = errors.New("ambiguous study key")
	// ErrInUse: another process holds the data directory.
	ErrInUse = errors.New("data directory is in use by another sonolink process")
)

// Options configure a Store.
type Options struct {
	Logger   *slog.Logger // default slog.Default()
	MaxDepth int          // sequence nesting accepted; 0 = dicomfile.DefaultMaxDepth
	// LockTimeout is how long Open waits for another process to release
	// the index; 0 means one second.
	LockTimeout time.Duration
	// Contacts, when set, returns the patient's contact values in a
	// received header (the configured contact tags'); Ingest keeps them
	// with the object (Instance.Contacts) under ContactsKey, which names
	// those tags, so the studies list need not read the file again.
	Contacts    func(*dicom.Dataset) []string
	ContactsKey string
}

// Store is the object store of one data directory. It is safe for
// concurrent use.
type Store struct {
	dir  string
	db   *bolt.DB
	log  *slog.Logger
	lim  dicomfile.Limits
	uidL [64]sync.Mutex // per-SOP-Instance-UID stripes: one ingest of a UID at a time

	dirsMu sync.Mutex
	dirs   map[string]bool // directories known to exist durably

	contacts    func(*dicom.Dataset) []string // Options.Contacts
	contactsKey string

	// fault injection for tests (nil in production)
	faultSync func(path string) error

	recovery   Recovery
	committing atomic.Int32 // ingests committing their index entry
	scrubMu    sync.Mutex   // one scrub pass at a time

	// Pending markers (see pending.go).
	pendMu    sync.Mutex
	confirmed map[string]bool // files of acknowledged objects whose marker is still in the index
	pendTimer *time.Timer
	closed    bool

	// Background work of the store itself (the search index build), ended
	// and joined by Close.
	searchReady atomic.Bool // the search index holds the current layout
	bgCtx       context.Context
	bgStop      context.CancelFunc
	bg          sync.WaitGroup

	openTook time.Duration // opening index.db (logged by recover)
}

const (
	indexFile  = "index.db"
	objectsDir = "objects"
	derivedDir = "derived"
	spoolDir   = "spool"
	tmpDir     = "tmp" // temporary files of writeAtomic, emptied at every Open
	tmpPrefix  = ".tmp-"
)

// Open opens (creating when needed) the data directory: index.db (bbolt),
// objects/ (received files), derived/ (de-identified copies, renders),
// spool/ (incoming files) and tmp/ (temporary files). Only one process may
// hold it: Open fails with ErrInUse when another does. At start-up it
// removes leftover spool and temporary files and checks the objects whose
// flushes a crash may have interrupted (see Recovery); its work does not
// grow with the archive. The full check is Scrub's.
func Open(dataDir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, RestoreMarker)); err == nil {
		return nil, fmt.Errorf("%s: %w", abs, ErrRestoreUnfinished)
	}
	s := &Store{dir: abs, log: opts.Logger.With("component", "store"), lim: dicomfile.Limits{MaxDepth: opts.MaxDepth}, dirs: map[string]bool{}, confirmed: map[string]bool{}}
	if opts.Contacts != nil && opts.ContactsKey != "" {
		s.contacts, s.contactsKey = opts.Contacts, opts.ContactsKey
	}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	for _, d := range []string{"", objectsDir, derivedDir, spoolDir, tmpDir} {
		if err := s.mkdirSync(filepath.Join(abs, d)); err != nil {
			return nil, fmt.Errorf("%w: creating data directory: %w", ErrStorage, err)
		}
	}
	// The 256 fan-out directories of objects/ exist from the start, so an
	// ingest never pays for creating (and fsyncing) one.
	created := false
	for i := 0; i < 256; i++ {
		d := filepath.Join(abs, objectsDir, fmt.Sprintf("%02x", i))
		err := os.Mkdir(d, 0o750)
		switch {
		case err == nil:
			created = true
		case !errors.Is(err, os.ErrExist):
			return nil, fmt.Errorf("%w: creating object directories: %w", ErrStorage, err)
		}
		s.dirs[d] = true
	}
	if created {
		if err := s.syncDir(filepath.Join(abs, objectsDir)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	// Every commit writes the free list (freelistSync), so Open reads it
	// instead of walking every page of the index, which after a power cut
	// took 29 s with a cold cache at 100,000 objects (BenchmarkFreelist).
	t0 := time.Now()
	db, err := bolt.Open(filepath.Join(abs, indexFile), 0o600, &bolt.Options{Timeout: opts.LockTimeout,
		NoFreelistSync: !freelistSync, FreelistType: freelistType})
	s.openTook = time.Since(t0)
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w (%s): %w", ErrInUse, abs, err)
		}
		return nil, fmt.Errorf("%w: opening index: %w", ErrStorage, err)
	}
	s.db = db
	db.MaxBatchDelay = 2 * time.Millisecond
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if err := updateIfMissing(db, allBuckets, func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: initialising index: %w", ErrStorage, err)
	}
	buildSearch, err := s.openSearchIndex()
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openInflight(); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := s.recover(); err != nil {
		db.Close()
		return nil, err
	}
	if buildSearch {
		s.startSearchBuild()
	}
	return s, nil
}

// How the index keeps its free list: written at every commit, so that
// Open after a crash need not rebuild it from every page; a hashmap in
// memory. BenchmarkFreelist compares the choices (variables for it).
var (
	freelistSync = true
	freelistType = bolt.FreelistMapType
)

// Close closes the index. Ingests in progress finish first.
func (s *Store) Close() error {
	s.bgStop()
	s.bg.Wait()
	s.flushConfirmed()
	s.pendMu.Lock()
	s.closed = true
	if s.pendTimer != nil {
		s.pendTimer.Stop()
	}
	s.pendMu.Unlock()
	return s.db.Close()
}

// Dir is the data directory (absolute).
func (s *Store) Dir() string { return s.dir }

// SpoolDir is where incoming files are written before Ingest (same
// filesystem as objects/, so Ingest can rename). Its content is removed at
// every Open.
func (s *Store) SpoolDir() string { return filepath.Join(s.dir, spoolDir) }

// ObjectPath is the absolute path of an instance's stored file.
func (s *Store) ObjectPath(inst *Instance) string {
	return filepath.Join(s.dir, filepath.FromSlash(inst.File))
}

// InstanceKey is the directory name of an instance's derived data: the
// first 128 bits of SHA-256 of its SOP Instance UID, in hex.
func InstanceKey(sopUID string) string {
	h := sha256.Sum256([]byte(sopUID))
	return hex.EncodeToString(h[:16])
}

func (s *Store) uidLock(sopUID string) *sync.Mutex {
	h := sha256.Sum256([]byte(sopUID))
	return &s.uidL[h[0]%byte(len(s.uidL))]
}

// mkdirSync creates dir and any missing parents, fsyncing each parent whose
// entries changed, so a created directory survives a crash.
func (s *Store) mkdirSync(dir string) error {
	s.dirsMu.Lock()
	known := s.dirs[dir]
	s.dirsMu.Unlock()
	if known {
		return nil
	}
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
	} else {
		parent := filepath.Dir(dir)
		if parent != dir {
			if err := s.mkdirSync(parent); err != nil {
				return err
			}
		}
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := s.syncDir(parent); err != nil {
			return err
		}
	}
	s.dirsMu.Lock()
	s.dirs[dir] = true
	s.dirsMu.Unlock()
	return nil
}

func (s *Store) forgetDir(dir string) {
	s.dirsMu.Lock()
	for d := range s.dirs {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			delete(s.dirs, d)
		}
	}
	s.dirsMu.Unlock()
}

func (s *Store) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return s.sync(d)
}

func (s *Store) sync(f *os.File) error {
	t0 := time.Now()
	if s.faultSync != nil {
		if err := s.faultSync(f.Name()); err != nil {
			return err
		}
	}
	err := f.Sync()
	metricFsync.Observe(time.Since(t0).Seconds())
	return err
}

// writeAtomic writes path through a temporary file in tmp/ (same
// filesystem, so a crash's leftovers are found without a walk): write,
// fsync, rename, fsync the directory.
func (s *Store) writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := s.mkdirSync(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = s.sync(f); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return s.syncDir(dir)
}

// updateIfMissing runs fn in a write transaction only when one of the
// buckets is missing: a start that finds the index as it left it does not
// pay for a commit (and its fsync).
func updateIfMissing(db *bolt.DB, buckets [][]byte, fn func(*bolt.Tx) error) error {
	missing := false
	if err := db.View(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if tx.Bucket(b) == nil {
				missing = true
			}
		}
		return nil
	}); err != nil || !missing {
		return err
	}
	return db.Update(fn)
}

// Generation is the index's last committed write (bbolt's transaction id):
// it changes whenever anything in the index does, so a reader may keep what
// it derived from the index for as long as Generation stays the same.
func (s *Store) Generation() uint64 {
	var g uint64
	_ = s.db.View(func(tx *bolt.Tx) error {
		g = uint64(tx.ID())
		return nil
	})
	return g
}
