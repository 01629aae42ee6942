package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"sonolink/dicom/uid"
	"sonolink/internal/logid"
)

// message is the DIMSE message being received on an association.
type message struct {
	pcid    byte
	cmdBuf  []byte
	cmd     *command
	store   *spool // C-STORE data set sink; nil for commands without data set
	mem     []byte // N-ACTION, N-CREATE and N-SET data set, held in memory (naction.go, mpps.go)
	fail    Status // when set, the data set is drained and this status answered
	failWhy string
	size    int64
}

func (a *scpAssoc) serve() {
	var m *message
	for {
		if m == nil {
			if !a.idle() {
				a.abort(abortSourceUser, abortReasonNotSpecified)
				metricAssociations.WithLabelValues("aborted").Inc()
				metricFailures.WithLabelValues(failShutdown).Inc()
				a.log.Info("association aborted: server shutting down")
				return
			}
		} else {
			// Mid-message: the idle timeout applies to each PDU, so a
			// large object on a slow link is fine as long as data flows.
			a.ul.c.SetReadDeadline(time.Now().Add(a.s.cfg.IdleTimeout))
		}
		typ, body, err := a.ul.readNoDeadline()
		if err != nil {
			a.abandoned(m, "connection ended")
			a.discard(m)
			var pe *errPDU
			switch {
			case errors.As(err, &pe):
				a.protocolError(failMalformedPDU, "malformed PDU: "+pe.msg, pe.reason)
			case isTimeout(err) && m == nil && a.isShutting():
				a.abort(abortSourceUser, abortReasonNotSpecified)
				metricAssociations.WithLabelValues("aborted").Inc()
				metricFailures.WithLabelValues(failShutdown).Inc()
				a.log.Info("association aborted: server shutting down")
			case isTimeout(err):
				a.abort(abortSourceProvider, abortReasonNotSpecified)
				metricAssociations.WithLabelValues("aborted").Inc()
				metricFailures.WithLabelValues(failTimeout).Inc()
				a.log.Warn("association aborted: peer idle too long", "idle_timeout", a.s.cfg.IdleTimeout, "mid_message", m != nil)
			default:
				metricAssociations.WithLabelValues("aborted").Inc()
				metricFailures.WithLabelValues(failConnection).Inc()
				a.log.Warn("association ended: connection lost without release", "err", err, "mid_message", m != nil)
			}
			return
		}
		a.setBusy()
		switch typ {
		case pduPData:
			p, err := decodePData(body)
			if err != nil {
				a.discard(m)
				a.protocolError(failMalformedPDU, err.Error(), abortReason(err))
				return
			}
			for _, v := range p.PDVs {
				var done bool
				m, done, err = a.pdv(m, v)
				if err != nil {
					a.discard(m)
					a.protocolError(failBadCommand, err.Error(), abortInvalidParamValue)
					return
				}
				if done {
					m = nil
				}
			}
		case pduReleaseRQ:
			if m != nil {
				a.abandoned(m, "release requested")
				a.discard(m)
				a.protocolError(failUnexpectedPDU, "A-RELEASE-RQ in the middle of a message", abortUnexpectedPDU)
				return
			}
			if err := a.ul.write(encodeReleaseRP()); err != nil {
				metricAssociations.WithLabelValues("aborted").Inc()
				a.log.Warn("association ended: cannot send A-RELEASE-RP", "err", err)
				return
			}
			// ARTIM: the requestor closes the connection after A-RELEASE-RP.
			a.ul.c.SetReadDeadline(time.Now().Add(a.s.cfg.ARTIMTimeout))
			io.Copy(io.Discard, io.LimitReader(a.ul.br, 1<<20))
			a.log.Info("association released", "duration", time.Since(a.info.Opened).Round(time.Millisecond))
			return
		case pduAbort:
			a.abandoned(m, "aborted by the sender")
			a.discard(m)
			ab, _ := decodeBody(typ, body)
			src, rsn := byte(0), byte(0)
			if x, ok := ab.(*abortPDU); ok {
				src, rsn = x.Source, x.Reason
			}
			metricAssociations.WithLabelValues("aborted").Inc()
			metricFailures.WithLabelValues(failPeerAbort).Inc()
			a.log.Warn("association aborted by peer", "what", abortReasonText(src, rsn), "source", src, "reason", rsn, "mid_message", m != nil)
			return
		default:
			a.discard(m)
			a.protocolError(failUnexpectedPDU, fmt.Sprintf("unexpected PDU type 0x%02X after association", typ), abortUnexpectedPDU)
			return
		}
	}
}

