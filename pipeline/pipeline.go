// Package pipeline takes every acknowledged object through the rest of
// sonolink: it is the dimse.Handler that stores objects durably before they
// are acknowledged, then de-identifies and renders each one in the
// background, notices when a study is complete (after the stable time, or at
// once when the modality reports the exam completed: MPPS, mpps.go), and
// issues the patient's link when the clinic's auto-share rule says so.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/anonymize"
	"sonolink/contact"
	"sonolink/dicom/dicomfile"
	"sonolink/dimse"
	"sonolink/internal/logid"
	"sonolink/render"
	"sonolink/share"
	"sonolink/store"
)

// renderProfile changes when rendering changes, so old renders are redone.
const renderProfile = "render-1"

// currentRenderProfile is renderProfile, marked when cine loops get an MP4:
// installing ffmpeg redoes the loops rendered without it.
func currentRenderProfile() string {
	if render.HasVideo() {
		return renderProfile + "+mp4"
	}
	return renderProfile
}

// Config wires the pipeline to the rest of sonolink.
type Config struct {
	Store *store.Store
	Share *share.Service
	// Secret keys de-identification (anonymize.LoadOrCreateSecret).
	Secret []byte
	// ContactTags are read, in order, for the patient's e-mail and phone.
	ContactTags []tag.Tag
	// StableTime, when > 0, overrides the clinic's stable-time setting.
	StableTime time.Duration
	// Workers de-identify and render in parallel (default 2).
	Workers int
	Logger  *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Tick is how often complete studies are looked for (default 100 ms).
	Tick time.Duration
	// IngestQuiet: while objects arrive, de-identification and rendering
	// wait until none arrived for this long (default 250 ms; negative: never
	// wait). See yield.go.
	IngestQuiet time.Duration
	// Admit, when set, is asked before each object is stored; an error
	// (a full disk: retention.ErrDiskFull) refuses it with A700 (Out of
	// resources).
	Admit func() error
	// RetryMin and RetryMax bound the wait before an object is tried again
	// after a storage or I/O fault: doubling from RetryMin (default 5 s) up
	// to RetryMax (default 5 min). See faults.go.
	RetryMin, RetryMax time.Duration
}

// Pipeline is sonolink's ingest path. It implements dimse.Handler.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	tracker *tracker
	queue   *workQueue
	rx      *receiving
	work    inWork // what retention must not purge (busy.go)

	mu       sync.Mutex
	anon     *anonymize.Anonymizer
	anonKey  string
	attempts map[string]int // objects left pending by a fault → attempts so far

	// mpps, when set (OpenProcedureSteps), completes or holds studies by
	// their Modality Performed Procedure Steps; mppsWake has Run look at
	// its waiting steps now (mpps.go).
	mpps     *ProcedureSteps
	mppsWake chan struct{}

	// hook, when set (tests), runs first inside each guarded stage of
	// Process; an error it returns is that stage's error.
	hook func(stage, sopUID string) error
}

// New returns a pipeline; call Run to start its background work.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Store == nil || cfg.Share == nil {
		return nil, errors.New("pipeline: store and share are required")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("pipeline: de-identification secret missing")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.ContactTags == nil {
		cfg.ContactTags = contact.DefaultTags
	}
	if cfg.IngestQuiet == 0 {
		cfg.IngestQuiet = defaultIngestQuiet
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 5 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(cfg.RetryMin, 5*time.Minute)
	}
	return &Pipeline{cfg: cfg, log: cfg.Logger.With("component", "pipeline"), tracker: newTracker(),
		queue: newWorkQueue(), rx: newReceiving(cfg.IngestQuiet), attempts: map[string]int{}, mppsWake: make(chan struct{}, 1)}, nil
}

