package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	bolt "go.etcd.io/bbolt"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/logid"
)

// IngestResult says what Ingest did: stored, a duplicate or a conflict
// version. All three mean the object is durable.
type IngestResult struct {
	Instance     *Instance // the stored (or already present) version
	StudyShortID string
	// Duplicate: the same content was already stored under this SOP
	// Instance UID; nothing was added.
	Duplicate bool
	// Conflict: different content under a SOP Instance UID already stored;
	// it was kept as a conflict version (Instance.Conflict) and logged.
	Conflict bool
	// Header is the received object's data set as parsed for the index
	// (pixel data skipped), so callers need not parse the file again.
	Header *dicom.Dataset
}

type studyFields struct {
	Date, Time, Description, Accession string
}

// Ingest validates the Part 10 file at spoolPath (dicomfile.Check, then a
// header parse), moves it into objects/ and indexes it in one bbolt
// transaction; the file, its directory and the index are flushed to disk at
// the same time (see pending.go). It returns only when the object is
// durable. The spool file is consumed: moved
// on success, removed on failure and on duplicates.
//
// Errors wrap ErrInvalidObject (broken or hostile object, missing UIDs) or
// ErrStorage (I/O, index), and their cause. Ingest is safe to call from
// many goroutines.
func (s *Store) Ingest(spoolPath string, src Source) (res *IngestResult, err error) {
	return s.IngestWith(spoolPath, src, IngestOptions{})
}

// IngestOptions carry what the receiver already knows about a spool file.
type IngestOptions struct {
	// DatasetSHA256 is the SHA-256 of the last DatasetSize bytes of the
	// spool file, computed while it was written (dimse.Object). Ingest uses
	// it instead of reading the file again when those bytes are exactly
	// the data set after the File Meta Information; otherwise it hashes the
	// file itself.
	DatasetSHA256 []byte
	DatasetSize   int64
	// SOPInstanceUID is the Affected SOP Instance UID of the C-STORE
	// request. With DatasetSHA256 it names the file before it is parsed,
	// so it is moved into place and its flushes start at once. When set,
	// the data set must carry the same UID, and SOPClassUID (the Affected
	// SOP Class UID), when set, the same class: otherwise nothing is stored
	// and Ingest fails with ErrDataSetMismatch, so the sender is never told
	// that an object it named is stored when another one is.
	SOPInstanceUID string
	SOPClassUID    string
	// Flushed, if set, waits for a flush of the spool file the receiver
	// began (dimse.Object.Flushed). Its error counts as a failed fsync:
	// the receiver's flush may have consumed an error that Ingest's own
	// fsync would then not see.
	Flushed func() error
}

// matches checks the data set's UIDs against the request's.
func (o IngestOptions) matches(inst *Instance) error {
	var what string
	switch {
	case o.SOPClassUID != "" && o.SOPClassUID != inst.SOPClassUID:
		what = "SOP Class UID (0008,0016)"
	case o.SOPInstanceUID != "" && o.SOPInstanceUID != inst.SOPInstanceUID:
		what = "SOP Instance UID (0008,0018)"
	default:
		return nil
	}
	return fmt.Errorf("%w: %w: the data set's %s is not the request's", ErrInvalidObject, ErrDataSetMismatch, what)
}

// objectFile is where Ingest puts an object: objects/ab/<instance key>-<first
// 64 bits of the data set's SHA-256 in hex>.dcm.
func objectFile(sopUID, hash string) string {
	k := InstanceKey(sopUID)
	return path.Join(objectsDir, k[:2], k+"-"+hash[:16]+".dcm")
}

// IngestWith is Ingest with what the receiver already knows (see
// IngestOptions).
func (s *Store) IngestWith(spoolPath string, src Source, opt IngestOptions) (*IngestResult, error) {
	in := ingest{s: s, src: src, opt: opt, t0: time.Now(), at: spoolPath}
	res, err := in.run()
	in.finish(res, err)
	return res, err
}

