package admin

import (
	"bufio"
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

	"sonolink/anonymize"
	"sonolink/internal/buildinfo"
	"sonolink/share"
	"sonolink/store"
)

// A backup is a directory laid out like a data directory, so that restore
// is a verified copy:
//
//	manifest.json   Manifest: versions, schema versions, counts, the checksum of SHA256SUMS
//	SHA256SUMS      one "sha256  path" line per file below (sha256sum -c reads it)
//	index.db        copy of the index (one read transaction), corrected as store.Backup says
//	share.db        copy of links, outbox, audit log, settings (one read transaction)
//	anonymize.secret, share.key   the secrets (UID mapping; sealed tokens and codes)
//	sonolink.conf   the config file in the data directory, when there is one
//	commitments/    storage commitment reports not yet answered
//	objects/, derived/   the files the index copy names
//
// Not copied: spool/ and tmp/ (emptied at every start), the admin socket,
// and outbox/ (the file provider's copies of messages already delivered,
// pruned after outbox.retention; the messages themselves are in share.db).
// Renders are copied rather than made again: a restored node serves its
// links at once, and making cine loops again costs far more than copying
// them.

// ManifestName and SumsName are the backup's own files.
const (
	ManifestName = "manifest.json"
	SumsName     = "SHA256SUMS"
	// BackupFormat is the layout of a backup directory this build writes.
	BackupFormat = 1
	// restoreMarker is in a data directory while a restore fills it;
	// store.Open refuses such a directory.
	restoreMarker = store.RestoreMarker
)

// Manifest describes a backup.
type Manifest struct {
	Format      int                `json:"format"`
	Sonolink    string             `json:"sonolink_version"`
	Created     time.Time          `json:"created"`
	IndexSchema int                `json:"index_schema"`
	ShareSchema int                `json:"share_schema"`
	Store       store.BackupResult `json:"store"`
	Share       share.SnapshotInfo `json:"share"`
	Files       int                `json:"files"` // lines of SHA256SUMS
	Bytes       int64              `json:"bytes"`
	SumsSHA256  string             `json:"sha256sums_sha256"`
	Took        string             `json:"took,omitempty"`
}

// BackupRequest asks for a backup into Dir: an absolute path that does not
// exist yet or is an empty directory.
type BackupRequest struct {
	Dir string `json:"dir"`
}

// Backup writes a consistent backup of the data directory into req.Dir
// while sonolink runs: into a temporary directory beside it, renamed into
// place once everything is on disk.
func (s *Service) Backup(ctx context.Context, req BackupRequest) (*Manifest, error) {
	t0 := time.Now()
	dst := filepath.Clean(req.Dir)
	if !filepath.IsAbs(dst) {
		return nil, errorf(KindInvalid, "backup directory %q: want an absolute path", req.Dir)
	}
	dataDir := s.be.st.Dir()
	if dst == dataDir || strings.HasPrefix(dst, dataDir+string(filepath.Separator)) {
		return nil, errorf(KindInvalid, "backup directory %s is inside the data directory; choose another place, preferably another disk", dst)
	}
	if err := usableTarget(dst, "backup"); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".partial-")
	if err != nil {
		return nil, errorf(KindInvalid, "backup directory %s: %w", dst, err)
	}
	m, err := s.writeBackup(ctx, stage)
	if err == nil {
		err = moveIntoPlace(stage, dst)
	}
	if err != nil {
		os.RemoveAll(stage)
		return nil, s.internal("backup", err)
	}
	m.Took = time.Since(t0).Round(time.Millisecond).String()
	s.log.Info("backup written", "files", m.Files, "bytes", m.Bytes, "studies", m.Store.Studies, "instances", m.Store.Instances,
		"links", m.Share.Links, "purged_meanwhile", m.Store.Purged, "missing", m.Store.Missing, "redo", m.Store.Redo, "took", m.Took)
	return m, nil
}

