package dimse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

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
	// MaxPDULength is the largest P-DATA-TF variable field we announce we
	// receive (default 1 MiB; minimum 4096). It also bounds every PDU we read,
	// except that association PDUs may use up to 64 KiB when it is smaller, so
	// memory per association is about one MaxPDULength buffer. Old peers use
	// 16 KiB; 1 MiB keeps the per-PDU overhead low on fast links.
	MaxPDULength     uint32
	MaxObjectSize    int64    // default 2 GiB: larger objects are drained and refused with A700
	SOPClasses       []string // storage SOP classes accepted (Verification always); nil: DefaultSOPClasses()
	TransferSyntaxes []string // preference order; nil: DefaultTransferSyntaxes()
	SpoolDir         string   // required; same filesystem as the store so the handler can rename
	Logger           *slog.Logger
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

// DefaultSOPClasses returns the storage SOP classes an ultrasound study
// contains: US (single and multi-frame, and their retired pre-1996 classes,
// which older scanners still send), Secondary Capture (including the
// multi-frame ones), Basic Text / Enhanced / Comprehensive (3D) SR and
// Encapsulated PDF.
func DefaultSOPClasses() []string {
	return []string{
		"1.2.840.10008.5.1.4.1.1.6.1",   // Ultrasound Image Storage
		"1.2.840.10008.5.1.4.1.1.3.1",   // Ultrasound Multi-frame Image Storage
		"1.2.840.10008.5.1.4.1.1.6",     // Ultrasound Image Storage (Retired)
		"1.2.840.10008.5.1.4.1.1.3",     // Ultrasound Multi-frame Image Storage (Retired)
		"1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture Image Storage
		"1.2.840.10008.5.1.4.1.1.7.1",   // Multi-frame Single Bit SC
		"1.2.840.10008.5.1.4.1.1.7.2",   // Multi-frame Grayscale Byte SC
		"1.2.840.10008.5.1.4.1.1.7.3",   // Multi-frame Grayscale Word SC
		"1.2.840.10008.5.1.4.1.1.7.4",   // Multi-frame True Color SC
		"1.2.840.10008.5.1.4.1.1.88.11", // Basic Text SR
		"1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
		"1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
		"1.2.840.10008.5.1.4.1.1.88.34", // Comprehensive 3D SR
		"1.2.840.10008.5.1.4.1.1.104.1", // Encapsulated PDF
	}
}

// DefaultTransferSyntaxes returns the transfer syntaxes sonolink can later
// de-identify and render, in our order of preference: the lossless
// compressed ones first (JPEG Lossless SV1, then RLE), then uncompressed,
// and lossy JPEG Baseline last.
//
// A sender proposes a lossless compressed syntax beside the uncompressed
// ones when it holds the object compressed (dcmsend, for one, does so by
// default); choosing uncompressed then makes it decompress before sending
// (measured with dcmsend over loopback: ~50% more bytes on the wire and up
// to 45 ms of its CPU per multi-frame object), for identical pixels. Both
// lossless compressed syntaxes can be cleaned of burned-in text without
// loss (dicom/pixels decodes, masks and re-encodes them), so taking
// them costs the patient nothing. Their relative order matters only to a
// sender that can offer both; neither is smaller for every image (measured
// on the samples: JPEG Lossless 30% smaller than RLE on a noisy greyscale
// cine, RLE 35-40% smaller on frames with large flat areas), and JPEG
// Lossless goes first because multi-frame cine loops carry most of an
// ultrasound study's bytes. JPEG Baseline stays after the uncompressed
// syntaxes, so that sonolink never asks a sender to compress lossily what it
// holds uncompressed.
func DefaultTransferSyntaxes() []string {
	return []string{
		"1.2.840.10008.1.2.4.70", // JPEG Lossless SV1
		"1.2.840.10008.1.2.5",    // RLE Lossless
		uidExplicitVRLE,          // Explicit VR Little Endian
		uidImplicitVRLE,          // Implicit VR Little Endian
		"1.2.840.10008.1.2.4.50", // JPEG Baseline (Process 1)
	}
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
		cfg.AETitles[i] = t
	}
	if cfg.MaxAssociations <= 0 {
		cfg.MaxAssociations = DefaultMaxAssociations
	}
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
	if cfg.SOPClasses == nil {
		cfg.SOPClasses = DefaultSOPClasses()
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