// HandleStore makes the object durable through the store and answers the
// modality; de-identification and rendering happen afterwards.
func (p *Pipeline) HandleStore(ctx context.Context, a *dimse.Association, obj *dimse.Object) dimse.Status {
	p.rx.arrived(a.ID)
	defer p.rx.arrived(a.ID)
	if p.cfg.Admit != nil {
		if err := p.cfg.Admit(); err != nil {
			p.log.Error("object refused: disk full", logid.Object(obj.SOPInstanceUID), "assoc", a.ID, "calling_aet", a.CallingAET, "peer", a.PeerAddr,
				"status", fmt.Sprintf("%04X", uint16(dimse.StatusOutOfResources)), "err", err)
			return dimse.StatusOutOfResources
		}
	}
	res, err := p.cfg.Store.IngestWith(obj.Path, store.Source{
		AssociationID: a.ID, CallingAET: a.CallingAET, CalledAET: a.CalledAET, PeerAddr: a.PeerAddr,
	}, store.IngestOptions{DatasetSHA256: obj.DatasetSHA256, DatasetSize: obj.Size, SOPInstanceUID: obj.SOPInstanceUID,
		SOPClassUID: obj.SOPClassUID, Flushed: obj.Flushed})
	if err != nil {
		st := storeStatus(err)
		p.log.Error("object not stored", logid.Object(obj.SOPInstanceUID), "assoc", a.ID, "calling_aet", a.CallingAET, "peer", a.PeerAddr,
			"sop_class", obj.SOPClassUID, "status", fmt.Sprintf("%04X", uint16(st)), "err", err)
		return st
	}
	inst := res.Instance
	contacts := p.contacts(res.Header)
	p.tracker.arrived(inst.StudyUID, a.ID, a.CalledAET, contacts, p.cfg.Now())
	if !res.Duplicate && !res.Conflict {
		p.queue.push(inst.SOPInstanceUID)
	}
	p.wakeMPPS()
	return dimse.StatusSuccess
}

// Requeue has an instance de-identified and rendered again, e.g. after the
// technician chose another of its versions (its derived files are gone).
func (p *Pipeline) Requeue(sopUID string) { p.queue.push(sopUID) }

// AssociationClosed lets studies sent on the association become complete.
func (p *Pipeline) AssociationClosed(a *dimse.Association) {
	p.tracker.closed(a.ID, p.cfg.Now())
	p.rx.closed(a.ID)
}

// Run de-identifies and renders queued objects and shares complete studies
// until ctx ends. At start it picks up work a previous run left undone.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	p.recover(ctx, &wg)
	for i := 0; i < p.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				sop, ok := p.queue.pop(ctx)
				if !ok {
					return
				}
				// Receiving comes first; what is skipped here at shutdown
				// is picked up by recover at the next start.
				p.rx.wait(ctx)
				if ctx.Err() != nil {
					p.queue.done()
					return
				}
				p.work.processing.Store(sop, struct{}{})
				p.processOrRetry(sop)
				p.work.processing.Delete(sop)
				p.queue.done()
			}
		}()
	}
	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	// Until the settings are read, options is "" and the first reading
	// requeues what is stale.
	options, _ := p.deidOptionsKey()
	var mppsChecked time.Time
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-p.mppsWake:
			p.mpps.check(ctx)
		case <-t.C:
			if p.mpps != nil && p.cfg.Now().Sub(mppsChecked) >= mppsRecheck {
				// A safety net: arrivals and processed objects wake the
				// check as they happen.
				mppsChecked = p.cfg.Now()
				p.mpps.check(ctx)
			}
			if stable, err := p.stableTime(); err != nil {
				p.log.Error("complete studies wait: reading the stable time", "err", err)
			} else {
				for _, st := range p.tracker.due(p.cfg.Now(), stable) {
					p.studyComplete(ctx, st)
				}
			}
			// Settings take effect without restart: new de-identification
			// options mean new copies (and renders) of every object.
			switch k, err := p.deidOptionsKey(); {
			case err != nil:
				p.log.Error("reading the de-identification options", "err", err)
			case k != options:
				options = k
				n := p.requeueStale()
				p.log.Info("de-identification options changed; recreating copies", "objects_queued", n)
			}
		}
	}
}

// Idle reports whether no object waits to be processed and no study is
// still arriving (tests and benchmarks wait on it).
func (p *Pipeline) Idle() bool { return p.queue.idle() && p.tracker.pending() == 0 }

func (p *Pipeline) deidOptionsKey() (string, error) {
	set, err := p.cfg.Share.Settings()
	return strings.Join(set.DeidOptions, ","), err
}

func (p *Pipeline) stableTime() (time.Duration, error) {
	if p.cfg.StableTime > 0 {
		return p.cfg.StableTime, nil
	}
	set, err := p.cfg.Share.Settings()
	return set.StableTime, err
}

