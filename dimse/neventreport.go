package dimse

// N-EVENT-REPORT (PS3.7 10.1.1): the Storage Commitment report, sent by us
// as the SCP either on the association that carried the N-ACTION (its
// N-EVENT-REPORT-RSP then arrives in the SCP's message loop) or on an
// association we open to the requester (SendCommitmentReport), proposing
// the SCP role for the SOP class (role selection, PS3.7 D.3.3.4).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// sendReport sends an N-EVENT-REPORT-RQ with the report's data set.
func sendReport(ul *ulConn, pcid byte, msgID uint16, rep *CommitmentReport, explicit bool) error {
	ds := encodeCommitmentReport(rep, explicit)
	rq := &command{Field: cmdNEventReportRQ, MessageID: msgID, DataSetType: dataSetPresent,
		AffectedSOPClassUID: UIDStorageCommitmentPushModel, AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInst,
		EventTypeID: rep.eventType()}
	if err := ul.sendCommand(pcid, encodeCommand(rq)); err != nil {
		return err
	}
	return ul.sendData(pcid, bytes.NewReader(ds), int64(len(ds)))
}

// reportAnswered takes an N-EVENT-REPORT-RSP on the SCP side.
func (a *scpAssoc) reportAnswered(m *message) {
	tx, ok := a.reports[m.cmd.MessageIDRespondedTo]
	if !ok {
		a.log.Warn("N-EVENT-REPORT-RSP to no report of ours ignored", "message_id", m.cmd.MessageIDRespondedTo)
		return
	}
	delete(a.reports, m.cmd.MessageIDRespondedTo)
	var err error
	if m.cmd.Status != StatusSuccess {
		err = fmt.Errorf("requester answered the report with status %s", m.cmd.Status)
	}
	a.log.Info("storage commitment report answered", "status", m.cmd.Status.String())
	a.s.cfg.Commitment.ReportDone(&a.info, tx, err)
}

// reportsLost hands back the reports the association ended without an
// answer to.
func (a *scpAssoc) reportsLost() {
	for id, tx := range a.reports {
		delete(a.reports, id)
		a.s.cfg.Commitment.ReportDone(&a.info, tx, errors.New("association ended before the N-EVENT-REPORT-RSP"))
	}
}

// SendCommitmentReport opens an association to the requester at addr
// (calling AE callingAET, called AE calledAET), proposing the Storage
// Commitment Push Model SOP class with us in the SCP role, sends the report
// as N-EVENT-REPORT-RQ, waits for the response and releases. nil means the
// requester answered Success, whether or not the release then completes.
func SendCommitmentReport(ctx context.Context, addr, callingAET, calledAET string, rep *CommitmentReport) error {
	c, err := associateSCU(ctx, addr, callingAET, calledAET, []presCtx{
		{ID: 1, Abstract: UIDStorageCommitmentPushModel, Transfer: commitmentSyntaxes},
	}, roleSel{SOPClass: UIDStorageCommitmentPushModel, SCU: false, SCP: true})
	if err != nil {
		return err
	}
	defer c.close()
	pc, ok := c.ctxs[1]
	if !ok {
		c.release(ctx)
		return errors.New("the peer refused the Storage Commitment Push Model SOP class")
	}
	c.msgID++
	if err := sendReport(c.ul, 1, c.msgID, rep, pc.ts != uidImplicitVRLE); err != nil {
		return c.netErr(ctx, "sending N-EVENT-REPORT-RQ", err)
	}
	rsp, err := c.readCommand(ctx)
	if err != nil {
		return err
	}
	if rsp.Field != cmdNEventReportRSP || rsp.MessageIDRespondedTo != c.msgID {
		c.abort()
		return fmt.Errorf("unexpected response (command 0x%04X) to N-EVENT-REPORT-RQ", rsp.Field)
	}
	// The response is what counts: a release that fails after it does
	// not make the requester forget the report.
	_ = c.release(ctx)
	if rsp.Status != StatusSuccess {
		return fmt.Errorf("N-EVENT-REPORT status %s", rsp.Status)
	}
	return nil
}
