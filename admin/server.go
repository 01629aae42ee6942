package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"sonolink/retention"
)

// SocketName is the admin socket's file name inside the data directory.
const SocketName = "admin.sock"

// SocketPath returns the admin socket of a data directory.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// Server serves Ops as JSON over HTTP on a Unix socket that only the owner
// of the data directory can reach. Requests are logged by route and status
// only: queries and bodies hold patient data and never reach the log.
type Server struct {
	ops  Ops
	path string
	log  *slog.Logger

	mu     sync.Mutex
	ln     net.Listener
	srv    *http.Server
	closed bool

	retention *retention.Retention // nil: no purge route (purge.go)
}

// NewServer returns a server for ops (usually a *Service) on socketPath
// (usually SocketPath(dataDir)). Nothing is created until Listen or Serve.
func NewServer(ops Ops, socketPath string, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{ops: ops, path: socketPath, log: logger.With("component", "admin")}
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s
}

// Listen creates the socket: the directory is made owner-only (0700), a
// stale socket left by a crashed server is replaced, and the socket itself is
// 0600. It fails when another server already answers on the socket.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("admin server closed")
	}
	if s.ln != nil {
		return nil
	}
	ln, err := listenPrivate(s.path)
	if err != nil {
		return err
	}
	s.ln = ln
	s.log.Info("admin endpoint listening", "socket", s.path)
	return nil
}

// Serve listens (if Listen was not called) and serves until Close. It
// returns nil after Close.
func (s *Server) Serve() error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server, waiting up to 5 s for requests in flight, and
// removes the socket file.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if ln != nil {
		ln.Close()
		// Only remove the socket if it is still ours (a newer server may
		// have replaced a socket it believed stale).
		if st, e1 := os.Lstat(s.path); e1 == nil {
			if pl, ok := ln.(*peerListener); ok && os.SameFile(st, pl.info) {
				os.Remove(s.path)
			}
		}
	}
	return err
}

// listenPrivate creates a Unix socket at path with mode 0600 in a directory
// with mode 0700. The socket is bound in a private temporary directory and
// renamed into place, so it is never reachable with looser permissions and a
// stale socket is replaced atomically.
func listenPrivate(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("admin socket: make %s owner-only: %w", dir, err)
		}
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("admin socket %s answers: another sonolink serve is already running on this data directory", path)
		}
		// Connect failed: a stale socket from a crashed server; replaced below.
	}
	tmp, err := os.MkdirTemp(dir, ".admin-")
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	ln, err := net.Listen("unix", tmpSock)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w (socket paths are limited to about 100 bytes; use a shorter --data-dir)", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	info, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return &peerListener{Listener: ln, info: info}, nil
}

// peerListener accepts only connections from our own user (or root), where
// the platform can tell (SO_PEERCRED on Linux).
type peerListener struct {
	net.Listener
	info os.FileInfo
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if peerAllowed(c) {
			return c, nil
		}
		c.Close()
	}
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/studies", func(w http.ResponseWriter, r *http.Request) {
		q, err := studyQueryFromURL(r.URL.Query())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.ops.ListStudies(r.Context(), q)
		s.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/studies/{study}", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.ops.StudyDetail(r.Context(), r.PathValue("study"))
		s.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/send", postJSON(s, s.ops.Send))
	mux.HandleFunc("POST /v1/resend", postJSON(s, s.ops.Resend))
	mux.HandleFunc("POST /v1/revoke", postJSON(s, s.ops.Revoke))
	mux.HandleFunc("GET /v1/settings", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.ops.Settings(r.Context())
		s.reply(w, r, res, err)
	})
	mux.HandleFunc("POST /v1/settings", postJSON(s, s.ops.SetSetting))
	mux.HandleFunc("POST /v1/version", postJSON(s, s.ops.UseVersion))
	mux.HandleFunc("POST /v1/purge", postJSON(s, s.purge))
	mux.HandleFunc("POST /v1/backup", postJSON(s, s.ops.Backup))
	mux.HandleFunc("POST /v1/staff-event", postJSON(s, s.ops.RecordStaff))
	mux.HandleFunc("GET /v1/clinic", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.ops.Clinic(r.Context())
		s.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/attention", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.ops.Attention(r.Context())
		s.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/link-code-reach", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.ops.LinkCodeReach(r.Context())
		s.reply(w, r, res, err)
	})
	mux.HandleFunc("GET /v1/audit", func(w http.ResponseWriter, r *http.Request) {
		q, err := auditQueryFromURL(r.URL.Query())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.ops.Audit(r.Context(), q)
		s.reply(w, r, res, err)
	})
	return mux
}

// postJSON serves an operation that takes a JSON request body.
func postJSON[Req, Res any](s *Server, op func(context.Context, Req) (Res, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if !s.decode(w, r, &req) {
			return
		}
		res, err := op(r.Context(), req)
		s.reply(w, r, res, err)
	}
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.fail(w, r, errorf(KindInvalid, "malformed request: %w", err))
		return false
	}
	return true
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Debug("admin request", "route", r.Pattern, "status", http.StatusOK)
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		// Unexpected errors may quote data; log only that one happened.
		s.log.Error("admin request failed", "route", r.Pattern, "error_type", fmt.Sprintf("%T", err))
		e = &Error{Kind: KindInternal, Message: err.Error(), cause: err}
	}
	status := statusOf(e.Kind)
	s.log.Info("admin request", "route", r.Pattern, "status", status, "kind", e.Kind)
	writeJSON(w, status, struct {
		Error *Error `json:"error"`
	}{e})
}

func statusOf(kind string) int {
	switch kind {
	case KindNotFound:
		return http.StatusNotFound
	case KindExpired, KindRevoked:
		return http.StatusGone
	case KindInvalid:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func studyQueryFromURL(v url.Values) (StudyQuery, error) {
	q := StudyQuery{Text: v.Get("text")}
	var err error
	if q.From, err = parseTimeParam(v.Get("from")); err != nil {
		return q, err
	}
	if q.To, err = parseTimeParam(v.Get("to")); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil {
			return q, causef(KindInvalid, err, "limit %q is not a number", s)
		}
	}
	if s := v.Get("offset"); s != "" {
		if q.Offset, err = strconv.Atoi(s); err != nil {
			return q, causef(KindInvalid, err, "offset %q is not a number", s)
		}
	}
	q.Sort = v.Get("sort")
	return q, nil
}

func auditQueryFromURL(v url.Values) (AuditQuery, error) {
	q := AuditQuery{Study: v.Get("study"), Link: v.Get("link")}
	var err error
	if q.Since, err = parseTimeParam(v.Get("since")); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil {
			return q, causef(KindInvalid, err, "limit %q is not a number", s)
		}
	}
	return q, nil
}

func parseTimeParam(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, errorf(KindInvalid, "time %q: %w", s, err)
	}
	return t, nil
}

func formatTimeParam(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}
