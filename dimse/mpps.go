package dimse

// Modality Performed Procedure Step SOP class (PS3.4 Annex F.7) as SCP:
// N-CREATE (PS3.7 10.1.5) when the modality starts an exam and N-SET
// (PS3.7 10.1.3) while it runs and when it ends, COMPLETED or DISCONTINUED.
//
// dimse checks what one message can show (the SOP class, a status that
// the standard allows at that step, a readable data set) and reads from the
// data set only what sonolink acts on: the Performed Procedure Step Status,
// the Study Instance UIDs of the Scheduled Step Attribute Sequence, and the
// instances the Performed Series Sequence references. What depends on
// earlier messages (a duplicate N-CREATE, an N-SET for an unknown instance
// or one already final) is the MPPSHandler's, which answers with the
// sentinel errors below; they become statuses here, in one place.
//
// The data sets are small and read into memory (at most
// maxCommitmentDataSet), as the Storage Commitment ones are, with the same
// reader (stgcmt.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"sonolink/dicom/uid"
	"sonolink/internal/logid"
)

// UIDModalityPerformedProcedureStep is the MPPS SOP class.
const UIDModalityPerformedProcedureStep = uid.ModalityPerformedProcedureStep

// Performed Procedure Step Status values (PS3.3 C.4.14).
const (
	MPPSInProgress   = "IN PROGRESS"
	MPPSCompleted    = "COMPLETED"
	MPPSDiscontinued = "DISCONTINUED"
)

// ProcedureStep is what sonolink reads from an N-CREATE or N-SET data set.
type ProcedureStep struct {
	// Status is the Performed Procedure Step Status; "" in an N-SET that
	// does not change it.
	Status string
	// StudyUIDs are the Study Instance UIDs of the Scheduled Step
	// Attribute Sequence items, in order, without repeats.
	StudyUIDs []string
	// HasSeries reports that the data set holds the Performed Series
	// Sequence; an N-SET that holds it replaces the references.
	HasSeries bool
	// Refs are the instances its items reference (Referenced Image
	// Sequence and Referenced Non-Image Composite SOP Instance Sequence).
	Refs []SOPRef
}

// MPPSHandler keeps Modality Performed Procedure Steps. With Config.MPPS
// nil, the SOP class is not accepted. Both methods record the change
// durably before they return nil, which the modality is answered Success
// for; they are called from association goroutines, concurrently.
type MPPSHandler interface {
	// CreateMPPS takes an N-CREATE: instanceUID is the modality's or, when
	// it left it to the SCP, a new one. ps.Status is MPPSInProgress.
	// ErrMPPSExists refuses an instance that already exists.
	CreateMPPS(ctx context.Context, a *Association, instanceUID string, ps *ProcedureStep) error
	// SetMPPS takes an N-SET. ErrMPPSUnknown refuses an instance never
	// created, ErrMPPSFinal one already COMPLETED or DISCONTINUED.
	SetMPPS(ctx context.Context, a *Association, instanceUID string, ps *ProcedureStep) error
}

// Errors of an MPPSHandler, answered with the statuses PS3.4 F.7.2 names.
var (
	ErrMPPSExists  = errors.New("performed procedure step already exists")                  // 0111 duplicate SOP instance
	ErrMPPSUnknown = errors.New("no such performed procedure step")                         // 0112 no such object instance
	ErrMPPSFinal   = errors.New("performed procedure step object may no longer be updated") // 0110 processing failure, Error ID A710
)

// Statuses and Error ID of N-CREATE and N-SET (PS3.7 10.1.3.1.9,
// 10.1.5.1.6; PS3.4 F.7.2.2.2).
const (
	statusNoSuchAttribute       Status = 0x0105
	statusInvalidAttributeValue Status = 0x0106
	statusMissingAttribute      Status = 0x0120
	errorIDMayNoLongerBeUpdated uint16 = 0xA710
)

// Data set tags of the MPPS module that sonolink reads.
const (
	tagStudyInstanceUID   uint32 = 0x0020000D
	tagRefImageSeq        uint32 = 0x00081140
	tagRefNonImageSeq     uint32 = 0x00400220
	tagPPSStatus          uint32 = 0x00400252
	tagSchedStepAttrSeq   uint32 = 0x00400270
	tagPerformedSeriesSeq uint32 = 0x00400340
)

