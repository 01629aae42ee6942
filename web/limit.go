package web

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter counts failures (unknown tokens, wrong link codes) per client
// address. A client with no failure budget left is answered 429 before
// any lookup is made.
type limiter struct {
	mu        sync.Mutex
	every     rate.Limit
	burst     int
	m         map[string]*rate.Limiter
	lastSweep time.Time
}

func newLimiter(r rate.Limit, burst int) *limiter {
	return &limiter{every: r, burst: burst, m: map[string]*rate.Limiter{}}
}

// wait returns how long the address must wait before its next attempt
// (0: go ahead).
func (l *limiter) wait(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[addr]
	if lim == nil {
		return 0
	}
	tok := lim.TokensAt(now)
	if tok >= 1 {
		return 0
	}
	secs := (1 - tok) / float64(l.every)
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// fail spends one unit of the address's failure budget.
func (l *limiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		l.lastSweep = now
		for k, v := range l.m {
			if v.TokensAt(now) >= float64(l.burst) {
				delete(l.m, k)
			}
		}
	}
	lim := l.m[addr]
	if lim == nil {
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[addr] = lim
	}
	lim.AllowN(now, 1)
}
