package dimse

// Upper layer PDUs (PS3.8 section 9.3). Decoding works on a body that has
// already been read within a size limit, checks every declared length
// against what is there, and never allocates more than the body's size.

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// PDU types.
const (
	pduAssociateRQ byte = 0x01
	pduAssociateAC byte = 0x02
	pduAssociateRJ byte = 0x03
	pduPData       byte = 0x04
	pduReleaseRQ   byte = 0x05
	pduReleaseRP   byte = 0x06
	pduAbort       byte = 0x07
)

// Item types in A-ASSOCIATE-RQ/AC.
const (
	itemAppContext    byte = 0x10
	itemPresCtxRQ     byte = 0x20
	itemPresCtxAC     byte = 0x21
	itemAbstractSyn   byte = 0x30
	itemTransferSyn   byte = 0x40
	itemUserInfo      byte = 0x50
	subMaxLength      byte = 0x51
	subImplClassUID   byte = 0x52
	subAsyncOps       byte = 0x53
	subRoleSelection  byte = 0x54
	subImplVersion    byte = 0x55
	subSOPExtNeg      byte = 0x56
	subCommonExtNeg   byte = 0x57
	subUserIdentityRQ byte = 0x58
	subUserIdentityAC byte = 0x59
)

// Presentation context results (PS3.8 9.3.3.2).
const (
	pcAcceptance              byte = 0
	pcUserRejection           byte = 1
	pcNoReason                byte = 2
	pcAbstractNotSupported    byte = 3
	pcTransferSynNotSupported byte = 4
)

// A-ABORT sources and reasons (PS3.8 9.3.8).
const (
	abortSourceUser     byte = 0
	abortSourceProvider byte = 2

	abortReasonNotSpecified byte = 0
	abortUnrecognizedPDU    byte = 1
	abortUnexpectedPDU      byte = 2
	abortUnrecognizedParam  byte = 4
	abortUnexpectedParam    byte = 5
	abortInvalidParamValue  byte = 6
)

const pduHeaderLen = 6

// errPDU marks a malformed PDU; the association is aborted.
type errPDU struct {
	reason byte // A-ABORT reason
	msg    string
}

func (e *errPDU) Error() string { return "malformed PDU: " + e.msg }

func malformed(format string, args ...any) error {
	return &errPDU{reason: abortInvalidParamValue, msg: fmt.Sprintf(format, args...)}
}

// presCtx is a presentation context item of an A-ASSOCIATE-RQ (several
// transfer syntaxes, result unused) or -AC (result and one transfer syntax,
// no abstract syntax).
type presCtx struct {
	ID       byte
	Result   byte
	Abstract string
	Transfer []string
}

type roleSel struct {
	SOPClass string
	SCU, SCP bool
}

type userInfo struct {
	MaxLength      uint32
	ImplClassUID   string
	ImplVersion    string
	HasAsync       bool
	AsyncInvoked   uint16
	AsyncPerformed uint16
	Roles          []roleSel
	UserIdentity   bool // an identity sub-item was present (tolerated, not checked)
	// IdentityPositiveResponse: the RQ's identity sub-item asked for a
	// positive response (PS3.7 D.3.3.7.1).
	IdentityPositiveResponse bool
	// IdentityAccepted: the AC carries a user identity response sub-item
	// (0x59) with an empty server response (PS3.7 D.3.3.7.2).
	IdentityAccepted bool
	ExtNegotiation   int // number of extended negotiation sub-items (tolerated, not answered)
}

// associate is an A-ASSOCIATE-RQ or -AC.
type associate struct {
	Type            byte
	ProtocolVersion uint16
	CalledAET       string
	CallingAET      string
	AppContext      string
	Contexts        []presCtx
	User            userInfo
}

type associateRJ struct{ Result, Source, Reason byte }

type pdv struct {
	ContextID byte
	Control   byte // bit 0: command; bit 1: last fragment
	Data      []byte
}

func (p pdv) isCommand() bool { return p.Control&1 != 0 }
func (p pdv) isLast() bool    { return p.Control&2 != 0 }

type pData struct{ PDVs []pdv }
type releaseRQ struct{}
type releaseRP struct{}
type abortPDU struct{ Source, Reason byte }

