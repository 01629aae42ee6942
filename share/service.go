package share

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"sonolink/delivery"
)

// Options configure a Service. The zero value is usable.
type Options struct {
	// BaseURL is where patients reach sonolink; links are {BaseURL}/p/{token}.
	// Default http://localhost:8080.
	BaseURL string
	Logger  *slog.Logger
	// Now is the clock for link lifetimes, one-time codes, lockouts and the
	// audit log (tests move it forward). The outbox's retry timers always
	// use the real clock. Default time.Now.
	Now func() time.Time
	// Location is the time zone of dates in messages ("available until …").
	// Default time.Local.
	Location *time.Location
	// Protected reports whether a link shows objects that are not
	// de-identified, so that its page asks for a one-time code and a
	// password; the link's messages then say so. Nil: they never do.
	// It gets the link's study and Link.Shows (store.Store.Residual fits).
	Protected func(studyUID string, shows func(sopInstanceUID string) bool) (bool, error)
	// Delivery chooses the providers; the zero value writes every message to
	// DATA/outbox.
	Delivery delivery.Config
	// EmailSender and SMSSender, when set, replace the configured providers.
	EmailSender delivery.EmailSender
	SMSSender   delivery.SMSSender
	// Backoff of the outbox; zero fields take the defaults.
	Backoff Backoff
	// NoWorker opens the service without the outbox worker: messages are
	// queued and sent by whoever calls RunOutbox (or Flush), in this
	// process or the next.
	NoWorker bool
	// LockTimeout is how long Open waits for share.db while another process
	// holds it. Default 1 s.
	LockTimeout time.Duration
}

// Backoff is the outbox's retry schedule: Initial, doubling per attempt,
// at most Max, ±20 % jitter; a message fails for good after MaxAttempts.
type Backoff struct {
	Initial     time.Duration // default 5 s
	Max         time.Duration // default 30 min
	MaxAttempts int           // default 12 (about 3.5 hours with the defaults)
}

// Service is the share side of sonolink: links, their delivery, the gates
// in front of them, clinic settings and the audit log, kept in DATA/share.db.
// It is safe for concurrent use.
type Service struct {
	db      *bolt.DB
	dir     string
	opts    Options
	log     *slog.Logger
	keys    keys
	email   delivery.EmailSender
	sms     delivery.SMSSender
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	closeMu sync.Mutex
	closed  bool
	// viewsClosed: the views were written for the last time (Close).
	viewsClosed bool
	views       viewBuffer
	// settingsCache holds Settings between changes (settingsGen).
	settingsCache atomic.Pointer[cachedSettings]
	settingsGen   atomic.Uint64
	// resolved keeps decoded links for Resolve while their records are
	// unchanged.
	resolved resolvedCache
	// writes counts share.db's write transactions (update, batch).
	writes   atomic.Uint64
	inflight sync.WaitGroup // Flush and RunOutbox calls
}

var (
	bktLinks       = []byte("links")        // link ID → linkRecord (JSON)
	bktTokens      = []byte("tokens")       // SHA-256(token) → link ID
	bktStudyLinks  = []byte("study_links")  // studyUID \x00 linkID → nil
	bktOutbox      = []byte("outbox")       // message ID → outboxMsg (JSON)
	bktPending     = []byte("outbox_queue") // message ID → nil, for messages not yet final
	bktLinkMsgs    = []byte("link_msgs")    // linkID \x00 messageID → nil
	bktAudit       = []byte("audit")        // big-endian sequence → AuditEvent (JSON)
	bktSettings    = []byte("settings")     // key → value
	bktAutoShare   = []byte("autoshare")    // studyUID → AutoShareDecision (JSON)
	bktRequests    = []byte("requests")     // link ID → open RenewalRequest (JSON)
	allBuckets     = [][]byte{bktLinks, bktTokens, bktStudyLinks, bktOutbox, bktPending, bktLinkMsgs, bktAudit, bktSettings, bktAutoShare, bktRequests}
	errClosed      = errors.New("share: service is closed")
	defaultBaseURL = "http://localhost:8080"
)

// Open opens (creating if needed) DATA/share.db, the key file DATA/share.key
// and the outbox directory DATA/outbox, and starts the outbox worker unless
// opts.NoWorker. A second process fails fast with a clear error: bbolt
// admits one process at a time.
func Open(dataDir string, opts Options) (*Service, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = defaultBaseURL
	}
	for len(opts.BaseURL) > 0 && opts.BaseURL[len(opts.BaseURL)-1] == '/' {
		opts.BaseURL = opts.BaseURL[:len(opts.BaseURL)-1]
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff.Initial = 5 * time.Second
	}
	if opts.Backoff.Max <= 0 {
		opts.Backoff.Max = 30 * time.Minute
	}
	if opts.Backoff.MaxAttempts <= 0 {
		opts.Backoff.MaxAttempts = 12
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("share: data directory: %w", err)
	}
	outboxDir := delivery.DefaultOutboxDir(dataDir)
	es, ss, err := delivery.New(opts.Delivery, outboxDir)
	if err != nil {
		return nil, fmt.Errorf("share: delivery configuration: %w", err)
	}
	if opts.EmailSender != nil {
		es = opts.EmailSender
	}
	if opts.SMSSender != nil {
		ss = opts.SMSSender
	}
	k, err := loadKeys(filepath.Join(dataDir, "share.key"))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "share.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("share: %s is in use by another sonolink process (is `sonolink serve` running? use its admin endpoint, or stop it)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("share: opening %s: %w", path, err)
	}
	s := &Service{db: db, dir: dataDir, opts: opts, log: opts.Logger.With("component", "share"), keys: k,
		email: es, sms: ss, wake: make(chan struct{}, 1)}
	if err := migrate(db, s); err != nil {
		db.Close()
		return nil, fmt.Errorf("share: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := openContactIndex(tx); err != nil {
			return err
		}
		return s.recoverOutbox(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("share: preparing %s: %w", path, err)
	}
	s.updateQueueGauge()
	if !opts.NoWorker {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		s.done = make(chan struct{})
		go func() {
			defer close(s.done)
			_ = s.RunOutbox(ctx)
		}()
	}
	return s, nil
}

// Close stops the outbox worker (a message being sent is put back in the
// queue and sent again by the next run) and closes share.db.
func (s *Service) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	s.inflight.Wait()
	_ = s.FlushViews()
	s.closeMu.Lock()
	s.viewsClosed = true
	s.closeMu.Unlock()
	return s.db.Close()
}

// BaseURL is the base of the links this service issues.
func (s *Service) BaseURL() string { return s.opts.BaseURL }

// OutboxDir is where the default file provider writes messages.
func (s *Service) OutboxDir() string { return delivery.DefaultOutboxDir(s.dir) }

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// newID returns prefix + n characters of Crockford base32 from crypto/rand.
func newID(prefix string, n int) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := make([]byte, n)
	rand.Read(b)
	out := make([]byte, n)
	for i := range b {
		out[i] = alphabet[int(b[i])%32]
	}
	return prefix + string(out)
}
