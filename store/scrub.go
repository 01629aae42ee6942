package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/logid"
)

// The scrub is the full check of the index against the files, and of the
// files against the index, that start-up no longer does: start-up checks
// only what a crash can have caught in flight (see recover.go), so its cost
// does not grow with the archive. The scrub finds what no crash of sonolink
// leaves behind but a disk, a backup restore or a hand in the data
// directory can: files gone, files back, files nobody indexed, debris of
// older versions. It works in small batches and records after each one
// where it stands (bucket scrub), so a pass survives restarts; a finished
// pass's findings are kept there too.

// ScrubResult is what a scrub pass found (and repaired, where it can).
type ScrubResult struct {
	Checked     int `json:"checked"`      // index entries and files looked at
	Missing     int `json:"missing"`      // indexed entries whose file is gone (marked Missing, kept)
	Found       int `json:"found"`        // entries marked Missing whose file is back
	Reindexed   int `json:"reindexed"`    // files in objects/ that were not indexed (now they are)
	Unreadable  int `json:"unreadable"`   // files in objects/ that could not be indexed (left in place, logged)
	Incomplete  int `json:"incomplete"`   // unindexed object files that are not whole (never acknowledged; removed)
	TempRemoved int `json:"temp_removed"` // temporary files of older versions found outside tmp/ (removed)

	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"` // zero while the pass runs
}

// Problems counts what is still wrong after the pass: entries without a
// file and files that cannot be indexed. The rest was repaired.
func (r ScrubResult) Problems() int { return r.Missing + r.Unreadable }

// Repaired counts what the pass put right.
func (r ScrubResult) Repaired() int { return r.Found + r.Reindexed + r.Incomplete + r.TempRemoved }

func (r *ScrubResult) add(o ScrubResult) {
	r.Checked += o.Checked
	r.Missing += o.Missing
	r.Found += o.Found
	r.Reindexed += o.Reindexed
	r.Unreadable += o.Unreadable
	r.Incomplete += o.Incomplete
	r.TempRemoved += o.TempRemoved
}

// ScrubOptions tune one call of Scrub.
type ScrubOptions struct {
	// Pause is the rest between batches, and makes the scrub yield to
	// ingest: before each batch it waits (up to maxYield) while objects are
	// being received. Zero runs at full speed (sonolink check).
	Pause time.Duration
	// Restart begins a new pass instead of resuming the recorded one.
	Restart bool
}

// scrubState is where an unfinished pass stands.
type scrubState struct {
	Phase int    `json:"phase"` // index into scrubPhases
	After string `json:"after"` // last key (or objects/ subdirectory) done in the phase
	Sofar ScrubResult
}

var (
	bScrub        = []byte("scrub") // "state" → scrubState, "last" → the last finished pass's ScrubResult
	scrubStateKey = []byte("state")
	scrubLastKey  = []byte("last")
)

const (
	phaseInstances = iota // index → files, primary versions
	phaseConflicts        // index → files, conflict versions
	phaseObjects          // files → index, one objects/ subdirectory per batch
	phaseDone
)

// scrubBatch is how many index entries one batch looks at (a variable
// for tests).
var scrubBatch = 256

// maxYield bounds how long one batch waits for ingest to pause, so a node
// that receives all day still finishes a pass, slowly.
const maxYield = 10 * time.Second

// readDir lists a directory for the scrub and the start-up check; tests
// replace it to see what they read.
var readDir = os.ReadDir

// LastScrub returns the findings of the last finished pass (ok false when
// none has finished yet).
func (s *Store) LastScrub() (r ScrubResult, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		ok, err = getJSON(tx.Bucket(bScrub), scrubLastKey, &r)
		return err
	})
	return r, ok, err
}

