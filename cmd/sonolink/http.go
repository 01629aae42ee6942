package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"sonolink/web"
)

// publicHTTP is the patient-facing HTTP server: landing pages, /healthz and
// (without --metrics-addr) /metrics, over TLS when given a certificate.
type publicHTTP struct {
	srv *http.Server
	ln  net.Listener
}

// writeChunkTimeout is how long a client may take to accept each chunk of
// a response (web.ChunkDeadline): a client that stops reading is dropped,
// one that reads slowly is not, however long the download.
const writeChunkTimeout = time.Minute

// newPublicHTTP binds addr and, for HTTPS, loads the key pair, so a busy
// port or an unreadable certificate fails before the node starts.
func newPublicHTTP(addr, certFile, keyFile string, h http.Handler, logger *slog.Logger) (*publicHTTP, error) {
	srv := &http.Server{
		Handler:           web.ChunkDeadline(h, writeChunkTimeout),
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

// limitConns caps the connections the server holds open; call it before Run.
func (p *publicHTTP) limitConns(lim web.ConnLimits) { p.ln = web.LimitListener(p.ln, lim) }

// File descriptors kept out of the HTTP servers' reach (see httpConnLimits).
const (
	fdReserveBase     = 64 // databases, logs, the admin socket and its clients, the pipeline's files
	fdPerAssociation  = 4  // a DICOM connection, its spool file, the store's files for it
	httpConnCapMin    = 16
	httpConnCapMax    = 8192
	httpClientCapMin  = 4
	httpClientCapMax  = 64
	fdPerHTTPConn     = 2 // the connection and the file it is sending
	defaultFileLimit  = 1024
	metricsConnCapMax = 16
)

// httpConnLimits derives the patient HTTP server's connection caps from the
// open-file limit: after a reserve for DICOM associations (maxAssociations),
// the admin socket and the node's own files, half of what is left (a
// connection may have a file open besides), and a quarter of that per
// client address. With `ulimit -n 256` and 16 associations that is 64 in
// all and 16 per client.
func httpConnLimits(nofile uint64, maxAssociations int) (total, perClient int) {
	if nofile == 0 {
		nofile = defaultFileLimit
	}
	reserve := uint64(fdReserveBase + fdPerAssociation*max(maxAssociations, 0))
	free := uint64(0)
	if nofile > reserve {
		free = nofile - reserve
	}
	total = int(min(max(free/fdPerHTTPConn, httpConnCapMin), httpConnCapMax))
	perClient = min(max(total/4, httpClientCapMin), httpClientCapMax)
	return total, perClient
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

// metricsHTTP serves /metrics (and /healthz) on an address of its own
// (--metrics-addr), for a monitoring network patients cannot reach.
type metricsHTTP struct {
	srv *http.Server
	ln  net.Listener
}

func newMetricsHTTP(addr string, h http.Handler, logger *slog.Logger) (*metricsHTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	return &metricsHTTP{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		ln: web.LimitListener(ln, web.ConnLimits{Total: metricsConnCapMax, Logger: logger}),
	}, nil
}

// Addr is the address the server listens on.
func (m *metricsHTTP) Addr() string { return m.ln.Addr().String() }

// Run serves until ctx ends.
func (m *metricsHTTP) Run(ctx context.Context) error {
	return serveUntilDone(ctx, func() error { return m.srv.Serve(m.ln) }, m.srv.Shutdown)
}

// Close releases the listener of a server that never ran.
func (m *metricsHTTP) Close() error { return m.ln.Close() }