// abandoned logs a C-STORE the sender gave up in the middle of its data
// set: nothing was stored and no response was sent, so the sender must send
// the object again.
func (a *scpAssoc) abandoned(m *message, how string) {
	if m == nil || m.cmd == nil || m.cmd.Field != cmdCStoreRQ {
		return
	}
	a.log.Warn("transfer abandoned mid-object: "+how+"; nothing stored", "sop_class", uid.Describe(m.cmd.AffectedSOPClassUID),
		"transfer_syntax", uid.Describe(a.ctxs[m.pcid].ts), "bytes_received", m.size)
}

// discard drops a partly received message's spool file.
func (a *scpAssoc) discard(m *message) {
	if m != nil && m.store != nil {
		m.store.close()
		_ = m.store.flushed() // its goroutine ends with the message
		os.Remove(m.store.path)
		m.store = nil
	}
}

// pdv handles one PDV; done reports that the message was answered.
func (a *scpAssoc) pdv(m *message, v pdv) (*message, bool, error) {
	pc, ok := a.ctxs[v.ContextID]
	if !ok {
		return m, false, fmt.Errorf("PDV on presentation context %d, which was not accepted", v.ContextID)
	}
	if m == nil {
		if !v.isCommand() {
			return m, false, fmt.Errorf("data set fragment on context %d without a command", v.ContextID)
		}
		m = &message{pcid: v.ContextID}
	}
	if v.ContextID != m.pcid {
		return m, false, fmt.Errorf("fragment on presentation context %d in a message on context %d", v.ContextID, m.pcid)
	}
	if v.isCommand() {
		if m.cmd != nil {
			return m, false, errors.New("command fragment after the command set was complete")
		}
		if len(m.cmdBuf)+len(v.Data) > maxCommandSize {
			return m, false, fmt.Errorf("command set larger than %d bytes", maxCommandSize)
		}
		m.cmdBuf = append(m.cmdBuf, v.Data...)
		if !v.isLast() {
			return m, false, nil
		}
		cmd, err := decodeCommand(m.cmdBuf)
		if err != nil {
			return m, false, err
		}
		m.cmd, m.cmdBuf = cmd, nil
		return a.startMessage(m, pc)
	}
	if m.cmd == nil {
		return m, false, errors.New("data set fragment before the command set was complete")
	}
	if !m.cmd.hasDataSet() {
		return m, false, errors.New("data set fragment for a command without data set")
	}
	a.dataFragment(m, v.Data)
	if !v.isLast() {
		return m, false, nil
	}
	return m, true, a.finishStore(m, pc)
}

