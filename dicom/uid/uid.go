// Package uid is the one home of the UIDs sonolink writes or tests for: the
// product's own implementation identity, and the well-known transfer syntax
// and SOP class UIDs of PS3.6 Annex A that more than one package needs.
//
// sonolink has exactly one Implementation Class UID. It appears in every
// A-ASSOCIATE PDU, in the File Meta Information of every spooled object, of
// every de-identified copy and of every DICOMDIR, so a peer (or a support
// engineer reading a dump) sees one product, whichever part wrote the bytes.
package uid

import (
	"crypto/rand"
	"math/big"
)

// ImplementationClassUID identifies sonolink (PS3.7 D.3.3.2, PS3.10 7.1).
// It was generated once as a UUID under the 2.25 root and must never
// change: peers and archives may have recorded it.
const ImplementationClassUID = "2.25.315834297790843475418729351684995734721"

// ImplementationVersionName goes beside ImplementationClassUID (an SH value:
// at most 16 characters). It names the implementation's wire and file
// behaviour, not the release, so it changes only when that behaviour does.
const ImplementationVersionName = "SONOLINK_1"

// Transfer syntaxes (PS3.5 Section 10, PS3.6 Annex A).
const (
	ImplicitVRLittleEndian = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLE   = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian    = "1.2.840.10008.1.2.2" // retired
	JPEGBaseline           = "1.2.840.10008.1.2.4.50"
	JPEGExtended           = "1.2.840.10008.1.2.4.51"
	JPEGLosslessNH         = "1.2.840.10008.1.2.4.57" // Process 14
	JPEGLosslessSV1        = "1.2.840.10008.1.2.4.70" // Process 14, selection value 1
	RLELossless            = "1.2.840.10008.1.2.5"
)

// SOP classes.
const (
	Verification            = "1.2.840.10008.1.1"
	MediaStorageDirectory   = "1.2.840.10008.1.3.10"
	EncapsulatedPDF         = "1.2.840.10008.5.1.4.1.1.104.1"
	USImage                 = "1.2.840.10008.5.1.4.1.1.6.1"
	USMultiFrameImage       = "1.2.840.10008.5.1.4.1.1.3.1"
	SecondaryCapture        = "1.2.840.10008.5.1.4.1.1.7"
	ApplicationContextDICOM = "1.2.840.10008.3.1.1.1" // the DICOM application context name (PS3.7 A.2.1)
)

// byUID indexes the rows of a UID table by their UID.
func byUID[T any](rows []T, uidOf func(*T) string) map[string]*T {
	m := make(map[string]*T, len(rows))
	for i := range rows {
		m[uidOf(&rows[i])] = &rows[i]
	}
	return m
}

// uids lists the UIDs of a table's rows in their order.
func uids[T any](rows []T, uidOf func(*T) string) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = uidOf(&rows[i])
	}
	return out
}

// ModalityPerformedProcedureStep is the MPPS SOP class (PS3.4 Annex F),
// whose N-CREATE and N-SET a modality sends when an exam starts and ends.
const ModalityPerformedProcedureStep = "1.2.840.10008.3.1.2.3.3"

// New returns a new UID under the 2.25 root (PS3.5 B.2): a random
// (version 4) UUID as a decimal integer, for instances sonolink creates,
// such as an MPPS whose N-CREATE left the choice to the SCP.
func New() string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic("uid: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}
