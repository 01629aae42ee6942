package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Source tells where an object came from.
type Source struct {
	AssociationID string `json:"assoc,omitempty"`
	CallingAET    string `json:"calling,omitempty"`
	CalledAET     string `json:"called,omitempty"`
	PeerAddr      string `json:"peer,omitempty"`
}

// Patient as received (names decoded to UTF-8 by the DICOM library).
type Patient struct {
	Name      string `json:"name,omitempty"`
	ID        string `json:"id,omitempty"`
	BirthDate string `json:"birth,omitempty"` // DICOM DA, YYYYMMDD
}

// Study is one study and what its instances add up to.
type Study struct {
	ShortID       string    `json:"short"` // small sequential number for technicians, e.g. "42"
	StudyUID      string    `json:"uid"`
	Patient       Patient   `json:"patient"`
	Date          string    `json:"date,omitempty"` // DICOM DA, YYYYMMDD
	Time          string    `json:"time,omitempty"` // DICOM TM
	Description   string    `json:"desc,omitempty"`
	Accession     string    `json:"acc,omitempty"`
	Modalities    []string  `json:"mods,omitempty"`
	NumInstances  int       `json:"n"`
	NumFrames     int       `json:"frames"`
	FirstReceived time.Time `json:"first"`
	LastReceived  time.Time `json:"last"`
	CalledAETs    []string  `json:"called,omitempty"`
	// NameKey is the folded patient name used by Query.Text.
	NameKey string `json:"namekey,omitempty"`
}

// Deid is the de-identification result of an instance.
type Deid struct {
	Path              string    `json:"path"` // derived name (see PutDerived)
	Clean             bool      `json:"clean"`
	Reasons           []string  `json:"reasons,omitempty"`
	NewSOPInstanceUID string    `json:"sop,omitempty"`
	NewStudyUID       string    `json:"study,omitempty"`
	NewSeriesUID      string    `json:"series,omitempty"`
	Profile           string    `json:"profile"` // hash of profile+options: redo when it changes
	At                time.Time `json:"at"`
}

// Render is what the renderer made of an instance.
type Render struct {
	Frames       int     `json:"frames"`
	FrameTimeMS  float64 `json:"frame_ms,omitempty"`
	Width        int     `json:"w"`
	Height       int     `json:"h"`
	Thumbnail    string  `json:"thumb,omitempty"`   // derived name
	FramePattern string  `json:"pattern,omitempty"` // derived name with %04d for the frame number
	Animation    string  `json:"anim,omitempty"`    // derived name
	Video        string  `json:"video,omitempty"`   // derived name of the MP4 of a loop, when ffmpeg made one
	Profile      string  `json:"profile"`
}

// Instance is one stored object.
type Instance struct {
	SOPInstanceUID string    `json:"sop"`
	SOPClassUID    string    `json:"class"`
	StudyUID       string    `json:"study"`
	SeriesUID      string    `json:"series"`
	SeriesNumber   int       `json:"series_no"`
	InstanceNumber int       `json:"no"`
	Modality       string    `json:"mod,omitempty"`
	TransferSyntax string    `json:"ts"`
	NumFrames      int       `json:"frames"` // 0 when there is no pixel data
	Rows           int       `json:"rows,omitempty"`
	Columns        int       `json:"cols,omitempty"`
	Size           int64     `json:"size"` // file bytes
	ReceivedAt     time.Time `json:"rx"`
	Source         Source    `json:"src"`    // empty when re-indexed at start-up
	Hash           string    `json:"sha256"` // SHA-256 of the dataset after the file meta group, hex
	File           string    `json:"file"`   // path relative to the data directory, slash-separated
	Key            string    `json:"key"`    // InstanceKey(SOPInstanceUID)
	// Missing: the index holds this entry but its file was gone at start-up.
	Missing bool `json:"missing,omitempty"`
	// Conflict: this is a different object received under a SOP Instance
	// UID already stored; it is kept, not served as the instance.
	Conflict bool `json:"conflict,omitempty"`
	// Conflicts counts, on the primary version, the conflict versions kept.
	Conflicts int `json:"conflicts,omitempty"`
	// Contacts are the contact values of the header as Options.Contacts
	// read them at ingest, valid for the tags ContactsKey names (empty
	// key: not read; read the file).
	Contacts    []string `json:"ct,omitempty"`
	ContactsKey string   `json:"ctk,omitempty"`
	Deid        *Deid    `json:"deid,omitempty"`
	Render      *Render  `json:"render,omitempty"`
	// Position is the 1-based place in its study (Instances order).
	Position int `json:"-"`
}

