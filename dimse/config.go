package dimse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"sonolink/dicom/dicomfile"
	"sonolink/dicom/uid"
)

// Well-known UIDs.
const (
	uidApplicationContext = uid.ApplicationContextDICOM
	uidVerification       = uid.Verification
	uidImplicitVRLE       = uid.ImplicitVRLittleEndian
	uidExplicitVRLE       = uid.ExplicitVRLittleEndian
)

// Config is the SCP's configuration. Zero values take the documented
// defaults; SpoolDir is required.
type Config struct {
	AETitles           []string      // called AE titles we answer to (default ["SONOLINK"])
	AllowedCallingAETs []string      // empty: any
	AllowedPeers       []*net.IPNet  // empty: any
	MaxAssociations    int           // default 16
	ARTIMTimeout       time.Duration // default 30s: to receive A-ASSOCIATE-RQ, and for the peer to close after release
	IdleTimeout        time.Duration // default 120s: longest wait for the next PDU (also the handler's deadline)
	// MaxAssociationsPerPeer caps the associations open from one peer IP
	// address, so one misbehaving sender cannot take every slot. Default
	// half of MaxAssociations, rounded up; at most MaxAssociations.
	MaxAssociationsPerPeer int
	// MaxPDULength is the largest P-DATA-TF variable field we announce we
	// receive (default 1 MiB; minimum 4096). It also bounds every PDU we read,
	// except that association PDUs may use up to 64 KiB when it is smaller, so
	// memory per association is about one MaxPDULength buffer. Old peers use
	// 16 KiB; 1 MiB keeps the per-PDU overhead low on fast links.
	MaxPDULength  uint32
	MaxObjectSize int64 // default 2 GiB: larger objects are drained and refused with A700
	// SOPClasses are the storage SOP classes accepted (Verification always).
	// nil: every storage SOP class (uid.IsStorage), see SOPClassPolicy.
	SOPClasses []string
	// ExtraSOPClasses are accepted besides SOPClasses (private classes).
	ExtraSOPClasses []string
	// TransferSyntaxes are those accepted; nil: DefaultTransferSyntaxes().
	// Which one a context gets follows the sender's order (see chooseTS).
	TransferSyntaxes []string
	SpoolDir         string // required; same filesystem as the store so the handler can rename
	// Commitment is the Storage Commitment Push Model SCP's policy; nil:
	// the SOP class is not accepted.
	Commitment CommitmentHandler
	// MPPS keeps Modality Performed Procedure Steps (mpps.go); nil: the
	// SOP class is not accepted.
	MPPS   MPPSHandler
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultMaxAssociations = 16
	DefaultARTIMTimeout    = 30 * time.Second
	DefaultIdleTimeout     = 120 * time.Second
	DefaultMaxPDULength    = 1 << 20
	DefaultMaxObjectSize   = 2 << 30
	minPDULength           = 4096
	assocPDULimit          = 64 << 10
)

// DefaultSOPClasses returns every storage SOP class of PS3.4 Annex B,
// current and retired (uid.StorageSOPClasses). With Config.SOPClasses nil,
// classes the standard adds under the storage root are accepted too.
func DefaultSOPClasses() []string { return uid.StorageSOPClasses() }

// UltrasoundSOPClasses returns the storage SOP classes an ultrasound study
// usually contains: US (single and multi-frame, their retired pre-1996
// classes, Enhanced US Volume), Secondary Capture (including the
// multi-frame ones), Basic Text / Enhanced / Comprehensive (3D) SR, Key
// Object Selection, Simplified Adult Echo SR and Encapsulated PDF. A clinic
// that wants no more than that narrows Config.SOPClasses to it.
func UltrasoundSOPClasses() []string {
	return []string{
		uid.USImage,                     // Ultrasound Image Storage
		uid.USMultiFrameImage,           // Ultrasound Multi-frame Image Storage
		"1.2.840.10008.5.1.4.1.1.6",     // Ultrasound Image Storage (Retired)
		"1.2.840.10008.5.1.4.1.1.3",     // Ultrasound Multi-frame Image Storage (Retired)
		"1.2.840.10008.5.1.4.1.1.6.2",   // Enhanced US Volume Storage
		uid.SecondaryCapture,            // Secondary Capture Image Storage
		"1.2.840.10008.5.1.4.1.1.7.1",   // Multi-frame Single Bit SC
		"1.2.840.10008.5.1.4.1.1.7.2",   // Multi-frame Grayscale Byte SC
		"1.2.840.10008.5.1.4.1.1.7.3",   // Multi-frame Grayscale Word SC
		"1.2.840.10008.5.1.4.1.1.7.4",   // Multi-frame True Color SC
		"1.2.840.10008.5.1.4.1.1.88.11", // Basic Text SR
		"1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
		"1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
		"1.2.840.10008.5.1.4.1.1.88.34", // Comprehensive 3D SR
		"1.2.840.10008.5.1.4.1.1.88.59", // Key Object Selection Document
		"1.2.840.10008.5.1.4.1.1.88.72", // Simplified Adult Echo SR
		uid.EncapsulatedPDF,             // Encapsulated PDF
	}
}

// SOPClassPolicy returns the Config.SOPClasses of a named policy: "all"
// (every storage SOP class, the default: nil) or "ultrasound"
// (UltrasoundSOPClasses).
func SOPClassPolicy(name string) ([]string, error) {
	switch name {
	case "all", "":
		return nil, nil
	case "ultrasound":
		return UltrasoundSOPClasses(), nil
	}
	return nil, fmt.Errorf("dimse: unknown SOP class policy %q (want all or ultrasound)", name)
}

