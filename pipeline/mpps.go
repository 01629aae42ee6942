package pipeline

// Modality Performed Procedure Step (PS3.4 Annex F.7) as sonolink
// practises it: the technician's "end exam" makes the study complete at
// once, instead of after the stable time.
//
// Every step is kept in its own database (mpps.db, bbolt), keyed by its
// SOP Instance UID, with its status, the studies its Scheduled Step
// Attribute Sequence names and the instances its Performed Series Sequence
// references; a change is committed (fsynced) before the modality is
// answered Success, so the state survives a restart.
//
// COMPLETED: the associations that sent the referenced instances no longer
// hold processing back (yield.go), and once every referenced instance is
// stored and processed (de-identified and rendered with the current
// profiles), each study they belong to is complete: the auto-share rule is applied to it right away,
// even while an association that sent it is still open. An N-SET COMPLETED
// that arrives before the last objects completes the study when the last
// one is processed. A step that references nothing leaves the study to the
// stable time, which stays the rule for scanners without MPPS.
//
// DISCONTINUED: the study (those named in the Scheduled Step Attribute
// Sequence, and those of the referenced instances as they are stored) is
// held: auto-share does not send it, now or when the stable time passes,
// and the decision "discontinued" is recorded for the technician to see
// (sonolink studies / study). A later step of the same study that
// COMPLETES lifts the hold. The technician can still send it by hand.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/dimse"
	"sonolink/internal/logid"
	"sonolink/share"
	"sonolink/store"
)

var (
	bktSteps = []byte("steps") // MPPS SOP Instance UID → stepRecord (JSON)
	bktHeld  = []byte("held")  // Study Instance UID → UID of the step that discontinued it
)

// stepRecord is one procedure step as kept.
type stepRecord struct {
	Status     string         `json:"status"`
	StudyUIDs  []string       `json:"studies,omitempty"`
	Refs       []dimse.SOPRef `json:"refs,omitempty"`
	CallingAET string         `json:"calling_aet,omitempty"`
	Created    time.Time      `json:"created"`
	Updated    time.Time      `json:"updated"`
	// Done: the final status was acted on (its studies completed or held).
	Done bool `json:"done,omitempty"`
}

func (r *stepRecord) final() bool {
	return r.Status == dimse.MPPSCompleted || r.Status == dimse.MPPSDiscontinued
}

// ProcedureSteps keeps MPPS instances (a dimse.MPPSHandler) and completes or
// holds the studies they name, through the pipeline it was opened for.
type ProcedureSteps struct {
	db  *bolt.DB
	p   *Pipeline
	log *slog.Logger

	mu      sync.Mutex // serialises changes of one step against another
	waiting map[string]bool
}

var _ dimse.MPPSHandler = (*ProcedureSteps)(nil)

// OpenProcedureSteps opens (creates) the MPPS database at path and attaches
// it to p, whose Run then acts on final steps. Call it before p.Run; Close
// after.
func OpenProcedureSteps(path string, p *Pipeline) (*ProcedureSteps, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%w: opening the MPPS database: %w", store.ErrStorage, err)
	}
	m := &ProcedureSteps{db: db, p: p, log: p.cfg.Logger.With("component", "mpps"), waiting: map[string]bool{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktSteps, bktHeld} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// Final steps not yet acted on are watched again.
		return tx.Bucket(bktSteps).ForEach(func(k, v []byte) error {
			var r stepRecord
			if json.Unmarshal(v, &r) == nil && r.final() && !r.Done {
				m.waiting[string(k)] = true
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: MPPS database: %w", store.ErrStorage, err)
	}
	if len(m.waiting) > 0 {
		m.log.Info("MPPS: final steps still waiting for their objects", "count", len(m.waiting))
	}
	p.mpps = m
	return m, nil
}

// Close closes the database.
func (m *ProcedureSteps) Close() error { return m.db.Close() }

func stepAttr(uid string) slog.Attr { return slog.String("mpps", logid.ID(uid)) }

// CreateMPPS records a new step (IN PROGRESS).
func (m *ProcedureSteps) CreateMPPS(ctx context.Context, a *dimse.Association, uid string, ps *dimse.ProcedureStep) error {
	now := m.p.cfg.Now().UTC()
	rec := &stepRecord{Status: ps.Status, StudyUIDs: ps.StudyUIDs, Refs: ps.Refs, CallingAET: a.CallingAET, Created: now, Updated: now}
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSteps)
		if b.Get([]byte(uid)) != nil {
			return dimse.ErrMPPSExists
		}
		return putStep(b, uid, rec)
	})
	if err == nil {
		m.log.Info("exam started (MPPS in progress)", stepAttr(uid), "calling_aet", a.CallingAET, "studies", len(ps.StudyUIDs))
	}
	return err
}