func (s *Service) writeBackup(ctx context.Context, stage string) (*Manifest, error) {
	sums, err := os.OpenFile(filepath.Join(stage, SumsName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer sums.Close()
	w := bufio.NewWriter(sums)
	m := &Manifest{Format: BackupFormat, Sonolink: buildinfo.Version(), Created: time.Now().UTC()}
	sum := func(rel string, size int64, h string) {
		fmt.Fprintf(w, "%s  %s\n", h, rel)
		m.Files++
		m.Bytes += size
	}
	// share.db is copied right after the index, before the files: links
	// in the copy then name only studies the index copy has (a study
	// is shared only once complete, long after its objects arrived).
	shareCopy := func() (err error) {
		if m.Share, err = s.be.sh.WriteSnapshot(filepath.Join(stage, share.DBFile)); err != nil {
			return fmt.Errorf("copying %s: %w", share.DBFile, err)
		}
		n, h, err := hashFile(filepath.Join(stage, share.DBFile))
		if err != nil {
			return err
		}
		sum(share.DBFile, n, h)
		return nil
	}
	if m.Store, err = s.be.st.Backup(ctx, stage, sum, shareCopy); err != nil {
		return nil, err
	}
	m.IndexSchema, m.ShareSchema = m.Store.Schema, m.Share.Schema
	dataDir := s.be.st.Dir()
	for _, name := range []string{anonymize.SecretFile, share.KeyFile, "sonolink.conf"} {
		n, h, err := store.CopyFile(filepath.Join(dataDir, name), filepath.Join(stage, name))
		if errors.Is(err, fs.ErrNotExist) && name != share.KeyFile {
			continue // no config file; no secret yet (serve never ran)
		}
		if err != nil {
			return nil, fmt.Errorf("copying %s: %w", name, err)
		}
		sum(name, n, h)
	}
	if ents, err := os.ReadDir(filepath.Join(dataDir, "commitments")); err == nil {
		if err := os.Mkdir(filepath.Join(stage, "commitments"), 0o750); err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			rel := "commitments/" + e.Name()
			n, h, err := store.CopyFile(filepath.Join(dataDir, rel), filepath.Join(stage, rel))
			if errors.Is(err, fs.ErrNotExist) {
				continue // answered meanwhile
			}
			if err != nil {
				return nil, err
			}
			sum(rel, n, h)
		}
	}
	// Everything copied reaches the disk before the files that vouch for it.
	if err := store.SyncFS(stage); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := sums.Sync(); err != nil {
		return nil, err
	}
	if _, m.SumsSHA256, err = hashFile(sums.Name()); err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeSynced(filepath.Join(stage, ManifestName), append(raw, '\n')); err != nil {
		return nil, err
	}
	return m, syncDir(stage)
}

// usableTarget accepts a path that does not exist (its parent must) or an
// empty directory.
func usableTarget(dir, what string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if st, err := os.Stat(filepath.Dir(dir)); err != nil || !st.IsDir() {
			return errorf(KindInvalid, "%s directory %s: its parent directory does not exist", what, dir)
		}
		return nil
	case err != nil:
		return errorf(KindInvalid, "%s directory %s: %w", what, dir, err)
	case len(ents) > 0:
		return errorf(KindInvalid, "%s directory %s is not empty (it holds %s): give a new or empty directory", what, dir, ents[0].Name())
	}
	return nil
}

