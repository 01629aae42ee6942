package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"sonolink/internal/logid"
	"sonolink/settings"
	"sonolink/share"
	"sonolink/store"
)

// Reasons a study is purged.
const (
	ReasonLinkEnded = "link-ended" // retention.after_link after its last link ended
	ReasonUnshared  = "unshared"   // retention.unshared after its last object, never shared
	ReasonFreeSpace = "free-space" // below retention.free_floor, oldest first
)

// Disk measures the free space of the file system holding dir.
type Disk interface {
	Space(dir string) (free, total uint64, err error)
}

// Config wires retention to the node.
type Config struct {
	Store *store.Store
	Share *share.Service
	// Busy says why a study may not go now ("" when it may): being
	// received or processed by the pipeline, a Storage Commitment pending.
	// Nil: only the store's pending entries count.
	Busy func(studyUID string) string
	// Disk measures free space; nil: statfs of the data directory.
	Disk Disk
	// Now is the clock for ages (default time.Now); links are judged on
	// share's own clock.
	Now    func() time.Time
	Logger *slog.Logger
	// Delay before the background job's first pass (default 2 min: start-up
	// and the scrub's first batches come first), Interval between passes
	// (default 1 h) and Pause between two studies of a background pass
	// (default 20 ms).
	Delay, Interval, Pause time.Duration

	// afterMark, when set (tests), runs once a study is out of the index
	// and before anything is removed; its error interrupts the purge as a
	// crash would.
	afterMark func(studyUID string) error
}

// Retention plans and runs purges. It is safe for concurrent use; one
// pass runs at a time.
type Retention struct {
	cfg  Config
	log  *slog.Logger
	pass sync.Mutex // one pass (or resume) at a time
	wake chan struct{}

	mu         sync.Mutex
	setAt      time.Time // when set was read (Admit reads settings at most once a second)
	set        settings.Values
	lastRescue time.Time // the last purge pass Admit ran
	lastLow    time.Time // the last "disk full" log line
}

// New returns retention over cfg's store and share service.
func New(cfg Config) *Retention {
	if cfg.Disk == nil {
		cfg.Disk = statfs{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 2 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 20 * time.Millisecond
	}
	return &Retention{cfg: cfg, log: cfg.Logger.With("component", "retention"), wake: make(chan struct{}, 1)}
}

// Item is one study a pass purges (or, dry, would purge).
type Item struct {
	Study    string `json:"study"` // the study's short number
	StudyUID string `json:"study_uid"`
	// Patient, Date and Description are for the technician's screen (as
	// `sonolink studies` shows them); never logged or audited.
	Patient     string        `json:"patient,omitempty"`
	Date        string        `json:"date,omitempty"`
	Description string        `json:"description,omitempty"`
	Reason      string        `json:"reason"`   // ReasonLinkEnded, ReasonUnshared or ReasonFreeSpace
	Why         string        `json:"why"`      // the reason in words, with the setting
	Age         time.Duration `json:"-"`        // since the last link ended, or the last object arrived
	AgeDays     int           `json:"age_days"` // Age in whole days
	Objects     int           `json:"objects"`
	Bytes       int64         `json:"bytes"`
	Links       int           `json:"links"`
	Purged      bool          `json:"purged"`          // done (never in a dry run)
	Error       string        `json:"error,omitempty"` // why it was not purged after all
}

// Report is what a pass found and did.
type Report struct {
	DryRun bool   `json:"dry_run"`
	Items  []Item `json:"items"`
	// Kept counts the studies kept by why: live-link, busy (being
	// received, processed or committed), recent (their time is not up).
	Kept       map[string]int `json:"kept"`
	Studies    int            `json:"studies"` // looked at
	FreeBytes  uint64         `json:"free_bytes"`
	TotalBytes uint64         `json:"total_bytes"`
	FloorBytes uint64         `json:"floor_bytes"`
	Resumed    int            `json:"resumed"` // interrupted purges finished first
	Purged     int            `json:"purged"`
	Objects    int            `json:"objects"`
	Bytes      int64          `json:"bytes"`
}

func (r *Report) keep(why string) { r.Kept[why]++ }

var (
	mStudies = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sonolink_retention_purged_studies_total",
		Help: "Studies purged by retention, by reason (link-ended, unshared, free-space).",
	}, []string{"reason"})
	mObjects = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_retention_purged_objects_total",
		Help: "Received objects purged by retention (with their copies and renders).",
	})
	mBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_retention_purged_bytes_total",
		Help: "Bytes of received objects purged by retention.",
	})
	mFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sonolink_retention_failures_total",
		Help: "Purges that failed (tried again at the next pass).",
	})
)

// purgeWorkers is how many studies a pass someone waits for purges side
// by side.
const purgeWorkers = 8

// Plan lists what a pass would purge now, oldest first within each reason.
func (r *Retention) Plan() (*Report, error) {
	return r.plan(0)
}

