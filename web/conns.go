package web

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var metricConnsRefused = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "sonolink_http_connections_refused_total",
	Help: "HTTP connections closed at once because a cap was reached: total (every client) or client (one address).",
}, []string{"cap"})

// ConnLimits caps the connections a listener holds open, so idle or slow
// clients cannot use up the process's file descriptors.
type ConnLimits struct {
	Total     int // open connections in all; 0: no cap
	PerClient int // open connections from one client address; 0: no cap
	// TrustedProxies are exempt from PerClient (every patient behind them
	// shares their address); they count towards Total.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// LimitListener returns l with lim applied. The client of a connection is
// its TCP peer, grouped as the rate limits group it (an IPv6 /64 is one
// client): headers naming another address arrive only after the connection
// is taken. A connection over a cap is closed at once, unanswered.
func LimitListener(l net.Listener, lim ConnLimits) net.Listener {
	if lim.Logger == nil {
		lim.Logger = slog.Default()
	}
	return &limitListener{Listener: l, lim: lim, per: map[string]int{}}
}

type limitListener struct {
	net.Listener
	lim ConnLimits

	mu       sync.Mutex
	total    int
	per      map[string]int
	lastWarn time.Time
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, exempt := l.client(c.RemoteAddr())
		if cap := l.take(key, exempt); cap != "" {
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l, key: key, exempt: exempt}, nil
	}
}

// client is the per-client key of addr and whether it is exempt from the
// per-client cap.
func (l *limitListener) client(addr net.Addr) (string, bool) {
	a, ok := parseHop(addr.String())
	if !ok {
		return addr.String(), false
	}
	for _, p := range l.lim.TrustedProxies {
		if p.Contains(a) {
			return groupAddr(a), true
		}
	}
	return groupAddr(a), false
}

// take counts a new connection, or names the cap it would exceed.
func (l *limitListener) take(key string, exempt bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	cap := ""
	switch {
	case l.lim.Total > 0 && l.total >= l.lim.Total:
		cap = "total"
	case !exempt && l.lim.PerClient > 0 && l.per[key] >= l.lim.PerClient:
		cap = "client"
	}
	if cap == "" {
		l.total++
		if !exempt {
			l.per[key]++
		}
		return ""
	}
	metricConnsRefused.WithLabelValues(cap).Inc()
	// One line a minute at most: the flood that trips a cap would
	// otherwise flood the log too.
	if now := time.Now(); now.Sub(l.lastWarn) >= time.Minute {
		l.lastWarn = now
		l.lim.Logger.Warn("HTTP connection refused: connection cap reached (further refusals this minute are counted, not logged)",
			"cap", cap, "open", l.total, "open_from_client", l.per[key], "total_cap", l.lim.Total, "client_cap", l.lim.PerClient)
	}
	return cap
}

func (l *limitListener) release(key string, exempt bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if exempt {
		return
	}
	if l.per[key]--; l.per[key] <= 0 {
		delete(l.per, key)
	}
}

type limitConn struct {
	net.Conn
	l      *limitListener
	key    string
	exempt bool
	once   sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key, c.exempt) })
	return err
}

// ChunkDeadline gives every response a write deadline that each write
// pushes back by d: a slow phone can take as long as it needs for a large
// download as long as it keeps taking data (at least chunkSize bytes per
// d), while a client that stops reading loses its connection after d.
func ChunkDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
		dw.extend()
		h.ServeHTTP(dw, r)
	})
}

// chunkSize is the most written under one deadline.
const chunkSize = 64 << 10

type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		w.extend()
		k, err := w.ResponseWriter.Write(p[:min(len(p), chunkSize)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// ReadFrom keeps the server's sendfile path for files (http.ServeContent
// copies through an io.LimitedReader, which is unwrapped so that each
// chunk is still a file under one LimitedReader), a chunk per deadline.
func (w *deadlineWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	src, lr := r, (*io.LimitedReader)(nil)
	if l, ok := r.(*io.LimitedReader); ok {
		src, lr = l.R, l
	}
	var n int64
	for {
		step := int64(chunkSize)
		if lr != nil {
			if lr.N <= 0 {
				return n, nil
			}
			step = min(step, lr.N)
		}
		w.extend()
		k, err := rf.ReadFrom(io.LimitReader(src, step))
		n += k
		if lr != nil {
			lr.N -= k
		}
		if err != nil || k == 0 {
			return n, err
		}
	}
}

func (w *deadlineWriter) Flush() {
	w.extend()
	_ = w.rc.Flush()
}

// Unwrap lets http.NewResponseController reach the server's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
