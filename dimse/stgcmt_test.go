package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"
)

func sampleRequest() *CommitmentRequest {
	return &CommitmentRequest{TransactionUID: "1.2.826.0.1.3680043.2.1.77", Refs: []SOPRef{
		{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.4.5"},
		{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.4.66"},
	}}
}

func sampleReport() *CommitmentReport {
	return &CommitmentReport{TransactionUID: "1.2.826.0.1.3680043.2.1.77",
		Committed: []SOPRef{{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.4.5"}},
		Failed:    []FailedSOP{{SOPRef: SOPRef{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.4.66"}, Reason: FailureNoSuchInstance}},
	}
}

// Both data sets survive a round trip in either transfer syntax, with
// their elements in tag order and even lengths.
func TestCommitmentDataSetRoundTrip(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		b := encodeCommitmentRequest(sampleRequest(), explicit)
		req, err := decodeCommitmentRequest(b, explicit)
		mustf(t, err, "explicit=%v: decoding the request", explicit)
		if !reflect.DeepEqual(req, sampleRequest()) {
			t.Errorf("explicit=%v: request %+v, want %+v", explicit, req, sampleRequest())
		}
		b = encodeCommitmentReport(sampleReport(), explicit)
		els, err := dsReader{explicit: explicit}.elements(b, 0)
		mustf(t, err, "decoding the report")
		var tags []uint32
		for _, e := range els {
			tags = append(tags, e.tag)
		}
		if want := []uint32{tagTransactionUID, tagFailedSOPSeq, tagRefSOPSeq}; !reflect.DeepEqual(tags, want) {
			t.Errorf("explicit=%v: report tags %08X, want %08X", explicit, tags, want)
		}
		rep, err := decodeCommitmentReport(b, explicit)
		mustf(t, err, "decoding the report")
		if !reflect.DeepEqual(rep, sampleReport()) {
			t.Errorf("explicit=%v: report %+v, want %+v", explicit, rep, sampleReport())
		}
		if len(b)%2 != 0 {
			t.Errorf("explicit=%v: odd data set length %d", explicit, len(b))
		}
	}
	if sampleReport().eventType() != 2 || (&CommitmentReport{Committed: sampleRequest().Refs}).eventType() != 1 {
		t.Error("event type: want 2 with failures, 1 without")
	}
}

// Sequences and items of undefined length, as some modalities send them,
// are read too; a request without a Transaction UID or any reference is
// refused.
func TestCommitmentRequestUndefinedLengths(t *testing.T) {
	u32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	tagLE := func(b []byte, tag uint32) []byte {
		b = binary.LittleEndian.AppendUint16(b, uint16(tag>>16))
		return binary.LittleEndian.AppendUint16(b, uint16(tag))
	}
	w := dsWriter{}
	b := w.elem(nil, tagTransactionUID, "UI", evenUID("1.2.3"))
	b = tagLE(b, tagRefSOPSeq)
	b = u32(b, undefinedLength)
	b = tagLE(b, tagItem)
	b = u32(b, undefinedLength)
	b = w.elem(b, tagRefSOPClassUID, "UI", evenUID(usImage))
	b = w.elem(b, tagRefSOPInstanceUID, "UI", evenUID("9.8.7"))
	b = tagLE(b, tagItemDelim)
	b = u32(b, 0)
	b = tagLE(b, tagSeqDelim)
	b = u32(b, 0)
	req, err := decodeCommitmentRequest(b, false)
	mustf(t, err, "decoding")
	if want := (&CommitmentRequest{TransactionUID: "1.2.3", Refs: []SOPRef{{usImage, "9.8.7"}}}); !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v, want %+v", req, want)
	}
	for name, ds := range map[string][]byte{
		"no transaction": encodeCommitmentRequest(&CommitmentRequest{Refs: sampleRequest().Refs}, false),
		"no references":  encodeCommitmentRequest(&CommitmentRequest{TransactionUID: "1.2"}, false),
		"cut short":      b[:len(b)-8],
	} {
		if _, err := decodeCommitmentRequest(ds, false); !errors.Is(err, errDataSet) {
			t.Errorf("%s: err %v, want errDataSet", name, err)
		}
	}
}

// The N-ACTION and N-EVENT-REPORT command sets carry their UIDs and type
// IDs through a round trip.
func TestNCommandsRoundTrip(t *testing.T) {
	for _, c := range []*command{
		{Field: cmdNActionRQ, MessageID: 7, DataSetType: dataSetPresent, RequestedSOPClassUID: UIDStorageCommitmentPushModel,
			RequestedSOPInstanceUID: UIDStorageCommitmentPushModelInst, ActionTypeID: 1},
		{Field: cmdNActionRSP, MessageIDRespondedTo: 7, DataSetType: dataSetAbsent, AffectedSOPClassUID: UIDStorageCommitmentPushModel,
			AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInst, ActionTypeID: 1, Status: StatusSuccess},
		{Field: cmdNEventReportRQ, MessageID: 1, DataSetType: dataSetPresent, AffectedSOPClassUID: UIDStorageCommitmentPushModel,
			AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInst, EventTypeID: 2},
		{Field: cmdNEventReportRSP, MessageIDRespondedTo: 1, DataSetType: dataSetAbsent, AffectedSOPClassUID: UIDStorageCommitmentPushModel,
			AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInst, EventTypeID: 2, Status: StatusSuccess},
	} {
		d, err := decodeCommand(encodeCommand(c))
		mustf(t, err, "command 0x%04X", c.Field)
		d.has = nil
		if !reflect.DeepEqual(d, c) {
			t.Errorf("command 0x%04X: got %+v, want %+v", c.Field, d, c)
		}
	}
}

// commitHandler is a CommitmentHandler that reports every request at once
// with what report returns, and records the outcome.
type commitHandler struct {
	report func(*CommitmentRequest) *CommitmentReport
	mu     sync.Mutex
	reqs   map[string]*CommitmentRequest
	done   chan error
}

func (h *commitHandler) RequestCommitment(ctx context.Context, a *Association, req *CommitmentRequest) Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs[req.TransactionUID] = req
	return StatusSuccess
}

func (h *commitHandler) ReportNow(ctx context.Context, a *Association, tx string) *CommitmentReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.report(h.reqs[tx])
}

func (h *commitHandler) ReportDone(a *Association, tx string, err error) { h.done <- err }

// startCommitServer runs a server whose commitment handler reports
// sampleReport for every request.
func startCommitServer(t *testing.T) (*commitHandler, *testServer) {
	h := &commitHandler{reqs: map[string]*CommitmentRequest{}, done: make(chan error, 1), report: func(*CommitmentRequest) *CommitmentReport { return sampleReport() }}
	return h, startServer(t, Config{Commitment: h}, nil)
}

// dialCommit associates with the Storage Commitment class in syntax ts.
func dialCommit(t *testing.T, ctx context.Context, addr, ts string, roles ...roleSel) *scu {
	t.Helper()
	c, err := associateSCU(ctx, addr, "MODALITY", "SONOLINK", []presCtx{{ID: 1, Abstract: UIDStorageCommitmentPushModel, Transfer: []string{ts}}}, roles...)
	mustf(t, err, "associate")
	return c
}

// sendNAction sends sampleRequest as N-ACTION-RQ on context 1.
func sendNAction(t *testing.T, c *scu, msgID uint16, explicit bool) {
	t.Helper()
	ds := encodeCommitmentRequest(sampleRequest(), explicit)
	rq := &command{Field: cmdNActionRQ, MessageID: msgID, DataSetType: dataSetPresent, RequestedSOPClassUID: UIDStorageCommitmentPushModel,
		RequestedSOPInstanceUID: UIDStorageCommitmentPushModelInst, ActionTypeID: 1}
	mustf(t, c.ul.sendCommand(1, encodeCommand(rq)), "N-ACTION-RQ")
	mustf(t, c.ul.sendData(1, bytes.NewReader(ds), int64(len(ds))), "data set")
}

// readMessage reads one DIMSE message (command and, when present, data
// set) from an association we requested.
func readMessage(t *testing.T, c *scu) (*command, []byte) {
	t.Helper()
	var cmdBuf, data []byte
	var cmd *command
	for {
		typ, body, err := c.ul.read(10 * time.Second)
		mustf(t, err, "reading")
		p, err := decodeBody(typ, body)
		mustf(t, err, "decoding")
		pd, ok := p.(*pData)
		if !ok {
			t.Fatalf("got %T, want P-DATA", p)
		}
		for _, v := range pd.PDVs {
			if v.isCommand() {
				cmdBuf = append(cmdBuf, v.Data...)
				if v.isLast() {
					cmd, err = decodeCommand(cmdBuf)
					mustf(t, err, "command")
					if !cmd.hasDataSet() {
						return cmd, nil
					}
				}
				continue
			}
			data = append(data, v.Data...)
			if v.isLast() {
				return cmd, data
			}
		}
	}
}

// A storage commitment request is answered with N-ACTION-RSP Success, then
// the report comes on the same association as N-EVENT-REPORT-RQ; its
// Success response reaches the handler. The requester's role selection
// sub-item is answered with the roles it proposed; for a storage class the
// SCP role is refused.
func TestStorageCommitmentSameAssociation(t *testing.T) {
	for _, ts := range []string{uidImplicitVRLE, uidExplicitVRLE} {
		t.Run(ts, func(t *testing.T) {
			h, srv := startCommitServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// The AC's role selection answer, read off a raw association.
			conn, p := rawAssociate(t, srv.addr, &associate{Type: pduAssociateRQ, CalledAET: "SONOLINK", CallingAET: "MODALITY", AppContext: uidApplicationContext,
				Contexts: []presCtx{{ID: 1, Abstract: UIDStorageCommitmentPushModel, Transfer: []string{ts}}, {ID: 3, Abstract: usImage, Transfer: []string{ts}}},
				User: userInfo{MaxLength: 16384, ImplClassUID: "1.2.3", Roles: []roleSel{
					{SOPClass: UIDStorageCommitmentPushModel, SCU: true, SCP: true}, {SOPClass: usImage, SCU: true, SCP: true}, {SOPClass: "1.2.3.4.5", SCU: true}}}})
			conn.Close()
			ac, ok := p.(*associate)
			if !ok || len(ac.Contexts) != 2 || ac.Contexts[0].Result != pcAcceptance {
				t.Fatalf("answer %+v, want the commitment context accepted", p)
			}
			if want := []roleSel{{SOPClass: UIDStorageCommitmentPushModel, SCU: true, SCP: true}, {SOPClass: usImage, SCU: true}}; !reflect.DeepEqual(ac.User.Roles, want) {
				t.Errorf("role selection answer %+v, want %+v", ac.User.Roles, want)
			}

			c := dialCommit(t, ctx, srv.addr, ts, roleSel{SOPClass: UIDStorageCommitmentPushModel, SCU: true})
			defer c.close()
			explicit := ts == uidExplicitVRLE
			sendNAction(t, c, 5, explicit)

			rsp, _ := readMessage(t, c)
			if rsp.Field != cmdNActionRSP || rsp.Status != StatusSuccess || rsp.MessageIDRespondedTo != 5 || rsp.AffectedSOPInstanceUID != UIDStorageCommitmentPushModelInst {
				t.Fatalf("N-ACTION-RSP %+v", rsp)
			}
			ev, data := readMessage(t, c)
			if ev.Field != cmdNEventReportRQ || ev.EventTypeID != 2 || ev.AffectedSOPClassUID != UIDStorageCommitmentPushModel {
				t.Fatalf("N-EVENT-REPORT-RQ %+v", ev)
			}
			rep, err := decodeCommitmentReport(data, explicit)
			mustf(t, err, "report")
			if !reflect.DeepEqual(rep, sampleReport()) {
				t.Errorf("report %+v, want %+v", rep, sampleReport())
			}
			ans := &command{Field: cmdNEventReportRSP, MessageIDRespondedTo: ev.MessageID, DataSetType: dataSetAbsent,
				AffectedSOPClassUID: UIDStorageCommitmentPushModel, AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInst, Status: StatusSuccess}
			mustf(t, c.ul.sendCommand(1, encodeCommand(ans)), "N-EVENT-REPORT-RSP")
			if err := <-h.done; err != nil {
				t.Errorf("ReportDone(%v), want nil", err)
			}
			mustf(t, c.release(ctx), "release")
		})
	}
}

// When the requester releases without answering the report, the handler
// hears so and keeps the report to send by itself; SendCommitmentReport
// then proposes the SCP role and delivers it to a listening requester.
func TestStorageCommitmentReportLostThenSent(t *testing.T) {
	h, srv := startCommitServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialCommit(t, ctx, srv.addr, uidImplicitVRLE)
	sendNAction(t, c, 1, false)
	readMessage(t, c) // N-ACTION-RSP
	readMessage(t, c) // N-EVENT-REPORT-RQ, not answered
	mustf(t, c.release(ctx), "release")
	if err := <-h.done; err == nil {
		t.Fatal("ReportDone(nil) for a report never answered")
	}

	// A minimal requester that takes the report on its own listener.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "listen")
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer nc.Close()
		u := newULConn(nc, 1<<20, 10*time.Second)
		typ, body, _ := u.read(10 * time.Second)
		rqa, err := decodeAssociate(typ, body)
		if err != nil {
			got <- err.Error()
			return
		}
		roles := fmt.Sprint(rqa.User.Roles)
		ac := &associate{Type: pduAssociateAC, CalledAET: rqa.CalledAET, CallingAET: rqa.CallingAET, AppContext: uidApplicationContext,
			Contexts: []presCtx{{ID: 1, Result: pcAcceptance, Transfer: []string{uidExplicitVRLE}}},
			User:     userInfo{MaxLength: 16384, ImplClassUID: "1.2.3", Roles: rqa.User.Roles}}
		u.write(encodeAssociate(ac))
		s := &scu{ul: u}
		cmd, data := readMessage(t, s)
		rep, err := decodeCommitmentReport(data, true)
		if err != nil || cmd.Field != cmdNEventReportRQ || !reflect.DeepEqual(rep, sampleReport()) {
			got <- fmt.Sprintf("bad report %+v %+v %v", cmd, rep, err)
			return
		}
		ans := &command{Field: cmdNEventReportRSP, MessageIDRespondedTo: cmd.MessageID, DataSetType: dataSetAbsent,
			AffectedSOPClassUID: UIDStorageCommitmentPushModel, AffectedSOPInstanceUID: UIDStorageCommitmentPushModelInst, Status: StatusSuccess}
		u.sendCommand(1, encodeCommand(ans))
		u.read(10 * time.Second) // A-RELEASE-RQ
		u.write(encodeReleaseRP())
		got <- "roles " + roles + " from " + rqa.CallingAET + " to " + rqa.CalledAET
	}()
	mustf(t, SendCommitmentReport(ctx, l.Addr().String(), "SONOLINK", "MODALITY", sampleReport()), "SendCommitmentReport")
	if g, want := <-got, "roles [{"+UIDStorageCommitmentPushModel+" false true}] from SONOLINK to MODALITY"; g != want {
		t.Errorf("requester saw %q, want %q", g, want)
	}
}

// Without a commitment handler the SOP class is refused like any other
// unknown one.
func TestStorageCommitmentNotOffered(t *testing.T) {
	srv := startServer(t, Config{}, nil)
	conn, p := rawAssociate(t, srv.addr, echoRQ("SONOLINK", presCtx{ID: 3, Abstract: UIDStorageCommitmentPushModel, Transfer: []string{uidImplicitVRLE}}))
	conn.Close()
	ac, ok := p.(*associate)
	if !ok {
		t.Fatalf("answer %T", p)
	}
	for _, pc := range ac.Contexts {
		if pc.ID == 3 && pc.Result != pcAbstractNotSupported {
			t.Errorf("commitment context result %d, want %d", pc.Result, pcAbstractNotSupported)
		}
	}
}

func FuzzDecodeCommitment(f *testing.F) {
	f.Add(encodeCommitmentRequest(sampleRequest(), false), false)
	f.Add(encodeCommitmentRequest(sampleRequest(), true), true)
	f.Add(encodeCommitmentReport(sampleReport(), true), true)
	f.Fuzz(func(t *testing.T, b []byte, explicit bool) {
		if req, err := decodeCommitmentRequest(b, explicit); err == nil {
			again, err := decodeCommitmentRequest(encodeCommitmentRequest(req, explicit), explicit)
			if err != nil || !reflect.DeepEqual(again, req) {
				t.Fatalf("round trip: %+v -> %+v (%v)", req, again, err)
			}
		}
		decodeCommitmentReport(b, explicit)
	})
}

// A requester that releases right after the N-ACTION-RSP, as Orthanc does,
// is not sent the report in the middle of its release: it gets the
// A-RELEASE-RP, and the handler keeps the report to send on its own.
func TestStorageCommitmentRequesterReleasesAtOnce(t *testing.T) {
	h, srv := startCommitServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialCommit(t, ctx, srv.addr, uidImplicitVRLE)
	defer c.close()
	sendNAction(t, c, 1, false)
	if rsp, _ := readMessage(t, c); rsp.Field != cmdNActionRSP {
		t.Fatalf("got command 0x%04X, want N-ACTION-RSP", rsp.Field)
	}
	mustf(t, c.ul.write(encodeReleaseRQ()), "A-RELEASE-RQ")
	typ, _, err := c.ul.read(10 * time.Second)
	mustf(t, err, "reading")
	if typ != pduReleaseRP {
		t.Errorf("got PDU type 0x%02X after A-RELEASE-RQ, want A-RELEASE-RP", typ)
	}
	if err := <-h.done; err == nil {
		t.Error("ReportDone(nil) for a report never sent")
	}
}