// Bucket layout of index.db.
var (
	bInstances = []byte("instances")  // SOP UID → Instance (primary version)
	bConflicts = []byte("conflicts")  // SOP UID \0 hash → Instance (conflict versions)
	bFiles     = []byte("files")      // file (relative) → SOP UID [\0 hash for conflicts]
	bStudies   = []byte("studies")    // study UID → Study
	bStudyInst = []byte("study_inst") // study UID \0 SOP UID → headKey (empty before StudyHeads)
	bShortIDs  = []byte("short_ids")  // short id → study UID
	bAccession = []byte("accession")  // accession \0 study UID → ""
	bSeries    = []byte("series")     // series UID → series
	bPatients  = []byte("patients")   // patient ID \0 folded name → patient
	bPending   = []byte("pending")    // file (relative) → pendingRec, while its flushes run
	allBuckets = [][]byte{bInstances, bConflicts, bFiles, bStudies, bStudyInst, bShortIDs, bAccession, bSeries, bPatients, bPending, bScrub}
)

type seriesRec struct {
	StudyUID string `json:"study"`
	Number   int    `json:"no"`
	Modality string `json:"mod,omitempty"`
	Count    int    `json:"n"`
}

type patientRec struct {
	Patient
	Studies []string `json:"studies"`
}

func key(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%w: corrupt index entry in %s: %w", ErrStorage, b.Tx().DB().Path(), err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// indexInstance records inst (a new primary or conflict version) and
// updates its study, series and patient. It runs inside one transaction.
func indexInstance(tx *bolt.Tx, inst *Instance, pat Patient, st studyFields) error {
	if inst.Conflict {
		if err := putJSON(tx.Bucket(bConflicts), key(inst.SOPInstanceUID, inst.Hash), inst); err != nil {
			return err
		}
		if err := tx.Bucket(bFiles).Put([]byte(inst.File), key(inst.SOPInstanceUID, inst.Hash)); err != nil {
			return err
		}
		var prim Instance
		if ok, err := getJSON(tx.Bucket(bInstances), []byte(inst.SOPInstanceUID), &prim); err != nil || !ok {
			return err
		}
		prim.Conflicts++
		if err := awaitChoice(tx, prim.StudyUID, prim.SOPInstanceUID); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bInstances), []byte(inst.SOPInstanceUID), &prim)
	}
	if err := putJSON(tx.Bucket(bInstances), []byte(inst.SOPInstanceUID), inst); err != nil {
		return err
	}
	if err := tx.Bucket(bFiles).Put([]byte(inst.File), []byte(inst.SOPInstanceUID)); err != nil {
		return err
	}
	if err := tx.Bucket(bStudyInst).Put(key(inst.StudyUID, inst.SOPInstanceUID), headKey(inst)); err != nil {
		return err
	}
	if err := noteWork(tx, inst); err != nil {
		return err
	}

	// Study.
	sb := tx.Bucket(bStudies)
	var s Study
	found, err := getJSON(sb, []byte(inst.StudyUID), &s)
	if err != nil {
		return err
	}
	if !found {
		n, err := sb.NextSequence()
		if err != nil {
			return err
		}
		s = Study{ShortID: strconv.FormatUint(n, 10), StudyUID: inst.StudyUID, FirstReceived: inst.ReceivedAt}
		if err := tx.Bucket(bShortIDs).Put([]byte(s.ShortID), []byte(s.StudyUID)); err != nil {
			return err
		}
	}
	// The first object sets the study's descriptive fields; later objects
	// fill what is still empty (until a technician chooses a version of
	// an object: the chosen one's replace them, see followVersion).
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&s.Patient.Name, pat.Name)
	fill(&s.Patient.ID, pat.ID)
	fill(&s.Patient.BirthDate, pat.BirthDate)
	fill(&s.Date, st.Date)
	fill(&s.Time, st.Time)
	fill(&s.Description, st.Description)
	if s.Accession == "" && st.Accession != "" {
		s.Accession = st.Accession
		if err := tx.Bucket(bAccession).Put(key(s.Accession, s.StudyUID), nil); err != nil {
			return err
		}
	}
	s.NameKey = FoldName(s.Patient.Name)
	s.Modalities = addUnique(s.Modalities, inst.Modality)
	s.CalledAETs = addUnique(s.CalledAETs, inst.Source.CalledAET)
	s.NumInstances++
	s.NumFrames += inst.NumFrames
	if inst.ReceivedAt.Before(s.FirstReceived) || s.FirstReceived.IsZero() {
		s.FirstReceived = inst.ReceivedAt
	}
	if inst.ReceivedAt.After(s.LastReceived) {
		s.LastReceived = inst.ReceivedAt
	}
	if err := putStudy(tx, &s); err != nil {
		return err
	}
	if err := noteArrival(tx, &s); err != nil {
		return err
	}

	if err := countInSeries(tx, inst); err != nil {
		return err
	}

	// Patient.
	pk := patientKey(pat)
	var p patientRec
	if _, err := getJSON(tx.Bucket(bPatients), pk, &p); err != nil {
		return err
	}
	p.Patient = pat
	p.Studies = addUnique(p.Studies, inst.StudyUID)
	return putJSON(tx.Bucket(bPatients), pk, &p)
}

