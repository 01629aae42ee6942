package dimse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"sonolink/dicom/pixels"
	"sonolink/dicom/uid"
)

// Server is a C-ECHO and C-STORE SCP. Create it with NewServer, run it with
// Serve and stop it with Shutdown.
type Server struct {
	cfg         Config
	h           Handler
	log         *slog.Logger
	sopClasses  map[string]bool // with cfg.SOPClasses nil, every storage class too
	syntaxes    map[string]bool // cfg.TransferSyntaxes
	calledAETs  map[string]bool
	callingAETs map[string]bool

	baseCtx context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*scpAssoc]struct{}
	accepted  int            // associations past negotiation (the MaxAssociations cap)
	perPeer   map[string]int // the same, by peer address (MaxAssociationsPerPeer)
	shutting  bool
	wg        sync.WaitGroup
}

// alone reports whether at most one association is open (see flushAhead).
func (s *Server) alone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted <= 1
}

// NewServer checks cfg, fills in defaults and returns a server that hands
// received objects to h.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("dimse: nil Handler")
	}
	cfg.AETitles = append([]string(nil), cfg.AETitles...)
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:         cfg,
		h:           h,
		log:         cfg.Logger.With("component", "dimse"),
		sopClasses:  map[string]bool{uidVerification: true},
		syntaxes:    map[string]bool{},
		calledAETs:  map[string]bool{},
		callingAETs: map[string]bool{},
		listeners:   map[net.Listener]struct{}{},
		conns:       map[*scpAssoc]struct{}{},
		perPeer:     map[string]int{},
	}
	for _, c := range cfg.SOPClasses {
		s.sopClasses[c] = true
	}
	for _, c := range cfg.ExtraSOPClasses {
		s.sopClasses[c] = true
	}
	for _, ts := range cfg.TransferSyntaxes {
		s.syntaxes[ts] = true
	}
	for _, t := range cfg.AETitles {
		s.calledAETs[t] = true
	}
	for _, t := range cfg.AllowedCallingAETs {
		s.callingAETs[trimAE(t)] = true
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func trimAE(s string) string { return aeString([]byte(s)) }

// ErrServerClosed is returned by Serve when called after Shutdown.
var ErrServerClosed = errors.New("dimse: server closed")

// Serve accepts associations on l until Shutdown; then it returns nil.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	s.log.Info("DICOM listener ready", "addr", l.Addr().String(), "ae_titles", s.cfg.AETitles)
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			shutting := s.shutting
			s.mu.Unlock()
			if shutting {
				return nil
			}
			if retryAccept(err) {
				// Out of descriptors (or a connection that died in the
				// backlog): the listener is fine, and associations that
				// end free descriptors. Wait and try again, as net/http
				// does, rather than take the whole node down.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				metricFailures.WithLabelValues(failAccept).Inc()
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("dimse: accept: %w", err)
		}
		backoff = 0
		a := &scpAssoc{s: s, peer: c.RemoteAddr().String()}
		a.ul = newULConn(c, max(s.cfg.MaxPDULength, assocPDULimit), s.cfg.IdleTimeout)
		s.mu.Lock()
		if s.shutting {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if len(s.conns) >= 4*s.cfg.MaxAssociations+8 {
			// Far over the limit: do not even spend a goroutine on the RJ.
			s.mu.Unlock()
			metricAssociations.WithLabelValues("rejected").Inc()
			metricFailures.WithLabelValues(failRejectLimit).Inc()
			s.log.Warn("connection refused: too many open connections", "peer", a.peer, "limit", s.cfg.MaxAssociations)
			c.Close()
			continue
		}
		s.conns[a] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			a.run()
			s.mu.Lock()
			delete(s.conns, a)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, lets associations finish the message in progress
// (idle ones are aborted at once), and waits for them. When ctx ends first,
// the remaining connections are closed and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	for l := range s.listeners {
		l.Close()
	}
	for a := range s.conns {
		a.beginShutdown()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for a := range s.conns {
			a.ul.c.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// retryAccept reports whether an Accept error is passing: a timeout, or
// one of the errors accept(2) returns while the listening socket itself is
// sound (no descriptors or memory left, a connection reset before it was
// taken).
func retryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func newID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// acceptedCtx is a presentation context we accepted.
type acceptedCtx struct {
	abstract, ts string
}

// scpAssoc is the state of one association on the SCP side.
type scpAssoc struct {
	s    *Server
	ul   *ulConn
	peer string
	log  *slog.Logger
	info Association
	ctxs map[byte]acceptedCtx

	// msgID numbers the requests we send (N-EVENT-REPORT); reports maps
	// those not yet answered to their transaction UIDs (neventreport.go).
	msgID   uint16
	reports map[uint16]string

	mu       sync.Mutex
	busy     bool // a message is being received or handled
	shutting bool
}

// beginShutdown is called with s.mu held.
func (a *scpAssoc) beginShutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shutting = true
	if !a.busy {
		a.ul.c.SetReadDeadline(time.Now()) // wake an idle read
	}
}

// idle marks the association between messages; false means stop (shutdown).
func (a *scpAssoc) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.busy = false
	if a.shutting {
		return false
	}
	a.ul.c.SetReadDeadline(time.Now().Add(a.s.cfg.IdleTimeout))
	return true
}

// setBusy marks a message in progress; a shutdown then waits for it.
func (a *scpAssoc) setBusy() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.busy && a.shutting {
		// The shutdown poked the deadline just as data arrived: let this
		// message finish.
		a.ul.c.SetReadDeadline(time.Now().Add(a.s.cfg.IdleTimeout))
	}
	a.busy = true
}