// anonymizer returns the anonymizer for the clinic's current options,
// rebuilding it when they change.
func (p *Pipeline) anonymizer() (*anonymize.Anonymizer, error) {
	set, err := p.cfg.Share.Settings()
	if err != nil {
		return nil, err
	}
	names := set.DeidOptions
	key := strings.Join(names, ",")
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.anon != nil && p.anonKey == key {
		return p.anon, nil
	}
	opts, err := anonymize.ParseOptions(names)
	if err != nil {
		return nil, fmt.Errorf("de-identification options: %w", err)
	}
	opts.Secret = p.cfg.Secret
	a, err := anonymize.New(opts)
	if err != nil {
		return nil, err
	}
	p.anon, p.anonKey = a, key
	return a, nil
}

// Process de-identifies and renders one stored object, unless that was
// already done with the current profile. An error means the object is still
// pending (a fault of the node: disk, I/O, index); whatever the object
// itself causes, a panic of a decoder included, ends in a verdict (residual)
// and a nil error. See faults.go.
func (p *Pipeline) Process(sopUID string) error {
	st := p.cfg.Store
	inst, err := st.Instance(sopUID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted since it was queued
	}
	if err != nil {
		return err
	}
	if inst.Missing {
		// The store found the received file gone: nothing to make a copy
		// of, and nothing of it is shown.
		p.log.Warn("stored file missing; object not processed", logid.Study(inst.StudyUID), logid.Object(sopUID))
		return st.Processed(sopUID)
	}
	a, err := p.anonymizer()
	if err != nil {
		return err
	}
	redoRender := inst.Render == nil || inst.Render.Profile != currentRenderProfile()
	if needsDeid(inst.Deid, a.Profile()) {
		d := store.Deid{Profile: a.Profile(), At: p.cfg.Now().UTC()}
		var res *anonymize.Result
		_, err := st.PutDerived(sopUID, store.DeidName, func(w io.Writer) error {
			return guard("de-identification", func() error {
				if err := p.runHook("de-identification", sopUID); err != nil {
					return err
				}
				var err error
				res, err = a.File(st.ObjectPath(inst), w)
				return err
			})
		})
		var pe *panicError
		switch {
		case transient(err):
			// Not a verdict: the object stays pending (an earlier copy,
			// if any, stands) and is tried again.
			return fmt.Errorf("de-identification: %w", err)
		case errors.As(err, &pe):
			// Fail closed without trying to render what a decoder just
			// choked on: residual, no renders.
			return p.internalError(inst, a.Profile(), pe)
		case err != nil:
			// Fail closed: without a copy the object is residual.
			p.log.Warn("object cannot be de-identified; kept residual", logid.Study(inst.StudyUID), logid.Object(sopUID), "err", err)
			d.Reasons = []string{reasonCannotDeid + err.Error()}
		default:
			d.Path = store.DeidName
			d.Clean = res.Verdict.Clean
			d.Reasons = res.Verdict.Reasons
			d.NewSOPInstanceUID, d.NewStudyUID, d.NewSeriesUID = res.SOPInstanceUID, res.StudyInstanceUID, res.SeriesInstanceUID
		}
		if err := st.SetDeid(sopUID, d); err != nil {
			return err
		}
		inst.Deid = &d
		redoRender = true
	}
	if redoRender {
		return p.render(inst, a.Profile()) // its SetRender takes it out of the work set
	}
	return st.Processed(sopUID) // already done under this profile
}

// Reasons recorded for an object without a de-identified copy. Before
// faults were told apart, every failure was recorded as
// reasonLegacyFailed, a full disk included: such records are redone.
const (
	reasonCannotDeid    = "object cannot be de-identified: "
	reasonInternalError = "internal error"
	reasonLegacyFailed  = "de-identification failed: "
)

// needsDeid reports whether an object's de-identification is to be done
// (again) under profile.
func needsDeid(d *store.Deid, profile string) bool {
	if d == nil || d.Profile != profile {
		return true
	}
	return d.Path == "" && len(d.Reasons) > 0 && strings.HasPrefix(d.Reasons[0], reasonLegacyFailed)
}

func (p *Pipeline) runHook(stage, sopUID string) error {
	if p.hook != nil {
		return p.hook(stage, sopUID)
	}
	return nil
}