// ingest is one object on its way from the spool into the store. run takes
// it through the steps in order; each step leaves in the fields what the
// next one needs and what finish must release. finish, called once whatever
// step the ingest reached, is the only cleanup.
type ingest struct {
	s   *Store
	src Source
	opt IngestOptions
	t0  time.Time

	f        *os.File    // the spool file, open from open to finish
	size     int64       // its size
	at       string      // where the file is now; "" once it belongs to the index
	locked   *sync.Mutex // the SOP Instance UID's lock, once taken
	fileSync flushing    // the fsync of the file's data, from open on
	dirSync  flushing    // the fsync of its directory, once moved

	meta    *described // what describe read; meta.inst is what gets indexed
	restore bool       // same content as an entry whose file was lost: put it back
	shortID string     // the study's short id, once indexed
}

// run is the ingest, top to bottom. The file's data, its directory entry
// and its index entry are flushed at the same time: the modality waits for
// the slowest of the three, not for all three in a row. Until all three are
// done the index entry carries a pending marker; a crash in between is
// sorted out at start-up (see pending.go).
func (in *ingest) run() (*IngestResult, error) {
	if err := in.open(); err != nil {
		return nil, err
	}
	if err := in.placeGuess(); err != nil {
		return nil, err
	}
	if err := in.describe(); err != nil {
		return nil, err
	}
	if dup, err := in.dedupe(); dup != nil || err != nil {
		return dup, err
	}
	if err := in.place(); err != nil {
		return nil, err
	}
	indexed := in.commit()
	flushed := in.sync()
	if indexed != nil {
		return nil, indexed
	}
	if flushed != nil {
		return nil, in.takeBack(flushed)
	}
	return in.confirm(), nil
}

// open opens the spool file and, as it is complete, starts flushing it to
// disk while it is checked, parsed and indexed.
func (in *ingest) open() error {
	f, err := os.Open(in.at)
	if err != nil {
		return fmt.Errorf("%w: opening spool file: %w", ErrStorage, err)
	}
	in.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: reading spool file: %w", ErrStorage, err)
	}
	in.size = fi.Size()
	s := in.s
	in.fileSync = inBackground(func() error { return s.sync(f) })
	return nil
}

// placeGuess moves the file under the receiver's guess of its final name at
// once, so that the flush of its directory entry joins that of its data,
// unless the index already has a file of that name (a resend).
func (in *ingest) placeGuess() error {
	if in.opt.SOPInstanceUID == "" || len(in.opt.DatasetSHA256) != sha256.Size {
		return nil
	}
	in.lock(in.opt.SOPInstanceUID)
	guess := objectFile(in.opt.SOPInstanceUID, hex.EncodeToString(in.opt.DatasetSHA256))
	var known bool
	if err := in.s.db.View(func(tx *bolt.Tx) error { known = tx.Bucket(bFiles).Get([]byte(guess)) != nil; return nil }); err != nil {
		return fmt.Errorf("%w: reading index: %w", ErrStorage, err)
	}
	if known {
		return nil
	}
	return in.move(guess)
}

// describe checks and parses the file, refuses a data set that is not the
// object the request named, and holds the lock of the SOP Instance UID its
// data set names.
func (in *ingest) describe() error {
	meta, err := in.s.describe(in.f, in.size, in.opt)
	if err != nil {
		return err
	}
	if err := in.opt.matches(meta.inst); err != nil {
		return err
	}
	meta.inst.Source = in.src
	meta.inst.ReceivedAt = time.Now().UTC()
	in.meta = meta
	// There may have been no guess (and so no lock yet).
	in.lock(meta.inst.SOPInstanceUID)
	return nil
}

