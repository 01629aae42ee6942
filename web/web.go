// Package web serves the patient's landing pages: the gates (clinic link
// code, patient password with a one-time code), the page with the study's
// thumbnails and a full-screen viewer, per-object downloads and a ZIP with
// the images, the de-identified DICOM files and a DICOMDIR.
//
// The package knows nothing of storage: everything it needs comes through
// the small Backend interface, which the caller adapts onto share and
// store. Every page is localized (package i18n), every response carries a
// strict Content-Security-Policy, and the link token never reaches a log
// line.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"html/template"

	"sonolink/render"
	"sonolink/share"
)

// ErrNotFound is returned by Backend.Link for an unknown token and by
// Backend.Open for a file that does not exist.
var ErrNotFound = errors.New("not found")

// ErrWrongCode is returned by CheckLinkCode, VerifyOTP and CheckPassword
// when the code or password does not match. Any other error (except
// *WaitError and *CodeLimitError) is treated as an internal failure.
var ErrWrongCode = errors.New("wrong code or password")

// ExpiredError is returned by Backend.Link for a link past its expiry.
// LinkID names the link so that its patient can ask for a new one; when
// empty the expired page offers no request.
type ExpiredError struct {
	At     time.Time
	LinkID string
	// Lang is the patient's language, as Link.Lang: the page falls back
	// to it rather than to the clinic's.
	Lang string
}

func (e *ExpiredError) Error() string { return "link expired at " + e.At.UTC().Format(time.RFC3339) }

// RevokedError is returned by Backend.Link for a link the clinic
// withdrew: the page says so and how to reach the clinic, rather than
// sending the patient to check a link that was right. Only a real token
// reaches it; an unknown one stays ErrNotFound.
type RevokedError struct{ At time.Time }

func (e *RevokedError) Error() string { return "link revoked at " + e.At.UTC().Format(time.RFC3339) }

// WaitError is returned by CheckLinkCode, VerifyOTP and CheckPassword
// while the client must wait before its next try, after wrong ones. Wrong
// says the try that returned it was itself wrong (it was checked); else it
// was not checked at all.
type WaitError struct {
	Until time.Time
	Wrong bool
}

func (e *WaitError) Error() string { return "try again after " + e.Until.UTC().Format(time.RFC3339) }

// CodeLimitError is returned by RequestOTP when no more one-time code
// messages may be sent for now; Until is when the next may.
type CodeLimitError struct{ Until time.Time }

func (e *CodeLimitError) Error() string {
	return "no more code messages until " + e.Until.UTC().Format(time.RFC3339)
}