// readPDU reads one PDU into buf (grown as bytes actually arrive, never past
// limit) and returns its type and body. A declared length above limit is an
// error before anything is allocated.
func readPDU(r io.Reader, buf []byte, limit uint32) (typ byte, body, newBuf []byte, err error) {
	var h [pduHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, buf, err
	}
	typ = h[0]
	n := binary.BigEndian.Uint32(h[2:])
	if typ < pduAssociateRQ || typ > pduAbort {
		return typ, nil, buf, &errPDU{reason: abortUnrecognizedPDU, msg: fmt.Sprintf("unknown PDU type 0x%02X", typ)}
	}
	if n > limit {
		return typ, nil, buf, &errPDU{reason: abortInvalidParamValue, msg: fmt.Sprintf("PDU type 0x%02X declares length %d, above the limit %d", typ, n, limit)}
	}
	buf = buf[:0]
	const step = 64 << 10
	for uint32(len(buf)) < n {
		want := int(n) - len(buf)
		if want > step {
			want = step
		}
		if cap(buf)-len(buf) < want {
			// Grow with what actually arrives, never past the declared length.
			newCap := min(max(2*cap(buf), len(buf)+want), int(n))
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return typ, nil, buf, fmt.Errorf("reading PDU type 0x%02X body (%d of %d bytes): %w", typ, len(buf), n, err)
		}
	}
	return typ, buf, buf, nil
}

// decodePDU decodes a complete PDU (header and body) held in b.
func decodePDU(b []byte) (any, error) {
	if len(b) < pduHeaderLen {
		return nil, malformed("PDU shorter than its header (%d bytes)", len(b))
	}
	n := binary.BigEndian.Uint32(b[2:])
	if uint64(n) != uint64(len(b)-pduHeaderLen) {
		return nil, malformed("PDU length %d does not match the %d bytes present", n, len(b)-pduHeaderLen)
	}
	return decodeBody(b[0], b[pduHeaderLen:])
}

// decodeBody decodes the body of a PDU of type typ. Data slices in the
// result (P-DATA) alias body.
func decodeBody(typ byte, body []byte) (any, error) {
	switch typ {
	case pduAssociateRQ, pduAssociateAC:
		return decodeAssociate(typ, body)
	case pduAssociateRJ:
		if len(body) != 4 {
			return nil, malformed("A-ASSOCIATE-RJ length %d, want 4", len(body))
		}
		return &associateRJ{Result: body[1], Source: body[2], Reason: body[3]}, nil
	case pduPData:
		return decodePData(body)
	case pduReleaseRQ, pduReleaseRP:
		if len(body) != 4 {
			return nil, malformed("A-RELEASE length %d, want 4", len(body))
		}
		if typ == pduReleaseRQ {
			return &releaseRQ{}, nil
		}
		return &releaseRP{}, nil
	case pduAbort:
		if len(body) != 4 {
			return nil, malformed("A-ABORT length %d, want 4", len(body))
		}
		return &abortPDU{Source: body[2], Reason: body[3]}, nil
	}
	return nil, &errPDU{reason: abortUnrecognizedPDU, msg: fmt.Sprintf("unknown PDU type 0x%02X", typ)}
}

func decodePData(body []byte) (*pData, error) {
	// Count first so the slice is allocated once and bounded by the body.
	count := 0
	for rest := body; len(rest) > 0; count++ {
		if len(rest) < 4 {
			return nil, malformed("P-DATA: %d trailing bytes, too short for a PDV item", len(rest))
		}
		n := binary.BigEndian.Uint32(rest)
		if n < 2 || uint64(n) > uint64(len(rest)-4) {
			return nil, malformed("P-DATA: PDV item length %d with %d bytes left", n, len(rest)-4)
		}
		rest = rest[4+n:]
	}
	if count == 0 {
		return nil, malformed("P-DATA without any PDV item")
	}
	p := &pData{PDVs: make([]pdv, 0, count)}
	for rest := body; len(rest) > 0; {
		n := binary.BigEndian.Uint32(rest)
		p.PDVs = append(p.PDVs, pdv{ContextID: rest[4], Control: rest[5], Data: rest[6 : 4+n]})
		rest = rest[4+n:]
	}
	return p, nil
}

// item iterates over "type, reserved, 16-bit length, value" items.
type itemReader struct {
	b   []byte
	err error
}

func (r *itemReader) next() (typ byte, val []byte, ok bool) {
	if r.err != nil || len(r.b) == 0 {
		return 0, nil, false
	}
	if len(r.b) < 4 {
		r.err = malformed("%d trailing bytes, too short for an item header", len(r.b))
		return 0, nil, false
	}
	typ = r.b[0]
	n := int(binary.BigEndian.Uint16(r.b[2:]))
	if n > len(r.b)-4 {
		r.err = malformed("item 0x%02X declares length %d with %d bytes left", typ, n, len(r.b)-4)
		return 0, nil, false
	}
	val = r.b[4 : 4+n]
	r.b = r.b[4+n:]
	return typ, val, true
}