// countInSeries counts inst in its series, recording the series.
func countInSeries(tx *bolt.Tx, inst *Instance) error {
	var se seriesRec
	if _, err := getJSON(tx.Bucket(bSeries), []byte(inst.SeriesUID), &se); err != nil {
		return err
	}
	se.StudyUID, se.Number = inst.StudyUID, inst.SeriesNumber
	if se.Modality == "" {
		se.Modality = inst.Modality
	}
	se.Count++
	return putJSON(tx.Bucket(bSeries), []byte(inst.SeriesUID), &se)
}

// uncountInSeries takes one instance out of a series, removing the series
// when it is left empty.
func uncountInSeries(tx *bolt.Tx, seriesUID string) error {
	var se seriesRec
	ok, err := getJSON(tx.Bucket(bSeries), []byte(seriesUID), &se)
	if err != nil || !ok {
		return err
	}
	if se.Count--; se.Count <= 0 {
		return tx.Bucket(bSeries).Delete([]byte(seriesUID))
	}
	return putJSON(tx.Bucket(bSeries), []byte(seriesUID), &se)
}

// patientKey is the patients-bucket key of pat.
func patientKey(pat Patient) []byte { return key(pat.ID, FoldName(pat.Name)) }

// unindexInstance undoes indexInstance for the entry ref names (see
// lookupRef), whose patient record is under pk: it removes the entry and
// takes it out of its study, series and patient, removing those that are
// left empty. A study that keeps other instances gets its modality and AE
// lists, received times and frame count from those.
func unindexInstance(tx *bolt.Tx, ref, pk []byte) error {
	var inst Instance
	ok, err := lookupRef(tx, ref, &inst)
	if err != nil || !ok {
		return err
	}
	if inst.Conflict {
		if err := tx.Bucket(bConflicts).Delete(ref); err != nil {
			return err
		}
		var prim Instance
		ib := tx.Bucket(bInstances)
		if ok, err := getJSON(ib, []byte(inst.SOPInstanceUID), &prim); err != nil || !ok {
			return err
		}
		prim.Conflicts = max(prim.Conflicts-1, 0)
		if prim.Conflicts == 0 {
			if err := choiceDone(tx, prim.StudyUID, prim.SOPInstanceUID); err != nil {
				return err
			}
		}
		return putJSON(ib, []byte(inst.SOPInstanceUID), &prim)
	}
	if err := tx.Bucket(bInstances).Delete(ref); err != nil {
		return err
	}
	if err := choiceDone(tx, inst.StudyUID, inst.SOPInstanceUID); err != nil {
		return err
	}
	if err := tx.Bucket(bWork).Delete(ref); err != nil {
		return err
	}
	if err := tx.Bucket(bStudyInst).Delete(key(inst.StudyUID, inst.SOPInstanceUID)); err != nil {
		return err
	}

	if err := uncountInSeries(tx, inst.SeriesUID); err != nil {
		return err
	}

	// Study.
	st, ok, err := recountedStudy(tx, inst.StudyUID)
	if err != nil || !ok {
		return err
	}
	if st.NumInstances > 0 {
		return putStudy(tx, &st)
	}
	if err := deleteStudy(tx, &st); err != nil {
		return err
	}
	if err := tx.Bucket(bArriving).Delete([]byte(st.StudyUID)); err != nil {
		return err
	}
	if err := tx.Bucket(bShortIDs).Delete([]byte(st.ShortID)); err != nil {
		return err
	}
	if st.Accession != "" {
		if err := tx.Bucket(bAccession).Delete(key(st.Accession, st.StudyUID)); err != nil {
			return err
		}
	}

	// Patient: the study is gone.
	pb := tx.Bucket(bPatients)
	var p patientRec
	if ok, err := getJSON(pb, pk, &p); err != nil || !ok {
		return err
	}
	var rest []string
	for _, s := range p.Studies {
		if s != st.StudyUID {
			rest = append(rest, s)
		}
	}
	if len(rest) == 0 {
		return pb.Delete(pk)
	}
	p.Studies = rest
	return putJSON(pb, pk, &p)
}

