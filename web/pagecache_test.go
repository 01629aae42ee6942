package web

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Visits of the same link build the page once while the backend's
// Generation stays, and every visit still counts; another language or gate
// state is another page; a new Generation, or the cache time passing,
// builds it again.
func TestLandingPageCache(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1; c.PageCacheTTL = time.Minute; c.Now = now })
	fx.b.mu.Lock()
	fx.b.stableGen = true
	fx.b.mu.Unlock()
	base := fx.srv.URL + "/p/" + tokOpen
	calls := func() int { fx.b.mu.Lock(); defer fx.b.mu.Unlock(); return fx.b.itemCalls }

	a, b := clientAt("10.7.0.1", "en"), clientAt("10.7.0.2", "en")
	_, first := getc(t, a, base)
	n := calls()
	_, second := getc(t, b, base)
	if calls() != n || second != first {
		t.Errorf("a second visit within the cache time built the page again (%d → %d item reads)", n, calls())
	}
	fx.b.mu.Lock()
	views := fx.b.views
	fx.b.mu.Unlock()
	if views != 2 {
		t.Errorf("%d views recorded for two visits", views)
	}
	if _, sv := getc(t, clientAt("10.7.0.3", "sv"), base); calls() == n || !strings.Contains(sv, `<html lang="sv">`) {
		t.Error("a Swedish visit got the English page from the cache")
	}

	fx.b.mu.Lock()
	l := fx.b.links[hashToken(tokOpen)]
	l.items = l.items[:len(l.items)-1]
	fx.b.mu.Unlock()
	if _, stale := getc(t, a, base); stale != first {
		t.Error("a change the backend did not announce (same Generation) rebuilt the page")
	}
	fx.b.mu.Lock()
	fx.b.gen++ // the store or the settings changed
	fx.b.mu.Unlock()
	if _, after := getc(t, a, base); after == first {
		t.Error("a change was not shown once the backend's Generation changed")
	}
	// The time bound: an entry older than PageCacheTTL is built again.
	n = calls()
	getc(t, a, base)
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	getc(t, a, base)
	if calls() != n+1 {
		t.Errorf("item reads %d → %d: want one build after the cache time", n, calls())
	}
}