// processOrRetry processes one object; one left pending by a fault is
// queued again after a delay that doubles with every attempt.
func (p *Pipeline) processOrRetry(sopUID string) {
	err := guard("processing", func() error { return p.Process(sopUID) })
	var pe *panicError
	if errors.As(err, &pe) {
		// A panic outside the guarded stages (store, settings): the
		// object is not tried again before the next start.
		p.logPanic(sopUID, pe)
		err = nil
	}
	p.mu.Lock()
	if err == nil {
		delete(p.attempts, sopUID)
		p.mu.Unlock()
		p.wakeMPPS()
		return
	}
	p.attempts[sopUID]++
	n := p.attempts[sopUID]
	p.mu.Unlock()
	delay := retryDelay(n, p.cfg.RetryMin, p.cfg.RetryMax)
	mRetries.Inc()
	p.log.Warn("object left pending after a fault; trying again", logid.Object(sopUID), "attempt", n, "retry_in", delay, "err", err)
	p.queue.pushLater(sopUID, delay)
}

// internalError records an object on which processing panicked as residual
// (reason: internal error) with no renders, so nothing of it is shown
// without the patient's password and it is not tried again under this
// profile.
func (p *Pipeline) internalError(inst *store.Instance, profile string, pe *panicError) error {
	p.logPanic(inst.SOPInstanceUID, pe)
	d := store.Deid{Profile: profile, At: p.cfg.Now().UTC()}
	if inst.Deid != nil && inst.Deid.Profile == profile {
		d = *inst.Deid
	}
	d.Clean = false
	if !slices.Contains(d.Reasons, reasonInternalError) {
		d.Reasons = append(slices.Clip(d.Reasons), reasonInternalError)
	}
	if err := p.cfg.Store.SetDeid(inst.SOPInstanceUID, d); err != nil {
		return err
	}
	inst.Deid = &d
	return p.cfg.Store.SetRender(inst.SOPInstanceUID, store.Render{Profile: currentRenderProfile()})
}

// logPanic logs a recovered panic with its stack (function names and
// offsets; no values of the object) and counts it.
func (p *Pipeline) logPanic(sopUID string, pe *panicError) {
	mInternalErrors.WithLabelValues(pe.stage).Inc()
	p.log.Error("internal error; object kept residual", logid.Object(sopUID), "stage", pe.stage, "err", pe, "stack", string(pe.stack))
}

// render draws the de-identified copy when there is one (its pixels are the
// cleaned ones), else the received object (shown only behind the password).
// An error means a fault of the node; an object that cannot be rendered
// gets an empty render record.
func (p *Pipeline) render(inst *store.Instance, profile string) error {
	st := p.cfg.Store
	src := st.ObjectPath(inst)
	if inst.Deid != nil && inst.Deid.Path != "" {
		src = st.DerivedPath(inst.SOPInstanceUID, inst.Deid.Path)
	}
	r := store.Render{Profile: currentRenderProfile()}
	if inst.NumFrames > 0 {
		var out *render.Output
		err := guard("render", func() error {
			if err := p.runHook("render", inst.SOPInstanceUID); err != nil {
				return err
			}
			var err error
			out, err = render.File(src, func(name string, write func(io.Writer) error) error {
				_, err := st.PutDerived(inst.SOPInstanceUID, name, func(w io.Writer) error {
					return guard("render", func() error { return write(w) })
				})
				return err
			})
			return err
		})
		var pe *panicError
		switch {
		case err == nil:
			r.Frames, r.FrameTimeMS, r.Width, r.Height = out.Frames, out.FrameTimeMS, out.Width, out.Height
			r.Thumbnail, r.FramePattern, r.Animation, r.Video = out.Thumbnail, out.FramePattern, out.Animation, out.Video
		case errors.As(err, &pe):
			return p.internalError(inst, profile, pe)
		case transient(err):
			return fmt.Errorf("render: %w", err)
		default:
			p.log.Warn("object cannot be rendered", logid.Study(inst.StudyUID), logid.Object(inst.SOPInstanceUID), "transfer_syntax", inst.TransferSyntax, "err", err)
		}
	}
	return st.SetRender(inst.SOPInstanceUID, r)
}