// Scrub runs the scrub pass that was under way (or, with opt.Restart or
// when none was, a new one) until it is finished or ctx ends. It returns
// the findings of the whole pass, including what earlier calls found, and
// ctx's error when it stopped early; the pass then resumes at the next
// call. Findings are logged, counted in the sonolink_store_scrub_* metrics
// and, once the pass is finished, kept (LastScrub).
func (s *Store) Scrub(ctx context.Context, opt ScrubOptions) (ScrubResult, error) {
	s.scrubMu.Lock()
	defer s.scrubMu.Unlock()
	st, err := s.scrubStart(opt.Restart)
	if err != nil {
		return st.Sofar, err
	}
	for st.Phase < phaseDone {
		if err := s.scrubRest(ctx, opt.Pause); err != nil {
			return st.Sofar, err
		}
		t0 := time.Now()
		var found ScrubResult
		done := false
		switch st.Phase {
		case phaseInstances:
			st.After, done, err = s.scrubEntries(bInstances, st.After, &found)
		case phaseConflicts:
			st.After, done, err = s.scrubEntries(bConflicts, st.After, &found)
		case phaseObjects:
			st.After, done, err = s.scrubObjects(st.After, &found)
		}
		if err != nil {
			return st.Sofar, fmt.Errorf("%w: scrub: %w", ErrStorage, err)
		}
		st.Sofar.add(found)
		scrubCount(found)
		metricScrubBusy.Add(time.Since(t0).Seconds())
		if done {
			st.Phase, st.After = st.Phase+1, ""
		}
		if err := s.scrubSave(&st); err != nil {
			return st.Sofar, err
		}
	}
	r := st.Sofar
	scrubReport(r)
	log := s.log.Info
	if r.Problems() > 0 {
		log = s.log.Warn
	}
	log("scrub pass done", "checked", r.Checked, "missing", r.Missing, "found", r.Found, "reindexed", r.Reindexed,
		"unreadable", r.Unreadable, "incomplete", r.Incomplete, "temp_removed", r.TempRemoved,
		"s", r.Finished.Sub(r.Started).Round(time.Second).Seconds())
	return r, nil
}

// scrubStart reads the recorded pass, or begins one.
func (s *Store) scrubStart(restart bool) (st scrubState, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bScrub)
		ok, err := getJSON(b, scrubStateKey, &st)
		if err != nil || (ok && !restart) {
			return err
		}
		st = scrubState{Sofar: ScrubResult{Started: time.Now().UTC()}}
		return putJSON(b, scrubStateKey, &st)
	})
	if err != nil {
		return st, fmt.Errorf("%w: reading the scrub's position: %w", ErrStorage, err)
	}
	if st.Phase == phaseInstances && st.After == "" {
		s.log.Info("scrub pass begins")
	} else {
		s.log.Info("scrub pass resumes", "phase", st.Phase, "checked", st.Sofar.Checked)
	}
	return st, nil
}

// scrubSave records where the pass stands; a finished pass becomes the
// last one and the next call begins a new pass.
func (s *Store) scrubSave(st *scrubState) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bScrub)
		if st.Phase < phaseDone {
			return putJSON(b, scrubStateKey, st)
		}
		st.Sofar.Finished = time.Now().UTC()
		if err := b.Delete(scrubStateKey); err != nil {
			return err
		}
		return putJSON(b, scrubLastKey, &st.Sofar)
	})
	if err != nil {
		return fmt.Errorf("%w: recording the scrub's position: %w", ErrStorage, err)
	}
	return nil
}

// scrubRest pauses between batches and waits while objects arrive.
func (s *Store) scrubRest(ctx context.Context, pause time.Duration) error {
	if pause <= 0 {
		return ctx.Err()
	}
	deadline := time.Now().Add(maxYield)
	for {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if !s.receiving() || time.Now().After(deadline) {
			return nil
		}
	}
}

