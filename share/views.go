package share

import (
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Page views are counted in memory and written at most once a second, in
// one transaction for every view of that second: a patient's page must not
// wait for the disk to count a visit, and a reloading phone (or a crawler
// holding the link) must not write one audit event and one fsync per
// request. Views of the same link from the same address and browser within
// the window become one audit event that says how many. A crash loses at
// most that second's counts, never a link or a message.
const viewFlushDelay = time.Second

// maxPendingViews bounds the views held between writes; past it a view is
// written at once with the rest.
const maxPendingViews = 4096

type viewKey struct{ link, addr, agent string }

type viewAgg struct {
	n    int
	last time.Time
}

type viewBuffer struct {
	mu      sync.Mutex
	pending map[viewKey]*viewAgg
	order   []viewKey
	timer   *time.Timer
}

// RecordView counts one landing-page view of link id from remoteAddr with
// userAgent (both kept in the audit log only). It does not wait for the
// disk; FlushViews (and Close) write what is pending.
func (s *Service) RecordView(id, remoteAddr, userAgent string) error {
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	k := viewKey{id, remoteAddr, userAgent}
	b := &s.views
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[viewKey]*viewAgg{}
	}
	a := b.pending[k]
	if a == nil {
		a = &viewAgg{}
		b.pending[k] = a
		b.order = append(b.order, k)
	}
	a.n++
	a.last = s.now()
	full := len(b.pending) >= maxPendingViews
	if b.timer == nil && !full {
		b.timer = time.AfterFunc(viewFlushDelay, func() { _ = s.FlushViews() })
	}
	b.mu.Unlock()
	if full {
		return s.FlushViews()
	}
	return nil
}

// FlushViews writes the views counted since the last write.
func (s *Service) FlushViews() error {
	b := &s.views
	b.mu.Lock()
	pending, order := b.pending, b.order
	b.pending, b.order = nil, nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	if len(order) == 0 {
		return nil
	}
	s.closeMu.Lock()
	closed := s.closed && s.viewsClosed
	s.closeMu.Unlock()
	if closed {
		return errClosed
	}
	err := s.update(func(tx *bolt.Tx) error {
		for _, k := range order {
			a := pending[k]
			rec, err := s.getLink(tx, k.link)
			if err != nil {
				continue // revoked and purged, or never existed: nothing to count
			}
			rec.Views += a.n
			if a.last.After(rec.LastView) {
				rec.LastView = a.last
			}
			if err := s.putLink(tx, rec); err != nil {
				return err
			}
			ev := AuditEvent{Type: EventLinkViewed, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient", RemoteAddr: k.addr, UserAgent: k.agent}
			if a.n > 1 {
				ev.Detail = fmt.Sprintf("%d views", a.n)
			}
			if err := s.audit(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("page views not recorded", "views", len(order), "err", err)
	}
	return err
}
