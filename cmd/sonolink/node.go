package main

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/anonymize"
	"sonolink/console"
	"sonolink/dimse"
	"sonolink/pipeline"
	"sonolink/retention"
	"sonolink/share"
	"sonolink/store"
	"sonolink/web"
)

// node is sonolink at work: the DICOM server, the pipeline behind it, the
// share service's outbox, the patient pages and the admin endpoint, over one
// store and one share database.
//
// newNode opens the databases and binds every listener, so a busy port or a
// locked data directory fails before anything runs; run runs the components
// until ctx ends or one fails and joins them; close releases what newNode
// took.
type node struct {
	store    *store.Store
	share    *share.Service
	pipeline *pipeline.Pipeline
	scrub    *store.Scrubber
	retain   *retention.Retention     // purges by the clinic's retention settings; the storage reserve
	commit   *pipeline.Commitments    // storage commitment policy and report worker
	mpps     *pipeline.ProcedureSteps // MPPS: exams ended or discontinued on the scanner
	dicom    *dimse.Server
	dicomLn  net.Listener // nil: no plain DICOM listener (--dicom-addr "")
	admin    *admin.Server
	http     *publicHTTP
	metrics  *metricsHTTP  // nil: /metrics is on the patient port
	staff    *console.HTTP // nil: no staff console (--staff-addr "")

	// DICOM over TLS (--dicom-tls-addr; nil without): see dicomtls.go.
	dicomTLS   *tls.Config
	dicomTLSLn net.Listener
}