// scrubEntries checks up to scrubBatch entries of bucket bn after key
// after: an entry whose file is gone is marked Missing (and kept), one
// marked Missing whose file is back is unmarked. For primary versions it
// also removes temporary files older versions left in derived/<key>/.
func (s *Store) scrubEntries(bn []byte, after string, r *ScrubResult) (last string, done bool, err error) {
	type entry struct {
		k    string
		inst Instance
	}
	var batch []entry
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bn).Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(batch) < scrubBatch; k, v = c.Next() {
			e := entry{k: string(k)}
			if err := json.Unmarshal(v, &e.inst); err != nil {
				return fmt.Errorf("corrupt index entry: %w", err)
			}
			batch = append(batch, e)
		}
		done = k == nil
		return nil
	})
	if err != nil || len(batch) == 0 {
		return after, true, err
	}
	for _, e := range batch {
		r.Checked++
		gone, err := s.fileGone(&e.inst)
		if err != nil {
			return after, false, err
		}
		if gone != e.inst.Missing {
			if err := s.markMissing(bn, e.k, e.inst.SOPInstanceUID, r); err != nil {
				return after, false, err
			}
		} else if gone {
			r.Missing++
		}
		if !e.inst.Conflict {
			if err := s.removeTemps(filepath.Join(s.dir, derivedDir, e.inst.Key), r); err != nil {
				return after, false, err
			}
		}
	}
	return batch[len(batch)-1].k, done, nil
}

func (s *Store) fileGone(inst *Instance) (bool, error) {
	_, err := os.Stat(s.ObjectPath(inst))
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	}
	return false, err
}

// markMissing sets or clears the Missing mark of entry k of bucket bn to
// what the disk says now, holding the UID's lock: an ingest of the same UID
// (which may put a lost file back) is never caught half-way.
func (s *Store) markMissing(bn []byte, k, sopUID string, r *ScrubResult) error {
	mu := s.uidLock(sopUID)
	mu.Lock()
	defer mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bn)
		var inst Instance
		if ok, err := getJSON(b, []byte(k), &inst); err != nil || !ok {
			return err // gone meanwhile: nothing to mark
		}
		gone, err := s.fileGone(&inst)
		switch {
		case err != nil:
			return err
		case gone && !inst.Missing:
			r.Missing++
			s.log.Error("indexed object's file is missing; entry kept and marked missing", logid.Object(inst.SOPInstanceUID), "conflict_version", inst.Conflict)
		case gone:
			r.Missing++
			return nil
		case inst.Missing:
			r.Found++
			s.log.Info("file of an object marked missing is back", logid.Object(inst.SOPInstanceUID))
		default:
			return nil
		}
		inst.Missing = gone
		return putJSON(b, []byte(k), &inst)
	})
}

// removeTemps removes the temporary files in dir (older versions wrote them
// next to their target, where start-up cannot find them without a walk).
func (s *Store) removeTemps(dir string, r *ScrubResult) error {
	ents, err := readDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
			r.TempRemoved++
		} else if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if err := s.removeTemps(filepath.Join(dir, e.Name()), r); err != nil {
				return err
			}
		}
	}
	return nil
}

// scrubObjects checks the next subdirectory of objects/ after after (in
// name order) against the index; the first batch also clears objects/
// itself of temporary files. A file not in the index is indexed (a crash
// after its rename, before its commit: never acknowledged, but whole), or
// removed when it is not whole, or left and counted when it cannot be read.
func (s *Store) scrubObjects(after string, r *ScrubResult) (last string, done bool, err error) {
	top := filepath.Join(s.dir, objectsDir)
	ents, err := readDir(top)
	if err != nil {
		return after, false, err
	}
	var dirs []string
	for _, e := range ents {
		switch {
		case e.IsDir():
			dirs = append(dirs, e.Name())
		case after == "" && strings.HasPrefix(e.Name(), tmpPrefix):
			if err := os.Remove(filepath.Join(top, e.Name())); err != nil {
				return after, false, err
			}
			r.TempRemoved++
		}
	}
	slices.Sort(dirs) // os.ReadDir sorts already; the cursor depends on it
	i, _ := slices.BinarySearch(dirs, after)
	if i < len(dirs) && dirs[i] == after {
		i++
	}
	if i == len(dirs) {
		return after, true, nil
	}
	dir := dirs[i]
	if err := s.scrubObjectDir(filepath.Join(top, dir), r); err != nil {
		return after, false, err
	}
	return dir, i+1 == len(dirs), nil
}

