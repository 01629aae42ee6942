package share

import (
	"bytes"
	"slices"
	"sync"
)

// resolvedCache keeps, per link, the record Resolve last decoded together
// with the stored bytes it came from. Every page view resolves its token,
// and decoding the link's JSON was the largest part of a cached page's
// cost; a record whose stored bytes are unchanged decodes to the same
// Link, so the cache is exact: any write to the link (a view counted, a
// resend, a revocation) changes the bytes and the next Resolve decodes
// again. Bounded: past maxResolved links it starts again empty.
type resolvedCache struct {
	mu sync.RWMutex
	m  map[string]resolvedEntry
}

type resolvedEntry struct {
	raw  []byte
	link Link
}

const maxResolved = 4096

// get returns the link decoded from raw, if that is what the cache holds
// for id. The Link's slices are the caller's own.
func (c *resolvedCache) get(id string, raw []byte) (Link, bool) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return Link{}, false
	}
	return cloneLink(e.link), true
}

// put remembers l as the decoding of raw, which is copied: bbolt's bytes
// are valid only inside their transaction.
func (c *resolvedCache) put(id string, raw []byte, l Link) {
	e := resolvedEntry{raw: bytes.Clone(raw), link: cloneLink(l)}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxResolved {
		c.m = map[string]resolvedEntry{}
	}
	c.m[id] = e
	c.mu.Unlock()
}

func cloneLink(l Link) Link {
	l.Instances = slices.Clone(l.Instances)
	l.Emails = slices.Clone(l.Emails)
	l.Phones = slices.Clone(l.Phones)
	return l
}