// recountedStudy reads a study's record and recounts it from its
// instances (recountStudy); ok is false when the study is not indexed.
func recountedStudy(tx *bolt.Tx, studyUID string) (st Study, ok bool, err error) {
	if ok, err = getJSON(tx.Bucket(bStudies), []byte(studyUID), &st); err != nil || !ok {
		return st, ok, err
	}
	return st, true, recountStudy(tx, &st)
}

// recountStudy sets st's modality and AE lists, received times and counts
// from the instances indexed under it (conflict versions do not count, as
// in indexInstance).
func recountStudy(tx *bolt.Tx, st *Study) error {
	st.Modalities, st.CalledAETs = nil, nil
	st.FirstReceived, st.LastReceived = time.Time{}, time.Time{}
	st.NumInstances, st.NumFrames = 0, 0
	ib := tx.Bucket(bInstances)
	prefix := key(st.StudyUID, "")
	c := tx.Bucket(bStudyInst).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		var inst Instance
		ok, err := getJSON(ib, k[len(prefix):], &inst)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		st.Modalities = addUnique(st.Modalities, inst.Modality)
		st.CalledAETs = addUnique(st.CalledAETs, inst.Source.CalledAET)
		st.NumInstances++
		st.NumFrames += inst.NumFrames
		if st.FirstReceived.IsZero() || inst.ReceivedAt.Before(st.FirstReceived) {
			st.FirstReceived = inst.ReceivedAt
		}
		if inst.ReceivedAt.After(st.LastReceived) {
			st.LastReceived = inst.ReceivedAt
		}
	}
	return nil
}

func addUnique(list []string, v string) []string {
	if v == "" {
		return list
	}
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// sortKey orders studies by their date and time, or by when they arrived
// when they carry no date.
func sortKey(s Study) string {
	if s.Date != "" {
		t := s.Time
		if i := strings.IndexByte(t, '.'); i >= 0 {
			t = t[:i]
		}
		return s.Date + (t + "000000")[:6]
	}
	return s.FirstReceived.UTC().Format("20060102150405")
}

// Study resolves a short id, a Study Instance UID or an accession number.
// It returns ErrNotFound, or ErrAmbiguous when an accession number names
// several studies.
func (s *Store) Study(k string) (*Study, error) {
	k = strings.TrimSpace(k)
	if k == "" {
		return nil, fmt.Errorf("%w: empty study key", ErrNotFound)
	}
	var st Study
	err := s.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bStudies)
		if uid := tx.Bucket(bShortIDs).Get([]byte(k)); uid != nil {
			if ok, err := getJSON(sb, uid, &st); ok || err != nil {
				return err
			}
		}
		if ok, err := getJSON(sb, []byte(k), &st); ok || err != nil {
			return err
		}
		var uids [][]byte
		c := tx.Bucket(bAccession).Cursor()
		prefix := key(k, "")
		for ak, _ := c.Seek(prefix); ak != nil && bytes.HasPrefix(ak, prefix); ak, _ = c.Next() {
			uids = append(uids, append([]byte(nil), ak[len(prefix):]...))
		}
		switch len(uids) {
		case 0:
			return fmt.Errorf("%w: no study with short id, study UID or accession number %q", ErrNotFound, k)
		case 1:
			if ok, err := getJSON(sb, uids[0], &st); !ok || err != nil {
				if err == nil {
					err = fmt.Errorf("%w: accession %q points to a missing study", ErrNotFound, k)
				}
				return err
			}
			return nil
		default:
			return fmt.Errorf("%w: accession number %q names %d studies; use the short id or the Study Instance UID", ErrAmbiguous, k, len(uids))
		}
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Instances returns the primary version of every instance of a study,
// ordered by series number, instance number, received-at and UID, with
// Position set from 1.
func (s *Store) Instances(studyUID string) ([]Instance, error) {
	var out []Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bStudies).Get([]byte(studyUID)) == nil {
			return fmt.Errorf("%w: study", ErrNotFound)
		}
		ib := tx.Bucket(bInstances)
		c := tx.Bucket(bStudyInst).Cursor()
		prefix := key(studyUID, "")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var inst Instance
			ok, err := getJSON(ib, k[len(prefix):], &inst)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, inst)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.SeriesNumber != b.SeriesNumber {
			return a.SeriesNumber < b.SeriesNumber
		}
		if a.InstanceNumber != b.InstanceNumber {
			return a.InstanceNumber < b.InstanceNumber
		}
		if !a.ReceivedAt.Equal(b.ReceivedAt) {
			return a.ReceivedAt.Before(b.ReceivedAt)
		}
		return a.SOPInstanceUID < b.SOPInstanceUID
	})
	for i := range out {
		out[i].Position = i + 1
	}
	return out, nil
}