// Backend is everything the pages need from sonolink. Implementations
// must be safe for concurrent use.
type Backend interface {
	// Link resolves a token (hash and look up — the same work for unknown
	// tokens as for known ones): ErrNotFound for unknown, a *RevokedError,
	// an *ExpiredError, or the link.
	Link(ctx context.Context, token string) (*Link, error)
	// Clinic returns the branding and contact details, shown on every
	// page, the gates and error pages included, so a patient always sees
	// who is asking. An error (the settings cannot be read) makes the page
	// an internal error.
	Clinic(ctx context.Context) (Clinic, error)
	// Items lists the link's shared objects in display order, residual
	// (not de-identified) ones included and marked.
	Items(ctx context.Context, linkID string) ([]Item, error)
	// Open opens one file of an item: "thumb.jpg", "frame/0001.jpg"
	// (1-based, at least 4 digits), "loop.gif" (cine), "loop.mp4" (cine
	// with Item.Video), "report.pdf" (pdf) or
	// "image.dcm" (the de-identified DICOM object; for a residual item, the
	// object as received). It returns ErrNotFound for a missing file and
	// the file's modification time.
	Open(ctx context.Context, linkID string, item int, file string) (Content, time.Time, error)
	// Report reads the structured report of a "report" item (from its
	// de-identified copy when there is one); ErrNotFound for any other
	// item.
	Report(ctx context.Context, linkID string, item int) (*render.Report, error)
	// The gate methods get the client's address (Config.ClientAddr):
	// wrong tries slow that client down, not the link.
	//
	// CheckLinkCode checks the clinic link code in force for this link.
	CheckLinkCode(ctx context.Context, linkID, client, code string) error
	// CodeMessages says how many more one-time code messages the client
	// may have sent, and when the next may be sent if none is left.
	CodeMessages(ctx context.Context, linkID, client string) (left int, next time.Time, err error)
	// RequestOTP sends a one-time code to Link.Contacts[contactIndex].
	// lang is the page's language; the message is in it.
	RequestOTP(ctx context.Context, linkID, client string, contactIndex int, lang string) error
	// VerifyOTP checks a one-time code sent by RequestOTP.
	VerifyOTP(ctx context.Context, linkID, client, code string) error
	// SetPassword sets (or, after "forgot password", replaces) the
	// patient's password. The pages call it only after VerifyOTP succeeded
	// in the same browser session; the backend should itself refuse it
	// unless a one-time code was verified recently.
	SetPassword(ctx context.Context, linkID, password string) error
	// CheckPassword checks the patient's password.
	CheckPassword(ctx context.Context, linkID, client, password string) error
	// RequestRenewal records that the patient of an expired link asked for
	// a new one, for the clinic's attention. A *WaitError says the client
	// asked too often (an earlier request stands).
	RequestRenewal(ctx context.Context, linkID, client string) error
	// Generation changes whenever what a page shows may have changed
	// besides its link: the stored objects or the clinic's settings. Pages
	// are kept (pageCache) while it stays the same.
	Generation(ctx context.Context) string
	// SelfRenewContacts lists, masked, the contacts of an expired link a
	// new link can be sent to once the patient typed a one-time code sent
	// to one of them; none when the clinic does not offer it
	// (link.self_renew off).
	SelfRenewContacts(ctx context.Context, linkID string) ([]MaskedContact, error)
	// RequestRenewalCode sends a one-time code for a new link to
	// SelfRenewContacts[contactIndex], in lang (the page's language),
	// within the same limits as RequestOTP (*CodeLimitError, and
	// CodeMessages counts them).
	RequestRenewalCode(ctx context.Context, linkID, client string, contactIndex int, lang string) error
	// SelfRenew checks a code from RequestRenewalCode; when it is right a
	// new link has gone to the same contacts. ErrWrongCode or *WaitError
	// otherwise.
	SelfRenew(ctx context.Context, linkID, client, code string) error
	// RecordView records one landing-page view (audit log, shares view).
	RecordView(ctx context.Context, linkID, remoteAddr, userAgent string)
}

// Content is an opened file: *os.File satisfies it.
type Content interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
}

// Clinic is the clinic's branding and how patients reach it.
type Clinic struct {
	Name     string
	Phone    string // as written for people, e.g. "+46 31 123 45 67"; may be empty
	Web      string // an http(s) URL; may be empty
	Hours    string // when the clinic answers, free text; may be empty
	Language string // BCP 47 tag of the default language, e.g. "sv"
	// Location is the clinic's time zone for times patients read (when
	// to try a code again); nil: the server's.
	Location *time.Location
	Logo     []byte // may be empty
	LogoType string // "image/png", "image/jpeg", "image/webp" or "image/gif"; other types are not shown
}

// Link is a resolved, valid link.
type Link struct {
	ID            string // stable, non-secret identifier (used in logs and sessions)
	StudyUID      string // named in log lines only as logid.Study, never as it is
	ExamDate      time.Time
	Expires       time.Time
	NeedsLinkCode bool
	NeedsPassword bool
	HasPassword   bool
	Contacts      []MaskedContact // where a one-time code can go
	// Lang is the patient's language when the clinic knew it (catalogue
	// tag); the page falls back to it rather than to the clinic's.
	Lang string
}

// MaskedContact is a contact shown masked, e.g. "n***@example.com".
type MaskedContact struct {
	Kind  string // "email" or "sms"
	Label string // masked for display: "n***@example.com", "+46 ••• •• 67"
}

// Item is one shared object.
type Item struct {
	Index       int
	Kind        string // "image", "cine", "pdf" or "report" (structured report)
	Residual    bool   // not de-identified: shown only after the password
	Frames      int
	FrameTimeMS float64
	Width       int
	Height      int
	Ready       bool   // renders done
	Video       bool   // a cine loop that has an MP4 ("loop.mp4") beside its GIF
	VideoOnly   bool   // a video object: the MP4 is its only animation (no GIF)
	Title       string // non-identifying, e.g. "Image 3"
	// Label names the item as in its whole study (share.LabelItems), the
	// same on every link and in `sonolink study`; zero: numbered among
	// the link's items.
	Label share.ItemLabel
}