// uidString trims the padding (NUL or space) a peer may add to a UID.
func uidString(b []byte) string {
	return strings.TrimRight(string(b), "\x00 ")
}

// aeString trims an AE title field (space padded, leading spaces insignificant).
func aeString(b []byte) string {
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
}

func decodeAssociate(typ byte, body []byte) (*associate, error) {
	name := "A-ASSOCIATE-RQ"
	if typ == pduAssociateAC {
		name = "A-ASSOCIATE-AC"
	}
	if len(body) < 68 {
		return nil, malformed("%s fixed fields need 68 bytes, got %d", name, len(body))
	}
	a := &associate{
		Type:            typ,
		ProtocolVersion: binary.BigEndian.Uint16(body[0:]),
		CalledAET:       aeString(body[4:20]),
		CallingAET:      aeString(body[20:36]),
	}
	ir := itemReader{b: body[68:]}
	seenUser := false
	for {
		t, v, ok := ir.next()
		if !ok {
			break
		}
		switch t {
		case itemAppContext:
			a.AppContext = uidString(v)
		case itemPresCtxRQ, itemPresCtxAC:
			if (t == itemPresCtxRQ) != (typ == pduAssociateRQ) {
				return nil, &errPDU{reason: abortUnexpectedParam, msg: fmt.Sprintf("%s holds presentation context item 0x%02X", name, t)}
			}
			if len(a.Contexts) >= 128 {
				return nil, malformed("%s proposes more than 128 presentation contexts", name)
			}
			pc, err := decodePresCtx(t, v)
			if err != nil {
				return nil, err
			}
			a.Contexts = append(a.Contexts, pc)
		case itemUserInfo:
			if seenUser {
				return nil, malformed("%s has two user information items", name)
			}
			seenUser = true
			u, err := decodeUserInfo(v)
			if err != nil {
				return nil, err
			}
			a.User = u
		default:
			// Unknown items are ignored (tolerant reader).
		}
	}
	if ir.err != nil {
		return nil, fmt.Errorf("%s: %w", name, ir.err)
	}
	return a, nil
}

func decodePresCtx(t byte, v []byte) (presCtx, error) {
	if len(v) < 4 {
		return presCtx{}, malformed("presentation context item of %d bytes", len(v))
	}
	pc := presCtx{ID: v[0], Result: v[2]}
	ir := itemReader{b: v[4:]}
	for {
		st, sv, ok := ir.next()
		if !ok {
			break
		}
		switch st {
		case itemAbstractSyn:
			pc.Abstract = uidString(sv)
		case itemTransferSyn:
			if len(pc.Transfer) >= 64 {
				return pc, malformed("presentation context %d proposes more than 64 transfer syntaxes", pc.ID)
			}
			pc.Transfer = append(pc.Transfer, uidString(sv))
		}
	}
	if ir.err != nil {
		return pc, ir.err
	}
	if t == itemPresCtxRQ && pc.Abstract == "" {
		return pc, malformed("presentation context %d without abstract syntax", pc.ID)
	}
	return pc, nil
}

func decodeUserInfo(v []byte) (userInfo, error) {
	var u userInfo
	ir := itemReader{b: v}
	for {
		t, sv, ok := ir.next()
		if !ok {
			break
		}
		switch t {
		case subMaxLength:
			if len(sv) != 4 {
				return u, malformed("maximum length sub-item of %d bytes", len(sv))
			}
			u.MaxLength = binary.BigEndian.Uint32(sv)
		case subImplClassUID:
			u.ImplClassUID = uidString(sv)
		case subImplVersion:
			u.ImplVersion = aeString(sv)
		case subAsyncOps:
			if len(sv) != 4 {
				return u, malformed("asynchronous operations window sub-item of %d bytes", len(sv))
			}
			u.HasAsync = true
			u.AsyncInvoked = binary.BigEndian.Uint16(sv)
			u.AsyncPerformed = binary.BigEndian.Uint16(sv[2:])
		case subRoleSelection:
			if len(sv) < 2 {
				return u, malformed("role selection sub-item of %d bytes", len(sv))
			}
			n := int(binary.BigEndian.Uint16(sv))
			if n+4 != len(sv) {
				return u, malformed("role selection sub-item: UID length %d in %d bytes", n, len(sv))
			}
			if len(u.Roles) < 128 {
				u.Roles = append(u.Roles, roleSel{SOPClass: uidString(sv[2 : 2+n]), SCU: sv[2+n] == 1, SCP: sv[3+n] == 1})
			}
		case subUserIdentityRQ:
			// Type, positive-response-requested, then the fields (unchecked).
			u.UserIdentity = true
			u.IdentityPositiveResponse = len(sv) >= 2 && sv[1] == 1
		case subUserIdentityAC:
			u.UserIdentity = true
			u.IdentityAccepted = true
		case subSOPExtNeg, subCommonExtNeg:
			u.ExtNegotiation++
		}
	}
	return u, ir.err
}

