package dimse

// MPPS as SCU, for tests and benchmarks: each call is one association
// carrying one N-CREATE or N-SET, as many modalities send them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// MPPSResponse is the SCP's answer to an N-CREATE or N-SET.
type MPPSResponse struct {
	Status         Status
	SOPInstanceUID string // Affected SOP Instance UID (the new one for an N-CREATE without)
	ErrorID        uint16
	ErrorComment   string
}

// CreateMPPS sends an N-CREATE of the MPPS instanceUID ("" lets the SCP
// choose) with ps to the SCP at addr. The error is non-nil when no
// response arrived.
func CreateMPPS(ctx context.Context, addr, callingAET, calledAET, instanceUID string, ps *ProcedureStep) (*MPPSResponse, error) {
	return sendMPPS(ctx, addr, callingAET, calledAET, &command{Field: cmdNCreateRQ, DataSetType: dataSetPresent,
		AffectedSOPClassUID: UIDModalityPerformedProcedureStep, AffectedSOPInstanceUID: instanceUID}, ps)
}

// SetMPPS sends an N-SET of the MPPS instanceUID with ps.
func SetMPPS(ctx context.Context, addr, callingAET, calledAET, instanceUID string, ps *ProcedureStep) (*MPPSResponse, error) {
	return sendMPPS(ctx, addr, callingAET, calledAET, &command{Field: cmdNSetRQ, DataSetType: dataSetPresent,
		RequestedSOPClassUID: UIDModalityPerformedProcedureStep, RequestedSOPInstanceUID: instanceUID}, ps)
}

func sendMPPS(ctx context.Context, addr, callingAET, calledAET string, rq *command, ps *ProcedureStep) (*MPPSResponse, error) {
	c, err := associateSCU(ctx, addr, callingAET, calledAET, []presCtx{
		{ID: 1, Abstract: UIDModalityPerformedProcedureStep, Transfer: []string{uidExplicitVRLE, uidImplicitVRLE}},
	})
	if err != nil {
		return nil, err
	}
	defer c.close()
	pc, ok := c.ctxs[1]
	if !ok {
		c.release(ctx)
		return nil, errors.New("the peer refused the MPPS SOP class")
	}
	c.msgID++
	rq.MessageID = c.msgID
	if err := c.ul.sendCommand(1, encodeCommand(rq)); err != nil {
		return nil, c.netErr(ctx, "sending the request", err)
	}
	ds := encodeProcedureStep(ps, pc.ts != uidImplicitVRLE)
	if err := c.ul.sendData(1, bytes.NewReader(ds), int64(len(ds))); err != nil {
		return nil, c.netErr(ctx, "sending the data set", err)
	}
	rsp, err := c.readCommand(ctx)
	if err != nil {
		return nil, err
	}
	if rsp.Field != rq.Field|0x8000 || rsp.MessageIDRespondedTo != c.msgID {
		c.abort()
		return nil, fmt.Errorf("unexpected response (command 0x%04X) to 0x%04X", rsp.Field, rq.Field)
	}
	out := &MPPSResponse{Status: rsp.Status, SOPInstanceUID: rsp.AffectedSOPInstanceUID, ErrorID: rsp.ErrorID, ErrorComment: rsp.ErrorComment}
	return out, c.release(ctx)
}