// dedupe looks the object up in the index. The same content under the
// same SOP Instance UID, as its primary or as a conflict version, is a
// duplicate: that is the result, and nothing is added. A primary with the
// same content marked Missing is restored instead; other content under a
// UID already stored becomes a conflict version.
func (in *ingest) dedupe() (*IngestResult, error) {
	inst := in.meta.inst
	var dup *IngestResult
	err := in.s.db.View(func(tx *bolt.Tx) error {
		var same Instance
		hasPrim, err := getJSON(tx.Bucket(bInstances), []byte(inst.SOPInstanceUID), &same)
		if err != nil {
			return err
		}
		conflict := hasPrim && same.Hash != inst.Hash
		switch {
		case hasPrim && !conflict && same.Missing:
			in.restore = true // same content, its file was lost: put it back
			return nil
		case conflict:
			inst.Conflict = true
			same = Instance{} // decode the version alone, not over the primary
			found, err := getJSON(tx.Bucket(bConflicts), key(inst.SOPInstanceUID, inst.Hash), &same)
			if err != nil || !found {
				return err
			}
		case !hasPrim:
			return nil
		}
		shortID, err := studyShortID(tx, same.StudyUID)
		dup = &IngestResult{Instance: &same, StudyShortID: shortID, Duplicate: true, Conflict: conflict, Header: in.meta.ds}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reading index: %w", ErrStorage, err)
	}
	return dup, nil
}

// place moves the file under its final name, unless the guess was right.
func (in *ingest) place() error {
	inst := in.meta.inst
	inst.File = objectFile(inst.SOPInstanceUID, inst.Hash)
	if in.at == filepath.Join(in.s.dir, filepath.FromSlash(inst.File)) {
		return nil
	}
	return in.move(inst.File)
}

// commit indexes the object (or puts back the file of its Missing entry)
// with a pending marker, while its data and directory entry are flushed.
func (in *ingest) commit() error {
	shortID, err := in.s.commitIndex(in.meta.inst, in.meta, in.restore)
	if err != nil {
		return fmt.Errorf("%w: writing index: %w", ErrStorage, err)
	}
	in.shortID = shortID
	return nil
}

// sync waits for the flushes of the file's data and directory entry, and
// for the receiver's flush of the file, whose error counts as a failed
// fsync (IngestOptions.Flushed).
func (in *ingest) sync() error {
	dirErr := in.dirSync.wait()
	fileErr := in.fileSync.wait()
	if in.opt.Flushed != nil {
		if err := in.opt.Flushed(); fileErr == nil {
			fileErr = err
		}
	}
	switch {
	case fileErr != nil:
		return fmt.Errorf("%w: fsync of received object: %w", ErrStorage, fileErr)
	case dirErr != nil:
		return fmt.Errorf("%w: fsync of object directory: %w", ErrStorage, dirErr)
	}
	return nil
}

// takeBack removes the index entry of an object whose flushes failed and
// returns that failure. If the entry cannot be taken back, the file stays:
// the start-up check will verify it and keep or take back the entry.
func (in *ingest) takeBack(failed error) error {
	inst := in.meta.inst
	if err := in.s.db.Update(func(tx *bolt.Tx) error { return takeBack(tx, inst.File) }); err != nil {
		in.s.log.Error("cannot take back the index entry of an object that failed to reach the disk", logid.Object(inst.SOPInstanceUID), "err", err)
		in.at = ""
	}
	return failed
}

// confirm hands the file to the index, now that the object is durable: its
// pending marker may go.
func (in *ingest) confirm() *IngestResult {
	inst := in.meta.inst
	in.at = ""
	in.s.confirm(inst.File)
	return &IngestResult{Instance: inst, StudyShortID: in.shortID, Conflict: inst.Conflict, Header: in.meta.ds}
}

// finish is the one cleanup, whatever step the ingest reached: no fsync
// outlives it, the file goes unless it belongs to the index, and the lock
// is released last, so another ingest of the same name never meets this
// one's file. Then it logs and counts the outcome.
func (in *ingest) finish(res *IngestResult, err error) {
	in.dirSync.wait()
	in.fileSync.wait() // never close the file under a running fsync
	if in.f != nil {
		in.f.Close()
	}
	if in.at != "" {
		if rerr := os.Remove(in.at); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			in.s.log.Error("cannot remove received file", "err", rerr)
		}
	}
	if in.locked != nil {
		in.locked.Unlock()
	}
	in.report(res, err)
}

