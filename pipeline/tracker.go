package pipeline

import (
	"sort"
	"sync"
	"time"
)

// tracker decides when a study is complete: no new object of it has arrived
// for the stable time, and no association that sent any of it is still open.
type tracker struct {
	mu      sync.Mutex
	studies map[string]*pendingStudy       // by Study Instance UID
	assocs  map[string]map[string]struct{} // association ID → studies it sent
}

// pendingStudy is what the tracker knows of a study still arriving.
type pendingStudy struct {
	StudyUID   string
	Last       time.Time           // last object's arrival
	open       map[string]struct{} // associations still open that sent objects of it
	CalledAETs map[string]struct{} // AE titles the study was sent to
	Contacts   []string            // raw contact values read from its objects, in order, deduplicated
}

func newTracker() *tracker {
	return &tracker{studies: map[string]*pendingStudy{}, assocs: map[string]map[string]struct{}{}}
}

// arrived records an object of study received on association assoc
// (assoc "" for objects found at start-up, with no association).
func (t *tracker) arrived(study, assoc, calledAET string, contacts []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.studies[study]
	if p == nil {
		p = &pendingStudy{StudyUID: study, open: map[string]struct{}{}, CalledAETs: map[string]struct{}{}}
		t.studies[study] = p
	}
	if at.After(p.Last) {
		p.Last = at
	}
	if calledAET != "" {
		p.CalledAETs[calledAET] = struct{}{}
	}
	for _, c := range contacts {
		if !containsString(p.Contacts, c) {
			p.Contacts = append(p.Contacts, c)
		}
	}
	if assoc != "" {
		p.open[assoc] = struct{}{}
		if t.assocs[assoc] == nil {
			t.assocs[assoc] = map[string]struct{}{}
		}
		t.assocs[assoc][study] = struct{}{}
	}
}

// closed records that an association ended; its studies may now be complete.
func (t *tracker) closed(assoc string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for study := range t.assocs[assoc] {
		if p := t.studies[study]; p != nil {
			delete(p.open, assoc)
		}
	}
	delete(t.assocs, assoc)
}

// due removes and returns the studies complete at now, oldest first.
func (t *tracker) due(now time.Time, stable time.Duration) []*pendingStudy {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*pendingStudy
	for uid, p := range t.studies {
		if len(p.open) == 0 && now.Sub(p.Last) >= stable {
			out = append(out, p)
			delete(t.studies, uid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Last.Before(out[j].Last) })
	return out
}

// take removes and returns the study whatever its stable time and open
// associations (its exam ended: MPPS); nil when it is not tracked.
func (t *tracker) take(study string) *pendingStudy {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.studies[study]
	delete(t.studies, study)
	return p
}

// pending reports how many studies are still arriving.
func (t *tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.studies)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
