package pipeline

// Storage commitment (PS3.4 Annex J, push model) as sonolink practises it.
//
// A modality deletes an exam once sonolink has committed to it, so an
// instance is committed only when it is in the index, its file is on disk
// and its SOP Class is the one named: the store indexes an object only after
// it is fsynced, so that is durable. Everything else is a failure with its
// reason: 0112 no such object instance, 0119 class/instance conflict, 0110
// processing failure (indexed but its file is gone, or the index cannot be
// read).
//
// A request is written to its own file in Dir (fsynced) before the
// N-ACTION-RSP says Success, and removed once the requester has answered
// the report with Success, so a pending report survives a restart.
//
// When is it reported: at once, on the requesting association, when every
// instance named is stored. An instance not yet stored may still be on its
// way (a modality may commit on one association while another still
// sends): the request then waits for it up to Wait after its arrival,
// re-checked every second, and is reported by the worker (Run) on an
// association of our own to the requester, whose address comes from
// Modalities; after Wait, what is still not stored is reported failed (0112)
// and the modality keeps that part of its exam. A report that the requester
// did not answer on its association (released first, as Orthanc does) goes
// the same way. A failed callback is retried with a backoff from RetryMin to
// RetryMax, for at most Expire.
//
// A requester that is not in Modalities cannot be called back: its request
// is answered Success (it is well formed) and the report, sent on its
// association only and never kept, lists every instance as failed with
// 0110 processing failure, so the modality keeps the exam; a warning names
// the AE title to configure.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"sonolink/dimse"
	"sonolink/internal/logid"
	"sonolink/store"
)

// CommitConfig configures Commitments.
type CommitConfig struct {
	Store *store.Store
	Dir   string // pending requests, one file each; created
	// Modalities maps a requester's AE title to its "host:port", where
	// reports are sent on an association of our own.
	Modalities map[string]string
	Wait       time.Duration // default 30 s: how long an instance not yet stored is waited for
	RetryMin   time.Duration // default 5 s
	RetryMax   time.Duration // default 5 min
	Expire     time.Duration // default 7 days: an undeliverable report is then dropped
	Logger     *slog.Logger
	// Send delivers a report on a new association; default
	// dimse.SendCommitmentReport.
	Send func(ctx context.Context, addr, callingAET, calledAET string, rep *dimse.CommitmentReport) error
}

// Commitments is the Storage Commitment SCP's policy (a
// dimse.CommitmentHandler) and the worker that sends reports back (Run).
type Commitments struct {
	cfg  CommitConfig
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]*pendingCommit           // by transaction UID
	refused map[string]*dimse.CommitmentRequest // from unknown requesters, until reported
}

// pendingCommit is a request not yet reported, as kept in its file.
type pendingCommit struct {
	TransactionUID string         `json:"tx"`
	Requester      string         `json:"requester"` // calling AE title of the N-ACTION
	CalledAET      string         `json:"called"`    // ours it called: the calling AE title of the report
	ReceivedAt     time.Time      `json:"rx"`
	Refs           []dimse.SOPRef `json:"refs"`

	onAssoc  bool      // its requesting association is reporting it
	attempts int       // callbacks that failed
	next     time.Time // when the worker looks at it again
}

// sameAssocWait bounds how long the requesting association waits for
// instances still arriving before the report is left to the worker.
const sameAssocWait = 2 * time.Second