// report logs and counts the outcome of an ingest.
func (in *ingest) report(res *IngestResult, err error) {
	log, src := in.s.log, in.src
	result := "error"
	switch {
	case err != nil:
		if errors.Is(err, ErrInvalidObject) {
			result = "invalid"
		}
		log.Warn("object refused", "result", result, "assoc", src.AssociationID, "calling_aet", src.CallingAET, "err", err)
	case res.Duplicate:
		result = "duplicate"
	case res.Conflict:
		result = "conflict"
		inst := res.Instance
		metricBytes.Add(float64(inst.Size))
		log.Warn("object differs from the one stored under the same SOP Instance UID; kept as a conflict version",
			logid.Object(inst.SOPInstanceUID), logid.Study(inst.StudyUID), "assoc", src.AssociationID, "calling_aet", src.CallingAET)
	default:
		result = "stored"
		inst := res.Instance
		metricBytes.Add(float64(inst.Size))
		log.Info("object stored", logid.Object(inst.SOPInstanceUID), logid.Study(inst.StudyUID), "bytes", inst.Size,
			"frames", inst.NumFrames, "restored", in.restore, "assoc", src.AssociationID, "ms", time.Since(in.t0).Milliseconds())
	}
	metricIngest.WithLabelValues(result).Inc()
	metricLatency.Observe(time.Since(in.t0).Seconds())
}

// lock holds the lock of uid, and only it: one UID's lock at a time.
func (in *ingest) lock(uid string) {
	mu := in.s.uidLock(uid)
	if mu == in.locked {
		return
	}
	if in.locked != nil {
		in.locked.Unlock()
	}
	in.locked = mu
	mu.Lock()
}

// move renames the file to rel in the data directory and starts the flush
// of its new directory entry.
func (in *ingest) move(rel string) error {
	p := filepath.Join(in.s.dir, filepath.FromSlash(rel))
	if err := in.s.mkdirSync(filepath.Dir(p)); err != nil {
		return fmt.Errorf("%w: creating object directory: %w", ErrStorage, err)
	}
	if err := os.Rename(in.at, p); err != nil {
		return fmt.Errorf("%w: moving received object into place: %w", ErrStorage, err)
	}
	in.at = p
	in.dirSync.wait() // a first guess's directory: the new one is flushed below
	s := in.s
	in.dirSync = inBackground(func() error { return s.syncDir(filepath.Dir(p)) })
	return nil
}

// commitIndex indexes inst (or, with restore, puts back the file of its
// Missing entry) with a pending marker, and returns its study's short id.
func (s *Store) commitIndex(inst *Instance, meta *described, restore bool) (shortID string, err error) {
	var done []string
	rec := pendingRec{Restored: restore, PatientKey: patientKey(meta.patient)}
	if restore {
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bInstances)
			var p Instance
			if _, err := getJSON(b, []byte(inst.SOPInstanceUID), &p); err != nil {
				return err
			}
			p.Missing, p.File = false, inst.File
			if shortID, err = studyShortID(tx, p.StudyUID); err != nil {
				return err
			}
			*inst = p
			if err := tx.Bucket(bFiles).Put([]byte(p.File), []byte(p.SOPInstanceUID)); err != nil {
				return err
			}
			if done, err = s.markPending(tx, inst.File, rec); err != nil {
				return err
			}
			return putJSON(b, []byte(p.SOPInstanceUID), &p)
		})
	} else {
		index := func(tx *bolt.Tx) error {
			if err := indexInstance(tx, inst, meta.patient, meta.study); err != nil {
				return err
			}
			var err error
			if done, err = s.markPending(tx, inst.File, rec); err != nil {
				return err
			}
			shortID, err = studyShortID(tx, inst.StudyUID)
			return err
		}
		// Concurrent ingests share one commit (one fsync); a lone ingest
		// commits at once rather than waiting for the batch timer.
		if s.committing.Add(1) > 1 {
			err = s.db.Batch(index)
		} else {
			err = s.db.Update(index)
		}
		s.committing.Add(-1)
	}
	if err == nil {
		s.dropConfirmed(done)
	}
	return shortID, err
}

// flushing is an fsync running in a goroutine of its own.
type flushing chan error

func inBackground(sync func() error) flushing {
	c := make(flushing, 1)
	go func() { c <- sync() }()
	return c
}

// wait returns the fsync's result the first time, nil after that (and
// for no fsync at all).
func (c *flushing) wait() error {
	if *c == nil {
		return nil
	}
	err := <-*c
	*c = nil
	return err
}