// Config configures the handler.
type Config struct {
	// BasePath is the path prefix sonolink is served under ("" or e.g.
	// "/sonolink", the path of --base-url). Routes are BasePath+"/p/{token}…"
	// and BasePath+"/static/…".
	BasePath string
	// Secure marks cookies Secure and sends HSTS: set it whenever patients
	// reach the pages over HTTPS, whether TLS ends here or in a proxy.
	Secure bool
	// Logger receives one line per request, with the token replaced by the
	// link ID (or "…"). Nil: slog.Default().
	Logger *slog.Logger
	// SessionKey signs session cookies; at least 32 bytes, derived from a
	// secret that survives restarts.
	SessionKey []byte
	// SessionTTL bounds a session (gates passed); default 12 h.
	SessionTTL time.Duration
	// Now is the clock for expiry and sessions; nil: time.Now.
	Now func() time.Time
	// LookupFloor is the least time a request without a valid session
	// takes from arrival to its answer, so that unknown, revoked, expired
	// and valid tokens answer alike. 0: 25 ms; negative: none.
	LookupFloor time.Duration
	// FailedLookupRate and FailedLookupBurst limit failed token lookups
	// and wrong link codes per client address; defaults 1 per 6 s, burst 10.
	FailedLookupRate  rate.Limit
	FailedLookupBurst int
	// TrustedProxies are the reverse proxies whose Forwarded or
	// X-Forwarded-For header names the client; from any other peer those
	// headers are ignored.
	TrustedProxies []netip.Prefix
	// ClientAddr returns the client address used for rate limiting, the
	// gates and the view record; nil: the host of RemoteAddr, or the client
	// a trusted proxy names (IPv6 grouped by /64).
	ClientAddr func(*http.Request) string
	// PageCacheTTL is the longest a rendered landing page is served again
	// to visitors of the same link while nothing it shows has changed (see
	// pageCache); 0: 1 min; negative: never.
	PageCacheTTL time.Duration
}

// New returns the handler for the landing pages under cfg.BasePath.
func New(cfg Config, b Backend) (http.Handler, error) {
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("web: SessionKey must be at least 32 bytes")
	}
	if b == nil {
		return nil, errors.New("web: nil Backend")
	}
	cfg.BasePath = strings.TrimRight(cfg.BasePath, "/")
	if cfg.BasePath != "" && !strings.HasPrefix(cfg.BasePath, "/") {
		return nil, fmt.Errorf("web: BasePath %q must start with /", cfg.BasePath)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LookupFloor == 0 {
		cfg.LookupFloor = 25 * time.Millisecond
	}
	if cfg.FailedLookupRate == 0 {
		cfg.FailedLookupRate = rate.Every(6 * time.Second)
	}
	if cfg.FailedLookupBurst <= 0 {
		cfg.FailedLookupBurst = 10
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = clientAddr(cfg.TrustedProxies)
	}
	if cfg.PageCacheTTL == 0 {
		cfg.PageCacheTTL = time.Minute
	}
	tm, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s := &server{
		pages:  pageCache{ttl: cfg.PageCacheTTL},
		cfg:    cfg,
		b:      b,
		tmpl:   tm,
		assets: theAssets,
		lim:    newLimiter(cfg.FailedLookupRate, cfg.FailedLookupBurst),
	}
	s.routes()
	return s, nil
}

type server struct {
	cfg    Config
	b      Backend
	tmpl   map[string]*template.Template
	assets *assets
	lim    *limiter
	pages  pageCache
	mux    *http.ServeMux
	sizes  zipSizes // the landing page's download sizes, remembered
}

