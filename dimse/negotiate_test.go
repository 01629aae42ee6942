package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// withIdentity appends a user identity sub-item (PS3.7 D.3.3.7.1: type 1,
// user name) to the user information item, the last item of an encoded
// A-ASSOCIATE-RQ, and fixes the lengths.
func withIdentity(pdu []byte, name string, positive bool) []byte {
	sub := []byte{subUserIdentityRQ, 0, 0, 0, 1, b2u(positive)}
	sub = binary.BigEndian.AppendUint16(sub, uint16(len(name)))
	sub = append(sub, name...)
	sub = append(sub, 0, 0) // no secondary field
	binary.BigEndian.PutUint16(sub[2:], uint16(len(sub)-4))
	// The user information item is last: find its header from the end.
	i := bytes.LastIndexByte(pdu, itemUserInfo)
	for ; i >= 0; i = bytes.LastIndexByte(pdu[:i], itemUserInfo) {
		if int(binary.BigEndian.Uint16(pdu[i+2:]))+i+4 == len(pdu) {
			break
		}
	}
	out := append(append([]byte(nil), pdu...), sub...)
	binary.BigEndian.PutUint16(out[i+2:], uint16(len(out)-i-4))
	binary.BigEndian.PutUint32(out[2:], uint32(len(out)-pduHeaderLen))
	return out
}

// A user identity request that asks for a positive response gets one: a
// user identity sub-item (0x59) in the A-ASSOCIATE-AC with an empty server
// response. Without the request, none is sent.
func TestUserIdentityPositiveResponse(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	for _, positive := range []bool{true, false} {
		c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		mustf(t, err, "dial")
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(withIdentity(encodeAssociate(echoRQ("SONOLINK")), "technician", positive)); err != nil {
			t.Fatal(err)
		}
		typ, body, _, err := readPDU(c, nil, 1<<20)
		mustf(t, err, "reading the answer")
		if typ != pduAssociateAC {
			t.Fatalf("positive=%v: answer is PDU type 0x%02X, want A-ASSOCIATE-AC", positive, typ)
		}
		ac, err := decodeAssociate(typ, body)
		mustf(t, err, "decoding the AC")
		if ac.User.IdentityAccepted != positive {
			t.Errorf("positive response requested %v: AC has an identity response %v", positive, ac.User.IdentityAccepted)
		}
		// The response sub-item is exactly type 0x59, length 2, server-response-length 0.
		if positive && !bytes.Contains(body, []byte{subUserIdentityAC, 0, 0, 2, 0, 0}) {
			t.Errorf("no empty user identity response sub-item in the AC")
		}
		c.Write(encodeReleaseRQ())
		readOne(c)
		c.Close()
	}
}

// Called AE titles compare as DICOM does: padding spaces are not
// significant, whichever side has them.
func TestCalledAETitleIgnoresPadding(t *testing.T) {
	ts := startServer(t, Config{AETitles: []string{" US2 "}}, nil)
	for _, called := range []string{"US2", "US2     ", "  US2"} {
		c, p := rawAssociate(t, ts.addr, echoRQ(called))
		if a, ok := p.(*associate); !ok || a.Type != pduAssociateAC {
			t.Errorf("called AE %q: got %#v, want A-ASSOCIATE-AC", called, p)
		}
		c.Write(encodeReleaseRQ())
		readOne(c)
		c.Close()
	}
}

