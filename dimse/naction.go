package dimse

// N-ACTION as SCP (PS3.7 10.1.4): the Storage Commitment request. Its data
// set is small and is read into memory (at most maxCommitmentDataSet); the
// handler records the request, the N-ACTION-RSP answers it, and then the
// report goes back on this association when the handler has it ready and
// the requester has not begun to release it.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// startNAction acts on the command set of an N-ACTION-RQ.
func (a *scpAssoc) startNAction(m *message, pc acceptedCtx) (*message, bool, error) {
	c := m.cmd
	if !c.hasDataSet() {
		return nil, true, a.respondNAction(m, StatusProcessingFailure, "N-ACTION-RQ without data set")
	}
	switch {
	case a.s.cfg.Commitment == nil || pc.abstract != UIDStorageCommitmentPushModel:
		m.fail, m.failWhy = StatusSOPClassNotSupported, "N-ACTION on a context other than Storage Commitment"
	case c.RequestedSOPClassUID != UIDStorageCommitmentPushModel:
		m.fail, m.failWhy = StatusNoSuchSOPClass, "requested SOP class is not Storage Commitment Push Model"
	case c.RequestedSOPInstanceUID != UIDStorageCommitmentPushModelInst:
		m.fail, m.failWhy = statusNoSuchInstance, "requested SOP instance is not the well-known one"
	case c.ActionTypeID != actionRequestCommt:
		m.fail, m.failWhy = statusNoSuchAction, fmt.Sprintf("action type %d", c.ActionTypeID)
	default:
		m.mem = make([]byte, 0, 4096)
	}
	return m, false, nil
}

// memFragment keeps one data set fragment of an in-memory message.
func (a *scpAssoc) memFragment(m *message, b []byte) {
	if len(m.mem)+len(b) > maxCommitmentDataSet {
		m.fail, m.failWhy, m.mem = StatusOutOfResources, "request data set too large", nil
		return
	}
	m.mem = append(m.mem, b...)
}

// finishNAction answers a complete N-ACTION-RQ and, when the handler has
// the report ready, sends it on this association.
func (a *scpAssoc) finishNAction(m *message, pc acceptedCtx) error {
	st, why := m.fail, m.failWhy
	var req *CommitmentRequest
	if st == StatusSuccess {
		var err error
		req, err = decodeCommitmentRequest(m.mem, pc.ts != uidImplicitVRLE)
		if err != nil {
			st, why = StatusProcessingFailure, "cannot read the commitment request"
			a.log.Warn("storage commitment request not understood", "err", err)
		}
	}
	m.mem = nil
	h := a.s.cfg.Commitment
	if st == StatusSuccess {
		ctx, cancel := context.WithTimeout(a.s.baseCtx, a.s.cfg.IdleTimeout)
		st = h.RequestCommitment(ctx, &a.info, req)
		cancel()
		if st.IsFailure() {
			why = "cannot record the commitment request"
		}
	}
	if err := a.respondNAction(m, st, why); err != nil {
		return err
	}
	a.log.Info("N-ACTION answered", "status", st.String(), "why", why)
	if st != StatusSuccess {
		return nil
	}
	ctx, cancel := context.WithTimeout(a.s.baseCtx, a.s.cfg.IdleTimeout)
	rep := h.ReportNow(ctx, &a.info, req.TransactionUID)
	cancel()
	if rep == nil {
		return nil
	}
	if a.peerSpoke(reportHold) {
		// Most often its A-RELEASE-RQ: a requester that releases right
		// after the N-ACTION-RSP (Orthanc, DCMTK-based modalities) may
		// reset the connection on a P-DATA in the middle of its release.
		h.ReportDone(&a.info, rep.TransactionUID, errors.New("the requester sent another PDU (usually its release) before the report"))
		return nil
	}
	a.msgID++
	if err := sendReport(a.ul, m.pcid, a.msgID, rep, pc.ts != uidImplicitVRLE); err != nil {
		// The connection is gone; the handler sends the report on an
		// association of its own, and the next read ends this one.
		h.ReportDone(&a.info, rep.TransactionUID, err)
		return nil
	}
	if a.reports == nil {
		a.reports = map[uint16]string{}
	}
	a.reports[a.msgID] = rep.TransactionUID
	a.log.Info("storage commitment report sent on the requesting association", "committed", len(rep.Committed), "failed", len(rep.Failed))
	return nil
}

// reportHold is how long the requesting association is watched, after the
// N-ACTION-RSP and before the report is sent on it, for a PDU from the
// requester.
const reportHold = 50 * time.Millisecond

// peerSpoke reports whether the peer has sent anything (a PDU waits to be
// read) within d.
func (a *scpAssoc) peerSpoke(d time.Duration) bool {
	a.ul.c.SetReadDeadline(time.Now().Add(d))
	_, err := a.ul.br.Peek(1)
	a.ul.c.SetReadDeadline(time.Now().Add(a.s.cfg.IdleTimeout))
	return err == nil
}

// N-ACTION statuses besides the common ones (PS3.7 10.1.4.1.10).
const (
	statusNoSuchInstance Status = 0x0112
	statusNoSuchAction   Status = 0x0123
)

func (a *scpAssoc) respondNAction(m *message, st Status, why string) error {
	rsp := &command{Field: cmdNActionRSP, MessageIDRespondedTo: m.cmd.MessageID, DataSetType: dataSetAbsent,
		AffectedSOPClassUID: m.cmd.RequestedSOPClassUID, AffectedSOPInstanceUID: m.cmd.RequestedSOPInstanceUID,
		ActionTypeID: m.cmd.ActionTypeID, Status: st}
	if st.IsFailure() {
		rsp.ErrorComment = why
	}
	if err := a.ul.sendCommand(m.pcid, encodeCommand(rsp)); err != nil {
		return fmt.Errorf("sending N-ACTION-RSP: %w", err)
	}
	return nil
}

// answerRoles answers the role selection sub-items (PS3.7 D.3.3.4) for
// the accepted abstract syntaxes: the requester may take the SCU role it
// proposed. The SCP role is refused for storage, which sonolink only
// receives; for Storage Commitment it is granted as proposed, because some
// modalities propose it believing they need it to receive the
// N-EVENT-REPORT on their association, and granting it commits sonolink to
// nothing (it never sends N-ACTION). Sub-items for other classes get no
// answer (default roles).
func (s *Server) answerRoles(proposed []roleSel, accepted map[byte]acceptedCtx) []roleSel {
	var out []roleSel
	for _, r := range proposed {
		for _, pc := range accepted {
			if pc.abstract == r.SOPClass {
				out = append(out, roleSel{SOPClass: r.SOPClass, SCU: r.SCU, SCP: r.SCP && r.SOPClass == UIDStorageCommitmentPushModel})
				break
			}
		}
	}
	return out
}
