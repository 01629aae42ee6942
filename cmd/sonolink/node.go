package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/anonymize"
	"sonolink/dimse"
	"sonolink/pipeline"
	"sonolink/share"
	"sonolink/store"
	"sonolink/web"
)

// node is a running sonolink: DICOM server, store, pipeline, share service,
// patient pages and admin endpoint.
type node struct {
	dicomAddr string
	pages     http.Handler
	errc      chan error

	store    *store.Store
	share    *share.Service
	pipeline *pipeline.Pipeline
	dicom    *dimse.Server
	admin    *admin.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startNode(ctx context.Context, c *serveConfig, logger *slog.Logger) (_ *node, err error) {
	n := &node{errc: make(chan error, 4)}
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
	base, err := url.Parse(c.baseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("--base-url %q: want an absolute URL such as https://images.clinic.example", c.baseURL)
	}

	if n.store, err = store.Open(c.dataDir, store.Options{Logger: logger}); err != nil {
		return nil, err
	}
	if n.share, err = share.Open(c.dataDir, share.Options{
		BaseURL: strings.TrimRight(c.baseURL, "/"), Logger: logger, Delivery: c.delivery.cfg,
	}); err != nil {
		return nil, err
	}
	secret, err := anonymize.LoadOrCreateSecret(c.dataDir)
	if err != nil {
		return nil, err
	}
	if n.pipeline, err = pipeline.New(pipeline.Config{
		Store: n.store, Share: n.share, Secret: secret, ContactTags: contactTags,
		StableTime: c.stableTimeOverride, Workers: c.workers, Logger: logger,
	}); err != nil {
		return nil, err
	}

	pages, err := web.New(web.Config{
		BasePath:   strings.TrimRight(base.Path, "/"),
		Secure:     c.tlsCert != "",
		Logger:     logger.With("component", "web"),
		SessionKey: derive(secret, "sonolink web session v1"),
	}, web.NewStoreBackend(n.share, n.store))
	if err != nil {
		return nil, err
	}
	n.pages = pages

	sopClasses, err := dimse.SOPClassPolicy(c.sopClassPolicy)
	if err != nil {
		return nil, err
	}
	n.dicom, err = dimse.NewServer(dimse.Config{
		AETitles: c.aeTitles, AllowedCallingAETs: c.allowedCalling, AllowedPeers: peers,
		MaxAssociations: c.maxAssociations, ARTIMTimeout: c.artimTimeout, IdleTimeout: c.idleTimeout,
		MaxPDULength: uint32(c.maxPDULength), MaxObjectSize: int64(c.maxObjectSize),
		SOPClasses: sopClasses, ExtraSOPClasses: c.extraSOPClasses,
		TransferSyntaxes: append(dimse.DefaultTransferSyntaxes(), c.extraSyntaxes...),
		SpoolDir:         n.store.SpoolDir(), Logger: logger,
	}, n.pipeline)
	if err != nil {
		return nil, err
	}
	dl, err := net.Listen("tcp", c.dicomAddr)
	if err != nil {
		return nil, fmt.Errorf("DICOM listen on %s: %w", c.dicomAddr, err)
	}
	n.dicomAddr = dl.Addr().String()

	n.admin = admin.NewServer(admin.New(n.store, n.share, contactTags, logger), admin.SocketPath(c.dataDir), logger)
	if err := n.admin.Listen(); err != nil {
		dl.Close()
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.goRun(func() error { return n.pipeline.Run(runCtx) })
	n.goRun(func() error { return n.dicom.Serve(dl) })
	n.goRun(func() error { return n.admin.Serve() })
	return n, nil
}

func (n *node) goRun(f func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := f(); err != nil {
			n.errc <- err
		}
	}()
}

// healthy reports whether the node can take objects.
func (n *node) healthy() error {
	if n.store == nil {
		return errors.New("store not open")
	}
	return nil
}

// shutdown stops taking associations, lets the ones in progress finish,
// then stops the background work.
func (n *node) shutdown(ctx context.Context) {
	if n.dicom != nil {
		_ = n.dicom.Shutdown(ctx)
	}
	if n.admin != nil {
		_ = n.admin.Close()
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
}

// close releases the databases.
func (n *node) close() {
	if n.share != nil {
		_ = n.share.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
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
			return nil, fmt.Errorf("--allowed-peer: %q: %v", s, err)
		}
		out = append(out, nw)
	}
	return out, nil
}
