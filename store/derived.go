package store

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"sonolink/internal/logid"
)

// DeidName is the derived name under which the pipeline keeps an object's
// de-identified copy; the patient pages and the technician read it there.
const DeidName = "deid.dcm"

// validDerivedName accepts "name" or "dir/name": no "..", no absolute
// paths, no hidden (temporary) names.
func validDerivedName(name string) error {
	if name == "" || strings.Contains(name, "\\") || path.IsAbs(name) || path.Clean(name) != name {
		return fmt.Errorf("invalid derived name %q", name)
	}
	parts := strings.Split(name, "/")
	if len(parts) > 2 {
		return fmt.Errorf("invalid derived name %q: at most one subdirectory", name)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".") {
			return fmt.Errorf("invalid derived name %q", name)
		}
	}
	return nil
}

// DerivedPath is the absolute path of derived data of an instance
// (derived/<InstanceKey>/<name>), whether or not it exists.
func (s *Store) DerivedPath(sopUID, name string) string {
	return filepath.Join(s.dir, derivedDir, InstanceKey(sopUID), filepath.FromSlash(name))
}

// PutDerived atomically writes derived/<key>/<name> for an indexed instance
// (temporary file, fsync, rename, directory fsync) and returns its path.
// name may hold one subdirectory, e.g. "render/f0001.jpg". If write fails,
// nothing is left behind.
func (s *Store) PutDerived(sopUID, name string, write func(io.Writer) error) (string, error) {
	if err := validDerivedName(name); err != nil {
		return "", err
	}
	if _, err := s.Instance(sopUID); err != nil {
		return "", err
	}
	p := s.DerivedPath(sopUID, name)
	if err := s.writeAtomic(p, write); err != nil {
		return "", fmt.Errorf("writing derived %s of instance %s: %w", name, logid.ID(sopUID), err)
	}
	return p, nil
}

// RemoveDerived removes every derived file of an instance and clears its
// de-identification and render records: it is back in the work set.
func (s *Store) RemoveDerived(sopUID string) error {
	dir := filepath.Join(s.dir, derivedDir, InstanceKey(sopUID))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("%w: removing derived data: %w", ErrStorage, err)
	}
	s.forgetDir(dir)
	if err := s.syncDir(filepath.Join(s.dir, derivedDir)); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	err := s.updateInstance(sopUID, true, func(in *Instance) { in.Deid, in.Render = nil, nil })
	if err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// SetDeid records the de-identification result of an instance.
func (s *Store) SetDeid(sopUID string, d Deid) error {
	return s.updateInstance(sopUID, false, func(in *Instance) { in.Deid = &d })
}

// SetRender records what the renderer made of an instance, the last step
// of its processing: it leaves the work set (inflight.go).
func (s *Store) SetRender(sopUID string, r Render) error {
	return s.updateInstance(sopUID, true, func(in *Instance) { in.Render = &r })
}
