package share

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Throttle rules for the secrets of a link (password, clinic link code,
// one-time code) and for one-time code messages. See the package doc for
// the threat model they answer.
const (
	// FreeFailures wrong secrets in a row from one source cost nothing;
	// each further one doubles the wait before that source's next try,
	// from FirstDelay up to MaxDelay.
	FreeFailures = 3
	FirstDelay   = 2 * time.Second
	MaxDelay     = 15 * time.Minute
	// SourceMemory is how long a source's failures and code messages are
	// remembered, and the window of the link-wide ceiling.
	SourceMemory = 24 * time.Hour
	// LinkCeiling wrong secrets on one link within SourceMemory, from any
	// sources, slow every source of that link: each then counts as having
	// failed at least CeilingFailures times (a wait of FailureDelay of it
	// between tries), and a source new to the link waits that long before
	// its first try. A correct secret is still accepted once the wait is over.
	LinkCeiling     = 30
	CeilingFailures = 8
	// MaxSources bounds the sources remembered per link; beyond it the one
	// heard from longest ago is forgotten.
	MaxSources = 64

	// OTPSendsPerLink one-time code messages go out per link, and
	// OTPSendsPerSource per link to one source, within SourceMemory.
	OTPSendsPerLink   = 6
	OTPSendsPerSource = 3
)

// FailureDelay is how long a source waits before its next try after n
// wrong secrets in a row.
func FailureDelay(n int) time.Duration {
	if n < FreeFailures {
		return 0
	}
	d := FirstDelay
	for i := FreeFailures; i < n && d < MaxDelay; i++ {
		d *= 2
	}
	return min(d, MaxDelay)
}

// throttleState is what a link remembers of the sources that tried its
// secrets. Sources are keyed by an HMAC of the address under share.key,
// per link, so share.db holds no client address.
type throttleState struct {
	Sources  map[string]*sourceState `json:"sources,omitempty"`
	Failures int                     `json:"failures,omitempty"` // link-wide, since Since
	Since    time.Time               `json:"since,omitzero"`
}

type sourceState struct {
	Failures int         `json:"failures,omitempty"` // wrong secrets in a row
	Last     time.Time   `json:"last"`               // last failure, or first seen
	Sends    []time.Time `json:"sends,omitempty"`    // one-time code messages asked for
	Renewals []time.Time `json:"renewals,omitempty"` // new links asked for (RequestRenewal)
}

// sourceKey names source (a client address, "" for none) within link id.
func (s *Service) sourceKey(linkID, source string) string {
	m := hmac.New(sha256.New, s.keys.otp)
	m.Write([]byte("source\x00" + linkID + "\x00" + source))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:15])
}

// throttle returns rec's throttle state, with what is older than
// SourceMemory forgotten.
func (rec *linkRecord) throttle(now time.Time) *throttleState {
	t := rec.Throttle
	if t == nil {
		t = &throttleState{}
		rec.Throttle = t
	}
	if t.Failures > 0 && now.Sub(t.Since) >= SourceMemory {
		t.Failures, t.Since = 0, time.Time{}
	}
	for k, src := range t.Sources {
		src.Sends = recent(src.Sends, now)
		src.Renewals = recent(src.Renewals, now)
		if len(src.Sends) == 0 && len(src.Renewals) == 0 && now.Sub(src.Last) >= SourceMemory {
			delete(t.Sources, k)
		}
	}
	return t
}

// wait returns how long source key must still wait before its next try
// (0: now). register is set for a source new to a link past its ceiling:
// it must be remembered, and waits from now.
func (t *throttleState) wait(key string, now time.Time) (d time.Duration, register bool) {
	ceiling := t.Failures >= LinkCeiling
	src := t.Sources[key]
	if src == nil {
		if ceiling {
			return FailureDelay(CeilingFailures), true
		}
		return 0, false
	}
	n := src.Failures
	if ceiling {
		n = max(n, CeilingFailures)
	}
	if at := src.Last.Add(FailureDelay(n)); now.Before(at) {
		return at.Sub(now), false
	}
	return 0, false
}

// source returns the state of source key, remembering it from now on.
func (t *throttleState) source(key string, now time.Time) *sourceState {
	if src := t.Sources[key]; src != nil {
		return src
	}
	if t.Sources == nil {
		t.Sources = map[string]*sourceState{}
	}
	if len(t.Sources) >= MaxSources {
		var oldest string
		for k, src := range t.Sources {
			if oldest == "" || src.Last.Before(t.Sources[oldest].Last) {
				oldest = k
			}
		}
		delete(t.Sources, oldest)
	}
	src := &sourceState{Last: now}
	t.Sources[key] = src
	return src
}

func (t *throttleState) fail(key string, now time.Time) {
	src := t.source(key, now)
	src.Failures++
	src.Last = now
	if t.Failures == 0 {
		t.Since = now
	}
	t.Failures++
}

func (t *throttleState) succeed(key string) {
	if src := t.Sources[key]; src != nil {
		src.Failures = 0
		if len(src.Sends) == 0 && len(src.Renewals) == 0 {
			delete(t.Sources, key)
		}
	}
}

// sendsLeft is how many code messages source key may still have sent,
// and when the next one becomes available if none is left.
func (t *throttleState) sendsLeft(linkSends []time.Time, key string) (left int, next time.Time) {
	var mine []time.Time
	if src := t.Sources[key]; src != nil {
		mine = src.Sends
	}
	return quotaLeft(linkSends, mine, OTPSendsPerLink, OTPSendsPerSource)
}

// quotaLeft is how many more of something a source may do, given the
// times the link (all sources) and the source did it within SourceMemory
// and the limits on each, and when the next becomes available if none is
// left.
func quotaLeft(linkTimes, mine []time.Time, perLink, perSource int) (left int, next time.Time) {
	left = min(perLink-len(linkTimes), perSource-len(mine))
	if left > 0 {
		return left, time.Time{}
	}
	if len(linkTimes) >= perLink {
		next = linkTimes[len(linkTimes)-perLink].Add(SourceMemory)
	}
	if len(mine) >= perSource {
		if at := mine[len(mine)-perSource].Add(SourceMemory); at.After(next) {
			next = at
		}
	}
	return 0, next
}

// recent is ts without the times older than SourceMemory (ts is in order).
func recent(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= SourceMemory {
		i++
	}
	if i == len(ts) {
		return nil
	}
	return ts[i:]
}