// --- encoding ---

func putItem(b []byte, typ byte, val []byte) []byte {
	b = append(b, typ, 0, byte(len(val)>>8), byte(len(val)))
	return append(b, val...)
}

func padAE(s string) []byte {
	f := []byte("                ")
	copy(f, s)
	return f
}

// encodeAssociate encodes an A-ASSOCIATE-RQ or -AC PDU.
func encodeAssociate(a *associate) []byte {
	b := make([]byte, pduHeaderLen, 512)
	b[0] = a.Type
	b = binary.BigEndian.AppendUint16(b, 1) // protocol version
	b = append(b, 0, 0)
	b = append(b, padAE(a.CalledAET)...)
	b = append(b, padAE(a.CallingAET)...)
	b = append(b, make([]byte, 32)...)
	b = putItem(b, itemAppContext, []byte(a.AppContext))
	for _, pc := range a.Contexts {
		var v []byte
		if a.Type == pduAssociateRQ {
			v = append(v, pc.ID, 0, 0, 0)
			v = putItem(v, itemAbstractSyn, []byte(pc.Abstract))
			for _, ts := range pc.Transfer {
				v = putItem(v, itemTransferSyn, []byte(ts))
			}
			b = putItem(b, itemPresCtxRQ, v)
		} else {
			v = append(v, pc.ID, 0, pc.Result, 0)
			ts := ""
			if len(pc.Transfer) > 0 {
				ts = pc.Transfer[0]
			}
			// PS3.8 9.3.3.2: the transfer syntax sub-item is present but not
			// significant when the context is rejected.
			v = putItem(v, itemTransferSyn, []byte(ts))
			b = putItem(b, itemPresCtxAC, v)
		}
	}
	var u []byte
	u = putItem(u, subMaxLength, binary.BigEndian.AppendUint32(nil, a.User.MaxLength))
	u = putItem(u, subImplClassUID, []byte(a.User.ImplClassUID))
	if a.User.HasAsync {
		u = putItem(u, subAsyncOps, binary.BigEndian.AppendUint32(nil, uint32(a.User.AsyncInvoked)<<16|uint32(a.User.AsyncPerformed)))
	}
	for _, r := range a.User.Roles {
		v := binary.BigEndian.AppendUint16(nil, uint16(len(r.SOPClass)))
		v = append(v, r.SOPClass...)
		v = append(v, b2u(r.SCU), b2u(r.SCP))
		u = putItem(u, subRoleSelection, v)
	}
	if a.User.ImplVersion != "" {
		u = putItem(u, subImplVersion, []byte(a.User.ImplVersion))
	}
	if a.Type == pduAssociateAC && a.User.IdentityAccepted {
		u = putItem(u, subUserIdentityAC, []byte{0, 0}) // server-response-length 0
	}
	b = putItem(b, itemUserInfo, u)
	binary.BigEndian.PutUint32(b[2:], uint32(len(b)-pduHeaderLen))
	return b
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func encodeShort(typ byte, b1, b2, b3 byte) []byte {
	return []byte{typ, 0, 0, 0, 0, 4, 0, b1, b2, b3}
}

func encodeRJ(rj associateRJ) []byte {
	return encodeShort(pduAssociateRJ, rj.Result, rj.Source, rj.Reason)
}
func encodeAbort(source, reason byte) []byte {
	return encodeShort(pduAbort, 0, source, reason)
}
func encodeReleaseRQ() []byte { return encodeShort(pduReleaseRQ, 0, 0, 0) }
func encodeReleaseRP() []byte { return encodeShort(pduReleaseRP, 0, 0, 0) }

// pdataHeader returns the PDU and PDV item headers for one P-DATA-TF PDU
// holding a single PDV of n data bytes.
func pdataHeader(pcid, control byte, n int) []byte {
	h := make([]byte, 12)
	h[0] = pduPData
	binary.BigEndian.PutUint32(h[2:], uint32(n+6))
	binary.BigEndian.PutUint32(h[6:], uint32(n+2))
	h[10] = pcid
	h[11] = control
	return h
}