func (s *Store) scrubObjectDir(dir string, r *ScrubResult) error {
	ents, err := readDir(dir)
	if err != nil {
		return err
	}
	var unindexed []string
	err = s.db.View(func(tx *bolt.Tx) error {
		files := tx.Bucket(bFiles)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
				r.TempRemoved++
				continue
			}
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".dcm") {
				continue
			}
			r.Checked++
			if files.Get([]byte(s.rel(p))) == nil {
				unindexed = append(unindexed, p)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range unindexed {
		if err := s.adopt(p, r); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) rel(p string) string {
	rel, _ := filepath.Rel(s.dir, p)
	return filepath.ToSlash(rel)
}

// adopt indexes (or removes) a file of objects/ the index does not know.
// An ingest moves its file into place before it commits the entry, holding
// the lock of the file's UID: adopt takes the same lock, derived from the
// name Ingest gives files, and looks again, so it never meets a file whose
// ingest is still running.
func (s *Store) adopt(p string, r *ScrubResult) error {
	if mu := s.nameLock(filepath.Base(p)); mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	var known bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		// A file a purge has yet to remove is not to be indexed again.
		known = tx.Bucket(bFiles).Get([]byte(s.rel(p))) != nil || purgeListed(tx, s.rel(p))
		return nil
	}); err != nil {
		return err
	}
	if _, err := os.Stat(p); known || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := s.reindex(p)
	switch {
	case err == nil:
		r.Reindexed++
		s.log.Warn("object file that was not in the index is indexed now", "file", filepath.Base(p))
	case errors.Is(err, errNotWhole):
		s.log.Warn("object file that was not in the index is not whole; removed (it was never acknowledged)", "file", filepath.Base(p), "err", err)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		r.Incomplete++
	case errors.Is(err, ErrStorage):
		return err
	default:
		r.Unreadable++
		s.log.Error("object file not in the index could not be indexed; left in place", "file", filepath.Base(p), "err", err)
	}
	return nil
}

// nameLock is the lock Ingest holds while a file of that name is in
// flight: the name starts with InstanceKey(UID), whose first byte chooses
// the UID's lock. Nil for names Ingest does not give.
func (s *Store) nameLock(name string) *sync.Mutex {
	if !objectName.MatchString(name) {
		return nil
	}
	b, err := hex.DecodeString(name[:2])
	if err != nil {
		return nil
	}
	return &s.uidL[b[0]%byte(len(s.uidL))]
}

// Scrubber runs scrub passes in the background, one after the other with
// Interval between them, each resuming where the last process stopped.
type Scrubber struct {
	store *Store
	opts  ScrubberOptions
}

// ScrubberOptions configure a Scrubber.
type ScrubberOptions struct {
	Delay    time.Duration // before the first batch after start (default 1 min): start-up comes first
	Interval time.Duration // from the end of a pass to the start of the next (default 24 h)
	Pause    time.Duration // between batches (default 50 ms); see ScrubOptions
}

// NewScrubber returns a Scrubber of s.
func NewScrubber(s *Store, opts ScrubberOptions) *Scrubber {
	if opts.Delay <= 0 {
		opts.Delay = time.Minute
	}
	if opts.Interval <= 0 {
		opts.Interval = 24 * time.Hour
	}
	if opts.Pause <= 0 {
		opts.Pause = 50 * time.Millisecond
	}
	return &Scrubber{store: s, opts: opts}
}

// Run scrubs until ctx ends. A pass that fails is logged and tried again
// at the next interval: the scrub never stops the node.
func (sc *Scrubber) Run(ctx context.Context) error {
	wait := sc.opts.Delay
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		_, err := sc.store.Scrub(ctx, ScrubOptions{Pause: sc.opts.Pause})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			sc.store.log.Error("scrub pass stopped; it resumes at the next interval", "err", err)
		}
		wait = sc.opts.Interval
	}
}
