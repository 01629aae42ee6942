package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backup: a consistent copy of the store while it is in use.
//
// The index is copied in one short read transaction (bbolt's Tx.WriteTo:
// a snapshot, which ingest does not wait for). Everything else is read from
// that copy, not from the live index, so the files copied are exactly those
// the snapshot names: every object file it indexes and the derived files
// (de-identified copies and renders) of every instance it has a record for.
// Objects that arrive afterwards are not in the backup, and nothing in the
// backup refers to them.
//
// Files can still go while they are copied (a purge, a version choice,
// derived files made again). The copy of the index is then corrected so a
// restored node never trusts a file that is not there:
//   - an object file that is gone marks its entry Missing in the copy, as
//     the scrub would (counted Purged when the live index no longer names
//     it, Missing when it does: a file lost from under the store);
//   - an instance whose derived files are not all there, or whose live
//     de-identification or render record changed while they were copied,
//     loses both records in the copy, so the restored node makes them
//     again from the original (counted Redo).
//
// The copy yields to ingest as the scrub does (see yield). Every file
// written is flushed to disk (SyncFS) before Backup returns.

// BackupResult says what Backup copied.
type BackupResult struct {
	Schema       int   `json:"schema"` // schema version of the copied index
	Studies      int   `json:"studies"`
	Instances    int   `json:"instances"` // primary versions
	Conflicts    int   `json:"conflicts"` // conflict versions kept
	Objects      int   `json:"objects"`   // object files copied
	ObjectBytes  int64 `json:"object_bytes"`
	Derived      int   `json:"derived"` // derived files copied
	DerivedBytes int64 `json:"derived_bytes"`
	Purged       int   `json:"purged"`  // gone during the copy, no longer indexed: marked missing in the copy
	Missing      int   `json:"missing"` // gone although still indexed (lost): marked missing in the copy
	Redo         int   `json:"redo"`    // instances whose derived files the restored node makes again
}

// backupBatch instances have their derived files copied, then their live
// records compared, at a time (a variable for tests).
var backupBatch = 256

// backupAfterSnapshot, when set (tests), runs between the snapshot and
// the copy of the files.
var backupAfterSnapshot func()

// FileSum is told about every file Backup writes: its path relative to the
// backup directory (slash-separated), its size and its SHA-256 in hex.
type FileSum func(rel string, size int64, sha256hex string)

// IndexFile is the name of the index in a data directory (and a backup).
const IndexFile = indexFile

// Backup copies the store into dst (an empty directory that becomes a
// data directory: index.db, objects/, derived/), reporting each file to
// sum. It may run while objects arrive. then, when not nil, runs right
// after the index snapshot and before the files are copied (the caller's
// other snapshots go there, taken at nearly the same moment); its error
// stops the backup.
func (s *Store) Backup(ctx context.Context, dst string, sum FileSum, then func() error) (BackupResult, error) {
	var r BackupResult
	snap := filepath.Join(dst, indexFile)
	if err := s.writeSnapshot(snap); err != nil {
		return r, fmt.Errorf("copying the index: %w", err)
	}
	if then != nil {
		if err := then(); err != nil {
			return r, err
		}
	}
	if backupAfterSnapshot != nil {
		backupAfterSnapshot()
	}
	db, err := bolt.Open(snap, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return r, fmt.Errorf("opening the copy of the index: %w", err)
	}
	c := &backupCopy{s: s, db: db, dst: dst, sum: sum, r: &r, dirs: map[string]bool{}}
	err = c.run(ctx)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return r, err
	}
	n, h, err := hashFile(snap)
	if err != nil {
		return r, err
	}
	sum(indexFile, n, h)
	return r, SyncFS(dst)
}