// candidate is a study that may go (no live link, not busy), and whether
// its time is up.
type candidate struct {
	st    store.Study
	end   time.Time // last link ended, or last object arrived
	links int
	due   bool
	why   string
}

// plan lists what to purge; below floor (at least minFloor) the oldest
// studies that may go are added.
func (r *Retention) plan(minFloor uint64) (*Report, error) {
	set, err := r.cfg.Share.Settings()
	if err != nil {
		return nil, err
	}
	rep := &Report{Kept: map[string]int{}}
	free, total, derr := r.cfg.Disk.Space(r.cfg.Store.Dir())
	if derr == nil {
		rep.FreeBytes, rep.TotalBytes = free, total
		rep.FloorBytes = max(set.FreeFloor.Of(total), minFloor)
	}
	studies, err := r.cfg.Store.Studies(store.Query{})
	if err != nil {
		return nil, err
	}
	rep.Studies = len(studies)
	now := r.cfg.Now()
	var cands []candidate
	for _, st := range studies {
		active, ended, links, err := r.cfg.Share.ActiveLinks(st.StudyUID)
		if err != nil {
			return nil, err
		}
		if active > 0 {
			rep.keep("live-link")
			continue
		}
		c := candidate{st: st, end: st.LastReceived, links: links}
		period, setting := set.RetainUnshared, settings.KeyRetainUnshared
		if links > 0 {
			period, setting = set.RetainAfterLink, settings.KeyRetainAfterLink
			if ended.After(c.end) {
				c.end = ended
			}
		}
		if period > 0 && now.Sub(c.end) >= period {
			c.due = true
			c.why = fmt.Sprintf("%s %s ago (%s %s)", whatEnded(links), days(now.Sub(c.end)), setting, settings.FormatDuration(period))
		}
		cands = append(cands, c)
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return a.end.Compare(b.end) })
	var need int64
	if rep.FloorBytes > rep.FreeBytes {
		need = int64(rep.FloorBytes - rep.FreeBytes)
	}
	for _, c := range cands {
		if !c.due && need <= 0 {
			rep.keep("recent")
			continue
		}
		if why := r.busy(c.st.StudyUID); why != "" {
			rep.keep("busy")
			continue
		}
		info, err := r.cfg.Store.PurgeInfo(c.st.StudyUID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if info.Pending {
			rep.keep("busy")
			continue
		}
		it := Item{Study: c.st.ShortID, StudyUID: c.st.StudyUID, Patient: c.st.Patient.Name, Date: c.st.Date,
			Description: c.st.Description, Age: now.Sub(c.end), AgeDays: int(now.Sub(c.end) / (24 * time.Hour)), Objects: info.Objects, Bytes: info.Bytes, Links: c.links}
		if c.due {
			it.Reason = ReasonUnshared
			if c.links > 0 {
				it.Reason = ReasonLinkEnded
			}
			it.Why = c.why
		} else {
			it.Reason = ReasonFreeSpace
			it.Why = fmt.Sprintf("free space %s below %s (%s %s); oldest first, %s %s ago",
				size(int64(rep.FreeBytes)), size(int64(rep.FloorBytes)), settings.KeyFreeFloor, set.FreeFloor, whatEnded(c.links), days(now.Sub(c.end)))
		}
		need -= info.Bytes
		rep.Items = append(rep.Items, it)
	}
	return rep, nil
}

func whatEnded(links int) string {
	if links > 0 {
		return "last link ended"
	}
	return "never shared, last object"
}

func (r *Retention) busy(studyUID string) string {
	if r.cfg.Busy != nil {
		return r.cfg.Busy(studyUID)
	}
	return ""
}

// Purge finishes interrupted purges, plans a pass and, unless dryRun,
// purges what it lists. actor is who asked ("retention" for the job).
// A study that cannot go after all (a link issued, an object arrived
// since the plan) keeps its Error and stays.
func (r *Retention) Purge(ctx context.Context, dryRun bool, actor string) (*Report, error) {
	return r.run(ctx, dryRun, actor, 0, 0)
}

func (r *Retention) run(ctx context.Context, dryRun bool, actor string, minFloor uint64, pause time.Duration) (*Report, error) {
	r.pass.Lock()
	defer r.pass.Unlock()
	resumed := 0
	if !dryRun {
		var err error
		if resumed, err = r.resume(); err != nil {
			return nil, err
		}
	}
	rep, err := r.plan(minFloor)
	if err != nil {
		return nil, err
	}
	rep.DryRun, rep.Resumed = dryRun, resumed
	if dryRun {
		return rep, nil
	}
	// The background job purges one study at a time with a pause between
	// (pause > 0); a pass someone waits for (the CLI, a full disk) runs
	// several side by side, so their commits and flushes are shared.
	workers := purgeWorkers
	if pause > 0 {
		workers = 1
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := &rep.Items[i]
				if err := r.purgeOne(it, actor); err != nil {
					it.Error = err.Error()
					continue
				}
				it.Purged = true
			}
		}()
	}
