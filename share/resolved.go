package share

import (
	"bytes"
	"slices"
	"sync"
)

// resolvedCache keeps, per token, the link Resolve last found for it:
// every page view resolves its token, and reading and decoding the link
// was the larger part of a cached page's cost. An entry is used as it is
// while share.db has had no write since it was read (Service.writes);
// after a write, the link's stored bytes are read again and decoded only
// if they changed. So the cache is exact: a revocation, a resend or a
// purge is seen by the very next Resolve. Bounded: past maxResolved
// tokens it starts again empty.
type resolvedCache struct {
	mu sync.RWMutex
	m  map[string]resolvedEntry
}

type resolvedEntry struct {
	writes uint64 // Service.writes before the read
	id     string
	raw    []byte // the link record as stored
	link   Link   // decoded from raw
}

const maxResolved = 4096

func (c *resolvedCache) get(key string) (resolvedEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	return e, ok
}

// put keeps e; its raw and link must not be shared with anyone else.
func (c *resolvedCache) put(key string, e resolvedEntry) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxResolved {
		c.m = map[string]resolvedEntry{}
	}
	c.m[key] = e
	c.mu.Unlock()
}

// same reports whether the entry was read from these stored bytes.
func (e *resolvedEntry) same(id string, raw []byte) bool {
	return e.id == id && e.raw != nil && bytes.Equal(e.raw, raw)
}

// cloneLink copies l's slices, so that no two callers share them.
func cloneLink(l Link) Link {
	l.Instances = slices.Clone(l.Instances)
	l.Emails = slices.Clone(l.Emails)
	l.Phones = slices.Clone(l.Phones)
	return l
}
