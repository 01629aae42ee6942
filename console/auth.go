package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
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
// cookie value. Its row in staff.db (sessions.go) keeps all but the last
// page view and the search.
type session struct {
	name, role string
	gen        int
	csrf       string // csrfToken of the cookie, set in the copies handed out
	created    time.Time
	last       time.Time
	search     searchForm // the last search (kept here, not in the URL, never on disk)
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
	log      *slog.Logger

	mu       sync.Mutex
	cache    map[string]record
	cacheMod time.Time
	cacheSz  int64
	cacheAt  time.Time // when the cache was read (the wall clock, as mtimes are)
	sessions map[[32]byte]*session
	ended    map[[32]byte]struct{} // ended sessions still to remove from staff.db
	pruned   time.Time
	fails    map[[2]string]*failures

	wmu sync.Mutex // one save of the sessions at a time

	hashing chan struct{} // at most cap(hashing) argon2id computations at once
}

// pruneEvery is how often a page view looks for other sessions that ended.
const pruneEvery = time.Minute

// newAuth returns the accounts' auth with the sessions saved before the
// last restart (restore).
func newAuth(a *Accounts, log *slog.Logger) *auth {
	au := &auth{accounts: a, now: time.Now, log: log, sessions: map[[32]byte]*session{}, ended: map[[32]byte]struct{}{},
		fails: map[[2]string]*failures{}, hashing: make(chan struct{}, 2)}
	au.restore()
	return au
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
	// A change in the same tick of a coarse file clock as the one cached
	// (serve saving a session, then `staff disable` at once) leaves the
	// time and size alike: a cache read within 2 s of its file's time is
	// not trusted.
	if a.cache != nil && st.ModTime().Equal(a.cacheMod) && st.Size() == a.cacheSz && a.cacheAt.Sub(a.cacheMod) > 2*time.Second {
		return nil
	}
	at := time.Now()
	recs, err := a.accounts.load()
	if err != nil {
		return err
	}
	a.cache, a.cacheMod, a.cacheSz, a.cacheAt = recs, st.ModTime(), st.Size(), at
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

	if !good {
		return "", nil, a.failed(key, now)
	}
	id, sum := newToken()
	s := session{name: r.Name, role: r.Role, gen: r.Gen, created: now, last: now}
	a.mu.Lock()
	delete(a.fails, key)
	live := s // the map's own, s stays this call's copy
	a.sessions[sum] = &live
	a.pruneLocked(now)
	a.mu.Unlock()
	// Saved before the cookie leaves: its logout cannot overtake it.
	a.save(map[[32]byte]storedSession{sum: {Name: s.name, Role: s.role, Gen: s.gen, Created: s.created}})
	s.csrf = csrfToken(id)
	return id, &s, nil
}

// failed counts a wrong password from the (account, address) key and
// returns errLogin, or a LockedError when the pair must now wait.
func (a *auth) failed(key [2]string, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.fails[key]
	if f == nil || now.Sub(f.last) > forgetAfter {
		f = &failures{}
		a.fails[key] = f
	}
	f.n++
	f.last = now
	a.pruneLocked(now)
	if f.n >= freeFailures {
		wait := firstWait << min(f.n-freeFailures, 20)
		f.until = now.Add(min(wait, maxWait))
		return &LockedError{Failures: f.n, Until: f.until}
	}
	return errLogin
}

// session returns a copy of the live session of a cookie value, touching
// it. A copy: a staff member's requests run concurrently (a page and its
// thumbnails), and the session itself changes only under a.mu. Touching
// is in memory only; staff.db is written only when this finds a session
// (this one, or another at most every pruneEvery) ended.
func (a *auth) session(cookie string) (*session, bool) {
	if cookie == "" {
		return nil, false
	}
	s, ended := a.touch(sha256.Sum256([]byte(cookie)))
	if ended {
		a.save(nil)
	}
	if s == nil {
		return nil, false
	}
	s.csrf = csrfToken(cookie)
	return s, true
}

// touch is session under a.mu: the live session of sum, touched, and
// whether sessions ended.
func (a *auth) touch(sum [32]byte) (*session, bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var ended bool
	if now.Sub(a.pruned) >= pruneEvery {
		ended = a.pruneLocked(now)
	}
	s := a.sessions[sum]
	if s == nil {
		return nil, ended
	}
	if now.Sub(s.last) > IdleTimeout || now.Sub(s.created) > AbsoluteTimeout {
		a.endLocked(sum)
		return nil, true
	}
	if err := a.refreshLocked(); err != nil {
		return nil, ended
	}
	r, ok := a.cache[s.name]
	if !ok || r.Disabled || r.Gen != s.gen {
		a.endLocked(sum)
		return nil, true
	}
	s.role = r.Role
	s.last = now
	cp := *s
	return &cp, ended
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

// logout ends the session of a cookie value, also in staff.db.
func (a *auth) logout(cookie string) {
	sum := sha256.Sum256([]byte(cookie))
	a.mu.Lock()
	a.endLocked(sum)
	a.mu.Unlock()
	a.save(nil)
}

// endLocked forgets a session; the next save removes it from staff.db.
func (a *auth) endLocked(sum [32]byte) {
	delete(a.sessions, sum)
	a.ended[sum] = struct{}{}
}

// pruneLocked forgets ended sessions and old failures, and reports whether
// sessions ended.
func (a *auth) pruneLocked(now time.Time) bool {
	a.pruned = now
	var ended bool
	for k, s := range a.sessions {
		if now.Sub(s.last) > IdleTimeout || now.Sub(s.created) > AbsoluteTimeout {
			a.endLocked(k)
			ended = true
		}
	}
	for k, f := range a.fails {
		if now.Sub(f.last) > forgetAfter && now.After(f.until) {
			delete(a.fails, k)
		}
	}
	return ended
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
