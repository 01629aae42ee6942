package dimse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"sonolink/dicom/uid"
)

// scuStepTimeout bounds each network step of the SCU when ctx has no deadline.
const scuStepTimeout = 30 * time.Second

// scu is an association we requested.
type scu struct {
	ul    *ulConn
	ctxs  map[byte]acceptedCtx
	msgID uint16
	stop  func() bool
}

// Echo sends C-ECHO to the SCP at addr ("host:port") and returns nil on
// Success. A rejected association returns a *RejectError.
func Echo(ctx context.Context, addr, callingAET, calledAET string) error {
	c, err := associateSCU(ctx, addr, callingAET, calledAET, []presCtx{
		{ID: 1, Abstract: uidVerification, Transfer: []string{uidExplicitVRLE, uidImplicitVRLE}},
	})
	if err != nil {
		return err
	}
	defer c.close()
	if _, ok := c.ctxs[1]; !ok {
		c.abort()
		return errors.New("the peer refused the Verification SOP class")
	}
	c.msgID++
	rq := &command{Field: cmdCEchoRQ, MessageID: c.msgID, DataSetType: dataSetAbsent, AffectedSOPClassUID: uidVerification}
	if err := c.ul.sendCommand(1, encodeCommand(rq)); err != nil {
		return c.netErr(ctx, "sending C-ECHO-RQ", err)
	}
	rsp, err := c.readCommand(ctx)
	if err != nil {
		return err
	}
	if rsp.Field != cmdCEchoRSP || rsp.MessageIDRespondedTo != c.msgID {
		c.abort()
		return fmt.Errorf("unexpected response (command 0x%04X) to C-ECHO-RQ", rsp.Field)
	}
	if err := c.release(ctx); err != nil {
		return err
	}
	if rsp.Status != StatusSuccess {
		return fmt.Errorf("C-ECHO status %s", rsp.Status)
	}
	return nil
}

// StoreFile sends the DICOM Part 10 file at path with C-STORE, in the file's
// own transfer syntax (the data set bytes are sent unchanged), and returns
// the status the SCP answered. The error is non-nil when no status was
// received (or the SCP refused the SOP class or transfer syntax).
func StoreFile(ctx context.Context, addr, callingAET, calledAET, path string) (Status, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	meta, err := readFileMeta(br)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	size := st.Size() - meta.DataSetOffset
	if size < 0 {
		return 0, fmt.Errorf("%s: truncated", path)
	}
	c, err := associateSCU(ctx, addr, callingAET, calledAET, []presCtx{
		{ID: 1, Abstract: meta.SOPClassUID, Transfer: []string{meta.TransferSyntaxUID}},
	})
	if err != nil {
		return 0, err
	}
	defer c.close()
	if _, ok := c.ctxs[1]; !ok {
		c.release(ctx)
		return 0, fmt.Errorf("the peer refused SOP class %s with transfer syntax %s", meta.SOPClassUID, meta.TransferSyntaxUID)
	}
	c.msgID++
	rq := &command{Field: cmdCStoreRQ, MessageID: c.msgID, DataSetType: dataSetPresent,
		AffectedSOPClassUID: meta.SOPClassUID, AffectedSOPInstanceUID: meta.SOPInstanceUID}
	if err := c.ul.sendCommand(1, encodeCommand(rq)); err != nil {
		return 0, c.netErr(ctx, "sending C-STORE-RQ", err)
	}
	if err := c.ul.sendData(1, br, size); err != nil {
		return 0, c.netErr(ctx, "sending data set", err)
	}
	rsp, err := c.readCommand(ctx)
	if err != nil {
		return 0, err
	}
	if rsp.Field != cmdCStoreRSP || rsp.MessageIDRespondedTo != c.msgID {
		c.abort()
		return 0, fmt.Errorf("unexpected response (command 0x%04X) to C-STORE-RQ", rsp.Field)
	}
	if err := c.release(ctx); err != nil {
		return rsp.Status, err
	}
	return rsp.Status, nil
}

