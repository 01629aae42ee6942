package dimse

import (
	"bytes"
	"slices"
	"testing"

	"sonolink/dicom/uid"
)

// Seeds beyond testdata/fuzz: PDUs this package produces itself.
func pduSeeds() [][]byte {
	rq := echoRQ("SONOLINK",
		presCtx{ID: 1, Abstract: uidVerification, Transfer: []string{uidImplicitVRLE, uidExplicitVRLE}},
		presCtx{ID: 3, Abstract: usImage, Transfer: DefaultTransferSyntaxes()})
	rq.User.HasAsync, rq.User.AsyncInvoked, rq.User.AsyncPerformed = true, 1, 1
	rq.User.Roles = []roleSel{{SOPClass: usImage, SCU: true}}
	ac := &associate{Type: pduAssociateAC, CalledAET: "A", CallingAET: "B", AppContext: uidApplicationContext,
		Contexts: []presCtx{{ID: 1, Result: 0, Transfer: []string{uidImplicitVRLE}}, {ID: 3, Result: 3}},
		User:     userInfo{MaxLength: 16384, ImplClassUID: uid.ImplementationClassUID, ImplVersion: uid.ImplementationVersionName}}
	cmd := encodeCommand(&command{Field: cmdCStoreRQ, MessageID: 7, DataSetType: dataSetPresent, AffectedSOPClassUID: usImage, AffectedSOPInstanceUID: "1.2.3.4.5"})
	return [][]byte{
		encodeAssociate(rq),
		encodeAssociate(ac),
		encodeRJ(associateRJ{1, 1, 7}),
		encodeAbort(2, 6),
		encodeReleaseRQ(),
		encodeReleaseRP(),
		append(pdataHeader(1, 3, len(cmd)), cmd...),
		append(pdataHeader(1, 2, 4), 1, 2, 3, 4),
	}
}

func FuzzDecodePDU(f *testing.F) {
	for _, s := range pduSeeds() {
		f.Add(s)
	}
	f.Fuzz(fuzzPDUBody)
}

func fuzzPDUBody(t *testing.T, b []byte) {
	{
		p, err := decodePDU(b)

		// The streaming reader must agree and must not allocate beyond what
		// actually arrived (plus one read step).
		const limit = 1 << 20
		typ, body, buf, rerr := readPDU(bytes.NewReader(b), nil, limit)
		if cap(buf) > 2*len(b)+64<<10 {
			t.Fatalf("readPDU buffer cap %d for %d input bytes", cap(buf), len(b))
		}
		if err == nil && rerr != nil {
			t.Fatalf("decodePDU accepted what readPDU refused: %v", rerr)
		}
		if rerr == nil && len(body)+pduHeaderLen == len(b) {
			if _, err2 := decodeBody(typ, body); (err2 == nil) != (err == nil) {
				t.Fatalf("decodeBody and decodePDU disagree: %v / %v", err2, err)
			}
		}
		if err != nil {
			return
		}
		// Round trip what we can re-encode.
		if a, ok := p.(*associate); ok && a.Type == pduAssociateRQ {
			q, err := decodePDU(encodeAssociate(a))
			if err != nil {
				t.Fatalf("re-encoded A-ASSOCIATE-RQ does not decode: %v", err)
			}
			b := q.(*associate)
			if b.AppContext != a.AppContext || len(b.Contexts) != len(a.Contexts) || b.User.MaxLength != a.User.MaxLength {
				t.Fatalf("round trip changed the RQ: %+v -> %+v", a, b)
			}
			for i := range a.Contexts {
				if a.Contexts[i].ID != b.Contexts[i].ID || a.Contexts[i].Abstract != b.Contexts[i].Abstract || !slices.Equal(a.Contexts[i].Transfer, b.Contexts[i].Transfer) {
					t.Fatalf("round trip changed context %d: %+v -> %+v", i, a.Contexts[i], b.Contexts[i])
				}
			}
		}
		if pd, ok := p.(*pData); ok {
			n := 0
			for _, v := range pd.PDVs {
				n += 6 + len(v.Data)
			}
			if n != len(b)-pduHeaderLen {
				t.Fatalf("PDVs cover %d of %d bytes", n, len(b)-pduHeaderLen)
			}
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range []*command{
		{Field: cmdCEchoRQ, MessageID: 1, DataSetType: dataSetAbsent, AffectedSOPClassUID: uidVerification},
		{Field: cmdCEchoRSP, MessageIDRespondedTo: 1, DataSetType: dataSetAbsent, AffectedSOPClassUID: uidVerification},
		{Field: cmdCStoreRQ, MessageID: 2, DataSetType: dataSetPresent, AffectedSOPClassUID: usImage, AffectedSOPInstanceUID: "1.2.3", MoveOriginatorAET: "MOVER", MoveOriginatorMsgID: 9},
		{Field: cmdCStoreRSP, MessageIDRespondedTo: 2, DataSetType: dataSetAbsent, AffectedSOPClassUID: usImage, AffectedSOPInstanceUID: "1.2.3", Status: StatusOutOfResources, ErrorComment: "disk full"},
	} {
		f.Add(encodeCommand(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		d, err := decodeCommand(encodeCommand(c))
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if d.Field != c.Field || d.DataSetType != c.DataSetType || d.AffectedSOPClassUID != c.AffectedSOPClassUID || d.AffectedSOPInstanceUID != c.AffectedSOPInstanceUID {
			t.Fatalf("round trip changed the command: %+v -> %+v", c, d)
		}
		if c.Field&0x8000 != 0 && (d.Status != c.Status || d.MessageIDRespondedTo != c.MessageIDRespondedTo) {
			t.Fatalf("round trip changed the response: %+v -> %+v", c, d)
		}
		if c.Field&0x8000 == 0 && d.MessageID != c.MessageID {
			t.Fatalf("round trip changed the message ID: %+v -> %+v", c, d)
		}
	})
}