func studyShortID(tx *bolt.Tx, studyUID string) (string, error) {
	var st Study
	_, err := getJSON(tx.Bucket(bStudies), []byte(studyUID), &st)
	return st.ShortID, err
}

type described struct {
	ds      *dicom.Dataset
	inst    *Instance
	patient Patient
	study   studyFields
}

// describeFile is describe of the file at p, which it opens and reads
// whole (start-up checks; Ingest has the size and hash already).
func (s *Store) describeFile(p string) (*described, fs.FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	meta, err := s.describe(f, fi.Size(), IngestOptions{})
	return meta, fi, err
}

// describe checks and parses a file and extracts what the index holds.
func (s *Store) describe(f *os.File, size int64, opt IngestOptions) (*described, error) {
	ds, lay, err := dicomfile.Parse(f, size, s.lim, true)
	if err != nil {
		if errors.Is(err, dicomfile.ErrInvalid) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidObject, err)
		}
		return nil, fmt.Errorf("%w: reading object: %w", ErrStorage, err)
	}
	str := func(t tag.Tag) string { return dicomfile.String(ds, t) }
	inst := &Instance{
		SOPInstanceUID: str(tag.SOPInstanceUID),
		SOPClassUID:    str(tag.SOPClassUID),
		StudyUID:       str(tag.StudyInstanceUID),
		SeriesUID:      str(tag.SeriesInstanceUID),
		SeriesNumber:   dicomfile.Int(ds, tag.SeriesNumber, 0),
		InstanceNumber: dicomfile.Int(ds, tag.InstanceNumber, 0),
		Modality:       str(tag.Modality),
		TransferSyntax: lay.TransferSyntaxUID,
		Rows:           dicomfile.Int(ds, tag.Rows, 0),
		Columns:        dicomfile.Int(ds, tag.Columns, 0),
		Size:           size,
	}
	for what, v := range map[string]string{"SOP Instance UID (0008,0018)": inst.SOPInstanceUID,
		"SOP Class UID (0008,0016)": inst.SOPClassUID, "Study Instance UID (0020,000D)": inst.StudyUID,
		"Series Instance UID (0020,000E)": inst.SeriesUID} {
		if v == "" {
			return nil, fmt.Errorf("%w: %s is missing or empty", ErrInvalidObject, what)
		}
	}
	if hasTopLevel(ds, tag.PixelData) {
		inst.NumFrames = dicomfile.Int(ds, tag.NumberOfFrames, 1)
		if inst.NumFrames < 1 {
			inst.NumFrames = 1
		}
	}
	inst.Key = InstanceKey(inst.SOPInstanceUID)
	if s.contacts != nil {
		inst.Contacts, inst.ContactsKey = s.contacts(ds), s.contactsKey
	}
	if len(opt.DatasetSHA256) == sha256.Size && opt.DatasetSize == size-lay.DatasetOffset {
		inst.Hash = hex.EncodeToString(opt.DatasetSHA256)
	} else {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, lay.DatasetOffset, size-lay.DatasetOffset)); err != nil {
			return nil, fmt.Errorf("%w: reading object: %w", ErrStorage, err)
		}
		inst.Hash = hex.EncodeToString(h.Sum(nil))
	}
	return &described{
		ds:      ds,
		inst:    inst,
		patient: patientOf(ds),
		study:   studyFieldsOf(ds),
	}, nil
}

// patientOf reads the patient a data set names.
func patientOf(ds *dicom.Dataset) Patient {
	str := func(t tag.Tag) string { return dicomfile.String(ds, t) }
	return Patient{Name: str(tag.PatientName), ID: str(tag.PatientID), BirthDate: str(tag.PatientBirthDate)}
}

// studyFieldsOf reads the study's descriptive fields from a data set.
func studyFieldsOf(ds *dicom.Dataset) studyFields {
	str := func(t tag.Tag) string { return dicomfile.String(ds, t) }
	return studyFields{Date: str(tag.StudyDate), Time: str(tag.StudyTime),
		Description: str(tag.StudyDescription), Accession: str(tag.AccessionNumber)}
}

func hasTopLevel(ds *dicom.Dataset, t tag.Tag) bool {
	for _, e := range ds.Elements {
		if e.Tag == t {
			return true
		}
	}
	return false
}
