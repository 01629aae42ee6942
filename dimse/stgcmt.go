package dimse

// Storage Commitment Push Model (PS3.4 Annex J): the SOP class, the data
// sets of its N-ACTION-RQ and N-EVENT-REPORT-RQ, and the handler that holds
// the policy. The messages themselves are in naction.go (SCP side of the
// request) and neventreport.go (sending the report, on the requesting
// association or on one of our own).
//
// The data sets are small and of a fixed shape, so they are read and written
// here rather than through a general DICOM library: a UID and one or two
// sequences of items holding two UIDs (and a failure reason), in Implicit or
// Explicit VR Little Endian as negotiated.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// Storage Commitment Push Model SOP class and its well-known SOP instance.
const (
	UIDStorageCommitmentPushModel     = "1.2.840.10008.1.20.1"
	UIDStorageCommitmentPushModelInst = "1.2.840.10008.1.20.1.1"
)

// Failure reasons of the Failed SOP Sequence (PS3.4 J.3.2.1.1.1, PS3.3
// C.14.1.1).
const (
	FailureProcessing         uint16 = 0x0110 // processing failure
	FailureNoSuchInstance     uint16 = 0x0112 // no such object instance
	FailureResourceLimitation uint16 = 0x0213 // resource limitation
	FailureClassNotSupported  uint16 = 0x0122 // referenced SOP class not supported
	FailureClassConflict      uint16 = 0x0119 // class / instance conflict
	FailureDuplicateTxUID     uint16 = 0x0131 // duplicate transaction UID
)

// Event Type IDs of the N-EVENT-REPORT (PS3.4 J.3.3).
const (
	eventAllCommitted  uint16 = 1 // Storage Commitment Request Successful
	eventSomeFailed    uint16 = 2 // Storage Commitment Request Complete - Failures Exist
	actionRequestCommt uint16 = 1 // Action Type ID: Request Storage Commitment
)

// maxCommitmentDataSet bounds the data set of an N-ACTION-RQ held in memory:
// an item is about 150 bytes, so this is room for some 100 000 instances.
const maxCommitmentDataSet = 16 << 20

// SOPRef names one SOP instance.
type SOPRef struct {
	SOPClassUID    string
	SOPInstanceUID string
}

// FailedSOP is an instance that could not be committed, with its reason
// (FailureNoSuchInstance…).
type FailedSOP struct {
	SOPRef
	Reason uint16
}

// CommitmentRequest is the data set of an N-ACTION-RQ.
type CommitmentRequest struct {
	TransactionUID string
	Refs           []SOPRef
}

// CommitmentReport is the data set of an N-EVENT-REPORT-RQ.
type CommitmentReport struct {
	TransactionUID string
	Committed      []SOPRef
	Failed         []FailedSOP
}

// eventType is the report's Event Type ID.
func (r *CommitmentReport) eventType() uint16 {
	if len(r.Failed) > 0 {
		return eventSomeFailed
	}
	return eventAllCommitted
}

// CommitmentHandler is the policy of the Storage Commitment Push Model SCP:
// what is committed, what is kept until reported, when and where a report
// is sent. With Config.Commitment nil, the SOP class is not accepted.
type CommitmentHandler interface {
	// RequestCommitment takes an N-ACTION-RQ. It records the request
	// durably before returning Success, which goes back in the
	// N-ACTION-RSP; a failure status refuses the request.
	RequestCommitment(ctx context.Context, a *Association, req *CommitmentRequest) Status
	// ReportNow is called after a successful N-ACTION-RSP, on the
	// requesting association: it returns the report to send on it, waiting
	// at most ctx's deadline. nil: no report now (the handler delivers it
	// later on an association of its own).
	ReportNow(ctx context.Context, a *Association, transactionUID string) *CommitmentReport
	// ReportDone says how the report ReportNow returned fared: err is nil
	// when the requester answered it with Success. After an error the
	// report is still the handler's to deliver.
	ReportDone(a *Association, transactionUID string, err error)
}

// Data set element tags (group 0008).
const (
	tagRefSOPClassUID    uint32 = 0x00081150
	tagRefSOPInstanceUID uint32 = 0x00081155
	tagFailureReason     uint32 = 0x00081197
	tagFailedSOPSeq      uint32 = 0x00081198
	tagRefSOPSeq         uint32 = 0x00081199
	tagTransactionUID    uint32 = 0x00081195

	tagItem      uint32 = 0xFFFEE000
	tagItemDelim uint32 = 0xFFFEE00D
	tagSeqDelim  uint32 = 0xFFFEE0DD

	undefinedLength uint32 = 0xFFFFFFFF
)

// implicitSeqs are the sequences read from Implicit VR data sets, where
// nothing else says an element of defined length is one: those of Storage
// Commitment and of MPPS (mpps.go). Other sequences of defined length are
// kept as opaque values.
var implicitSeqs = map[uint32]bool{
	tagRefSOPSeq: true, tagFailedSOPSeq: true,
	tagSchedStepAttrSeq: true, tagPerformedSeriesSeq: true, tagRefImageSeq: true, tagRefNonImageSeq: true,
}

