package web

import (
	"strconv"
	"sync"
	"time"
)

// pageCache keeps rendered landing pages. A link's page is the same bytes
// for every visit until the link, its objects or the clinic's settings
// change, but building it reads every object's record, sizes the downloads
// and runs the template: the larger part of a view's work. So a page is
// kept under a key naming everything it depends on: the link's URL and
// expiry, the language, whether the session passed the password, and the
// backend's Generation (the stored objects and the settings). The link
// itself is still resolved, its revocation checked and its session read on
// every request; PageCacheTTL only bounds how long an entry lives.
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

// landingKey names what a landing page depends on: the stored objects and
// settings (generation), the link's URL, its expiry, the language and
// whether this session may see what is behind the password.
func landingKey(rc *reqCtx, generation string) string {
	return generation + "\x00" + rc.base + "\x00" + rc.loc.Lang() + "\x00" + strconv.FormatBool(rc.sess.has(fPassword)) + "\x00" +
		strconv.FormatInt(rc.link.Expires.UnixNano(), 10) + "\x00" + strconv.FormatInt(rc.link.ExamDate.UnixNano(), 10)
}
