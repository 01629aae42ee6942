package web

import (
	"strconv"
	"sync"
	"time"
)

// pageCache keeps rendered landing pages for a moment. A link's page is
// the same bytes for every visit until the link, its objects or the
// clinic's settings change, but building it reads every object's record,
// sizes the downloads and runs the template: the larger part of a view's
// work. Under many visitors (a clinic's whole day opening their links at
// once, or one phone reloading) the page is built at most once per
// PageCacheTTL for each link, language and gate state; the link itself is
// still resolved, its expiry and revocation checked and its session read on
// every request. A change shows on the next build, at most PageCacheTTL
// later.
type pageCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedPage
}

type cachedPage struct {
	body []byte
	at   time.Time
}

// maxCachedPages bounds the memory: past it the cache starts again empty.
const maxCachedPages = 1024

func (c *pageCache) get(key string, now time.Time) ([]byte, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[key]
	if !ok || now.Sub(p.at) >= c.ttl || now.Before(p.at) {
		return nil, false
	}
	return p.body, true
}

func (c *pageCache) put(key string, body []byte, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedPages {
		c.m = map[string]cachedPage{}
	}
	c.m[key] = cachedPage{body: body, at: now}
}

// landingKey names what a landing page depends on besides the stored
// objects and settings: the link's URL, its expiry, the language and
// whether this session may see what is behind the password.
func landingKey(rc *reqCtx) string {
	return rc.base + "\x00" + rc.loc.Lang() + "\x00" + strconv.FormatBool(rc.sess.has(fPassword)) + "\x00" +
		strconv.FormatInt(rc.link.Expires.UnixNano(), 10) + "\x00" + strconv.FormatInt(rc.link.ExamDate.UnixNano(), 10)
}