// moveIntoPlace renames the finished stage to dst (replacing an empty
// directory) and flushes the parent directory.
func moveIntoPlace(stage, dst string) error {
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", dst, err)
	}
	if err := os.Rename(stage, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// Restore copies the backup in src into dataDir, which must not exist yet
// or be empty (or hold only an unfinished restore's files), checking every
// file against SHA256SUMS and SHA256SUMS against the manifest. While it
// runs, a marker file in dataDir makes `sonolink serve` refuse the
// directory; it is removed last. Nothing may run on dataDir meanwhile.
func Restore(ctx context.Context, src, dataDir string) (*Manifest, error) {
	m, err := ReadManifest(src)
	if err != nil {
		return nil, err
	}
	if err := restoreTarget(dataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, errorf(KindInvalid, "data directory %s: %w", dataDir, err)
	}
	if err := writeSynced(filepath.Join(dataDir, restoreMarker), []byte("a restore into this directory has not finished: run sonolink restore again\n")); err != nil {
		return nil, err
	}
	if err := syncDir(dataDir); err != nil {
		return nil, err
	}
	sums, err := os.Open(filepath.Join(src, SumsName))
	if err != nil {
		return nil, err
	}
	defer sums.Close()
	sc := bufio.NewScanner(sums)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	files := 0
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want, rel, ok := strings.Cut(sc.Text(), "  ")
		clean := filepath.Clean(filepath.FromSlash(rel))
		if !ok || len(want) != 64 || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) || clean == restoreMarker {
			return nil, errorf(KindInvalid, "backup %s: %s line %d is malformed", src, SumsName, files+1)
		}
		to := filepath.Join(dataDir, clean)
		if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
			return nil, err
		}
		os.Remove(to) // an unfinished restore's copy
		_, got, err := store.CopyFile(filepath.Join(src, clean), to)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf(KindInvalid, "backup %s is incomplete: %s is missing", src, rel)
		}
		if err != nil {
			return nil, err
		}
		if got != want {
			return nil, errorf(KindInvalid, "backup %s is damaged: %s does not match its checksum", src, rel)
		}
		files++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if files != m.Files {
		return nil, errorf(KindInvalid, "backup %s: %s lists %d files, the manifest %d", src, SumsName, files, m.Files)
	}
	// Every file and directory on disk before the marker goes.
	if err := store.SyncFS(dataDir); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(dataDir, restoreMarker)); err != nil {
		return nil, err
	}
	return m, syncDir(dataDir)
}

// ReadManifest reads and checks a backup's manifest: a format and schema
// versions this build knows, and SHA256SUMS as the manifest recorded it.
func ReadManifest(src string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(src, ManifestName))
	if err != nil {
		return nil, errorf(KindInvalid, "%s is not a sonolink backup (no readable %s): %w", src, ManifestName, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errorf(KindInvalid, "backup %s: %s is damaged: %w", src, ManifestName, err)
	}
	switch {
	case m.Format > BackupFormat || m.Format < 1:
		return nil, errorf(KindInvalid, "backup %s has format %d; this sonolink reads format %d: restore it with the sonolink that made it (%s) or a newer one", src, m.Format, BackupFormat, m.Sonolink)
	case m.IndexSchema > store.Schema() || m.ShareSchema > share.Schema():
		return nil, errorf(KindInvalid, "backup %s was made by a newer sonolink (%s; schema versions index %d, share %d; this one knows %d and %d): restore it with that version or a newer one", src, m.Sonolink, m.IndexSchema, m.ShareSchema, store.Schema(), share.Schema())
	}
	_, h, err := hashFile(filepath.Join(src, SumsName))
	if err != nil {
		return nil, errorf(KindInvalid, "backup %s: %w", src, err)
	}
	if h != m.SumsSHA256 {
		return nil, errorf(KindInvalid, "backup %s is damaged: %s does not match the checksum in %s", src, SumsName, ManifestName)
	}
	return &m, nil
}

// restoreTarget accepts a data directory that does not exist, is empty,
// or holds an unfinished restore (its marker).
func restoreTarget(dataDir string) error {
	if _, err := os.Stat(filepath.Join(dataDir, restoreMarker)); err == nil {
		return nil
	}
	ents, err := os.ReadDir(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return errorf(KindInvalid, "data directory %s: %w", dataDir, err)
	}
	if len(ents) > 0 {
		return errorf(KindInvalid, "data directory %s is not empty (it holds %s): restore only into a new or empty directory, so nothing there is overwritten; move it aside first (and stop sonolink serve if it runs there)", dataDir, ents[0].Name())
	}
	return nil
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

func writeSynced(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