// dsElem is one element of a decoded data set; a sequence has items.
type dsElem struct {
	tag   uint32
	val   []byte
	items [][]dsElem
}

var errDataSet = errors.New("malformed commitment data set")

func dsErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errDataSet, fmt.Sprintf(format, args...))
}

// longVR reports whether an Explicit VR element has the 4-byte length form.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}

// dsReader decodes a Little Endian data set.
type dsReader struct {
	explicit bool
}

// elements decodes b (a whole data set or item); depth bounds nesting.
func (r dsReader) elements(b []byte, depth int) ([]dsElem, error) {
	if depth > 8 {
		return nil, dsErr("sequences nested too deep")
	}
	var out []dsElem
	for off := 0; off < len(b); {
		e, n, err := r.element(b[off:], depth)
		if err != nil {
			return nil, err
		}
		off += n
		out = append(out, e)
	}
	return out, nil
}

// element decodes one element at the start of b and returns its size.
func (r dsReader) element(b []byte, depth int) (dsElem, int, error) {
	if len(b) < 8 {
		return dsElem{}, 0, dsErr("%d trailing bytes", len(b))
	}
	tag := uint32(binary.LittleEndian.Uint16(b))<<16 | uint32(binary.LittleEndian.Uint16(b[2:]))
	var vr string
	var n uint32
	hdr := 8
	if r.explicit && tag>>16 != 0xFFFE {
		vr = string(b[4:6])
		if longVR(vr) {
			if len(b) < 12 {
				return dsElem{}, 0, dsErr("element (%08X) header cut short", tag)
			}
			n, hdr = binary.LittleEndian.Uint32(b[8:]), 12
		} else {
			n = uint32(binary.LittleEndian.Uint16(b[6:]))
		}
	} else {
		n = binary.LittleEndian.Uint32(b[4:])
	}
	body := b[hdr:]
	isSeq := vr == "SQ" || (vr == "" && implicitSeqs[tag]) || (n == undefinedLength && vr != "UN")
	if !isSeq {
		if n == undefinedLength || uint64(n) > uint64(len(body)) {
			return dsElem{}, 0, dsErr("element (%08X) length %d with %d bytes left", tag, n, len(body))
		}
		return dsElem{tag: tag, val: body[:n]}, hdr + int(n), nil
	}
	e := dsElem{tag: tag}
	if n != undefinedLength {
		if uint64(n) > uint64(len(body)) {
			return dsElem{}, 0, dsErr("sequence (%08X) length %d with %d bytes left", tag, n, len(body))
		}
		body = body[:n]
	}
	// Items, each of defined or undefined length.
	off := 0
	for {
		if off == len(body) {
			if n == undefinedLength {
				return dsElem{}, 0, dsErr("sequence (%08X) without its delimiter", tag)
			}
			return e, hdr + off, nil
		}
		if len(body)-off < 8 {
			return dsElem{}, 0, dsErr("sequence (%08X): %d trailing bytes", tag, len(body)-off)
		}
		it := uint32(binary.LittleEndian.Uint16(body[off:]))<<16 | uint32(binary.LittleEndian.Uint16(body[off+2:]))
		il := binary.LittleEndian.Uint32(body[off+4:])
		off += 8
		switch {
		case it == tagSeqDelim:
			return e, hdr + off, nil
		case it != tagItem:
			return dsElem{}, 0, dsErr("sequence (%08X) holds (%08X), not an item", tag, it)
		case il != undefinedLength:
			if uint64(il) > uint64(len(body)-off) {
				return dsElem{}, 0, dsErr("item length %d with %d bytes left", il, len(body)-off)
			}
			els, err := r.elements(body[off:off+int(il)], depth+1)
			if err != nil {
				return dsElem{}, 0, err
			}
			e.items = append(e.items, els)
			off += int(il)
		default:
			var els []dsElem
			for {
				if len(body)-off >= 8 && binary.LittleEndian.Uint32(body[off:]) == 0xE00DFFFE {
					off += 8
					break
				}
				el, m, err := r.element(body[off:], depth+1)
				if err != nil {
					return dsElem{}, 0, err
				}
				els = append(els, el)
				off += m
			}
			e.items = append(e.items, els)
		}
	}
}

func find(els []dsElem, tag uint32) *dsElem {
	for i := range els {
		if els[i].tag == tag {
			return &els[i]
		}
	}
	return nil
}

func uidOf(els []dsElem, tag uint32) string {
	if e := find(els, tag); e != nil {
		return uidString(e.val)
	}
	return ""
}

func refsOf(e *dsElem) ([]SOPRef, []uint16, error) {
	if e == nil {
		return nil, nil, nil
	}
	refs := make([]SOPRef, 0, len(e.items))
	reasons := make([]uint16, 0, len(e.items))
	for _, it := range e.items {
		r := SOPRef{SOPClassUID: uidOf(it, tagRefSOPClassUID), SOPInstanceUID: uidOf(it, tagRefSOPInstanceUID)}
		if r.SOPInstanceUID == "" {
			return nil, nil, dsErr("an item without Referenced SOP Instance UID")
		}
		var reason uint16
		if f := find(it, tagFailureReason); f != nil && len(f.val) == 2 {
			reason = binary.LittleEndian.Uint16(f.val)
		}
		refs = append(refs, r)
		reasons = append(reasons, reason)
	}
	return refs, reasons, nil
}