// SetMPPS records a change of a step; a final status is acted on by Run.
func (m *ProcedureSteps) SetMPPS(ctx context.Context, a *dimse.Association, uid string, ps *dimse.ProcedureStep) error {
	var rec stepRecord
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSteps)
		v := b.Get([]byte(uid))
		if v == nil {
			return dimse.ErrMPPSUnknown
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("reading MPPS record: %w", err)
		}
		if rec.final() {
			return dimse.ErrMPPSFinal
		}
		if ps.Status != "" {
			rec.Status = ps.Status
		}
		if len(ps.StudyUIDs) > 0 {
			rec.StudyUIDs = ps.StudyUIDs
		}
		if ps.HasSeries {
			rec.Refs = ps.Refs
		}
		rec.Updated = m.p.cfg.Now().UTC()
		if rec.Status == dimse.MPPSDiscontinued {
			// Hold the studies named now, before the stable time may pass;
			// those of referenced instances follow as they are stored.
			for _, s := range rec.StudyUIDs {
				if err := tx.Bucket(bktHeld).Put([]byte(s), []byte(uid)); err != nil {
					return err
				}
			}
		}
		return putStep(b, uid, &rec)
	})
	if err != nil {
		return err
	}
	switch rec.Status {
	case dimse.MPPSCompleted:
		m.log.Info("exam ended (MPPS completed)", stepAttr(uid), "referenced", len(rec.Refs))
		m.p.releaseSenders(rec.Refs)
	case dimse.MPPSDiscontinued:
		m.log.Warn("exam discontinued on the scanner (MPPS); its study is not shared automatically", stepAttr(uid), "referenced", len(rec.Refs))
		for _, s := range rec.StudyUIDs {
			m.recordHeld(s)
		}
	default:
		return nil
	}
	m.waiting[uid] = true
	m.p.wakeMPPS()
	return nil
}

func putStep(b *bolt.Bucket, uid string, r *stepRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(uid), v)
}

// held reports whether a discontinued step holds the study back from
// auto-share.
func (m *ProcedureSteps) held(studyUID string) bool {
	found := false
	m.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bktHeld).Get([]byte(studyUID)) != nil
		return nil
	})
	return found
}

// recordHeld records the decision the technician sees.
func (m *ProcedureSteps) recordHeld(studyUID string) {
	if err := m.p.cfg.Share.RecordAutoShareDecision(studyUID, m.p.cfg.Now(), share.OutcomeDiscontinued); err != nil {
		m.log.Error("recording that the study's exam was discontinued", logid.Study(studyUID), "err", err)
	}
}

// check acts on every final step whose instances are all there: it
// completes (COMPLETED) or holds (DISCONTINUED) their studies. Called by
// Run on every tick and when woken.
func (m *ProcedureSteps) check(ctx context.Context) {
	m.mu.Lock()
	uids := make([]string, 0, len(m.waiting))
	for u := range m.waiting {
		uids = append(uids, u)
	}
	m.mu.Unlock()
	if len(uids) == 0 {
		return
	}
	slices.Sort(uids)
	for _, uid := range uids {
		if ctx.Err() != nil {
			return
		}
		m.checkOne(ctx, uid)
	}
}