// NewCommitments checks cfg and creates Dir.
func NewCommitments(cfg CommitConfig) (*Commitments, error) {
	if cfg.Store == nil || cfg.Dir == "" {
		return nil, errors.New("pipeline: CommitConfig needs Store and Dir")
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 5 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(cfg.RetryMin, 5*time.Minute)
	}
	if cfg.Expire <= 0 {
		cfg.Expire = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Send == nil {
		cfg.Send = dimse.SendCommitmentReport
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: storage commitment directory: %w", store.ErrStorage, err)
	}
	c := &Commitments{cfg: cfg, log: cfg.Logger.With("component", "stgcmt"), wake: make(chan struct{}, 1),
		pending: map[string]*pendingCommit{}, refused: map[string]*dimse.CommitmentRequest{}}
	return c, c.load()
}

// load reads the requests a previous run left pending.
func (c *Commitments) load() error {
	files, err := filepath.Glob(filepath.Join(c.cfg.Dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		var p pendingCommit
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil || p.TransactionUID == "" {
			c.log.Error("unreadable pending storage commitment request left aside", "file", filepath.Base(f), "err", err)
			continue
		}
		c.pending[p.TransactionUID] = &p
	}
	if len(c.pending) > 0 {
		c.log.Info("storage commitment reports pending from before the restart", "count", len(c.pending))
	}
	return nil
}

func (c *Commitments) path(tx string) string {
	h := sha256.Sum256([]byte(tx))
	return filepath.Join(c.cfg.Dir, hex.EncodeToString(h[:16])+".json")
}

// persist writes p's file and makes it durable: temporary file, fsync,
// rename, fsync of the directory.
func (c *Commitments) persist(p *pendingCommit) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.cfg.Dir, "tmp-*")
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
	if err == nil {
		err = os.Rename(f.Name(), c.path(p.TransactionUID))
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(c.cfg.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RequestCommitment records an N-ACTION request (dimse.CommitmentHandler).
func (c *Commitments) RequestCommitment(ctx context.Context, a *dimse.Association, req *dimse.CommitmentRequest) dimse.Status {
	log := c.log.With("assoc", a.ID, "calling_aet", a.CallingAET, "transaction", logid.ID(req.TransactionUID), "instances", len(req.Refs))
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cfg.Modalities[a.CallingAET]; !ok {
		log.Warn("storage commitment requested by an AE title sonolink cannot call back: every instance is reported failed; configure it with --modality AET=HOST:PORT")
		c.refused[req.TransactionUID] = req
		return dimse.StatusSuccess
	}
	p := &pendingCommit{TransactionUID: req.TransactionUID, Requester: a.CallingAET, CalledAET: a.CalledAET,
		ReceivedAt: time.Now().UTC(), Refs: req.Refs, onAssoc: true}
	if err := c.persist(p); err != nil {
		log.Error("cannot record the storage commitment request; refused", "err", err)
		return dimse.StatusProcessingFailure
	}
	c.pending[p.TransactionUID] = p
	log.Info("storage commitment requested")
	return dimse.StatusSuccess
}

// ReportNow returns the report to send on the requesting association when
// every instance is stored, or Wait is over, within sameAssocWait
// (dimse.CommitmentHandler).
func (c *Commitments) ReportNow(ctx context.Context, a *dimse.Association, tx string) *dimse.CommitmentReport {
	c.mu.Lock()
	if req, ok := c.refused[tx]; ok {
		delete(c.refused, tx)
		c.mu.Unlock()
		rep := &dimse.CommitmentReport{TransactionUID: tx}
		for _, r := range req.Refs {
			rep.Failed = append(rep.Failed, dimse.FailedSOP{SOPRef: r, Reason: dimse.FailureProcessing})
		}
		return rep
	}
	p, ok := c.pending[tx]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	end := p.ReceivedAt.Add(c.cfg.Wait)
	assocEnd := time.Now().Add(sameAssocWait)
	for {
		if rep, complete := c.evaluate(p, !time.Now().Before(end)); complete {
			return rep
		}
		if time.Now().After(assocEnd) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
			continue
		}
		break
	}
	c.handOver(p)
	return nil
}

// handOver gives a request to the worker.
func (c *Commitments) handOver(p *pendingCommit) {
	c.mu.Lock()
	p.onAssoc = false
	p.next = time.Time{}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ReportDone learns how the report sent on the requesting association
// fared (dimse.CommitmentHandler).
func (c *Commitments) ReportDone(a *dimse.Association, tx string, err error) {
	log := c.log.With("assoc", a.ID, "calling_aet", a.CallingAET, "transaction", logid.ID(tx))
	c.mu.Lock()
	p, ok := c.pending[tx]
	c.mu.Unlock()
	switch {
	case !ok && err != nil:
		log.Warn("storage commitment failure report to an unknown AE title not answered; it is not sent again", "err", err)
	case !ok:
		log.Info("storage commitment failure report delivered to an unknown AE title")
	case err != nil:
		log.Info("storage commitment report not answered on the requesting association; sending it on a new one", "why", err.Error())
		c.handOver(p)
	default:
		c.done(p, "requesting association")
	}
}

// done forgets a delivered report.
func (c *Commitments) done(p *pendingCommit, how string) {
	c.mu.Lock()
	delete(c.pending, p.TransactionUID)
	c.mu.Unlock()
	if err := os.Remove(c.path(p.TransactionUID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Error("cannot remove a delivered storage commitment request; it will be reported again after a restart", "err", err)
	}
	c.log.Info("storage commitment reported", "transaction", logid.ID(p.TransactionUID), "calling_aet", p.Requester, "via", how, "attempts", p.attempts+1)
}

// evaluate checks every instance of p against the store. complete is false
// while an instance is not yet stored and final is false.
func (c *Commitments) evaluate(p *pendingCommit, final bool) (rep *dimse.CommitmentReport, complete bool) {
	rep = &dimse.CommitmentReport{TransactionUID: p.TransactionUID}
	fail := func(r dimse.SOPRef, reason uint16) {
		rep.Failed = append(rep.Failed, dimse.FailedSOP{SOPRef: r, Reason: reason})
	}
	for _, r := range p.Refs {
		inst, err := c.cfg.Store.Instance(r.SOPInstanceUID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if !final {
				return nil, false
			}
			fail(r, dimse.FailureNoSuchInstance)
		case err != nil:
			if !final {
				return nil, false
			}
			c.log.Error("cannot read the index to commit an instance", logid.Object(r.SOPInstanceUID), "err", err)
			fail(r, dimse.FailureProcessing)
		case inst.SOPClassUID != r.SOPClassUID:
			fail(r, dimse.FailureClassConflict)
		case inst.Missing || !fileExists(c.cfg.Store.ObjectPath(inst)):
			c.log.Error("instance indexed but its file is gone: not committed", logid.Object(r.SOPInstanceUID))
			fail(r, dimse.FailureProcessing)
		default:
			rep.Committed = append(rep.Committed, r)
		}
	}
	return rep, true
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// Run sends the reports the requesting associations did not deliver, on
// associations of our own, until ctx ends.
func (c *Commitments) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-t.C:
		}
		next := c.deliverDue(ctx)
		t.Reset(time.Until(next))
	}
}

// deliverDue handles every request that is due and returns when to look
// again.
func (c *Commitments) deliverDue(ctx context.Context) time.Time {
	now := time.Now()
	c.mu.Lock()
	var due []*pendingCommit
	for _, p := range c.pending {
		if !p.onAssoc && !p.next.After(now) {
			due = append(due, p)
		}
	}
	c.mu.Unlock()
	for _, p := range due {
		if ctx.Err() != nil {
			break
		}
		c.deliver(ctx, p)
	}
	next := now.Add(time.Minute)
	c.mu.Lock()
	for _, p := range c.pending {
		if !p.onAssoc && p.next.Before(next) {
			next = p.next
		}
	}
	c.mu.Unlock()
	return next
}

// deliver sends p's report when it is complete, or sets when to try again.
func (c *Commitments) deliver(ctx context.Context, p *pendingCommit) {
	now := time.Now()
	log := c.log.With("transaction", logid.ID(p.TransactionUID), "calling_aet", p.Requester)
	final := now.Sub(p.ReceivedAt) >= c.cfg.Wait
	rep, complete := c.evaluate(p, final)
	if !complete {
		next := now.Add(time.Second)
		if end := p.ReceivedAt.Add(c.cfg.Wait); end.Before(next) {
			next = end
		}
		c.setNext(p, next)
		return
	}
	addr, ok := c.cfg.Modalities[p.Requester]
	var err error
	if !ok {
		err = fmt.Errorf("AE title %s is no longer configured with --modality", p.Requester)
	} else {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = c.cfg.Send(sctx, addr, p.CalledAET, p.Requester, rep)
		cancel()
	}
	if err == nil {
		c.done(p, "new association")
		return
	}
	if ctx.Err() != nil {
		return // shutting down: tried again at the next start
	}
	if now.Sub(p.ReceivedAt) > c.cfg.Expire {
		log.Error("storage commitment report undeliverable; given up: the modality keeps its exam", "addr", addr, "err", err, "since", p.ReceivedAt)
		c.done(p, "none (expired)")
		return
	}
	c.mu.Lock()
	p.attempts++
	wait := c.cfg.RetryMin << min(p.attempts-1, 16)
	c.mu.Unlock()
	wait = min(wait, c.cfg.RetryMax)
	log.Warn("storage commitment report not delivered; trying again", "addr", addr, "err", err, "attempt", p.attempts, "in", wait)
	c.setNext(p, now.Add(wait))
}

func (c *Commitments) setNext(p *pendingCommit, t time.Time) {
	c.mu.Lock()
	p.next = t
	c.mu.Unlock()
}