// DefaultTransferSyntaxes returns every transfer syntax sonolink can store
// as received: those of uid.TransferSyntaxes that dicomfile reads (all of
// them: deflated data sets are read inflated, and HTJ2K, unknown to the DICOM
// library, as the encapsulated syntax it is).
//
// Which one a presentation context gets is not a fixed order of ours (see
// chooseTS): it is the first syntax the sender proposed that sonolink can
// de-identify and render (pixels.Decodable), so the sender's order decides
// among those; failing that, the first it proposed that sonolink can store,
// and the object is kept as received (residual downstream). A sender lists
// first the syntax it holds the object in (dcmsend does, and proposes one
// context per syntax when it has several), so honouring its order keeps
// what an earlier, fixed preference for lossless compression was measured
// to gain: a sender that holds an image in JPEG Lossless or RLE sends it as
// it is instead of decompressing it (with dcmsend over loopback, choosing
// uncompressed instead cost ~50% more bytes on the wire, up to 45 ms of its
// CPU per multi-frame object, and 2.4x slower ingest), while a sender that
// lists uncompressed first is no longer asked to compress (storescu -xr +C
// failed on most images and on every SR and PDF when sonolink chose RLE).
// Objects without an image (SR, PDF, KOS…) take a native syntax whenever one
// is proposed, since compression means nothing for them.
func DefaultTransferSyntaxes() []string {
	var out []string
	for _, ts := range uid.TransferSyntaxes() {
		if dicomfile.Readable(ts) {
			out = append(out, ts)
		}
	}
	return out
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.SpoolDir == "" {
		return cfg, errors.New("dimse: Config.SpoolDir is required")
	}
	if len(cfg.AETitles) == 0 {
		cfg.AETitles = []string{"SONOLINK"}
	}
	for i, t := range cfg.AETitles {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 16 {
			return cfg, fmt.Errorf("dimse: AE title %q must be 1 to 16 characters", cfg.AETitles[i])
		}
		if t != strings.ToUpper(t) {
			// Scanners send AE titles in upper case and compare them as
			// they are: a lower-case title would never match.
			return cfg, fmt.Errorf("dimse: AE title %q has lower-case letters; use %q", t, strings.ToUpper(t))
		}
		if strings.ContainsAny(t, "\\") || strings.IndexFunc(t, func(r rune) bool { return r < 0x20 || r > 0x7E }) >= 0 {
			return cfg, fmt.Errorf("dimse: AE title %q may hold only printable ASCII characters other than backslash", t)
		}
		cfg.AETitles[i] = t
	}
	if cfg.MaxAssociations <= 0 {
		cfg.MaxAssociations = DefaultMaxAssociations
	}
	if cfg.MaxAssociationsPerPeer <= 0 {
		cfg.MaxAssociationsPerPeer = (cfg.MaxAssociations + 1) / 2
	}
	cfg.MaxAssociationsPerPeer = min(cfg.MaxAssociationsPerPeer, cfg.MaxAssociations)
	if cfg.ARTIMTimeout <= 0 {
		cfg.ARTIMTimeout = DefaultARTIMTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxPDULength == 0 {
		cfg.MaxPDULength = DefaultMaxPDULength
	}
	if cfg.MaxPDULength < minPDULength {
		return cfg, fmt.Errorf("dimse: MaxPDULength %d is below the minimum %d", cfg.MaxPDULength, minPDULength)
	}
	if cfg.MaxObjectSize <= 0 {
		cfg.MaxObjectSize = DefaultMaxObjectSize
	}
	if cfg.TransferSyntaxes == nil {
		cfg.TransferSyntaxes = DefaultTransferSyntaxes()
	}
	if len(cfg.TransferSyntaxes) == 0 {
		return cfg, errors.New("dimse: Config.TransferSyntaxes is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// Association describes one accepted association, for logs and for the
// Handler.
type Association struct {
	ID         string // short random identifier, for logs
	CallingAET string
	CalledAET  string
	PeerAddr   string
	Opened     time.Time
}

// Object is one received composite object.
type Object struct {
	SOPClassUID       string
	SOPInstanceUID    string
	TransferSyntaxUID string
	// Path is a complete DICOM Part 10 file in SpoolDir (written, not
	// fsynced). The handler may rename it; otherwise it is removed after the
	// handler returns.
	Path string
	Size int64 // data set bytes as received (the file is larger by its header)
	// DatasetSHA256 is the SHA-256 of those Size data set bytes (the file
	// after the File Meta Information dimse wrote), computed while
	// spooling, so the handler need not read the file to hash it.
	DatasetSHA256 []byte
	// Flushed waits for the flush (fdatasync) of the spool file that began
	// while the object arrived and returns its error; nil when there was
	// none to wait for. A handler that fsyncs the file through a descriptor
	// of its own must treat an error here as a failed fsync: an error this
	// flush saw may not be reported again to that descriptor. Never nil.
	Flushed func() error
}

// Handler receives objects and association ends. It is called from the
// association's goroutine; several associations call it concurrently.
type Handler interface {
	// HandleStore makes the object durable (it may rename obj.Path away)
	// before returning StatusSuccess. Its Status goes back in the C-STORE-RSP.
	HandleStore(ctx context.Context, a *Association, obj *Object) Status
	// AssociationClosed is called once per accepted association when it ends
	// (release, abort, error).
	AssociationClosed(a *Association)
}
