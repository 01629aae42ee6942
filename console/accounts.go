package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/internal/phc"
)

// Roles.
const (
	RoleTechnician = "technician"
	RoleAdmin      = "admin"
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 10

// Errors of the account store.
var (
	ErrNoAccount    = errors.New("no such staff account")
	ErrExists       = errors.New("a staff account with that name exists")
	ErrBadName      = errors.New("a staff name is 1 to 32 lower-case letters, digits, dots, dashes or underscores, starting with a letter")
	ErrBadRole      = errors.New("role must be technician or admin")
	ErrWeakPassword = fmt.Errorf("the password must have at least %d characters", MinPasswordLen)
)

// Account is one staff member.
type Account struct {
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
	Changed  time.Time `json:"changed"` // password last set
	// Gen counts password changes and disables: a session made under an
	// older generation is no longer valid.
	Gen  int    `json:"gen"`
	Hash string `json:"-"`
}

// record is the stored form (the hash is not part of Account's JSON, which
// is `sonolink staff list --json`).
type record struct {
	Account
	Hash string `json:"hash"`
}

var (
	bAccounts = []byte("accounts")
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,31}$`)
)

// AccountsPath is the account database of a data directory.
func AccountsPath(dataDir string) string { return filepath.Join(dataDir, "staff.db") }

// Accounts is the staff account database. It holds no open handle: each
// call opens the file, does its work and closes it again.
type Accounts struct {
	path string
}

// NewAccounts returns the account database at path (AccountsPath).
func NewAccounts(path string) *Accounts { return &Accounts{path: path} }

func (a *Accounts) open(readOnly bool) (*bolt.DB, error) {
	if readOnly {
		if _, err := os.Stat(a.path); errors.Is(err, os.ErrNotExist) {
			return nil, nil // no account yet
		}
	}
	db, err := bolt.Open(a.path, 0o600, &bolt.Options{Timeout: 3 * time.Second, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("opening staff accounts %s: %w", a.path, err)
	}
	return db, nil
}

// List returns every account, by name.
func (a *Accounts) List() ([]Account, error) {
	recs, err := a.load()
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Account)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// load reads every account with its hash.
func (a *Accounts) load() (map[string]record, error) {
	db, err := a.open(true)
	if err != nil || db == nil {
		return map[string]record{}, err
	}
	defer db.Close()
	out := map[string]record{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAccounts)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("staff account %q: %w", k, err)
			}
			r.Account.Hash = r.Hash
			out[r.Name] = r
			return nil
		})
	})
	return out, err
}

// Add creates an account.
func (a *Accounts) Add(name, role, password string) (*Account, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !nameRe.MatchString(name) {
		return nil, ErrBadName
	}
	if role == "" {
		role = RoleTechnician
	}
	if role != RoleTechnician && role != RoleAdmin {
		return nil, ErrBadRole
	}
	if existing, err := a.load(); err != nil {
		return nil, err
	} else if _, ok := existing[name]; ok {
		return nil, ErrExists // before the (slow) hash; update checks again
	}
	hash, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	r := record{Account: Account{Name: name, Role: role, Created: now, Changed: now, Gen: 1}, Hash: hash}
	err = a.update(func(b *bolt.Bucket) error {
		if b.Get([]byte(name)) != nil {
			return ErrExists
		}
		return put(b, r)
	})
	if err != nil {
		return nil, err
	}
	return &r.Account, nil
}

// SetPassword changes an account's password (and enables it again);
// sessions made with the old password end.
func (a *Accounts) SetPassword(name, password string) (*Account, error) {
	hash, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	return a.change(name, func(r *record) {
		r.Hash, r.Changed, r.Disabled = hash, time.Now().UTC(), false
		r.Gen++
	})
}

// Disable stops an account; its sessions end at their next request.
func (a *Accounts) Disable(name string) (*Account, error) {
	return a.change(name, func(r *record) { r.Disabled = true; r.Gen++ })
}

// SetRole changes an account's role.
func (a *Accounts) SetRole(name, role string) (*Account, error) {
	if role != RoleTechnician && role != RoleAdmin {
		return nil, ErrBadRole
	}
	return a.change(name, func(r *record) { r.Role = role; r.Gen++ })
}

func (a *Accounts) change(name string, fn func(*record)) (*Account, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	var out Account
	err := a.update(func(b *bolt.Bucket) error {
		v := b.Get([]byte(name))
		if v == nil {
			return ErrNoAccount
		}
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		gen := r.Gen
		fn(&r)
		out = r.Account
		if r.Gen != gen {
			// The account's sessions end: remove them from the disk now
			// (serve drops its copies at their next request).
			if err := deleteSessionsOf(b.Tx(), r.Name); err != nil {
				return err
			}
		}
		return put(b, r)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (a *Accounts) update(fn func(*bolt.Bucket) error) error {
	return a.updateTx(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bAccounts)
		if err != nil {
			return err
		}
		return fn(b)
	})
}

// updateTx runs fn in a read-write transaction of the database, which
// bbolt makes durable (fsync) before it returns.
func (a *Accounts) updateTx(fn func(*bolt.Tx) error) error {
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return err
	}
	db, err := a.open(false)
	if err != nil {
		return err
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func put(b *bolt.Bucket, r record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.Name), v)
}

// argonParams are the argon2id parameters new hashes get.
type argonParams struct {
	time, memory uint32 // passes, KiB
	threads      uint8
}

// rfc9106 is RFC 9106 section 4's second recommended option; a stored
// hash keeps its own parameters, so they may change later.
var rfc9106 = argonParams{time: 3, memory: 64 * 1024, threads: 4}

// hashWith is what hashPassword uses (tests lower it to stay fast).
var hashWith = rfc9106

// hashPassword returns the PHC string of password's argon2id hash
// (package phc).
func hashPassword(password string) (string, error) {
	if len([]rune(password)) < MinPasswordLen {
		return "", ErrWeakPassword
	}
	p := hashWith
	return phc.Hash(password, phcParams(p)), nil
}

func phcParams(p argonParams) phc.Params {
	return phc.Params{Time: p.time, Memory: p.memory, Threads: p.threads}
}

// checkPassword compares password with a PHC string made by hashPassword
// (its own parameters are used, so they may change later).
func checkPassword(encoded, password string) bool { return phc.Verify(encoded, password) }

// dummyHash is checked against when the account does not exist, so that
// an unknown name takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("not a password of anyone")
	return h
})