func newNode(c *serveConfig, logger *slog.Logger) (_ *node, err error) {
	n := &node{}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	contactTags, err := parseTags(c.contactTags)
	if err != nil {
		return nil, err
	}
	peers, err := parsePeers(c.allowedPeers)
	if err != nil {
		return nil, err
	}
	if n.dicomTLS, err = c.dicomTLSConfig(logger); err != nil {
		return nil, err
	}
	base, err := url.Parse(c.baseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("--base-url %q: want an absolute URL such as https://images.clinic.example", c.baseURL)
	}

	so := store.Options{Logger: logger}
	admin.StoreContacts(&so, contactTags)
	if n.store, err = store.Open(c.dataDir, so); err != nil {
		return nil, err
	}
	n.scrub = store.NewScrubber(n.store, store.ScrubberOptions{})
	// The node runs the outbox worker itself (see run).
	if n.share, err = share.Open(c.dataDir, share.Options{
		BaseURL: strings.TrimRight(c.baseURL, "/"), Logger: logger, Delivery: c.delivery.cfg, NoWorker: true,
		Protected: n.store.Residual,
	}); err != nil {
		return nil, err
	}
	n.retain = retention.New(retention.Config{Store: n.store, Share: n.share, Logger: logger, Busy: n.busy})
	secret, err := anonymize.LoadOrCreateSecret(c.dataDir)
	if err != nil {
		return nil, err
	}
	if n.pipeline, err = pipeline.New(pipeline.Config{
		Store: n.store, Share: n.share, Secret: secret, ContactTags: contactTags,
		StableTime: c.stableTimeOverride, Workers: c.workers, Logger: logger, Admit: n.retain.Admit,
	}); err != nil {
		return nil, err
	}

	if n.mpps, err = pipeline.OpenProcedureSteps(filepath.Join(n.store.Dir(), "mpps.db"), n.pipeline); err != nil {
		return nil, err
	}

	modalities, err := parseModalities(c.modalities)
	if err != nil {
		return nil, err
	}
	if n.commit, err = pipeline.NewCommitments(pipeline.CommitConfig{
		Store: n.store, Dir: filepath.Join(n.store.Dir(), "commitments"), Modalities: modalities, Wait: c.commitmentWait, Logger: logger,
	}); err != nil {
		return nil, err
	}

	proxies, err := web.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxy: %w", err)
	}
	pages, err := web.New(web.Config{
		BasePath: strings.TrimRight(base.Path, "/"),
		// HTTPS where patients see it, whether TLS ends here or in a proxy.
		Secure:         c.tlsCert != "" || base.Scheme == "https",
		TrustedProxies: proxies,
		Logger:         cmp.Or(c.webLogger, logger).With("component", "web"),
		SessionKey:     derive(secret, "sonolink web session v1"),
	}, web.NewStoreBackend(n.share, n.store))
	if err != nil {
		return nil, err
	}
	connCap, clientCap := httpConnLimits(openFileLimit(), c.maxAssociations)
	logger.Info("HTTP connection caps", "open_file_limit", openFileLimit(), "total", connCap, "per_client", clientCap)
	if n.http, err = newPublicHTTP(c.httpAddr, c.tlsCert, c.tlsKey, n.routes(pages, c.metricsAddr == ""), logger); err != nil {
		return nil, err
	}
	n.http.limitConns(web.ConnLimits{Total: connCap, PerClient: clientCap, TrustedProxies: proxies, Logger: logger.With("component", "http")})
	if c.metricsAddr != "" {
		if n.metrics, err = newMetricsHTTP(c.metricsAddr, n.metricsRoutes(), logger.With("component", "metrics")); err != nil {
			return nil, err
		}
	}

	sopClasses, err := dimse.SOPClassPolicy(c.sopClassPolicy)
	if err != nil {
		return nil, err
	}
	n.dicom, err = dimse.NewServer(dimse.Config{
		AETitles: c.aeTitles, AllowedCallingAETs: c.allowedCalling, AllowedPeers: peers,
		MaxAssociations: c.maxAssociations, MaxAssociationsPerPeer: c.maxAssocPerPeer, ARTIMTimeout: c.artimTimeout, IdleTimeout: c.idleTimeout,
		MaxPDULength: uint32(c.maxPDULength), MaxObjectSize: int64(c.maxObjectSize),
		SOPClasses: sopClasses, ExtraSOPClasses: c.extraSOPClasses,
		TransferSyntaxes: append(dimse.DefaultTransferSyntaxes(), c.extraSyntaxes...),
		SpoolDir:         n.store.SpoolDir(), Logger: logger, Commitment: n.commit, MPPS: n.mpps,
	}, n.pipeline)
	if err != nil {
		return nil, err
	}
	if err := n.listenDICOM(c); err != nil {
		return nil, err
	}

	startupNotes(c, n.share, logger) // first-run warnings (firstrun.go)
	ops := admin.New(n.store, n.share, contactTags, logger)
	ops.SetReprocess(n.pipeline.Requeue)
	n.admin = admin.NewServer(ops, admin.SocketPath(c.dataDir), logger)
	n.admin.SetRetention(n.retain)
	if err := n.admin.Listen(); err != nil {
		return nil, err
	}
	if c.staffAddr != "" {
		if n.staff, err = newStaffConsole(c.staffAddr, ops, c.dataDir, proxies, logger); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// routes is the patient-facing HTTP handler: the pages, the health
// endpoint and, when withMetrics, the metrics endpoint.
func (n *node) routes(pages http.Handler, withMetrics bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.healthz)
	if withMetrics {
		mux.Handle("GET /metrics", promhttp.Handler())
	}
	mux.Handle("/", pages)
	return mux
}

// metricsRoutes is the handler of --metrics-addr.
func (n *node) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.healthz)
	mux.Handle("GET /metrics", promhttp.Handler())
	return mux
}

