package web

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Visits of the same link within the page cache's time build the page
// once, and every visit still counts; another language or gate state is
// another page; a visit after the time sees what changed.
func TestLandingPageCache(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1; c.PageCacheTTL = time.Minute; c.Now = now })
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
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	if _, after := getc(t, a, base); after == first {
		t.Error("a change was not shown once the cache time had passed")
	}
}
