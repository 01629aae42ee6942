package dimse

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// DICOM over TLS (PS3.15 Annex B, the BCP 195 profiles): the upper layer
// runs unchanged inside a TLS connection. A server takes TLS connections on
// a listener given to ServeTLS, beside plain ones given to Serve; both share
// its handler and its association limits.

// failTLSHandshake counts connections whose TLS handshake failed or timed out.
const failTLSHandshake = "tls_handshake"

// bcp195Suites are the TLS 1.2 cipher suites of the secure profile of BCP
// 195 (RFC 9325 4.2) that Go offers: ephemeral ECDH with an AEAD. TLS 1.3
// suites are all AEAD and not configurable.
var bcp195Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns the server side of a DICOM TLS connection: the
// certificate and key from PEM files, TLS 1.2 or 1.3, and for TLS 1.2 only
// the BCP 195 cipher suites. With clientCAFile, every peer must present a
// certificate signed by one of the CA certificates in it (PEM); without it,
// none is asked for. Errors name the file that is wrong.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("dimse: TLS needs both a certificate and a key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("dimse: TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: bcp195Suites,
	}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("dimse: TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("dimse: TLS client CA %s: no PEM certificate in it", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ServeTLS accepts associations over TLS on l until Shutdown, as Serve does
// for plain TCP; cfg is typically made by TLSConfig. The handshake happens
// in the association's goroutine and must finish within the ARTIM timeout,
// so a peer that stalls in it holds no association slot for longer.
func (s *Server) ServeTLS(l net.Listener, cfg *tls.Config) error {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil) {
		l.Close()
		return errors.New("dimse: ServeTLS without a certificate")
	}
	return s.Serve(tls.NewListener(l, cfg))
}

// handshake completes the TLS handshake of a connection ServeTLS accepted
// (others pass through) and reports whether the association may proceed.
// A failure is logged with the peer address and the reason, never data.
func (a *scpAssoc) handshake() bool {
	tc, ok := a.ul.c.(*tls.Conn)
	if !ok {
		return true
	}
	tc.SetDeadline(time.Now().Add(a.s.cfg.ARTIMTimeout))
	if err := tc.Handshake(); err != nil {
		if a.isShutting() {
			return false
		}
		if errors.Is(err, io.EOF) {
			a.log.Debug("connection closed before the TLS handshake (probe or port check)")
			return false
		}
		metricFailures.WithLabelValues(failTLSHandshake).Inc()
		if isTimeout(err) {
			a.log.Warn("connection closed: TLS handshake not done within the ARTIM timeout", "timeout", a.s.cfg.ARTIMTimeout)
		} else {
			a.log.Warn("connection closed: TLS handshake failed", "err", err)
		}
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	a.log = a.log.With("tls", tls.VersionName(st.Version))
	if len(st.PeerCertificates) > 0 {
		a.log = a.log.With("tls_client", st.PeerCertificates[0].Subject.String())
	}
	a.log.Debug("TLS handshake done", "cipher_suite", tls.CipherSuiteName(st.CipherSuite))
	return true
}
