package dimse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// serveTLS runs ts's server on a second, TLS, loopback listener too and
// returns its address.
func serveTLS(t *testing.T, ts *testServer, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- ts.ServeTLS(l, cfg) }()
	t.Cleanup(func() {
		// Cleanups run last first: shut down here, before startServer's
		// cleanup does it again.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ts.Shutdown(ctx)
		if err := <-errc; err != nil {
			t.Errorf("ServeTLS returned %v after Shutdown", err)
		}
	})
	return l.Addr().String()
}

// tlsAssociate dials addr with cfg and sends an echo A-ASSOCIATE-RQ. It
// returns the connection and the answer, or the error of the handshake or
// of reading the answer (with TLS 1.3, a refused client certificate shows
// only there).
func tlsAssociate(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, any, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(encodeAssociate(echoRQ("SONOLINK"))); err != nil {
		return c, nil, err
	}
	p, err := readOne(c)
	return c, p, err
}

func clientTLS(t *testing.T, p *testenv.PKI, withCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if withCert {
		cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// TestTLSAssociationSharesLimits: the same server takes associations on a
// plain and a TLS listener, and MaxAssociations counts both together.
func TestTLSAssociationSharesLimits(t *testing.T) {
	p := testenv.NewPKI(t, t.TempDir())
	ts := startServer(t, Config{MaxAssociations: 1, MaxAssociationsPerPeer: 1}, nil)
	srvCfg, err := TLSConfig(p.ServerCert, p.ServerKey, "")
	mustf(t, err, "TLSConfig")
	tlsAddr := serveTLS(t, ts, srvCfg)

	c, ans, err := tlsAssociate(t, tlsAddr, clientTLS(t, p, false))
	mustf(t, err, "associating over TLS")
	if a, ok := ans.(*associate); !ok || a.Type != pduAssociateAC {
		t.Fatalf("over TLS: want A-ASSOCIATE-AC, got %#v", ans)
	}
	if v := c.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("negotiated %s", tls.VersionName(v))
	}

	// The one slot is taken over TLS: plain TCP is turned away...
	pc, ans := rawAssociate(t, ts.addr, echoRQ("SONOLINK"))
	pc.Close()
	if rj, ok := ans.(*associateRJ); !ok || rj.Result != 2 || rj.Reason != 2 {
		t.Fatalf("plain while TLS holds the only slot: want transient RJ (local limit), got %#v", ans)
	}
	// ...until the TLS association ends.
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pc, ans := rawAssociate(t, ts.addr, echoRQ("SONOLINK"))
		pc.Close()
		if a, ok := ans.(*associate); ok && a.Type == pduAssociateAC {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plain association still refused after the TLS one ended: %#v", ans)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTLSClientCertificate: with a client CA, a peer needs a certificate
// it signed; the refusal is logged with the peer and the reason, and an
// accepted association's log names the client's subject.
func TestTLSClientCertificate(t *testing.T) {
	p := testenv.NewPKI(t, t.TempDir())
	stranger := testenv.NewPKI(t, t.TempDir())
	logs := &logBuffer{}
	ts := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}, nil)
	srvCfg, err := TLSConfig(p.ServerCert, p.ServerKey, p.CA)
	mustf(t, err, "TLSConfig")
	addr := serveTLS(t, ts, srvCfg)

	// A port check (connect, close) is no failed handshake.
	probe, err := net.Dial("tcp", addr)
	mustf(t, err, "probe")
	probe.Close()
	if _, ans, err := tlsAssociate(t, addr, clientTLS(t, p, false)); err == nil {
		t.Fatalf("without a client certificate: got %#v, want a failed handshake", ans)
	}
	foreign := clientTLS(t, p, false)
	cert, err := tls.LoadX509KeyPair(stranger.ClientCert, stranger.ClientKey)
	mustf(t, err, "stranger's certificate")
	foreign.Certificates = []tls.Certificate{cert}
	if _, ans, err := tlsAssociate(t, addr, foreign); err == nil {
		t.Fatalf("with a certificate of another CA: got %#v, want a failed handshake", ans)
	}
	_, ans, err := tlsAssociate(t, addr, clientTLS(t, p, true))
	mustf(t, err, "with the CA's client certificate")
	if a, ok := ans.(*associate); !ok || a.Type != pduAssociateAC {
		t.Fatalf("with the CA's client certificate: want A-ASSOCIATE-AC, got %#v", ans)
	}

	// In TLS 1.3 the client may finish before the server has checked its
	// certificate: the server's log line for a refused one can come after
	// a later connection's. Wait for both.
	waitLog(t, logs, "association accepted")
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), "TLS handshake failed") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if n := strings.Count(out, "TLS handshake failed"); n != 2 {
		t.Errorf("%d handshake failures logged, want 2:\n%s", n, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "TLS handshake failed") && (!strings.Contains(line, "peer=127.0.0.1:") || !strings.Contains(line, "certificate")) {
			t.Errorf("handshake failure without peer or reason: %s", line)
		}
		if strings.Contains(line, "association accepted") && !strings.Contains(line, p.ClientSubject) {
			t.Errorf("accepted association does not name the client certificate %q: %s", p.ClientSubject, line)
		}
	}
}

