package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// publicHTTP is the patient-facing HTTP server: landing pages, /healthz and
// /metrics, over TLS when given a certificate.
type publicHTTP struct {
	srv *http.Server
	ln  net.Listener
}

// newPublicHTTP binds addr and, for HTTPS, loads the key pair, so a busy
// port or an unreadable certificate fails before the node starts.
func newPublicHTTP(addr, certFile, keyFile string, h http.Handler, logger *slog.Logger) (*publicHTTP, error) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP listen on %s: %w", addr, err)
	}
	return &publicHTTP{srv: srv, ln: ln}, nil
}

// Addr is the address the server listens on.
func (p *publicHTTP) Addr() string { return p.ln.Addr().String() }

// Run serves until ctx ends, then stops accepting and lets the requests in
// flight finish (at most drainTimeout).
func (p *publicHTTP) Run(ctx context.Context) error {
	return serveUntilDone(ctx, p.serve, p.srv.Shutdown)
}

func (p *publicHTTP) serve() error {
	if p.srv.TLSConfig != nil {
		return p.srv.ServeTLS(p.ln, "", "")
	}
	return p.srv.Serve(p.ln)
}

// Close releases the listener of a server that never ran.
func (p *publicHTTP) Close() error { return p.ln.Close() }