// startMPPS acts on the command set of an N-CREATE-RQ or N-SET-RQ.
func (a *scpAssoc) startMPPS(m *message, pc acceptedCtx) (*message, bool, error) {
	c := m.cmd
	class, inst := c.RequestedSOPClassUID, c.RequestedSOPInstanceUID
	if c.Field == cmdNCreateRQ {
		class, inst = c.AffectedSOPClassUID, c.AffectedSOPInstanceUID
	}
	if !c.hasDataSet() {
		return nil, true, a.respondMPPS(m, "", statusMissingAttribute, 0, "request without data set")
	}
	switch {
	case a.s.cfg.MPPS == nil || pc.abstract != UIDModalityPerformedProcedureStep:
		m.fail, m.failWhy = StatusSOPClassNotSupported, "N-CREATE or N-SET on a context other than MPPS"
	case class != UIDModalityPerformedProcedureStep:
		m.fail, m.failWhy = StatusNoSuchSOPClass, "SOP class is not Modality Performed Procedure Step"
	case c.Field == cmdNSetRQ && inst == "":
		m.fail, m.failWhy = statusNoSuchInstance, "N-SET without Requested SOP Instance UID"
	default:
		m.mem = make([]byte, 0, 4096)
	}
	return m, false, nil
}

// finishMPPS answers a complete N-CREATE-RQ or N-SET-RQ.
func (a *scpAssoc) finishMPPS(m *message, pc acceptedCtx) error {
	c := m.cmd
	create := c.Field == cmdNCreateRQ
	inst := c.RequestedSOPInstanceUID
	if create {
		inst = c.AffectedSOPInstanceUID
	}
	st, why := m.fail, m.failWhy
	var errID uint16
	var ps *ProcedureStep
	if st == StatusSuccess {
		var err error
		if ps, err = decodeProcedureStep(m.mem, pc.ts != uidImplicitVRLE); err != nil {
			st, why = StatusProcessingFailure, "cannot read the data set"
			a.log.Warn("MPPS data set not understood", "err", err)
		}
	}
	m.mem = nil
	if st == StatusSuccess {
		st, why = checkProcedureStep(create, ps)
	}
	if st == StatusSuccess && create && inst == "" {
		// The modality left the instance UID to the SCP (PS3.7 10.1.5.1.3).
		inst = uid.New()
	}
	if st == StatusSuccess {
		st, errID, why = a.callMPPS(create, inst, ps)
	}
	if err := a.respondMPPS(m, inst, st, errID, why); err != nil {
		return err
	}
	what := "N-SET answered"
	if create {
		what = "N-CREATE answered"
	}
	lvl := a.log.Info
	if st != StatusSuccess {
		lvl = a.log.Warn
	}
	args := []any{slog.String("mpps", logid.ID(inst)), "status", st.String()}
	if ps != nil {
		args = append(args, "pps_status", ps.Status, "referenced", len(ps.Refs))
	}
	if why != "" {
		args = append(args, "why", why)
	}
	lvl(what, args...)
	return nil
}

// checkProcedureStep applies the rules one message can be held to (PS3.4
// F.7.2.1.2, F.7.2.2.2): an N-CREATE is IN PROGRESS; an N-SET changes the
// status, if at all, to one of the three values.
func checkProcedureStep(create bool, ps *ProcedureStep) (Status, string) {
	switch {
	case create && ps.Status == "":
		return statusMissingAttribute, "no Performed Procedure Step Status"
	case create && ps.Status != MPPSInProgress:
		return statusInvalidAttributeValue, "N-CREATE status must be IN PROGRESS"
	case ps.Status != "" && ps.Status != MPPSInProgress && ps.Status != MPPSCompleted && ps.Status != MPPSDiscontinued:
		return statusInvalidAttributeValue, "unknown Performed Procedure Step Status"
	}
	return StatusSuccess, ""
}

// callMPPS runs the handler with a deadline and maps its error to a
// status; a panic is a processing failure.
func (a *scpAssoc) callMPPS(create bool, inst string, ps *ProcedureStep) (st Status, errID uint16, why string) {
	ctx, cancel := context.WithTimeout(a.s.baseCtx, a.s.cfg.IdleTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			metricFailures.WithLabelValues(failHandlerPanic).Inc()
			a.log.Error("MPPS handler panicked; answering processing failure", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			st, errID, why = StatusProcessingFailure, 0, "internal error"
		}
	}()
	h := a.s.cfg.MPPS
	var err error
	if create {
		err = h.CreateMPPS(ctx, &a.info, inst, ps)
	} else {
		err = h.SetMPPS(ctx, &a.info, inst, ps)
	}
	switch {
	case err == nil:
		return StatusSuccess, 0, ""
	case errors.Is(err, ErrMPPSExists):
		return StatusDuplicateSOPInstance, 0, "instance already exists"
	case errors.Is(err, ErrMPPSUnknown):
		return statusNoSuchInstance, 0, "no such MPPS instance"
	case errors.Is(err, ErrMPPSFinal):
		return StatusProcessingFailure, errorIDMayNoLongerBeUpdated, "Performed Procedure Step Object may no longer be updated"
	}
	metricFailures.WithLabelValues(failHandler).Inc()
	a.log.Error("MPPS not recorded", slog.String("mpps", logid.ID(inst)), "err", err)
	return StatusProcessingFailure, 0, "cannot record the procedure step"
}