// studyComplete applies the auto-share rule to a study that stopped arriving.
func (p *Pipeline) studyComplete(ctx context.Context, ps *pendingStudy) {
	log := p.log.With(logid.Study(ps.StudyUID))
	set, err := p.cfg.Share.Settings()
	if err != nil {
		// Not decided: the next start applies the rule to this study.
		log.Error("study complete; auto-share rule not applied", "err", err)
		return
	}
	var called []string
	for aet := range ps.CalledAETs {
		called = append(called, aet)
	}
	c := contact.ParseAll(ps.Contacts, set.Region)
	// The decision is kept so that a restart does not apply the rule to
	// this study again: the clinic's rule, or the technician's choice of AE
	// title, at the time the study was complete stands.
	decided := func(outcome string) {
		at := p.cfg.Now()
		if err := p.cfg.Share.RecordAutoShareDecision(ps.StudyUID, at, outcome); err != nil {
			log.Error("recording the auto-share decision", "err", err)
			return
		}
		if err := p.cfg.Store.Settle(ps.StudyUID, at); err != nil {
			log.Error("taking the study out of the arriving set", "err", err)
		}
	}
	if p.mpps != nil && p.mpps.held(ps.StudyUID) {
		log.Warn("study complete; its exam was discontinued on the scanner (MPPS), nothing sent")
		decided(share.OutcomeDiscontinued)
		return
	}
	if !set.AutoShare.Matches(called) {
		log.Info("study complete; auto-share rule does not apply", "rule", set.AutoShare.String())
		decided("rule")
		return
	}
	if c.Empty() {
		log.Warn("study complete; no usable patient contact, nothing sent", "invalid_values", len(c.Invalid))
		decided(share.OutcomeNoContact)
		return
	}
	key := ""
	if s, err := p.cfg.Store.Study(ps.StudyUID); err == nil {
		key = s.ShortID
	}
	link, _, err := p.cfg.Share.Create(ctx, share.CreateRequest{
		StudyUID: ps.StudyUID, StudyKey: key, Emails: c.Emails, Phones: c.Phones, TypedLang: c.Lang,
		Origin: share.OriginAuto, Actor: "auto-share",
	})
	switch {
	case errors.Is(err, share.ErrAlreadyShared):
		// Objects that arrived after the link was issued join it.
		log.Info("study complete; new objects joined the existing link", "link", link.ID)
		decided("joined")
	case err != nil:
		log.Error("auto-share failed", "err", err)
	default:
		log.Info("study complete; link issued", "link", link.ID, "emails", len(c.Emails), "phones", len(c.Phones))
		decided("shared")
	}
}

// readContacts returns the non-empty values of the contact tags of a
// stored file.
func (p *Pipeline) readContacts(path string) []string {
	ds, err := dicomfile.ReadHeader(path)
	if err != nil {
		p.log.Warn("stored object unreadable; its contacts are not known", "err", err)
		return nil
	}
	return p.contacts(ds)
}

// contacts returns the raw values of the contact tags of a header.
func (p *Pipeline) contacts(ds *dicom.Dataset) []string {
	return contact.FromDataset(ds, p.cfg.ContactTags)
}

// recover picks up what a previous run left in flight, reading only the
// store's in-flight sets, never every study: the objects not processed yet
// (work set) and the studies not decided yet (arriving set). When the
// processing profile is not the one the work set was completed for (new
// de-identification options or renderer, or an archive from before the
// sets), a pass over every object fills the work set again; it runs in the
// background, so the start does not wait for it.
func (p *Pipeline) recover(ctx context.Context, wg *sync.WaitGroup) {
	queued := p.requeueUnprocessed()
	watched := p.watchUnshared()
	if queued+watched > 0 {
		p.log.Info("recovery: resuming work", "objects_queued", queued, "studies_watched", watched)
	}
	key, err := p.workProfile()
	if err != nil {
		p.log.Error("de-identification options", "err", err)
		return
	}
	if had, err := p.cfg.Store.WorkProfile(); err != nil {
		p.log.Error("reading the work profile; stale objects are not queued until the next start", "err", err)
		return
	} else if had == key {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t0 := time.Now()
		p.log.Info("processing profile changed; looking for objects to process again in the background")
		n := p.requeueStaleCtx(ctx)
		if ctx.Err() == nil {
			p.log.Info("objects to process again queued", "objects_queued", n, "took", time.Since(t0).Round(time.Millisecond))
		}
	}()
}

// RenderProfile is the profile of renders made by this build (renders of
// another profile are redone).
func RenderProfile() string { return currentRenderProfile() }