func (m *ProcedureSteps) checkOne(ctx context.Context, uid string) {
	var rec stepRecord
	err := m.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktSteps).Get([]byte(uid))
		if v == nil {
			return store.ErrNotFound
		}
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		m.log.Error("MPPS record unreadable; left to the stable time", stepAttr(uid), "err", err)
		m.forget(uid)
		return
	}
	completed := rec.Status == dimse.MPPSCompleted
	studies, notYet, err := m.p.referencedStudies(rec.Refs, completed)
	if err != nil {
		m.log.Error("MPPS: checking its instances; tried again", stepAttr(uid), "err", err)
		return
	}
	if !completed {
		// Hold each study as soon as one of its objects is known.
		for _, s := range rec.StudyUIDs {
			if !slices.Contains(studies, s) {
				studies = append(studies, s)
			}
		}
		newly, err := m.hold(uid, studies)
		if err != nil {
			m.log.Error("MPPS: holding the discontinued exam's study; tried again", stepAttr(uid), "err", err)
			return
		}
		for _, s := range newly {
			m.recordHeld(s)
		}
	}
	if notYet > 0 {
		if completed {
			m.p.releaseSenders(rec.Refs) // of objects that arrived since
		}
		if m.p.cfg.Now().Sub(rec.Updated) > stepWaitLimit {
			m.log.Warn("MPPS: referenced objects never arrived; no longer waiting for them (the stable time applies)", stepAttr(uid), "not_arrived", notYet)
			if err := m.markDone(uid, nil); err == nil {
				m.forget(uid)
			}
		}
		return
	}
	if completed && len(studies) == 0 {
		m.log.Info("MPPS completed without referenced instances; the study completes after the stable time", stepAttr(uid))
	}
	var lift []string
	if completed {
		lift = studies
	}
	if err := m.markDone(uid, lift); err != nil {
		m.log.Error("MPPS: recording that the step was acted on; tried again", stepAttr(uid), "err", err)
		return
	}
	if completed {
		for _, s := range studies {
			m.p.completeNow(ctx, s, uid)
		}
	}
	m.forget(uid)
}

// mppsRecheck is how often Run looks at waiting steps without being woken
// (an object stored or processed wakes it at once).
const mppsRecheck = 2 * time.Second

// stepWaitLimit bounds how long a final step waits for the objects it
// references.
const stepWaitLimit = 24 * time.Hour

// hold records that the discontinued step uid holds the studies, and
// returns those it did not hold yet.
func (m *ProcedureSteps) hold(uid string, studies []string) ([]string, error) {
	var newly []string
	err := m.db.Update(func(tx *bolt.Tx) error {
		newly = newly[:0]
		b := tx.Bucket(bktHeld)
		for _, s := range studies {
			if string(b.Get([]byte(s))) == uid {
				continue
			}
			if err := b.Put([]byte(s), []byte(uid)); err != nil {
				return err
			}
			newly = append(newly, s)
		}
		return nil
	})
	return newly, err
}

// markDone records the step as acted on, and lifts the holds of the
// studies in lift (a COMPLETED step of a study a discontinued one held).
func (m *ProcedureSteps) markDone(uid string, lift []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSteps)
		var rec stepRecord
		if v := b.Get([]byte(uid)); v == nil || json.Unmarshal(v, &rec) != nil {
			return errors.New("record gone")
		}
		rec.Done = true
		for _, s := range lift {
			if err := tx.Bucket(bktHeld).Delete([]byte(s)); err != nil {
				return err
			}
		}
		return putStep(b, uid, &rec)
	})
}

func (m *ProcedureSteps) forget(uid string) {
	m.mu.Lock()
	delete(m.waiting, uid)
	m.mu.Unlock()
}

// wakeMPPS has Run check the waiting steps now.
func (p *Pipeline) wakeMPPS() {
	if p.mpps == nil {
		return
	}
	select {
	case p.mppsWake <- struct{}{}:
	default:
	}
}