// A configured AE title in lower case would never match what scanners send:
// it is an error at start-up.
func TestLowerCaseAETitleRefused(t *testing.T) {
	_, err := NewServer(Config{SpoolDir: t.TempDir(), AETitles: []string{"SONOLINK", "Patient"}}, newTestHandler(t))
	if err == nil || !strings.Contains(err.Error(), `"Patient" has lower-case letters; use "PATIENT"`) {
		t.Errorf("NewServer with AE title Patient: %v", err)
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Each refused presentation context is logged with its abstract syntax and
// the proposed transfer syntaxes by name, so an installer can set up a
// scanner from the log; so is a context accepted in a syntax sonolink can
// only store as received.
func TestContextLogNamesSyntaxes(t *testing.T) {
	var logs logBuffer
	ts := startServer(t, Config{SOPClasses: UltrasoundSOPClasses(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	c, p := rawAssociate(t, ts.addr, echoRQ("SONOLINK",
		presCtx{ID: 1, Abstract: "1.2.840.10008.5.1.4.1.1.2", Transfer: []string{uidExplicitVRLE, "1.2.840.10008.1.2.4.70"}},
		presCtx{ID: 3, Abstract: "1.2.840.10008.5.1.4.1.1.6.1", Transfer: []string{"1.2.840.10008.1.2.4.94", "1.2.3.4"}},
		presCtx{ID: 5, Abstract: "1.2.840.10008.5.1.4.1.1.6.1", Transfer: []string{"1.2.840.10008.1.2.4.100"}},
	))
	defer c.Close()
	ac, ok := p.(*associate)
	if !ok {
		t.Fatalf("got %#v", p)
	}
	if r := []byte{ac.Contexts[0].Result, ac.Contexts[1].Result, ac.Contexts[2].Result}; !bytes.Equal(r, []byte{pcAbstractNotSupported, pcTransferSynNotSupported, pcAcceptance}) {
		t.Errorf("results %v", r)
	}
	// Negotiation is logged before the AC is sent.
	out := logs.String()
	for _, want := range []string{
		`msg="presentation context refused: abstract syntax not supported"`,
		`context_id=1 abstract_syntax="CT Image Storage (1.2.840.10008.5.1.4.1.1.2)" proposed_transfer_syntaxes="[Explicit VR Little Endian (1.2.840.10008.1.2.1) JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1) (1.2.840.10008.1.2.4.70)]"`,
		`msg="presentation context refused: transfer syntaxes not supported"`,
		`context_id=3 abstract_syntax="Ultrasound Image Storage (1.2.840.10008.5.1.4.1.1.6.1)" proposed_transfer_syntaxes="[1.2.840.10008.1.2.4.94 1.2.3.4]"`,
		`context_id=5 abstract_syntax="Ultrasound Image Storage (1.2.840.10008.5.1.4.1.1.6.1)" transfer_syntax="MPEG2 Main Profile @ Main Level (1.2.840.10008.1.2.4.100)"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks\n  %s\nlog:\n%s", want, out)
		}
	}
}

// A transfer the sender abandons in the middle of an object is logged:
// nothing was stored and the sender got no response.
func TestAbandonedTransferLogged(t *testing.T) {
	var logs logBuffer
	ts := startServer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, ds := startStoreByHand(ctx, t, ts, "QUITTER")
	mustf(t, c.ul.write(append(pdataHeader(1, 0, 1000), ds[:1000]...)), "fragment")
	mustf(t, c.ul.write(encodeAbort(abortSourceUser, 0)), "abort")
	want := `msg="transfer abandoned mid-object: aborted by the sender; nothing stored" component=dimse peer=`
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %s:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `sop_class="Secondary Capture Image Storage (1.2.840.10008.5.1.4.1.1.7)" transfer_syntax="Implicit VR Little Endian (1.2.840.10008.1.2)" bytes_received=1000`) {
		t.Errorf("abandoned transfer line lacks its class, syntax or size:\n%s", logs.String())
	}
	if ts.h.count() != 0 {
		t.Errorf("handler called for an abandoned object")
	}
}

// startStoreByHand associates as callingAET, sends the C-STORE-RQ command
// for a small sample on context 1 and returns the association and the
// sample's data set, for a test to send as it likes.
func startStoreByHand(ctx context.Context, t *testing.T, ts *testServer, callingAET string) (*scu, []byte) {
	t.Helper()
	src := filepath.Join(testenv.Samples(t), "sc/orthanc__ColorTestMalaterre.dcm")
	m := sampleMeta(t, src)
	raw, err := os.ReadFile(src)
	mustf(t, err, "reading the sample")
	c, err := associateSCU(ctx, ts.addr, callingAET, "SONOLINK", []presCtx{{ID: 1, Abstract: m.SOPClassUID, Transfer: []string{m.TransferSyntaxUID}}})
	mustf(t, err, "associate")
	t.Cleanup(c.close)
	mustf(t, c.ul.sendCommand(1, encodeCommand(&command{Field: cmdCStoreRQ, MessageID: 1, DataSetType: dataSetPresent,
		AffectedSOPClassUID: m.SOPClassUID, AffectedSOPInstanceUID: m.SOPInstanceUID})), "command")
	return c, raw[m.DataSetOffset:]
}