func associateSCU(ctx context.Context, addr, callingAET, calledAET string, pcs []presCtx, roles ...roleSel) (*scu, error) {
	if callingAET == "" || len(callingAET) > 16 || calledAET == "" || len(calledAET) > 16 {
		return nil, errors.New("AE titles must be 1 to 16 characters")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	timeout := scuStepTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	c := &scu{ul: newULConn(nc, DefaultMaxPDULength, timeout), ctxs: map[byte]acceptedCtx{}}
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	rq := &associate{
		Type:       pduAssociateRQ,
		CalledAET:  calledAET,
		CallingAET: callingAET,
		AppContext: uidApplicationContext,
		Contexts:   pcs,
		User: userInfo{
			MaxLength:    DefaultMaxPDULength,
			ImplClassUID: uid.ImplementationClassUID,
			ImplVersion:  uid.ImplementationVersionName,
			Roles:        roles,
		},
	}
	if err := c.ul.write(encodeAssociate(rq)); err != nil {
		c.close()
		return nil, c.netErr(ctx, "sending A-ASSOCIATE-RQ", err)
	}
	typ, body, err := c.ul.read(timeout)
	if err != nil {
		c.close()
		return nil, c.netErr(ctx, "waiting for A-ASSOCIATE-AC", err)
	}
	p, err := decodeBody(typ, body)
	if err != nil {
		c.abort()
		return nil, err
	}
	switch x := p.(type) {
	case *associateRJ:
		c.close()
		return nil, &RejectError{Result: x.Result, Source: x.Source, Reason: x.Reason}
	case *abortPDU:
		c.close()
		return nil, &AbortError{Source: x.Source, Reason: x.Reason}
	case *associate:
		if x.Type != pduAssociateAC {
			c.abort()
			return nil, errors.New("peer answered A-ASSOCIATE-RQ with A-ASSOCIATE-RQ")
		}
		c.ul.peerMax = x.User.MaxLength
		for _, pc := range x.Contexts {
			for _, want := range pcs {
				if want.ID == pc.ID && pc.Result == pcAcceptance && len(pc.Transfer) == 1 {
					c.ctxs[pc.ID] = acceptedCtx{abstract: want.Abstract, ts: pc.Transfer[0]}
				}
			}
		}
		return c, nil
	default:
		c.abort()
		return nil, fmt.Errorf("unexpected PDU type 0x%02X in answer to A-ASSOCIATE-RQ", typ)
	}
}

// readCommand reads P-DATA until a complete command set has arrived.
func (c *scu) readCommand(ctx context.Context) (*command, error) {
	var buf []byte
	for {
		typ, body, err := c.ul.read(c.ul.timeout)
		if err != nil {
			return nil, c.netErr(ctx, "waiting for the response", err)
		}
		p, err := decodeBody(typ, body)
		if err != nil {
			c.abort()
			return nil, err
		}
		switch x := p.(type) {
		case *pData:
			for _, v := range x.PDVs {
				if !v.isCommand() {
					c.abort()
					return nil, errors.New("unexpected data set in a response")
				}
				if len(buf)+len(v.Data) > maxCommandSize {
					c.abort()
					return nil, errors.New("response command set too large")
				}
				buf = append(buf, v.Data...)
				if v.isLast() {
					return decodeCommand(buf)
				}
			}
		case *abortPDU:
			c.close()
			return nil, &AbortError{Source: x.Source, Reason: x.Reason}
		default:
			c.abort()
			return nil, fmt.Errorf("unexpected PDU type 0x%02X while waiting for a response", typ)
		}
	}
}

// release sends A-RELEASE-RQ and waits (ARTIM) for A-RELEASE-RP.
func (c *scu) release(ctx context.Context) error {
	if err := c.ul.write(encodeReleaseRQ()); err != nil {
		return c.netErr(ctx, "sending A-RELEASE-RQ", err)
	}
	for {
		typ, body, err := c.ul.read(min(c.ul.timeout, DefaultARTIMTimeout))
		if err != nil {
			return c.netErr(ctx, "waiting for A-RELEASE-RP", err)
		}
		switch typ {
		case pduReleaseRP:
			c.close()
			return nil
		case pduReleaseRQ: // release collision (PS3.8 7.2): we requested, so answer
			c.ul.write(encodeReleaseRP())
		case pduAbort:
			p, _ := decodeBody(typ, body)
			c.close()
			if x, ok := p.(*abortPDU); ok {
				return &AbortError{Source: x.Source, Reason: x.Reason}
			}
			return &AbortError{}
		case pduPData:
			// Late data on release: ignore.
		default:
			c.abort()
			return fmt.Errorf("unexpected PDU type 0x%02X while releasing", typ)
		}
	}
}

func (c *scu) netErr(ctx context.Context, what string, err error) error {
	c.close()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *scu) abort() {
	c.ul.c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	c.ul.c.Write(encodeAbort(abortSourceUser, 0))
	c.close()
}

func (c *scu) close() {
	if c.stop != nil {
		c.stop()
	}
	c.ul.c.Close()
}