// referencedStudies returns the studies of the referenced instances that
// are stored and, when processed is asked for, de-identified and rendered
// with the current profiles, and how many are not that far yet.
func (p *Pipeline) referencedStudies(refs []dimse.SOPRef, processed bool) (studies []string, notYet int, err error) {
	var profile string
	if processed {
		a, err := p.anonymizer()
		if err != nil {
			return nil, 0, err
		}
		profile = a.Profile()
	}
	for _, r := range refs {
		inst, err := p.cfg.Store.Instance(r.SOPInstanceUID)
		if errors.Is(err, store.ErrNotFound) {
			notYet++
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if processed && !inst.Missing && !inst.Conflict &&
			(needsDeid(inst.Deid, profile) || inst.Render == nil || inst.Render.Profile != currentRenderProfile()) {
			notYet++
			continue
		}
		if !slices.Contains(studies, inst.StudyUID) {
			studies = append(studies, inst.StudyUID)
		}
	}
	return studies, notYet, nil
}

// releaseSenders lets processing go ahead of the associations that sent
// the referenced instances, if they are still open: the modality said the
// exam is over, so they no longer hold back its de-identification and
// rendering (yield.go), and the link waits for no idle time of theirs.
func (p *Pipeline) releaseSenders(refs []dimse.SOPRef) {
	for _, r := range refs {
		inst, err := p.cfg.Store.Instance(r.SOPInstanceUID)
		if err == nil && inst.Source.AssociationID != "" {
			p.rx.release(inst.Source.AssociationID)
		}
	}
}

// release stops counting an open association as sending (see closed).
func (r *receiving) release(assoc string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.open[assoc] {
		return
	}
	delete(r.open, assoc)
	close(r.wake)
	r.wake = make(chan struct{})
}

// completeNow applies the auto-share rule to a study whose exam ended,
// without waiting for the stable time, unless it was already decided since
// its last object arrived.
func (p *Pipeline) completeNow(ctx context.Context, studyUID, stepUID string) {
	ps := p.tracker.take(studyUID)
	if ps == nil {
		s, err := p.cfg.Store.Study(studyUID)
		if err != nil {
			p.log.Error("MPPS completed; study not found", logid.Study(studyUID), stepAttr(stepUID), "err", err)
			return
		}
		// A study a discontinued step held is not complete yet: this step
		// lifted the hold.
		if d, ok := p.cfg.Share.AutoShareDecided(studyUID); ok && d.Outcome != share.OutcomeDiscontinued && !s.LastReceived.After(d.At) {
			p.log.Info("MPPS completed; the study was already complete", logid.Study(studyUID), stepAttr(stepUID), "decision", d.Outcome)
			return
		}
		ps = p.pendingFromStore(s)
	}
	p.log.Info("MPPS completed and every referenced object is processed; study complete without waiting for the stable time", logid.Study(studyUID), stepAttr(stepUID))
	p.studyComplete(ctx, ps)
}

// pendingFromStore is what the tracker would know of a study, read from
// the store (after a restart).
func (p *Pipeline) pendingFromStore(s *store.Study) *pendingStudy {
	ps := &pendingStudy{StudyUID: s.StudyUID, Last: s.LastReceived, open: map[string]struct{}{}, CalledAETs: map[string]struct{}{}}
	for _, aet := range s.CalledAETs {
		ps.CalledAETs[aet] = struct{}{}
	}
	insts, err := p.cfg.Store.Instances(s.StudyUID)
	if err != nil {
		p.log.Error("listing the study's objects for its contacts", logid.Study(s.StudyUID), "err", err)
		return ps
	}
	for _, in := range insts {
		if in.Missing || in.Conflict {
			continue
		}
		for _, c := range p.readContacts(p.cfg.Store.ObjectPath(&in)) {
			if !containsString(ps.Contacts, c) {
				ps.Contacts = append(ps.Contacts, c)
			}
		}
	}
	return ps
}