// TestTLSProfile: TLS 1.0 and 1.1 and TLS 1.2 suites outside BCP 195 are
// refused; BCP 195 suites and TLS 1.3 are taken.
func TestTLSProfile(t *testing.T) {
	p := testenv.NewPKI(t, t.TempDir())
	ts := startServer(t, Config{}, nil)
	srvCfg, err := TLSConfig(p.ServerCert, p.ServerKey, "")
	mustf(t, err, "TLSConfig")
	addr := serveTLS(t, ts, srvCfg)

	for _, tc := range []struct {
		name     string
		min, max uint16
		suites   []uint16
		ok       bool
	}{
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, nil, false},
		{"TLS 1.2 CBC", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, false},
		{"TLS 1.2 AES-GCM", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2 ChaCha20", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
	} {
		cfg := clientTLS(t, p, false)
		cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = tc.min, tc.max, tc.suites
		_, ans, err := tlsAssociate(t, addr, cfg)
		a, accepted := ans.(*associate)
		accepted = accepted && a.Type == pduAssociateAC
		if accepted != tc.ok {
			t.Errorf("%s: accepted %v (err %v), want %v", tc.name, accepted, err, tc.ok)
		}
	}
}

// TestTLSHandshakeTimeout: a peer that connects and never starts the
// handshake is dropped after the ARTIM timeout, and the server's shutdown
// does not wait for it.
func TestTLSHandshakeTimeout(t *testing.T) {
	p := testenv.NewPKI(t, t.TempDir())
	logs := &logBuffer{}
	ts := startServer(t, Config{ARTIMTimeout: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))}, nil)
	srvCfg, err := TLSConfig(p.ServerCert, p.ServerKey, "")
	mustf(t, err, "TLSConfig")
	addr := serveTLS(t, ts, srvCfg)

	c, err := net.Dial("tcp", addr)
	mustf(t, err, "dial")
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("waiting for the server to close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent TLS peer dropped after %v", d)
	}
	waitLog(t, logs, "TLS handshake not done within the ARTIM timeout")
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := testenv.NewPKI(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello\n"), 0o600)
	for _, tc := range []struct {
		name            string
		cert, key, ca   string
		wantInErrorText string
	}{
		{"no key", p.ServerCert, "", "", "both"},
		{"missing cert", filepath.Join(dir, "absent.pem"), p.ServerKey, "", "absent.pem"},
		{"key of another cert", p.ServerCert, p.ClientKey, "", "server.pem"},
		{"missing CA", p.ServerCert, p.ServerKey, filepath.Join(dir, "absent-ca.pem"), "absent-ca.pem"},
		{"CA without certificates", p.ServerCert, p.ServerKey, notPEM, "not.pem"},
	} {
		_, err := TLSConfig(tc.cert, tc.key, tc.ca)
		if err == nil || !strings.Contains(err.Error(), tc.wantInErrorText) {
			t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.wantInErrorText)
		}
	}
	cfg, err := TLSConfig(p.ServerCert, p.ServerKey, p.CA)
	mustf(t, err, "good files")
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("MinVersion %x, ClientAuth %v", cfg.MinVersion, cfg.ClientAuth)
	}
	if err := (&Server{}).ServeTLS(nopListener{}, &tls.Config{}); err == nil {
		t.Error("ServeTLS without a certificate did not fail")
	}
}

type nopListener struct{ net.Listener }

func (nopListener) Close() error { return nil }

func waitLog(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
