package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"sonolink/dimse"
)

// DICOM over TLS (--dicom-tls-*): a second DICOM listener, served by the
// same dimse.Server as the plain one, so both share the handler and the
// association caps.

// checkDICOMListeners checks the DICOM listener flags go together; it reads
// no file (see dicomTLSConfig).
func (c *serveConfig) checkDICOMListeners() error {
	if c.dicomTLSAddr == "" {
		if c.dicomTLSCert != "" || c.dicomTLSKey != "" || c.dicomTLSCA != "" {
			return errors.New("--dicom-tls-cert, --dicom-tls-key and --dicom-tls-ca need --dicom-tls-addr")
		}
		if c.dicomAddr == "" {
			return errors.New("--dicom-addr is empty and --dicom-tls-addr not given: no DICOM listener")
		}
		return nil
	}
	if c.dicomTLSCert == "" || c.dicomTLSKey == "" {
		return errors.New("--dicom-tls-addr needs --dicom-tls-cert and --dicom-tls-key")
	}
	return nil
}

// dicomTLSConfig loads the DICOM TLS certificate, key and client CA (nil
// without --dicom-tls-addr), so bad files stop the node before anything
// listens. A certificate outside its validity period is logged: peers will
// refuse it.
func (c *serveConfig) dicomTLSConfig(logger *slog.Logger) (*tls.Config, error) {
	if c.dicomTLSAddr == "" {
		return nil, nil
	}
	cfg, err := dimse.TLSConfig(c.dicomTLSCert, c.dicomTLSKey, c.dicomTLSCA)
	if err != nil {
		return nil, fmt.Errorf("--dicom-tls-cert/--dicom-tls-key/--dicom-tls-ca: %w", err)
	}
	if leaf := cfg.Certificates[0].Leaf; leaf != nil {
		now := time.Now()
		switch {
		case now.After(leaf.NotAfter):
			logger.Warn("DICOM TLS certificate has expired; peers will refuse it", "path", c.dicomTLSCert, "not_after", leaf.NotAfter)
		case now.Before(leaf.NotBefore):
			logger.Warn("DICOM TLS certificate is not valid yet; peers will refuse it", "path", c.dicomTLSCert, "not_before", leaf.NotBefore)
		case leaf.NotAfter.Sub(now) < 30*24*time.Hour:
			logger.Warn("DICOM TLS certificate expires within 30 days", "path", c.dicomTLSCert, "not_after", leaf.NotAfter)
		}
	}
	return cfg, nil
}

// listenDICOM binds the plain DICOM listener (unless --dicom-addr is empty)
// and the TLS one (with --dicom-tls-addr).
func (n *node) listenDICOM(c *serveConfig) (err error) {
	if c.dicomAddr != "" {
		if n.dicomLn, err = net.Listen("tcp", c.dicomAddr); err != nil {
			return fmt.Errorf("DICOM listen on %s: %w", c.dicomAddr, err)
		}
	}
	if n.dicomTLS != nil {
		if n.dicomTLSLn, err = net.Listen("tcp", c.dicomTLSAddr); err != nil {
			return fmt.Errorf("DICOM TLS listen on %s: %w", c.dicomTLSAddr, err)
		}
	}
	return nil
}

// serveDICOM serves the DICOM listeners until the first stops: at
// shutdown, or when one fails (then serveUntilDone's shutdown stops the
// other).
func (n *node) serveDICOM() error {
	errc := make(chan error, 2)
	if n.dicomLn != nil {
		go func() { errc <- n.dicom.Serve(n.dicomLn) }()
	}
	if n.dicomTLSLn != nil {
		go func() { errc <- n.dicom.ServeTLS(n.dicomTLSLn, n.dicomTLS) }()
	}
	return <-errc
}

// listenAddr is l's address, "" for none.
func listenAddr(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}
