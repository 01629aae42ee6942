package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sonolink/contact"
	"sonolink/internal/buildinfo"
)

// serveConfig is everything `sonolink serve` is configured with. Clinic
// settings that staff change at run time (clinic name, language, link
// lifetime, link code, auto-share rule…) live in the data directory instead;
// see `sonolink settings`.
type serveConfig struct {
	dataDir string

	dicomAddr       string
	aeTitles        []string
	allowedCalling  []string
	allowedPeers    []string
	maxAssociations int
	maxAssocPerPeer int
	artimTimeout    time.Duration
	idleTimeout     time.Duration
	maxPDULength    byteSize
	maxObjectSize   byteSize
	sopClassPolicy  string
	extraSOPClasses []string
	extraSyntaxes   []string
	modalities      []string      // --modality AET=HOST:PORT: storage commitment requesters called back
	commitmentWait  time.Duration // --commitment-wait

	// DICOM over TLS (PS3.15 Annex B), beside or instead of dicomAddr.
	dicomTLSAddr string
	dicomTLSCert string
	dicomTLSKey  string
	dicomTLSCA   string // when set, peers need a client certificate it signed

	httpAddr string
	baseURL  string
	tlsCert  string
	tlsKey   string

	trustedProxies []string // --trusted-proxy

	metricsAddr string // --metrics-addr; "": /metrics on the patient port

	staffAddr string // --staff-addr; "": no staff console

	stableTime         time.Duration
	stableTimeOverride time.Duration // stableTime when set explicitly (flag, env or file)
	contactTags        []string
	workers            int

	delivery deliveryFlags

	logFormat string
	logLevel  string

	exposed *exposedConfig // the config file is world-readable and holds secrets

	cpuProfile   string       // hidden: write a CPU profile until shutdown (performance work)
	webLogger    *slog.Logger // the patient pages' logger (buffered); nil: the node's
	blockProfile string       // hidden: write a blocking profile at shutdown (performance work)
}

