package pipeline

import (
	"sync"
	"time"
)

// What retention asks before it purges a study: is the pipeline or a
// Storage Commitment still at work on it?

// busyAge: the set of studies with objects queued or in process is worked
// out at most this often (a purge pass asks about many studies).
const busyAge = 500 * time.Millisecond

// inWork is the pipeline's objects being processed, and a cached set of
// the studies of every object queued or in process.
type inWork struct {
	processing sync.Map // SOP Instance UID → struct{}

	mu      sync.Mutex
	at      time.Time
	studies map[string]bool
}

// Busy says why a study may not be purged now ("" when it may): objects of
// it are still arriving (the study is not complete), or queued or being
// de-identified and rendered.
func (p *Pipeline) Busy(studyUID string) string {
	if p.tracker.has(studyUID) {
		return "being received"
	}
	if p.work.studiesInWork(p)[studyUID] {
		return "being processed"
	}
	return ""
}

func (w *inWork) studiesInWork(p *Pipeline) map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.studies != nil && time.Since(w.at) < busyAge {
		return w.studies
	}
	sops := p.queue.waitingItems()
	w.processing.Range(func(k, _ any) bool {
		sops = append(sops, k.(string))
		return true
	})
	studies := map[string]bool{}
	for _, sop := range sops {
		if inst, err := p.cfg.Store.Instance(sop); err == nil {
			studies[inst.StudyUID] = true
		}
	}
	w.studies, w.at = studies, time.Now()
	return studies
}

// has reports whether a study is still arriving.
func (t *tracker) has(study string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.studies[study]
	return ok
}

// waitingItems lists the queued SOP Instance UIDs.
func (q *workQueue) waitingItems() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.items...)
}

// Pending reports whether a Storage Commitment request not yet reported
// names an instance of the study: the modality may still delete its copy
// on our word, so the study stays.
func (c *Commitments) Pending(studyUID string) bool {
	c.mu.Lock()
	var sops []string
	for _, p := range c.pending {
		for _, r := range p.Refs {
			sops = append(sops, r.SOPInstanceUID)
		}
	}
	for _, req := range c.refused {
		for _, r := range req.Refs {
			sops = append(sops, r.SOPInstanceUID)
		}
	}
	c.mu.Unlock()
	for _, sop := range sops {
		if inst, err := c.cfg.Store.Instance(sop); err == nil && inst.StudyUID == studyUID {
			return true
		}
	}
	return false
}
