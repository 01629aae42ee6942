package uid

// More transfer syntaxes (PS3.5 Section 10 and Annex A, PS3.6 Annex A).
const (
	JPEGLSLossless       = "1.2.840.10008.1.2.4.80"
	JPEGLSNearLossless   = "1.2.840.10008.1.2.4.81"
	JPEG2000Lossless     = "1.2.840.10008.1.2.4.90"
	JPEG2000             = "1.2.840.10008.1.2.4.91"
	HTJ2KLossless        = "1.2.840.10008.1.2.4.201"
	HTJ2KLosslessRPCL    = "1.2.840.10008.1.2.4.202"
	HTJ2K                = "1.2.840.10008.1.2.4.203"
	MPEG2MainML          = "1.2.840.10008.1.2.4.100"
	MPEG4HighProfile41   = "1.2.840.10008.1.2.4.102"
	HEVCMainProfile51    = "1.2.840.10008.1.2.4.107"
	EncapsulatedUncompLE = "1.2.840.10008.1.2.1.98"
)

// tsFlags describe a transfer syntax.
type tsFlags uint8

const (
	// encapsulated: Pixel Data is a sequence of fragments (undefined
	// length); the others hold it natively, as one defined-length value.
	encapsulated tsFlags = 1 << iota
	tsRetired
)

type transferSyntax struct {
	uid, name string
	flags     tsFlags
}

// transferSyntaxes are those a sender may hold an object in, in the order
// of PS3.6: uncompressed, deflated, JPEG, JPEG-LS, JPEG 2000, video, RLE,
// HTJ2K. Referenced (JPIP) and real-time syntaxes carry no stored object and
// are left out.
var transferSyntaxes = []transferSyntax{
	{ImplicitVRLittleEndian, "Implicit VR Little Endian", 0},
	{ExplicitVRLittleEndian, "Explicit VR Little Endian", 0},
	{EncapsulatedUncompLE, "Encapsulated Uncompressed Explicit VR Little Endian", encapsulated},
	{DeflatedExplicitVRLE, "Deflated Explicit VR Little Endian", 0},
	{ExplicitVRBigEndian, "Explicit VR Big Endian (Retired)", tsRetired},
	{JPEGBaseline, "JPEG Baseline (Process 1)", encapsulated},
	{JPEGExtended, "JPEG Extended (Process 2 & 4)", encapsulated},
	{JPEGLosslessNH, "JPEG Lossless, Non-Hierarchical (Process 14)", encapsulated},
	{JPEGLosslessSV1, "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1)", encapsulated},
	{JPEGLSLossless, "JPEG-LS Lossless", encapsulated},
	{JPEGLSNearLossless, "JPEG-LS Lossy (Near-Lossless)", encapsulated},
	{JPEG2000Lossless, "JPEG 2000 (Lossless Only)", encapsulated},
	{JPEG2000, "JPEG 2000", encapsulated},
	{"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component (Lossless Only)", encapsulated},
	{"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component", encapsulated},
	{MPEG2MainML, "MPEG2 Main Profile @ Main Level", encapsulated},
	{"1.2.840.10008.1.2.4.100.1", "Fragmentable MPEG2 Main Profile @ Main Level", encapsulated},
	{"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile @ High Level", encapsulated},
	{"1.2.840.10008.1.2.4.101.1", "Fragmentable MPEG2 Main Profile @ High Level", encapsulated},
	{MPEG4HighProfile41, "MPEG-4 AVC/H.264 High Profile / Level 4.1", encapsulated},
	{"1.2.840.10008.1.2.4.102.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1", encapsulated},
	{"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", encapsulated},
	{"1.2.840.10008.1.2.4.103.1", "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", encapsulated},
	{"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", encapsulated},
	{"1.2.840.10008.1.2.4.104.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", encapsulated},
	{"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", encapsulated},
	{"1.2.840.10008.1.2.4.105.1", "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", encapsulated},
	{"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", encapsulated},
	{"1.2.840.10008.1.2.4.106.1", "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", encapsulated},
	{HEVCMainProfile51, "HEVC/H.265 Main Profile / Level 5.1", encapsulated},
	{"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", encapsulated},
	{RLELossless, "RLE Lossless", encapsulated},
	{HTJ2KLossless, "High-Throughput JPEG 2000 (Lossless Only)", encapsulated},
	{HTJ2KLosslessRPCL, "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)", encapsulated},
	{HTJ2K, "High-Throughput JPEG 2000", encapsulated},
}

var tsByUID = byUID(transferSyntaxes, func(t *transferSyntax) string { return t.uid })

// TransferSyntaxes returns every transfer syntax of the table above, in
// its order.
func TransferSyntaxes() []string {
	return uids(transferSyntaxes, func(t *transferSyntax) string { return t.uid })
}

// IsTransferSyntax reports whether ts is a transfer syntax of the table.
func IsTransferSyntax(ts string) bool { return tsByUID[ts] != nil }

// IsEncapsulated reports whether ts holds Pixel Data encapsulated
// (fragments, undefined length). It is false for native syntaxes and for
// UIDs it does not know.
func IsEncapsulated(ts string) bool {
	t := tsByUID[ts]
	return t != nil && t.flags&encapsulated != 0
}

// IsNative reports whether ts is a known syntax with native Pixel Data.
func IsNative(ts string) bool {
	t := tsByUID[ts]
	return t != nil && t.flags&encapsulated == 0
}

// Name returns the PS3.6 name of a transfer syntax, storage SOP class or
// other UID of this package, or "" when it is not known here. For log lines
// an installer reads.
func Name(uid string) string {
	if t := tsByUID[uid]; t != nil {
		return t.name
	}
	if c := storageByUID[uid]; c != nil {
		return c.name
	}
	switch uid {
	case Verification:
		return "Verification"
	case MediaStorageDirectory:
		return "Media Storage Directory Storage"
	}
	return ""
}

// Describe returns "name (uid)", or the UID alone when Name does not know it.
func Describe(uid string) string {
	if n := Name(uid); n != "" {
		return n + " (" + uid + ")"
	}
	return uid
}
