package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"sonolink/admin"
	"sonolink/i18n"
)

//go:embed templates/*.html static/*
var files embed.FS

// Ops is what the console asks of the admin service: the CLI's operations
// and the thumbnails.
type Ops interface {
	ListStudies(ctx context.Context, q admin.StudyQuery) ([]admin.StudySummary, error)
	StudyDetail(ctx context.Context, study string) (*admin.StudyDetail, error)
	Send(ctx context.Context, req admin.SendRequest) (*admin.SendResult, error)
	Resend(ctx context.Context, req admin.LinkRequest) (*admin.SendResult, error)
	Revoke(ctx context.Context, req admin.LinkRequest) (*admin.Link, error)
	Settings(ctx context.Context) ([]admin.Setting, error)
	SetSetting(ctx context.Context, req admin.SettingRequest) (*admin.Setting, error)
	Audit(ctx context.Context, q admin.AuditQuery) ([]admin.AuditEvent, error)
	Clinic(ctx context.Context) (*admin.Clinic, error)
	LinkCodeReach(ctx context.Context) (*admin.CodeReach, error)
	Attention(ctx context.Context) ([]admin.StudySummary, error)
	Thumbnail(ctx context.Context, study string, n int) (string, error)
	UseVersion(ctx context.Context, req admin.VersionRequest) (*admin.Object, error)
	RecordStaff(ctx context.Context, ev admin.StaffEvent) (*admin.StaffEvent, error)
}

// Config configures the console.
type Config struct {
	Ops      Ops
	Accounts *Accounts
	// TrustedProxies may say, in X-Forwarded-For and X-Forwarded-Proto,
	// who the client is and whether it came over https.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// Server is the console's HTTP handler.
type Server struct {
	ops     Ops
	auth    *auth
	proxies []netip.Prefix
	log     *slog.Logger
	pages   map[string]*template.Template
	mux     *http.ServeMux
	static  fs.FS

	cmu   sync.Mutex
	cinfo *clinicInfo // the clinic's settings, read at cat
	cat   time.Time
}

// New returns the console.
func New(c Config) (*Server, error) {
	if c.Ops == nil || c.Accounts == nil {
		return nil, errors.New("console: Ops and Accounts are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	s := &Server{ops: c.Ops, auth: newAuth(c.Accounts, c.Logger), proxies: c.TrustedProxies, log: c.Logger, pages: map[string]*template.Template{}}
	base, err := template.New("layout.html").ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	for _, p := range []string{"login", "studies", "study", "send", "attention", "settings", "error"} {
		t, err := template.Must(base.Clone()).ParseFS(files, "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	s.static, _ = fs.Sub(files, "static")
	s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// HTTP is the console on its own listener (sonolink serve --staff-addr).
type HTTP struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen binds addr for h.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*HTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--staff-addr %s: %w", addr, err)
	}
	return &HTTP{ln: ln, log: logger, srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// Addr is the bound address.
func (c *HTTP) Addr() string { return c.ln.Addr().String() }

// Run serves until ctx ends, then shuts down (requests in flight get 5 s).
func (c *HTTP) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- c.srv.Serve(c.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// Close releases the listener of a console that never ran.
func (c *HTTP) Close() error { return c.ln.Close() }

// client is the address a request came from: the peer, or, from a trusted
// proxy, the last address its X-Forwarded-For names that is not a proxy.
func (s *Server) client(r *http.Request) string {
	peer := remoteAddr(r)
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a.Unmap()) {
			return a.Unmap().String()
		}
	}
	return peer.String()
}

func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secure reports whether the browser reached the console over https.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return s.trusted(remoteAddr(r)) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// clinicInfo is the clinic as every page shows it.
type clinicInfo struct {
	Name     string
	L        *i18n.Locale
	Region   string
	Zone     *time.Location // the clinic's clock
	Logo     []byte
	LogoType string
}

// clinicTTL is how long the clinic's settings are reused between pages; a
// change made in the console's settings page shows at once (forgetClinic).
const clinicTTL = 2 * time.Second

// clinic returns the clinic's name, language, clock and logo.
func (s *Server) clinic(ctx context.Context) clinicInfo {
	now := time.Now()
	s.cmu.Lock()
	if s.cinfo != nil && now.Sub(s.cat) < clinicTTL {
		c := *s.cinfo
		s.cmu.Unlock()
		return c
	}
	s.cmu.Unlock()
	c := clinicInfo{Name: "Sonolink", L: i18n.Lookup(""), Zone: time.Local}
	ci, err := s.ops.Clinic(ctx)
	if err != nil {
		s.log.Warn("staff console: could not read the clinic settings", "error", err)
		return c
	}
	if ci.Name != "" {
		c.Name = ci.Name
	}
	c.L, c.Region = i18n.Lookup(ci.Language), ci.Region
	if z, err := time.LoadLocation(ci.TimeZone); err == nil && ci.TimeZone != "" {
		c.Zone = z
	}
	if logoTypes[ci.LogoType] && len(ci.Logo) > 0 {
		c.Logo, c.LogoType = ci.Logo, ci.LogoType
	}
	s.cmu.Lock()
	s.cinfo, s.cat = &c, now
	s.cmu.Unlock()
	return c
}

// forgetClinic makes the next page read the clinic's settings again.
func (s *Server) forgetClinic() {
	s.cmu.Lock()
	s.cinfo = nil
	s.cmu.Unlock()
}

// logoTypes are the logo formats shown, as on the patient pages.
var logoTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/webp": true, "image/gif": true}