func (s *server) routes() {
	m := http.NewServeMux()
	p := s.cfg.BasePath
	m.HandleFunc("GET "+p+"/static/{file}", s.static)
	m.HandleFunc("GET "+p+"/p/{token}", s.withLink(s.landing))
	m.HandleFunc("POST "+p+"/p/{token}/code", s.withLink(s.postCode))
	m.HandleFunc("POST "+p+"/p/{token}/otp", s.withLink(s.postOTPRequest))
	m.HandleFunc("POST "+p+"/p/{token}/otp/verify", s.withLink(s.postOTPVerify))
	m.HandleFunc("POST "+p+"/p/{token}/otp/restart", s.withLink(s.postOTPRestart))
	m.HandleFunc("POST "+p+"/p/{token}/login", s.withLink(s.postLogin))
	m.HandleFunc("POST "+p+"/p/{token}/forgot", s.withLink(s.postForgot))
	m.HandleFunc("POST "+p+"/p/{token}/password", s.withLink(s.postPassword))
	m.HandleFunc("POST "+p+"/p/{token}/renew", s.withLink(s.postRenew))
	m.HandleFunc("POST "+p+"/p/{token}/renew/code", s.withLink(s.postRenew))
	m.HandleFunc("POST "+p+"/p/{token}/renew/verify", s.withLink(s.postRenew))
	m.HandleFunc("POST "+p+"/p/{token}/renew/restart", s.withLink(s.postRenew))
	m.HandleFunc("GET "+p+"/p/{token}/all.zip", s.withLink(s.zipAll))
	m.HandleFunc("GET "+p+"/p/{token}/images.zip", s.withLink(s.zipImages))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/thumb.jpg", s.withLink(s.file))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/loop.gif", s.withLink(s.file))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/loop.mp4", s.withLink(s.file))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/report.pdf", s.withLink(s.file))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/report", s.withLink(s.reportPage))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/report.txt", s.withLink(s.reportText))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/frame/{f}", s.withLink(s.file))
	m.HandleFunc("GET "+p+"/p/{token}/i/{n}/download", s.withLink(s.download))
	m.HandleFunc("/", s.notFound)
	s.mux = m
}

// ServeHTTP adds the security headers and the request log around every
// route.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
	h := w.Header()
	for k, v := range securityHeaders {
		h[k] = []string{v} // canonical keys already; a fresh slice per response
	}
	if s.cfg.Secure {
		h["Strict-Transport-Security"] = []string{"max-age=31536000"}
	}
	rw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "web request",
			slog.String("method", r.Method),
			slog.String("path", s.redact(r.URL.Path, info.linkID)),
			slog.Int("status", rw.status),
			slog.Int64("bytes", rw.n),
			slog.Duration("took", time.Since(start)))
	}()
	s.mux.ServeHTTP(rw, r)
}

// securityHeaders go on every answer (keys in canonical form).
var securityHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"Referrer-Policy":              "no-referrer",
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), interest-cohort=()",
	"Cache-Control":                "no-store",
}

// redact replaces the token segment of /p/{token}/… with the link ID (or
// "…" when the token did not resolve).
func (s *server) redact(path, linkID string) string {
	prefix := s.cfg.BasePath + "/p/"
	if !strings.HasPrefix(path, prefix) {
		return path
	}
	rest := path[len(prefix):]
	tail := ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		tail = rest[i:]
	}
	if linkID == "" {
		linkID = "…"
	}
	return prefix + linkID + tail
}

type reqInfoKey struct{}

type reqInfo struct {
	linkID string

	mu   sync.Mutex
	memo map[string]memoEntry
}

type memoEntry struct {
	v   any
	err error
}

// Memo returns what load returns, computed at most once per key for the
// request ctx belongs to: a Backend uses it to share work between the calls
// one request makes (Link, then Items or Open) instead of reading the same
// records twice. Outside a request served by this package it just calls
// load. Nothing outlives the request.
func Memo[T any](ctx context.Context, key string, load func() (T, error)) (T, error) {
	info, ok := ctx.Value(reqInfoKey{}).(*reqInfo)
	if !ok {
		return load()
	}
	info.mu.Lock()
	e, ok := info.memo[key]
	info.mu.Unlock()
	if !ok {
		// Loaded without the lock held, so load may itself use Memo.
		v, err := load()
		e = memoEntry{v: v, err: err}
		info.mu.Lock()
		if info.memo == nil {
			info.memo = map[string]memoEntry{}
		}
		info.memo[key] = e
		info.mu.Unlock()
	}
	v, _ := e.v.(T)
	return v, e.err
}

type logWriter struct {
	http.ResponseWriter
	status int
	n      int64
	wrote  bool
}

func (w *logWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}
