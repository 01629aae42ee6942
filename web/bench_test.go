package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// thirtyItems is the benchmark study: 30 objects, three of them 60-frame
// loops.
func thirtyItems() []Item { return study(30, map[int]int{5: 60, 15: 60, 25: 60}) }

// TestPageWeight keeps the landing page's bytes before images (HTML, CSS,
// JS, icon) under 150 KB for a 30-item study.
func TestPageWeight(t *testing.T) {
	fx := newFixture(t, nil)
	fx.b.links[hashToken(tokOpen)].items = thirtyItems()
	_, body := fx.get(t, "/p/"+tokOpen)
	total := len(body)
	for _, m := range regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(body, -1) {
		res, b := fx.get(t, m[1])
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", m[1], res.StatusCode)
		}
		total += len(b)
	}
	t.Logf("landing page before images: %d bytes (HTML %d)", total, len(body))
	if total > 150<<10 {
		t.Errorf("page weight %d bytes > 150 KB", total)
	}
}

// BenchmarkLandingPage renders the landing page of a 30-item study for a
// client with a session (no lookup floor), as a returning visitor sees it.
func BenchmarkLandingPage(b *testing.B) {
	fx := newFixture(b, func(c *Config) { c.LookupFloor = -1 })
	fx.b.links[hashToken(tokOpen)].items = thirtyItems()
	h := fx.srv.Config.Handler
	req := httptest.NewRequest("GET", "/p/"+tokOpen, nil)
	req.Header.Set("Accept-Language", "sv-SE,sv;q=0.9")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d", rec.Code)
	}
	cookie := rec.Result().Cookies()[0]
	req.AddCookie(cookie)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req.Clone(req.Context()))
			if rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
			_, _ = io.Copy(io.Discard, rec.Body)
		}
	})
}