feed:
	for i := range rep.Items {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
		if pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
	close(next)
	wg.Wait()
	for _, it := range rep.Items {
		if it.Purged {
			rep.Purged++
			rep.Objects += it.Objects
			rep.Bytes += it.Bytes
		}
	}
	if rep.Purged > 0 || rep.Resumed > 0 {
		r.log.Info("retention pass done", "purged", rep.Purged, "objects", rep.Objects, "bytes", rep.Bytes, "resumed", rep.Resumed,
			"studies", rep.Studies, "kept_live_link", rep.Kept["live-link"], "kept_busy", rep.Kept["busy"])
	}
	return rep, nil
}

// purgeOne purges one planned study, checking again first that it may go.
func (r *Retention) purgeOne(it *Item, actor string) error {
	if why := r.busy(it.StudyUID); why != "" {
		return fmt.Errorf("kept: %s", why)
	}
	if active, _, _, err := r.cfg.Share.ActiveLinks(it.StudyUID); err != nil || active > 0 {
		if err == nil {
			err = errors.New("kept: it has a live link now")
		}
		return err
	}
	note := fmt.Sprintf("study %s purged: %s; %d objects, %s", it.Study, it.Why, it.Objects, size(it.Bytes))
	rec, err := r.cfg.Store.MarkPurge(it.StudyUID, note)
	switch {
	case errors.Is(err, store.ErrBusy):
		return errors.New("kept: an object of it is being received")
	case err != nil:
		mFailures.Inc()
		r.log.Error("purge failed; tried again at the next pass", logid.Study(it.StudyUID), "study", it.Study, "err", err)
		return err
	}
	if r.cfg.afterMark != nil {
		if err := r.cfg.afterMark(it.StudyUID); err != nil {
			return err
		}
	}
	if err := r.finish(rec, actor); err != nil {
		return err
	}
	mStudies.WithLabelValues(it.Reason).Inc()
	mObjects.Add(float64(rec.Objects))
	mBytes.Add(float64(rec.Bytes))
	r.log.Info("study purged", logid.Study(it.StudyUID), "study", it.Study, "reason", it.Reason, "age_days", int(it.Age.Hours()/24),
		"objects", rec.Objects, "bytes", rec.Bytes, "links", it.Links, "actor", actor)
	return nil
}

// finish does what follows the mark: share's part with the audit entry,
// then the files, then the record.
func (r *Retention) finish(rec *store.PurgeRecord, actor string) error {
	_, err := r.cfg.Share.ForgetStudy(rec.StudyUID, share.StudyPurge{ID: rec.Marked.Format(time.RFC3339Nano), Actor: actor, Detail: rec.Note})
	if err == nil {
		err = r.cfg.Store.FinishPurge(rec.StudyUID)
	}
	if err != nil {
		mFailures.Inc()
		r.log.Error("purge interrupted; finished at the next pass", logid.Study(rec.StudyUID), "study", rec.ShortID, "err", err)
	}
	return err
}

// Resume finishes the purges a crash or a failure interrupted.
func (r *Retention) Resume() (int, error) {
	r.pass.Lock()
	defer r.pass.Unlock()
	return r.resume()
}

func (r *Retention) resume() (int, error) {
	pending, err := r.cfg.Store.PendingPurges()
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pending {
		rec := &pending[i]
		if err := r.finish(rec, "retention"); err != nil {
			continue
		}
		n++
		mObjects.Add(float64(rec.Objects))
		mBytes.Add(float64(rec.Bytes))
		r.log.Info("interrupted purge finished", logid.Study(rec.StudyUID), "study", rec.ShortID, "objects", rec.Objects, "bytes", rec.Bytes)
	}
	return n, nil
}

// Run is the background job: it finishes interrupted purges at once, then
// runs a pass after Delay and every Interval (sooner when Admit found the
// disk low), pausing between studies, until ctx ends.
func (r *Retention) Run(ctx context.Context) error {
	if n, err := r.Resume(); err != nil {
		r.log.Error("finishing interrupted purges", "err", err)
	} else if n > 0 {
		r.log.Info("interrupted purges finished", "studies", n)
	}
	t := time.NewTimer(r.cfg.Delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.wake:
		}
		if _, err := r.run(ctx, false, "retention", 0, r.cfg.Pause); err != nil && ctx.Err() == nil {
			r.log.Error("retention pass failed; tried again later", "err", err)
		}
		t.Reset(r.cfg.Interval)
	}
}

// Kick asks the background job for a pass now.
func (r *Retention) Kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// size is a byte count as people read it (decimal units, as disks are sold).
func size(n int64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(n)/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