func (n *node) healthz(w http.ResponseWriter, r *http.Request) {
	if err := n.healthy(); err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	// Degraded: new objects are refused, but the patient pages work, so
	// the answer stays 200 for a load balancer; monitors read the body
	// (or sonolink_disk_low).
	if n.retain != nil {
		if err := n.retain.Health(); err != nil {
			fmt.Fprintln(w, "degraded: "+err.Error()+"; new objects are refused (A700)")
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// busy says why retention must leave a study alone now: the pipeline
// still receives or processes it, or a Storage Commitment names it.
func (n *node) busy(studyUID string) string {
	if n.pipeline != nil {
		if why := n.pipeline.Busy(studyUID); why != "" {
			return why
		}
	}
	if n.commit != nil && n.commit.Pending(studyUID) {
		return "storage commitment pending"
	}
	return ""
}

// run runs every component until ctx ends or one fails, then stops them in
// two stages: first the doors (no new association, request or admin call;
// those in flight finish), then the work behind them, which the doors feed.
func (n *node) run(ctx context.Context, logger *slog.Logger) error {
	doors := []component{
		{"DICOM server", func(ctx context.Context) error {
			return serveUntilDone(ctx, n.serveDICOM, n.dicom.Shutdown)
		}},
		{"HTTP server", n.http.Run},
		{"admin endpoint", func(ctx context.Context) error {
			// Close drains the requests in flight itself, for at most 5 s.
			return serveUntilDone(ctx, n.admin.Serve, func(context.Context) error { return n.admin.Close() })
		}},
	}
	if n.metrics != nil {
		doors = append(doors, component{"metrics endpoint", n.metrics.Run})
	}
	if n.staff != nil {
		doors = append(doors, component{"staff console", n.staff.Run})
	}
	work := []component{
		{"pipeline", n.pipeline.Run},
		{"outbox", n.share.RunOutbox},
		{"store scrub", n.scrub.Run},
		{"retention", n.retain.Run},
		{"storage commitment", n.commit.Run},
	}
	return runStages(ctx, logger, doors, work)
}

// healthy reports whether the node can take objects.
func (n *node) healthy() error {
	if n.store == nil {
		return errors.New("store not open")
	}
	return nil
}

// close releases the listeners of components that never ran (closing a
// listener twice is harmless) and the databases. Call it after run returns.
func (n *node) close() {
	if n.admin != nil {
		_ = n.admin.Close()
	}
	if n.dicomLn != nil {
		_ = n.dicomLn.Close()
	}
	if n.dicomTLSLn != nil {
		_ = n.dicomTLSLn.Close()
	}
	if n.http != nil {
		_ = n.http.Close()
	}
	if n.metrics != nil {
		_ = n.metrics.Close()
	}
	if n.mpps != nil {
		_ = n.mpps.Close()
	}
	if n.staff != nil {
		_ = n.staff.Close()
	}
	if n.share != nil {
		_ = n.share.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
}

// newStaffConsole binds the staff console (--staff-addr) over the admin
// service the CLI's socket serves too.
func newStaffConsole(addr string, ops *admin.Service, dataDir string, proxies []netip.Prefix, logger *slog.Logger) (*console.HTTP, error) {
	log := logger.With("component", "staff console")
	h, err := console.New(console.Config{Ops: ops, Accounts: console.NewAccounts(console.AccountsPath(dataDir)), TrustedProxies: proxies, Logger: log})
	if err != nil {
		return nil, err
	}
	srv, err := console.Listen(addr, h, log)
	if err != nil {
		return nil, err
	}
	log.Info("staff console listening", "addr", srv.Addr())
	return srv, nil
}

// derive makes a purpose-specific key from the installation secret.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// parseTags reads "gggg,eeee" tags.
func parseTags(list []string) ([]tag.Tag, error) {
	var out []tag.Tag
	for _, s := range list {
		g, e, ok := strings.Cut(strings.Trim(strings.TrimSpace(s), "()"), ",")
		gv, err1 := strconv.ParseUint(strings.TrimSpace(g), 16, 16)
		ev, err2 := strconv.ParseUint(strings.TrimSpace(e), 16, 16)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--contact-tags: %q is not a tag like 0010,2155", s)
		}
		out = append(out, tag.Tag{Group: uint16(gv), Element: uint16(ev)})
	}
	return out, nil
}

// parseModalities reads --modality AET=HOST:PORT entries.
func parseModalities(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range list {
		aet, addr, ok := strings.Cut(strings.TrimSpace(s), "=")
		aet, addr = strings.TrimSpace(aet), strings.TrimSpace(addr)
		host, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); !ok || err != nil || perr != nil || n < 1 || n > 65535 || host == "" || aet == "" || len(aet) > 16 {
			return nil, fmt.Errorf("--modality %q: want AET=HOST:PORT, e.g. LOGIQ1=10.0.0.21:104", s)
		}
		out[aet] = addr
	}
	return out, nil
}

// parsePeers reads IP addresses and CIDR ranges.
func parsePeers(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("--allowed-peer: %q is not an IP address or CIDR", s)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, nw, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("--allowed-peer: %q: %w", s, err)
		}
		out = append(out, nw)
	}
	return out, nil
}

// metricsAddr is where /metrics is served.
func (n *node) metricsAddr() string {
	if n.metrics != nil {
		return n.metrics.Addr()
	}
	return n.http.Addr()
}