// startMessage acts on a complete command set.
func (a *scpAssoc) startMessage(m *message, pc acceptedCtx) (*message, bool, error) {
	c := m.cmd
	switch c.Field {
	case cmdCEchoRQ:
		if c.hasDataSet() {
			m.fail = StatusCannotUnderstand
			return m, false, nil // drain it, then answer
		}
		rsp := &command{Field: cmdCEchoRSP, MessageIDRespondedTo: c.MessageID, DataSetType: dataSetAbsent,
			AffectedSOPClassUID: uidVerification, Status: StatusSuccess}
		if err := a.ul.sendCommand(m.pcid, encodeCommand(rsp)); err != nil {
			return m, false, fmt.Errorf("sending C-ECHO-RSP: %w", err)
		}
		a.log.Debug("C-ECHO answered")
		return nil, true, nil
	case cmdCStoreRQ:
		if !c.hasDataSet() {
			return nil, true, a.respondStore(m, StatusCannotUnderstand, "C-STORE-RQ without data set")
		}
		switch {
		case pc.abstract == uidVerification:
			m.fail, m.failWhy = StatusSOPClassNotSupported, "C-STORE on the Verification context"
		case c.AffectedSOPClassUID != pc.abstract:
			m.fail, m.failWhy = StatusDataSetMismatch, "affected SOP class differs from the presentation context's"
		case c.AffectedSOPInstanceUID == "":
			m.fail, m.failWhy = StatusCannotUnderstand, "no affected SOP instance UID"
		default:
			m.store = a.openSpool(c.AffectedSOPClassUID, c.AffectedSOPInstanceUID, pc.ts)
			if m.store.err != nil {
				m.fail, m.failWhy = StatusOutOfResources, "cannot create spool file: "+m.store.err.Error()
				metricFailures.WithLabelValues(failSpool).Inc()
				a.log.Error("cannot create spool file", logid.Object(c.AffectedSOPInstanceUID), "err", m.store.err)
				a.discard(m)
			}
		}
		return m, false, nil
	case cmdNActionRQ:
		return a.startNAction(m, pc)
	case cmdNCreateRQ, cmdNSetRQ:
		return a.startMPPS(m, pc)
	case cmdNEventReportRSP:
		if !c.hasDataSet() {
			a.reportAnswered(m)
			return nil, true, nil
		}
		m.fail = StatusCannotUnderstand
		return m, false, nil
	default:
		if !c.hasDataSet() {
			return nil, true, a.respondUnsupported(m)
		}
		m.fail = 0x0211
		return m, false, nil
	}
}

func (a *scpAssoc) respondUnsupported(m *message) error {
	metricFailures.WithLabelValues(failBadCommand).Inc()
	a.log.Warn("unsupported DIMSE command refused", "command_field", fmt.Sprintf("0x%04X", m.cmd.Field))
	rsp := &command{Field: m.cmd.Field | 0x8000, MessageIDRespondedTo: m.cmd.MessageID, DataSetType: dataSetAbsent,
		Status: 0x0211, AffectedSOPClassUID: m.cmd.AffectedSOPClassUID}
	return a.ul.sendCommand(m.pcid, encodeCommand(rsp))
}

func (a *scpAssoc) openSpool(sopClass, sopInstance, ts string) *spool {
	f, err := os.CreateTemp(a.s.cfg.SpoolDir, "rx-"+a.info.ID+"-*.dcm")
	if err != nil {
		return &spool{err: err}
	}
	return newSpool(f, part10Header(sopClass, sopInstance, ts, a.info.CallingAET), a.s.alone)
}

// dataFragment writes (or drains) one data set fragment.
func (a *scpAssoc) dataFragment(m *message, b []byte) {
	m.size += int64(len(b))
	metricBytes.Add(float64(len(b)))
	if m.mem != nil {
		a.memFragment(m, b)
		return
	}
	if m.store == nil {
		return
	}
	if m.size > a.s.cfg.MaxObjectSize {
		m.fail, m.failWhy = StatusOutOfResources, fmt.Sprintf("object larger than the maximum object size %d", a.s.cfg.MaxObjectSize)
		metricFailures.WithLabelValues(failObjectTooLarge).Inc()
		a.log.Warn("object refused: larger than the maximum object size; draining the rest", logid.Object(m.cmd.AffectedSOPInstanceUID), "max_object_size", a.s.cfg.MaxObjectSize)
		a.discard(m)
		return
	}
	if err := m.store.write(b); err != nil {
		m.fail, m.failWhy = StatusOutOfResources, "cannot write spool file: "+err.Error()
		metricFailures.WithLabelValues(failSpool).Inc()
		a.log.Error("cannot write spool file; draining the rest of the object", logid.Object(m.cmd.AffectedSOPInstanceUID), "err", err)
		a.discard(m)
	}
}