func (a *scpAssoc) isShutting() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.shutting
}

func (a *scpAssoc) run() {
	defer a.ul.c.Close()
	a.log = a.s.log.With("peer", a.peer)
	if !a.handshake() || !a.negotiate() {
		return
	}
	start := time.Now()
	metricActive.Inc()
	defer func() {
		metricActive.Dec()
		metricAssocDuration.Observe(time.Since(start).Seconds())
		a.s.release(a.peerKey())
		a.reportsLost()
		a.s.h.AssociationClosed(&a.info)
	}()
	a.serve()
}

// negotiate reads the A-ASSOCIATE-RQ and answers AC or RJ. It reports
// whether the association was accepted (and counted in s.accepted).
func (a *scpAssoc) negotiate() bool {
	s := a.s
	typ, body, err := a.ul.read(s.cfg.ARTIMTimeout)
	if err != nil {
		var pe *errPDU
		switch {
		case errors.As(err, &pe):
			a.abort(abortSourceProvider, pe.reason)
			metricFailures.WithLabelValues(failMalformedPDU).Inc()
			a.log.Warn("association aborted: malformed first PDU", "problem", pe.msg)
		case isTimeout(err):
			metricFailures.WithLabelValues(failTimeout).Inc()
			a.log.Warn("connection closed: no A-ASSOCIATE-RQ within the ARTIM timeout", "timeout", s.cfg.ARTIMTimeout)
		case errors.Is(err, io.EOF):
			a.log.Debug("connection closed before A-ASSOCIATE-RQ (probe or port check)")
		default:
			metricFailures.WithLabelValues(failConnection).Inc()
			a.log.Warn("connection failed before A-ASSOCIATE-RQ", "err", err)
		}
		return false
	}
	if typ != pduAssociateRQ {
		a.abort(abortSourceProvider, abortUnexpectedPDU)
		metricFailures.WithLabelValues(failUnexpectedPDU).Inc()
		a.log.Warn("association aborted: first PDU is not A-ASSOCIATE-RQ", "pdu_type", fmt.Sprintf("0x%02X", typ))
		return false
	}
	rq, err := decodeAssociate(typ, body)
	if err != nil {
		a.abort(abortSourceProvider, abortReason(err))
		metricFailures.WithLabelValues(failMalformedPDU).Inc()
		a.log.Warn("association aborted: malformed A-ASSOCIATE-RQ", "problem", err.Error())
		return false
	}
	a.log = a.log.With("calling_aet", rq.CallingAET, "called_aet", rq.CalledAET)

	reject := func(result, source, reason byte, fail string) bool {
		// Counted before the peer can see the RJ: whoever saw it finds
		// it in /metrics.
		metricAssociations.WithLabelValues("rejected").Inc()
		metricFailures.WithLabelValues(fail).Inc()
		a.log.Warn("association rejected: "+rejectReasonText(source, reason), "result", result, "source", source, "reason", reason)
		a.ul.write(encodeRJ(associateRJ{result, source, reason}))
		// Give the peer the ARTIM time to read the RJ and close first.
		a.ul.c.SetReadDeadline(time.Now().Add(min(s.cfg.ARTIMTimeout, 5*time.Second)))
		io.Copy(io.Discard, io.LimitReader(a.ul.br, 1<<20))
		return false
	}
	if !a.peerAllowed() {
		a.log = a.log.With("why", "peer address not in the allow-list")
		return reject(1, 1, 1, failRejectPeer)
	}
	if rq.ProtocolVersion&1 == 0 {
		return reject(1, 2, 2, failRejectProtocol)
	}
	if rq.AppContext != uidApplicationContext {
		return reject(1, 1, 2, failRejectAppContext)
	}
	if !s.calledAETs[rq.CalledAET] {
		return reject(1, 1, 7, failRejectCalledAE)
	}
	if len(s.callingAETs) > 0 && !s.callingAETs[rq.CallingAET] {
		return reject(1, 1, 3, failRejectCallingAE)
	}
	switch s.take(a.peerKey()) {
	case slotsFull:
		a.log = a.log.With("limit", s.cfg.MaxAssociations)
		return reject(2, 3, 2, failRejectLimit)
	case peerSlotsFull:
		a.log = a.log.With("limit_per_peer", s.cfg.MaxAssociationsPerPeer)
		return reject(2, 3, 2, failRejectPeerLimit)
	}

	a.info = Association{
		ID:         newID(),
		CallingAET: rq.CallingAET,
		CalledAET:  rq.CalledAET,
		PeerAddr:   a.peer,
		Opened:     time.Now(),
	}
	a.log = a.log.With("assoc", a.info.ID)
	ac, accepted := s.negotiateContexts(rq, a.log)
	a.ctxs = accepted
	a.ul.peerMax = rq.User.MaxLength
	if err := a.ul.write(encodeAssociate(ac)); err != nil {
		metricAssociations.WithLabelValues("aborted").Inc()
		metricFailures.WithLabelValues(failConnection).Inc()
		a.log.Warn("association failed: cannot send A-ASSOCIATE-AC", "err", err)
		s.release(a.peerKey())
		return false
	}
	metricAssociations.WithLabelValues("accepted").Inc()
	var rejected []string
	for _, pc := range ac.Contexts {
		if pc.Result != pcAcceptance {
			rejected = append(rejected, fmt.Sprintf("%d:%s", pc.ID, pcResultText(pc.Result)))
		}
	}
	a.log.Info("association accepted", "contexts_accepted", len(accepted), "contexts_rejected", len(rejected),
		"rejected", rejected, "peer_max_pdu", rq.User.MaxLength, "peer_implementation", rq.User.ImplClassUID)
	return true
}