func newServeCmd() *cobra.Command {
	c := &serveConfig{maxPDULength: 1 << 20, maxObjectSize: 2 << 30}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the DICOM node, the patient pages and the delivery worker",
		Long: `Run sonolink: the DICOM storage node (C-ECHO, C-STORE, Storage Commitment
Push Model for the modalities given with --modality), the pipeline that
de-identifies, renders and shares complete studies, the patient landing pages,
health and metrics endpoints, and the outbox that delivers links.

With no configuration, messages are written to <data-dir>/outbox/ instead of
being sent, so a fresh install works without any account.`,
		Example: `  sonolink serve
  sonolink serve --ae-title SONOLINK,PATIENT --base-url https://images.clinic.example
  SONOLINK_DICOM_ADDR=:104 sonolink serve --config /etc/sonolink.conf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.dataDir, _ = cmd.Flags().GetString("data-dir")
			if cmd.Flags().Changed("stable-time") {
				c.stableTimeOverride = c.stableTime
			}
			c.exposed = exposedConfigOf(cmd)
			return runServe(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.dicomAddr, "dicom-addr", ":11112", "DICOM listen address (\"\": none, with --dicom-tls-addr)")
	f.StringVar(&c.dicomTLSAddr, "dicom-tls-addr", "", "DICOM over TLS listen address (conventionally :2762); needs --dicom-tls-cert and --dicom-tls-key")
	f.StringVar(&c.dicomTLSCert, "dicom-tls-cert", "", "certificate file (PEM) of the DICOM TLS listener")
	f.StringVar(&c.dicomTLSKey, "dicom-tls-key", "", "private key file (PEM) of the DICOM TLS listener")
	f.StringVar(&c.dicomTLSCA, "dicom-tls-ca", "", "CA certificates (PEM); when given, DICOM TLS peers must present a client certificate signed by one")
	f.StringSliceVar(&c.aeTitles, "ae-title", []string{"SONOLINK"}, "AE titles sonolink answers to (comma-separated; e.g. SONOLINK,PATIENT)")
	f.StringSliceVar(&c.allowedCalling, "allowed-calling-aet", nil, "calling AE titles allowed to connect (default: any)")
	f.StringSliceVar(&c.allowedPeers, "allowed-peer", nil, "peer addresses allowed to connect, as IPs or CIDRs (default: any)")
	f.IntVar(&c.maxAssociations, "max-associations", 16, "maximum concurrent DICOM associations")
	f.IntVar(&c.maxAssocPerPeer, "max-associations-per-peer", 0, "maximum concurrent DICOM associations from one peer address (default: half of --max-associations, rounded up)")
	f.DurationVar(&c.artimTimeout, "artim-timeout", 30*time.Second, "time allowed for association set-up and release")
	f.DurationVar(&c.idleTimeout, "idle-timeout", 2*time.Minute, "an association silent this long is aborted")
	f.Var(&c.maxPDULength, "max-pdu-length", "largest PDU accepted (announced to peers)")
	f.Var(&c.maxObjectSize, "max-object-size", "largest object accepted; larger ones get a failure status")
	f.StringVar(&c.sopClassPolicy, "sop-class-policy", "all", "storage SOP classes accepted: all (every storage class of PS3.4 Annex B) or ultrasound (what an ultrasound study contains)")
	f.StringSliceVar(&c.extraSOPClasses, "extra-sop-class", nil, "further (private) storage SOP Class UIDs to accept")
	f.StringSliceVar(&c.extraSyntaxes, "extra-transfer-syntax", nil, "further transfer syntax UIDs to accept (after the built-in ones)")
	f.StringSliceVar(&c.modalities, "modality", nil, "a modality that may request storage commitment, as AET=HOST:PORT (repeatable): reports it does not take on its own association are sent there; requests from other AE titles get every instance failed")
	f.DurationVar(&c.commitmentWait, "commitment-wait", 30*time.Second, "how long an instance named in a storage commitment request but not yet stored is waited for before it is reported failed")
	f.StringVar(&c.httpAddr, "http-addr", ":8080", "HTTP listen address (patient pages, /healthz, and /metrics unless --metrics-addr is set)")
	f.StringVar(&c.metricsAddr, "metrics-addr", "", "serve /metrics (and /healthz) on this address instead of the patient port; keep it off the public side")
	f.StringVar(&c.staffAddr, "staff-addr", "", "staff web console listen address, e.g. 127.0.0.1:8081 (\"\": off); keep it on the clinic network, never beside the patient pages; accounts: sonolink staff add")
	f.StringVar(&c.baseURL, "base-url", "http://localhost:8080", "public URL patients' links start with")
	f.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file; with --tls-key, serve HTTPS directly (HSTS on)")
	f.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file")
	f.StringSliceVar(&c.trustedProxies, "trusted-proxy", nil, "reverse proxies (IPs or CIDRs) whose Forwarded/X-Forwarded-For names the patient's address")
	f.DurationVar(&c.stableTime, "stable-time", 60*time.Second, "a study is complete when no object of it arrived for this long; when given, it overrides the clinic setting autoshare.stable_time")
	f.StringSliceVar(&c.contactTags, "contact-tags", contact.DefaultTagStrings(), "tags the patient's e-mail/phone are read from, in order")
	f.IntVar(&c.workers, "workers", 2, "objects de-identified and rendered in parallel")
	f.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.delivery.register(f)
	f.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile to this file until shutdown")
	_ = f.MarkHidden("cpuprofile")
	f.StringVar(&c.blockProfile, "blockprofile", "", "write a profile of where goroutines blocked to this file at shutdown")
	_ = f.MarkHidden("blockprofile")
	return cmd
}

func runServe(parent context.Context, c *serveConfig) error {
	// A log reader that goes away (a pipe closed, a collector restarted)
	// must not end the node: Go ends a program whose write to a broken
	// pipe on stdout or stderr raises SIGPIPE, unless SIGPIPE is ignored;
	// then the write fails and the node goes on.
	signal.Ignore(syscall.SIGPIPE)
	logger, err := newLogger(os.Stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	useLogger(logger)
	// The patient pages log a line per request: theirs are written out
	// in bundles (logBuffer), warnings and errors at once.
	webLogs := newLogBuffer(os.Stderr, logFlushEvery)
	defer webLogs.Flush()
	if c.webLogger, err = newLogger(webLogs, c.logFormat, c.logLevel); err != nil {
		return err
	}
	if e := c.exposed; e != nil {
		logger.Warn("config file holding secrets is readable by every user of this machine; make it readable by sonolink only (chmod 600)",
			"path", e.path, "mode", fmt.Sprintf("%04o", e.mode), "secret_keys", e.keys)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if err := c.checkDICOMListeners(); err != nil {
		return err
	}
	if c.staffAddr != "" && samePort(c.staffAddr, c.httpAddr) {
		return fmt.Errorf("--staff-addr %s: the staff console needs its own port, not the patient pages' (--http-addr %s); e.g. --staff-addr 127.0.0.1:8081", c.staffAddr, c.httpAddr)
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once shutdown begins, a second signal ends the process at once.
	context.AfterFunc(ctx, stop)
	if c.cpuProfile != "" {
		pf, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if c.blockProfile != "" {
		bf, err := os.Create(c.blockProfile)
		if err != nil {
			return err
		}
		runtime.SetBlockProfileRate(int(time.Microsecond))
		defer func() { _ = pprof.Lookup("block").WriteTo(bf, 0); bf.Close() }()
	}

	n, err := newNode(c, logger)
	if err != nil {
		return err
	}
	defer n.close()
	logger.Info("sonolink serving", "version", buildinfo.Version(), "dicom_addr", listenAddr(n.dicomLn), "dicom_tls_addr", listenAddr(n.dicomTLSLn), "ae_titles", c.aeTitles, "http_addr", n.http.Addr(), "metrics_addr", n.metricsAddr(), "data_dir", c.dataDir)
	if err := n.run(ctx, logger); err != nil {
		return err
	}
	logger.Info("sonolink stopped")
	return nil
}

// samePort reports whether two listen addresses name the same port.
func samePort(a, b string) bool {
	_, pa, err1 := net.SplitHostPort(a)
	_, pb, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && pa == pb && pa != "0"
}