func (a *scpAssoc) respondMPPS(m *message, inst string, st Status, errID uint16, why string) error {
	field, class, asked := uint16(cmdNSetRSP), m.cmd.RequestedSOPClassUID, m.cmd.RequestedSOPInstanceUID
	if m.cmd.Field == cmdNCreateRQ {
		field, class, asked = cmdNCreateRSP, m.cmd.AffectedSOPClassUID, m.cmd.AffectedSOPInstanceUID
	}
	if inst == "" {
		inst = asked
	}
	rsp := &command{Field: field, MessageIDRespondedTo: m.cmd.MessageID, DataSetType: dataSetAbsent,
		AffectedSOPClassUID: class, AffectedSOPInstanceUID: inst, Status: st}
	if st.IsFailure() {
		rsp.ErrorComment, rsp.ErrorID = why, errID
	}
	if err := a.ul.sendCommand(m.pcid, encodeCommand(rsp)); err != nil {
		return fmt.Errorf("sending 0x%04X response: %w", field, err)
	}
	return nil
}

// csString is a CS or UI value without its padding: trailing spaces and NULs
// in any order (some writers pad a UI with NUL, then a space), and leading
// spaces.
func csString(b []byte) string { return strings.TrimLeft(strings.TrimRight(string(b), " \x00"), " ") }

// decodeProcedureStep reads an N-CREATE or N-SET data set.
func decodeProcedureStep(b []byte, explicit bool) (*ProcedureStep, error) {
	if len(b) > maxCommitmentDataSet {
		return nil, dsErr("data set of %d bytes", len(b))
	}
	els, err := dsReader{explicit: explicit}.elements(b, 0)
	if err != nil {
		return nil, err
	}
	ps := &ProcedureStep{}
	if e := find(els, tagPPSStatus); e != nil {
		ps.Status = csString(e.val)
	}
	if e := find(els, tagSchedStepAttrSeq); e != nil {
		for _, it := range e.items {
			if s := uidOf(it, tagStudyInstanceUID); s != "" && !containsUID(ps.StudyUIDs, s) {
				ps.StudyUIDs = append(ps.StudyUIDs, s)
			}
		}
	}
	if e := find(els, tagPerformedSeriesSeq); e != nil {
		ps.HasSeries = true
		for _, it := range e.items {
			for _, seq := range []uint32{tagRefImageSeq, tagRefNonImageSeq} {
				refs, _, err := refsOf(find(it, seq))
				if err != nil {
					return nil, err
				}
				ps.Refs = append(ps.Refs, refs...)
			}
		}
	}
	return ps, nil
}

func containsUID(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// encodeProcedureStep writes an N-CREATE or N-SET data set of ps (the SCU
// side: tests, benchmarks): the status, one Scheduled Step Attribute
// Sequence item per study and, when ps.HasSeries, one Performed Series
// Sequence item holding every reference.
func encodeProcedureStep(ps *ProcedureStep, explicit bool) []byte {
	w := dsWriter{explicit: explicit}
	var b []byte
	if ps.Status != "" {
		v := []byte(ps.Status)
		if len(v)%2 == 1 {
			v = append(v, ' ')
		}
		b = w.elem(b, tagPPSStatus, "CS", v)
	}
	if len(ps.StudyUIDs) > 0 {
		items := make([][]byte, len(ps.StudyUIDs))
		for i, s := range ps.StudyUIDs {
			items[i] = w.elem(nil, tagStudyInstanceUID, "UI", evenUID(s))
		}
		b = w.sequence(b, tagSchedStepAttrSeq, items)
	}
	if ps.HasSeries {
		var items [][]byte
		if len(ps.Refs) > 0 {
			refs := make([][]byte, len(ps.Refs))
			for i, r := range ps.Refs {
				refs[i] = w.refItem(r, nil)
			}
			items = append(items, w.sequence(nil, tagRefImageSeq, refs))
		}
		b = w.sequence(b, tagPerformedSeriesSeq, items)
	}
	return b
}

// mppsSyntaxes are the transfer syntaxes accepted for the MPPS SOP class.
var mppsSyntaxes = []string{uidExplicitVRLE, uidImplicitVRLE}

// contextTS is chooseTS for every abstract syntax but MPPS, which takes
// the first native Little Endian syntax the modality proposed.
func (s *Server) contextTS(abstract string, proposed []string) (string, bool) {
	if abstract != UIDModalityPerformedProcedureStep {
		return s.chooseTS(abstract, proposed)
	}
	for _, p := range proposed {
		if containsUID(mppsSyntaxes, p) {
			return p, true
		}
	}
	return "", false
}