// decodeCommitmentRequest reads an N-ACTION-RQ data set.
func decodeCommitmentRequest(b []byte, explicit bool) (*CommitmentRequest, error) {
	if len(b) > maxCommitmentDataSet {
		return nil, dsErr("data set of %d bytes", len(b))
	}
	els, err := dsReader{explicit: explicit}.elements(b, 0)
	if err != nil {
		return nil, err
	}
	req := &CommitmentRequest{TransactionUID: uidOf(els, tagTransactionUID)}
	if req.TransactionUID == "" {
		return nil, dsErr("no Transaction UID")
	}
	if req.Refs, _, err = refsOf(find(els, tagRefSOPSeq)); err != nil {
		return nil, err
	}
	if len(req.Refs) == 0 {
		return nil, dsErr("empty Referenced SOP Sequence")
	}
	return req, nil
}

// decodeCommitmentReport reads an N-EVENT-REPORT-RQ data set.
func decodeCommitmentReport(b []byte, explicit bool) (*CommitmentReport, error) {
	els, err := dsReader{explicit: explicit}.elements(b, 0)
	if err != nil {
		return nil, err
	}
	rep := &CommitmentReport{TransactionUID: uidOf(els, tagTransactionUID)}
	if rep.Committed, _, err = refsOf(find(els, tagRefSOPSeq)); err != nil {
		return nil, err
	}
	failed, reasons, err := refsOf(find(els, tagFailedSOPSeq))
	if err != nil {
		return nil, err
	}
	for i, f := range failed {
		rep.Failed = append(rep.Failed, FailedSOP{SOPRef: f, Reason: reasons[i]})
	}
	return rep, nil
}

// dsWriter encodes a Little Endian data set; sequences and items have
// defined lengths.
type dsWriter struct {
	explicit bool
}

func evenUID(s string) []byte {
	b := []byte(s)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func (w dsWriter) elem(b []byte, tag uint32, vr string, val []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(tag>>16))
	b = binary.LittleEndian.AppendUint16(b, uint16(tag))
	switch {
	case !w.explicit:
		b = binary.LittleEndian.AppendUint32(b, uint32(len(val)))
	case longVR(vr):
		b = append(b, vr[0], vr[1], 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(val)))
	default:
		b = append(b, vr[0], vr[1])
		b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	}
	return append(b, val...)
}

func (w dsWriter) sequence(b []byte, tag uint32, items [][]byte) []byte {
	var v []byte
	for _, it := range items {
		v = binary.LittleEndian.AppendUint32(v, 0xE000FFFE)
		v = binary.LittleEndian.AppendUint32(v, uint32(len(it)))
		v = append(v, it...)
	}
	return w.elem(b, tag, "SQ", v)
}

func (w dsWriter) refItem(r SOPRef, reason *uint16) []byte {
	var it []byte
	it = w.elem(it, tagRefSOPClassUID, "UI", evenUID(r.SOPClassUID))
	it = w.elem(it, tagRefSOPInstanceUID, "UI", evenUID(r.SOPInstanceUID))
	if reason != nil {
		it = w.elem(it, tagFailureReason, "US", binary.LittleEndian.AppendUint16(nil, *reason))
	}
	return it
}

// encodeCommitmentRequest writes an N-ACTION-RQ data set.
func encodeCommitmentRequest(req *CommitmentRequest, explicit bool) []byte {
	w := dsWriter{explicit: explicit}
	b := w.elem(nil, tagTransactionUID, "UI", evenUID(req.TransactionUID))
	items := make([][]byte, len(req.Refs))
	for i, r := range req.Refs {
		items[i] = w.refItem(r, nil)
	}
	return w.sequence(b, tagRefSOPSeq, items)
}

// encodeCommitmentReport writes an N-EVENT-REPORT-RQ data set: Transaction
// UID, Failed SOP Sequence (when any failed) and Referenced SOP Sequence
// (when any was committed), in tag order.
func encodeCommitmentReport(rep *CommitmentReport, explicit bool) []byte {
	w := dsWriter{explicit: explicit}
	b := w.elem(nil, tagTransactionUID, "UI", evenUID(rep.TransactionUID))
	if len(rep.Failed) > 0 {
		items := make([][]byte, len(rep.Failed))
		for i, f := range rep.Failed {
			items[i] = w.refItem(f.SOPRef, &f.Reason)
		}
		b = w.sequence(b, tagFailedSOPSeq, items)
	}
	if len(rep.Committed) > 0 {
		items := make([][]byte, len(rep.Committed))
		for i, r := range rep.Committed {
			items[i] = w.refItem(r, nil)
		}
		b = w.sequence(b, tagRefSOPSeq, items)
	}
	return b
}

// commitmentSyntaxes are the transfer syntaxes accepted and proposed for the
// Storage Commitment SOP class.
var commitmentSyntaxes = []string{uidExplicitVRLE, uidImplicitVRLE}