// writeSnapshot writes the index as one read transaction sees it.
func (s *Store) writeSnapshot(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type backupCopy struct {
	s    *Store
	db   *bolt.DB // the copy of the index
	dst  string
	sum  FileSum
	r    *BackupResult
	dirs map[string]bool // directories created in dst

	sinceYield int64 // bytes copied since the last yield to ingest
}

type missingRef struct {
	file string
	ref  []byte
}

func (c *backupCopy) run(ctx context.Context) error {
	if err := c.db.View(func(tx *bolt.Tx) error {
		v, err := schemaOf(tx)
		c.r.Schema = v
		c.r.Studies = tx.Bucket(bStudies).Stats().KeyN
		c.r.Instances = tx.Bucket(bInstances).Stats().KeyN
		c.r.Conflicts = tx.Bucket(bConflicts).Stats().KeyN
		return err
	}); err != nil {
		return err
	}
	gone, err := c.copyObjects(ctx)
	if err != nil {
		return err
	}
	redo, err := c.copyDerived(ctx)
	if err != nil {
		return err
	}
	if len(gone) == 0 && len(redo) == 0 {
		return nil
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		for _, g := range gone {
			if err := updateRef(tx, g.ref, func(in *Instance) { in.Missing = true }); err != nil {
				return err
			}
		}
		ib := tx.Bucket(bInstances)
		for _, uid := range redo {
			var in Instance
			if ok, err := getJSON(ib, []byte(uid), &in); err != nil || !ok {
				continue
			}
			in.Deid, in.Render = nil, nil
			if err := putJSON(ib, []byte(uid), &in); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyObjects copies every object file the copy of the index names and
// returns the entries whose file was gone.
func (c *backupCopy) copyObjects(ctx context.Context) ([]missingRef, error) {
	var gone []missingRef
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bFiles).ForEach(func(k, ref []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var in Instance
			if ok, err := lookupRef(tx, ref, &in); err != nil || !ok || in.Missing {
				return err // an entry already missing has no file to copy
			}
			n, err := c.copy(string(k))
			if errors.Is(err, fs.ErrNotExist) {
				gone = append(gone, missingRef{file: string(k), ref: bytes.Clone(ref)})
				return nil
			}
			if err != nil {
				return err
			}
			c.r.Objects++
			c.r.ObjectBytes += n
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, g := range gone {
		still := false
		if err := c.s.db.View(func(tx *bolt.Tx) error {
			still = bytes.Equal(tx.Bucket(bFiles).Get([]byte(g.file)), g.ref)
			return nil
		}); err != nil {
			return nil, err
		}
		if still {
			c.r.Missing++
			c.s.log.Warn("backup: an indexed object file is gone; marked missing in the backup", "file", g.file)
		} else {
			c.r.Purged++
		}
	}
	return gone, nil
}

// copyDerived copies the derived files of every instance with a
// de-identification or render record, a batch at a time, and returns the
// instances whose records the backup must drop.
func (c *backupCopy) copyDerived(ctx context.Context) ([]string, error) {
	var redo []string
	var next []byte // the first instance of the next batch; nil: start
	for {
		var recs []Instance
		if err := c.db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(bInstances).Cursor()
			k, v := cur.First()
			if next != nil {
				k, v = cur.Seek(next)
			}
			for ; k != nil && len(recs) < backupBatch; k, v = cur.Next() {
				var in Instance
				if json.Unmarshal(v, &in) != nil || (in.Deid == nil && in.Render == nil) {
					continue
				}
				recs = append(recs, in)
			}
			next = bytes.Clone(k) // nil at the end
			return nil
		}); err != nil {
			return nil, err
		}
		var check []Instance
		for _, in := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			whole, err := c.copyDerivedOf(&in)
			if err != nil {
				return nil, err
			}
			if whole {
				check = append(check, in)
			} else {
				redo = append(redo, in.SOPInstanceUID)
			}
		}
		// Records that changed while their files were copied: the files
		// may be from either run.
		if err := c.s.db.View(func(tx *bolt.Tx) error {
			ib := tx.Bucket(bInstances)
			for _, in := range check {
				var live Instance
				ok, err := getJSON(ib, []byte(in.SOPInstanceUID), &live)
				if err != nil {
					return err
				}
				if !ok || !sameJSON(live.Deid, in.Deid) || !sameJSON(live.Render, in.Render) {
					redo = append(redo, in.SOPInstanceUID)
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if next == nil {
			break
		}
	}
	c.r.Redo = len(redo)
	return redo, nil
}

// copyDerivedOf copies derived/<key>/ of an instance and reports whether
// every file its records name was there.
func (c *backupCopy) copyDerivedOf(in *Instance) (bool, error) {
	base := filepath.Join(c.s.dir, derivedDir, in.Key)
	copied := map[string]bool{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(c.s.dir, p)
		if err != nil {
			return err
		}
		n, err := c.copy(filepath.ToSlash(rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		c.r.Derived++
		c.r.DerivedBytes += n
		name, _ := filepath.Rel(base, p)
		copied[filepath.ToSlash(name)] = true
		return nil
	})
	if err != nil {
		return false, err
	}
	for _, name := range derivedNames(in) {
		if !copied[name] {
			return false, nil
		}
	}
	return true, nil
}

// derivedNames lists the derived files an instance's records name.
func derivedNames(in *Instance) []string {
	var out []string
	if in.Deid != nil && in.Deid.Path != "" {
		out = append(out, in.Deid.Path)
	}
	if r := in.Render; r != nil {
		for _, n := range []string{r.Thumbnail, r.Animation, r.Video} {
			if n != "" {
				out = append(out, n)
			}
		}
		if r.FramePattern != "" {
			for i := 0; i < r.Frames; i++ {
				out = append(out, fmt.Sprintf(r.FramePattern, i))
			}
		}
	}
	return out
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// copy copies the data directory's file rel into dst (fsynced) and tells
// sum. A missing source is fs.ErrNotExist.
func (c *backupCopy) copy(rel string) (int64, error) {
	to := filepath.Join(c.dst, filepath.FromSlash(rel))
	if err := c.mkdir(filepath.Dir(to)); err != nil {
		return 0, err
	}
	n, h, err := CopyFile(filepath.Join(c.s.dir, filepath.FromSlash(rel)), to)
	if err != nil {
		return 0, err
	}
	c.sum(rel, n, h)
	c.yield(n)
	return n, nil
}

// The backup yields to ingest as the scrub does: after each backupChunk
// bytes copied it pauses while objects arrive, up to backupMaxYield, so a
// scanner's C-STORE waits less for the disk, and a backup still advances
// by at least backupChunk per backupMaxYield under a steady stream.
const (
	backupChunk    = 4 << 20
	backupMaxYield = 200 * time.Millisecond
)

func (c *backupCopy) yield(n int64) {
	if c.sinceYield += n; c.sinceYield < backupChunk {
		return
	}
	c.sinceYield = 0
	for deadline := time.Now().Add(backupMaxYield); c.s.receiving() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *backupCopy) mkdir(dir string) error {
	if c.dirs[dir] {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for d := dir; d != c.dst && len(d) > len(c.dst); d = filepath.Dir(d) {
		c.dirs[d] = true
	}
	return nil
}

// updateRef changes the instance a files-bucket reference names.
func updateRef(tx *bolt.Tx, ref []byte, fn func(*Instance)) error {
	bn, k := bInstances, ref
	if bytes.IndexByte(ref, 0) >= 0 {
		bn = bConflicts
	}
	b := tx.Bucket(bn)
	var in Instance
	if ok, err := getJSON(b, k, &in); err != nil || !ok {
		return err
	}
	fn(&in)
	return putJSON(b, k, &in)
}

// CopyFile copies src to dst (created, not replaced; mode 0600) and
// returns its size and SHA-256 in hex. It does not flush dst: call SyncFS
// once the files are all copied. When src does not exist the error is
// fs.ErrNotExist and nothing is created.
func CopyFile(src, dst string) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return 0, "", fmt.Errorf("copying %s: %w", filepath.Base(src), err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(p string) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}
