package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sessions survive a restart of serve in staff.db's "sessions" bucket,
// beside the accounts they belong to. A row is keyed by the SHA-256 of the
// session's cookie value (never the value) and holds only what deciding
// the cookie's validity needs: the account, its generation when the session
// began, the role and the start. Not the last search (patient names) and
// not the last page view: a row is written when a session begins and
// removed when it ends, never on a page view, so after a restart the idle
// time counts from the restart; the absolute limit still counts from the
// start.

var bSessions = []byte("sessions")

// storedSession is a session's row in staff.db.
type storedSession struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Gen     int       `json:"gen"`
	Created time.Time `json:"created"`
}

// saveSessions puts and deletes session rows (keyed by the SHA-256 of the
// cookie value) in one transaction, which bbolt makes durable before it
// returns.
func (a *Accounts) saveSessions(put map[[32]byte]storedSession, del [][]byte) error {
	return a.updateTx(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bSessions)
		if err != nil {
			return err
		}
		for _, k := range del {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		for k, s := range put {
			v, err := json.Marshal(s)
			if err != nil {
				return err
			}
			if err := b.Put(k[:], v); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadSessions returns the stored sessions and the keys of rows that
// cannot be read (to be removed).
func (a *Accounts) loadSessions() (out map[[32]byte]storedSession, bad [][]byte, err error) {
	defer func() {
		// A damaged page can make bbolt panic rather than fail; a damaged
		// file must not stop serve.
		if p := recover(); p != nil {
			out, bad, err = nil, nil, fmt.Errorf("reading staff sessions: %v", p)
		}
	}()
	db, err := a.open(true)
	if err != nil || db == nil {
		return map[[32]byte]storedSession{}, nil, err
	}
	defer db.Close()
	out = map[[32]byte]storedSession{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSessions)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var s storedSession
			if len(k) != 32 || json.Unmarshal(v, &s) != nil || s.Name == "" {
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
			out[[32]byte(k)] = s
			return nil
		})
	})
	return out, bad, err
}

// deleteSessionsOf removes the stored sessions of an account, in the
// transaction that disables it or changes its password or role.
func deleteSessionsOf(tx *bolt.Tx, name string) error {
	b := tx.Bucket(bSessions)
	if b == nil {
		return nil
	}
	var del [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var s storedSession
		if json.Unmarshal(v, &s) == nil && s.Name == name {
			del = append(del, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// restore loads the stored sessions at start, keeping those still valid
// (within the absolute limit, of an enabled account of the same
// generation) with their idle time counting from now, and removing the
// rest. Nothing here stops serve: a file that cannot be read is a warning,
// and everyone logs in again.
func (a *auth) restore() {
	stored, bad, err := a.accounts.loadSessions()
	if err != nil {
		a.log.Warn("staff console: could not read the saved staff sessions; staff log in again", "error", err)
		return
	}
	now := a.now()
	a.mu.Lock()
	if err := a.refreshLocked(); err != nil {
		a.mu.Unlock()
		a.log.Warn("staff console: could not read the staff accounts; saved sessions are not restored", "error", err)
		return
	}
	for k, st := range stored {
		r, ok := a.cache[st.Name]
		if !ok || r.Disabled || r.Gen != st.Gen || now.Sub(st.Created) > AbsoluteTimeout || st.Created.After(now) {
			a.ended[k] = struct{}{}
			continue
		}
		a.sessions[k] = &session{name: st.Name, role: r.Role, gen: st.Gen, created: st.Created, last: now}
	}
	n, ended := len(a.sessions), len(a.ended)
	a.mu.Unlock()
	if len(bad) > 0 {
		a.log.Warn("staff console: some saved staff sessions could not be read and are dropped", "count", len(bad))
	}
	if ended > 0 || len(bad) > 0 {
		a.save(nil, bad...)
	}
	if n > 0 {
		a.log.Info("staff console: staff sessions restored", "sessions", n)
	}
}

// save writes a new session (when put is not nil) and removes the ended
// ones (and the rows of keys) from staff.db. It runs outside a.mu: page views do not wait for the
// disk. A failure is logged: a new session then lasts until the next
// restart only, and removals are tried again with the next save.
func (a *auth) save(put map[[32]byte]storedSession, keys ...[]byte) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	del := keys
	for k := range a.ended {
		del = append(del, k[:])
	}
	clear(a.ended)
	a.mu.Unlock()
	if len(put) == 0 && len(del) == 0 {
		return
	}
	if err := a.accounts.saveSessions(put, del); err != nil {
		a.log.Warn("staff console: could not save the staff sessions; a new one lasts until a restart", "error", err)
		a.mu.Lock()
		for _, k := range del {
			if len(k) == 32 {
				a.ended[[32]byte(k)] = struct{}{}
			}
		}
		a.mu.Unlock()
	}
}

// csrfToken is a session's CSRF token, derived from its cookie value, so
// that it need not be stored: an HMAC keyed by the cookie value, which
// neither the stored hash nor the token (on every form) reveals.
func csrfToken(cookie string) string {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("sonolink staff console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