// WorkProfile is what the store's work set is kept complete for: the
// de-identification profile (anonymize.Anonymizer.Profile) and this
// build's RenderProfile. An archive built outside the pipeline with
// objects already processed under them records it (store.SetWorkProfile).
func WorkProfile(deidProfile string) string { return deidProfile + "|" + currentRenderProfile() }

func (p *Pipeline) workProfile() (string, error) {
	a, err := p.anonymizer()
	if err != nil {
		return "", err
	}
	return WorkProfile(a.Profile()), nil
}

// requeueUnprocessed queues the objects of the store's work set.
func (p *Pipeline) requeueUnprocessed() int {
	sops, err := p.cfg.Store.Unprocessed()
	if err != nil {
		p.log.Error("listing unprocessed objects; they are not queued until the next start", "err", err)
		return 0
	}
	for _, sop := range sops {
		p.queue.push(sop)
	}
	return len(sops)
}

// requeueStale queues every object whose de-identified copy or render is
// missing or was made with another profile, puts it in the store's work
// set, and records the profile the set is now complete for. It reads every
// study: it runs when the profile changes, not at every start.
func (p *Pipeline) requeueStale() int { return p.requeueStaleCtx(context.Background()) }

func (p *Pipeline) requeueStaleCtx(ctx context.Context) int {
	st := p.cfg.Store
	studies, err := st.Studies(store.Query{})
	if err != nil {
		p.log.Error("listing studies; stale objects are not queued until the next start", "err", err)
		return 0
	}
	a, err := p.anonymizer()
	if err != nil {
		p.log.Error("de-identification options", "err", err)
		return 0
	}
	var stale []string
	for _, s := range studies {
		if ctx.Err() != nil {
			return 0
		}
		insts, err := st.Instances(s.StudyUID)
		if err != nil {
			continue
		}
		for _, in := range insts {
			if in.Missing || in.Conflict {
				continue
			}
			if needsDeid(in.Deid, a.Profile()) || in.Render == nil || in.Render.Profile != currentRenderProfile() {
				stale = append(stale, in.SOPInstanceUID)
			}
		}
	}
	// Durable first: a stop before these are processed finds them in the
	// work set at the next start.
	if err := st.MarkUnprocessed(stale); err != nil {
		p.log.Error("recording objects to process again; they are queued until the next start only", "err", err)
	} else if err := st.SetWorkProfile(WorkProfile(a.Profile())); err != nil {
		p.log.Error("recording the work profile", "err", err)
	}
	for _, sop := range stale {
		p.queue.push(sop)
	}
	return len(stale)
}

// watchUnshared puts the studies of the store's arriving set (objects
// received and no auto-share decision since) that arrived in the last day
// and have no link back under watch, so auto-share still happens after a
// restart, and only for them. Entries that need no watch (older, decided,
// or shared by hand) leave the set.
func (p *Pipeline) watchUnshared() int {
	st := p.cfg.Store
	arriving, err := st.Arriving()
	if err != nil {
		p.log.Error("listing studies still arriving; they are not watched until the next start", "err", err)
		return 0
	}
	watched := 0
	horizon := p.cfg.Now().Add(-24 * time.Hour)
	for _, a := range arriving {
		settle := func() {
			if err := st.Settle(a.StudyUID, a.LastReceived); err != nil {
				p.log.Error("taking a study out of the arriving set", logid.Study(a.StudyUID), "err", err)
			}
		}
		s, err := st.Study(a.StudyUID)
		if err != nil {
			continue // gone; its entry went with it
		}
		if !s.LastReceived.After(horizon) {
			settle()
			continue
		}
		if d, ok := p.cfg.Share.AutoShareDecided(s.StudyUID); ok && !s.LastReceived.After(d.At) {
			settle()
			continue
		}
		if links, err := p.cfg.Share.StudyLinks(s.StudyUID); err != nil {
			continue
		} else if len(links) > 0 {
			settle()
			continue
		}
		insts, err := st.Instances(s.StudyUID)
		if err != nil {
			continue
		}
		var contacts []string
		for _, in := range insts {
			if !in.Missing && !in.Conflict {
				contacts = append(contacts, p.readContacts(st.ObjectPath(&in))...)
			}
		}
		p.tracker.arrived(s.StudyUID, "", "", contacts, s.LastReceived)
		for _, aet := range s.CalledAETs {
			p.tracker.arrived(s.StudyUID, "", aet, nil, s.LastReceived)
		}
		watched++
	}
	return watched
}
