package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"os"
	"sync"
	"time"
)

// Session lifetimes.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
)

// Login throttling: after freeFailures wrong passwords from one address
// for one account, each further try must wait, doubling up to maxWait.
const (
	freeFailures = 5
	firstWait    = 2 * time.Second
	maxWait      = 15 * time.Minute
	forgetAfter  = time.Hour
)

// session is a logged-in staff member; the map key is the SHA-256 of the
// cookie value.
type session struct {
	name, role string
	gen        int
	csrf       string
	created    time.Time
	last       time.Time
	search     searchForm // the last search (kept here, not in the URL)
}

type failures struct {
	n     int
	last  time.Time
	until time.Time
}

// auth holds the accounts (cached), the sessions and the throttle.
type auth struct {
	accounts *Accounts
	now      func() time.Time

	mu       sync.Mutex
	cache    map[string]record
	cacheMod time.Time
	cacheSz  int64
	sessions map[[32]byte]*session
	fails    map[[2]string]*failures

	hashing chan struct{} // at most cap(hashing) argon2id computations at once
}

func newAuth(a *Accounts) *auth {
	return &auth{accounts: a, now: time.Now, sessions: map[[32]byte]*session{}, fails: map[[2]string]*failures{},
		hashing: make(chan struct{}, 2)}
}

// account returns the current record of name, reloading the database when
// its file changed.
func (a *auth) account(name string) (record, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.refreshLocked(); err != nil {
		return record{}, false, err
	}
	r, ok := a.cache[name]
	return r, ok, nil
}

func (a *auth) refreshLocked() error {
	st, err := os.Stat(a.accounts.path)
	if errors.Is(err, os.ErrNotExist) {
		a.cache, a.cacheMod, a.cacheSz = map[string]record{}, time.Time{}, 0
		return nil
	}
	if err != nil {
		return err
	}
	if a.cache != nil && st.ModTime().Equal(a.cacheMod) && st.Size() == a.cacheSz {
		return nil
	}
	recs, err := a.accounts.load()
	if err != nil {
		return err
	}
	a.cache, a.cacheMod, a.cacheSz = recs, st.ModTime(), st.Size()
	return nil
}

// WaitError says a login from this address for this account must wait.
type WaitError struct{ Until time.Time }

func (e *WaitError) Error() string { return "too many wrong passwords; wait" }

var errLogin = errors.New("wrong name or password")

// LockedError is a wrong password that made the (account, address) pair
// wait before its next try: the throttle started or grew.
type LockedError struct {
	Failures int
	Until    time.Time
}

func (e *LockedError) Error() string { return "wrong name or password; further tries must wait" }
func (e *LockedError) Unwrap() error { return errLogin }

// login checks name and password from client and returns a new session
// and its cookie value.
func (a *auth) login(ctx context.Context, name, password, client string) (string, *session, error) {
	key := [2]string{name, client}
	now := a.now()
	a.mu.Lock()
	if f := a.fails[key]; f != nil && now.Before(f.until) {
		a.mu.Unlock()
		return "", nil, &WaitError{Until: f.until}
	}
	a.mu.Unlock()

	r, ok, err := a.account(name)
	if err != nil {
		return "", nil, err
	}
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	var good bool
	if ok {
		good = checkPassword(r.Hash, password)
	} else {
		checkPassword(dummyHash(), password)
	}
	<-a.hashing
	good = good && !r.Disabled

	a.mu.Lock()
	defer a.mu.Unlock()
	if !good {
		f := a.fails[key]
		if f == nil || now.Sub(f.last) > forgetAfter {
			f = &failures{}
			a.fails[key] = f
		}
		f.n++
		f.last = now
		if f.n >= freeFailures {
			wait := firstWait << min(f.n-freeFailures, 20)
			f.until = now.Add(min(wait, maxWait))
			a.pruneLocked(now)
			return "", nil, &LockedError{Failures: f.n, Until: f.until}
		}
		a.pruneLocked(now)
		return "", nil, errLogin
	}
	delete(a.fails, key)
	id, sum := newToken()
	s := &session{name: r.Name, role: r.Role, gen: r.Gen, created: now, last: now}
	s.csrf, _ = newToken()
	a.sessions[sum] = s
	a.pruneLocked(now)
	cp := *s
	return id, &cp, nil
}

// session returns a copy of the live session of a cookie value, touching
// it. A copy: a staff member's requests run concurrently (a page and its
// thumbnails), and the session itself changes only under a.mu.
func (a *auth) session(cookie string) (*session, bool) {
	if cookie == "" {
		return nil, false
	}
	sum := sha256.Sum256([]byte(cookie))
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[sum]
	if s == nil {
		return nil, false
	}
	if now.Sub(s.last) > IdleTimeout || now.Sub(s.created) > AbsoluteTimeout {
		delete(a.sessions, sum)
		return nil, false
	}
	if err := a.refreshLocked(); err != nil {
		return nil, false
	}
	r, ok := a.cache[s.name]
	if !ok || r.Disabled || r.Gen != s.gen {
		delete(a.sessions, sum)
		return nil, false
	}
	s.role = r.Role
	s.last = now
	cp := *s
	return &cp, true
}

// remember keeps a search in the session of a cookie value, for the list
// pages that follow.
func (a *auth) remember(cookie string, f searchForm) {
	sum := sha256.Sum256([]byte(cookie))
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[sum]; s != nil {
		s.search = f
	}
}

// logout ends the session of a cookie value.
func (a *auth) logout(cookie string) {
	sum := sha256.Sum256([]byte(cookie))
	a.mu.Lock()
	delete(a.sessions, sum)
	a.mu.Unlock()
}

// pruneLocked forgets ended sessions and old failures.
func (a *auth) pruneLocked(now time.Time) {
	for k, s := range a.sessions {
		if now.Sub(s.last) > IdleTimeout || now.Sub(s.created) > AbsoluteTimeout {
			delete(a.sessions, k)
		}
	}
	for k, f := range a.fails {
		if now.Sub(f.last) > forgetAfter && now.After(f.until) {
			delete(a.fails, k)
		}
	}
}

// newToken returns 256 random bits, as the cookie value and its hash.
func newToken() (string, [32]byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	return v, sha256.Sum256([]byte(v))
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