func pcResultText(r byte) string {
	switch r {
	case pcAcceptance:
		return "accepted"
	case pcUserRejection:
		return "user rejection"
	case pcAbstractNotSupported:
		return "abstract syntax not supported"
	case pcTransferSynNotSupported:
		return "transfer syntaxes not supported"
	}
	return "no reason"
}

func abortReason(err error) byte {
	var pe *errPDU
	if errors.As(err, &pe) {
		return pe.reason
	}
	return abortInvalidParamValue
}

// Outcomes of Server.take.
const (
	slotTaken = iota
	slotsFull
	peerSlotsFull
)

// take counts one more accepted association from the peer at key, unless
// the node (MaxAssociations) or that peer (MaxAssociationsPerPeer) is at
// its limit.
func (s *Server) take(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.accepted >= s.cfg.MaxAssociations:
		return slotsFull
	case s.perPeer[key] >= s.cfg.MaxAssociationsPerPeer:
		return peerSlotsFull
	}
	s.accepted++
	s.perPeer[key]++
	return slotTaken
}

// release gives back a slot take counted.
func (s *Server) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted--
	if s.perPeer[key]--; s.perPeer[key] <= 0 {
		delete(s.perPeer, key)
	}
}

// peerKey is what MaxAssociationsPerPeer counts by: the peer's IP address,
// not its calling AE title, which the caller chooses freely; counted by
// title, a stranger could use up a scanner's share by calling as it.
func (a *scpAssoc) peerKey() string {
	host, _, err := net.SplitHostPort(a.peer)
	if err != nil {
		return a.peer
	}
	return host
}