// finishStore is called on the last data set fragment: it closes the spool
// file, calls the handler and sends the response.
func (a *scpAssoc) finishStore(m *message, pc acceptedCtx) error {
	start := time.Now()
	if m.cmd.Field != cmdCStoreRQ {
		switch m.cmd.Field {
		case cmdNActionRQ:
			return a.finishNAction(m, pc)
		case cmdNCreateRQ, cmdNSetRQ:
			return a.finishMPPS(m, pc)
		case cmdNEventReportRSP:
			return nil // a response with a data set: drained, ignored
		}
		if m.cmd.Field == cmdCEchoRQ {
			return a.respondEcho(m, StatusCannotUnderstand)
		}
		return a.respondUnsupported(m)
	}
	st := m.fail
	why := m.failWhy
	if st == StatusSuccess && m.store != nil {
		m.store.close()
		if m.store.err != nil {
			st, why = StatusOutOfResources, "cannot complete spool file: "+m.store.err.Error()
			metricFailures.WithLabelValues(failSpool).Inc()
			a.log.Error("cannot complete spool file", logid.Object(m.cmd.AffectedSOPInstanceUID), "err", m.store.err)
		} else {
			obj := &Object{
				SOPClassUID:       m.cmd.AffectedSOPClassUID,
				SOPInstanceUID:    m.cmd.AffectedSOPInstanceUID,
				TransferSyntaxUID: pc.ts,
				Path:              m.store.path,
				Size:              m.size,
				DatasetSHA256:     m.store.sum,
				Flushed:           m.store.flushed,
			}
			st = a.callHandler(obj)
			if err := m.store.flushed(); err != nil && st.IsSuccess() {
				// The handler should have waited for this flush; it did
				// not, so its Success cannot stand.
				a.log.Error("flush of the received object failed after the handler reported success", logid.Object(obj.SOPInstanceUID), "err", err)
				st = StatusOutOfResources
			}
			if st.IsFailure() {
				metricFailures.WithLabelValues(failHandler).Inc()
				why = handlerWhy(st)
			}
		}
		if err := os.Remove(m.store.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("cannot remove spool file", "err", err)
		}
		m.store = nil
	}
	err := a.respondStore(m, st, why)
	metricStoreLatency.Observe(time.Since(start).Seconds())
	lvl := a.log.Info
	if !st.IsSuccess() {
		lvl = a.log.Warn
	}
	lvl("C-STORE answered", logid.Object(m.cmd.AffectedSOPInstanceUID), "sop_class", m.cmd.AffectedSOPClassUID, "transfer_syntax", pc.ts, "bytes", m.size,
		"status", st.String(), "why", why, "took", time.Since(start).Round(time.Microsecond))
	return err
}

// handlerWhy is the Error Comment (LO: at most 64 characters) of a
// handler's failure status.
func handlerWhy(st Status) string {
	if st&0xFF00 == StatusDataSetMismatch {
		return "data set's SOP Class or Instance UID differs from the request"
	}
	return "storage failed"
}

func (a *scpAssoc) respondEcho(m *message, st Status) error {
	rsp := &command{Field: cmdCEchoRSP, MessageIDRespondedTo: m.cmd.MessageID, DataSetType: dataSetAbsent,
		AffectedSOPClassUID: uidVerification, Status: st}
	return a.ul.sendCommand(m.pcid, encodeCommand(rsp))
}

func (a *scpAssoc) respondStore(m *message, st Status, why string) error {
	metricObjects.WithLabelValues(st.class()).Inc()
	rsp := &command{
		Field:                  cmdCStoreRSP,
		MessageIDRespondedTo:   m.cmd.MessageID,
		DataSetType:            dataSetAbsent,
		AffectedSOPClassUID:    m.cmd.AffectedSOPClassUID,
		AffectedSOPInstanceUID: m.cmd.AffectedSOPInstanceUID,
		Status:                 st,
	}
	if st.IsFailure() {
		rsp.ErrorComment = why
	}
	if err := a.ul.sendCommand(m.pcid, encodeCommand(rsp)); err != nil {
		return fmt.Errorf("sending C-STORE-RSP: %w", err)
	}
	return nil
}

// callHandler runs the handler with a deadline, turning a panic into
// Processing Failure.
func (a *scpAssoc) callHandler(obj *Object) (st Status) {
	ctx, cancel := context.WithTimeout(a.s.baseCtx, a.s.cfg.IdleTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			metricFailures.WithLabelValues(failHandlerPanic).Inc()
			a.log.Error("store handler panicked; answering processing failure", logid.Object(obj.SOPInstanceUID), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			st = StatusProcessingFailure
		}
	}()
	return a.s.h.HandleStore(ctx, &a.info, obj)
}