// StudyHeads returns the first n objects of a study in Instances order
// (with their Position), as Instances(studyUID)[:n] would, reading only
// those n entries: the order is in the study_inst values (headKey), so
// the study's other objects are not decoded. An entry written before the
// values existed has none; a study with one is read by Instances.
func (s *Store) StudyHeads(studyUID string, n int) ([]Instance, error) {
	type head struct{ order, sop []byte }
	var out []Instance
	old := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bStudies).Get([]byte(studyUID)) == nil {
			return fmt.Errorf("%w: study", ErrNotFound)
		}
		var heads []head
		c := tx.Bucket(bStudyInst).Cursor()
		prefix := key(studyUID, "")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) != headKeyLen {
				old = true
				return nil
			}
			heads = append(heads, head{v, k[len(prefix):]})
		}
		slices.SortFunc(heads, func(a, b head) int {
			if c := bytes.Compare(a.order, b.order); c != 0 {
				return c
			}
			return bytes.Compare(a.sop, b.sop)
		})
		ib := tx.Bucket(bInstances)
		for _, h := range heads {
			if len(out) == n {
				break
			}
			var inst Instance
			if ok, err := getJSON(ib, h.sop, &inst); err != nil {
				return err
			} else if ok {
				inst.Position = len(out) + 1
				out = append(out, inst)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if old {
		all, err := s.Instances(studyUID)
		if err != nil {
			return nil, err
		}
		return all[:min(n, len(all))], nil
	}
	return out, nil
}

const headKeyLen = 24

// headKey orders a study's objects as Instances does: series number,
// instance number, arrival (then SOP Instance UID, the key), each 8 bytes
// whose byte order is the numeric order.
func headKey(inst *Instance) []byte {
	b := make([]byte, 0, headKeyLen)
	b = binary.BigEndian.AppendUint64(b, uint64(int64(inst.SeriesNumber))^(1<<63))
	b = binary.BigEndian.AppendUint64(b, uint64(int64(inst.InstanceNumber))^(1<<63))
	return append(b, receivedKey(inst.ReceivedAt)...)
}

// Instance returns the primary version of an instance (ErrNotFound).
func (s *Store) Instance(sopUID string) (*Instance, error) {
	var inst Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bInstances), []byte(sopUID), &inst)
		if err == nil && !ok {
			err = fmt.Errorf("%w: instance", ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &inst, nil
}

// ConflictVersions returns the other objects received under sopUID and
// kept beside the primary version, oldest first.
func (s *Store) ConflictVersions(sopUID string) ([]Instance, error) {
	var out []Instance
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bConflicts).Cursor()
		prefix := key(sopUID, "")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var inst Instance
			if err := json.Unmarshal(v, &inst); err != nil {
				return fmt.Errorf("%w: corrupt conflict entry: %w", ErrStorage, err)
			}
			out = append(out, inst)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ReceivedAt.Before(out[j].ReceivedAt) })
	return out, err
}

// updateInstance applies fn to the primary version of sopUID and, when
// work, brings its membership of the work set in step (noteWork).
func (s *Store) updateInstance(sopUID string, work bool, fn func(*Instance)) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bInstances)
		var inst Instance
		ok, err := getJSON(b, []byte(sopUID), &inst)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: instance", ErrNotFound)
		}
		fn(&inst)
		if work {
			if err := noteWork(tx, &inst); err != nil {
				return err
			}
		}
		return putJSON(b, []byte(sopUID), &inst)
	})
	return err
}