func (a *scpAssoc) peerAllowed() bool {
	if len(a.s.cfg.AllowedPeers) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(a.peer)
	if err != nil {
		host = a.peer
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range a.s.cfg.AllowedPeers {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// negotiateContexts answers each proposed presentation context: the
// Verification class and the accepted storage classes get the transfer
// syntax chooseTS picks; each context is answered on its own, so where a
// sender proposes several for one abstract syntax (one per transfer syntax,
// as storescu does without +C) each is accepted with its own, and the sender
// picks the one matching what it holds. A refused context is logged with
// its abstract syntax and proposed syntaxes by name, so an installer can
// set up a scanner from the log.
func (s *Server) negotiateContexts(rq *associate, log *slog.Logger) (*associate, map[byte]acceptedCtx) {
	ac := &associate{
		Type:       pduAssociateAC,
		CalledAET:  rq.CalledAET,
		CallingAET: rq.CallingAET,
		AppContext: uidApplicationContext,
		User: userInfo{
			MaxLength:    s.cfg.MaxPDULength,
			ImplClassUID: uid.ImplementationClassUID,
			ImplVersion:  uid.ImplementationVersionName,
		},
	}
	if rq.User.IdentityPositiveResponse {
		// PS3.7 D.3.3.7: the requestor asked to be told its identity was
		// accepted. sonolink does not check identities (any peer allowed
		// by address and AE title may store), so it accepts every one;
		// the server response is empty for user name and passcode, and
		// no ticket or assertion is given back for the others.
		ac.User.IdentityAccepted = true
	}
	accepted := map[byte]acceptedCtx{}
	for _, pc := range rq.Contexts {
		res := presCtx{ID: pc.ID}
		var residual bool
		switch {
		case !s.acceptsClass(pc.Abstract):
			res.Result = pcAbstractNotSupported
		default:
			ts, decodable := s.contextTS(pc.Abstract, pc.Transfer)
			residual = !decodable
			if ts == "" {
				res.Result = pcTransferSynNotSupported
			} else if _, dup := accepted[pc.ID]; dup {
				res.Result = pcNoReason // duplicate context ID
			} else {
				res.Result = pcAcceptance
				res.Transfer = []string{ts}
				accepted[pc.ID] = acceptedCtx{abstract: pc.Abstract, ts: ts}
			}
		}
		ac.Contexts = append(ac.Contexts, res)
		switch {
		case res.Result != pcAcceptance:
			log.Warn("presentation context refused: "+pcResultText(res.Result), "context_id", pc.ID,
				"abstract_syntax", uid.Describe(pc.Abstract), "proposed_transfer_syntaxes", describeAll(pc.Transfer))
		case residual:
			log.Info("presentation context accepted in a transfer syntax sonolink cannot decode: objects are stored as received, not rendered",
				"context_id", pc.ID, "abstract_syntax", uid.Describe(pc.Abstract), "transfer_syntax", uid.Describe(res.Transfer[0]),
				"proposed_transfer_syntaxes", describeAll(pc.Transfer))
		}
	}
	ac.User.Roles = s.answerRoles(rq.User.Roles, accepted)
	return ac, accepted
}

// acceptsClass reports whether storage (or verification) of abstract is
// accepted.
func (s *Server) acceptsClass(abstract string) bool {
	if abstract == UIDStorageCommitmentPushModel {
		return s.cfg.Commitment != nil
	}
	if abstract == UIDModalityPerformedProcedureStep {
		return s.cfg.MPPS != nil
	}
	return s.sopClasses[abstract] || (s.cfg.SOPClasses == nil && uid.IsStorage(abstract))
}

func describeAll(uids []string) []string {
	out := make([]string, len(uids))
	for i, u := range uids {
		out[i] = uid.Describe(u)
	}
	return out
}

// chooseTS picks the transfer syntax of one presentation context for
// abstract among the proposed ones, following the sender's order:
//
//  1. the first that sonolink can de-identify and render
//     (pixels.Decodable) and, for a class without an image (SR, PDF, KOS…),
//     that is native, since compressing such an object means nothing;
//  2. failing that, the first it accepts at all (Config.TransferSyntaxes):
//     the object is stored as received and is residual downstream
//     (decodable reports false).
//
// Verification takes Implicit or Explicit VR Little Endian whatever the
// configuration. "" means none is acceptable.
func (s *Server) chooseTS(abstract string, proposed []string) (ts string, decodable bool) {
	if abstract == uidVerification || abstract == UIDStorageCommitmentPushModel {
		for _, p := range proposed {
			if p == uidImplicitVRLE || p == uidExplicitVRLE {
				return p, true
			}
		}
		if abstract == UIDStorageCommitmentPushModel {
			return "", false
		}
	}
	noImage := uid.Name(abstract) != "" && !uid.HasPixelData(abstract)
	for _, p := range proposed {
		if s.syntaxes[p] && pixels.Decodable(p) && (!noImage || uid.IsNative(p)) {
			return p, true
		}
	}
	for _, p := range proposed {
		if s.syntaxes[p] {
			return p, pixels.Decodable(p)
		}
	}
	return "", false
}

// abort sends A-ABORT (best effort) and closes the connection.
func (a *scpAssoc) abort(source, reason byte) {
	a.ul.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	a.ul.bw.Reset(a.ul.c)
	a.ul.c.Write(encodeAbort(source, reason))
	a.ul.c.Close()
}

// protocolError aborts the association for a peer error and logs it.
func (a *scpAssoc) protocolError(fail, what string, reason byte) {
	a.abort(abortSourceProvider, reason)
	metricAssociations.WithLabelValues("aborted").Inc()
	metricFailures.WithLabelValues(fail).Inc()
	a.log.Warn("association aborted: protocol error from peer", "problem", what, "abort_reason", abortReasonText(abortSourceProvider, reason))
}
