package dimse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sonolink/dicom/pixels"
	"sonolink/dicom/uid"
	"sonolink/internal/testenv"
)

const usImage = "1.2.840.10008.5.1.4.1.1.6.1"

func TestEchoOwnServer(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Echo(ctx, ts.addr, "ECHOSCU", "SONOLINK"); err != nil {
		t.Fatal(err)
	}
}

func TestStoreFileOwnServerKeepsBytes(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{"us/pydicom-data__OBXXXX1A.dcm", "us/orthanc__Implicit-vr-us-palette.dcm", "us/dbdicom__UltrasoundPaletteColor-dicom_viewer_0020.dcm"} {
		src := filepath.Join(testenv.Samples(t), name)
		m := sampleMeta(t, src)
		st, err := StoreFile(ctx, ts.addr, "MODALITY", "SONOLINK", src)
		if err != nil || st != StatusSuccess {
			t.Fatalf("%s: status %v, err %v", name, st, err)
		}
		got, err := os.ReadFile(filepath.Join(ts.h.dir, m.SOPInstanceUID+".dcm"))
		mustf(t, err, "received file")
		want, _ := os.ReadFile(src)
		gm, err := readFileMeta(bufioReader(got))
		mustf(t, err, "received meta")
		if gm.SOPInstanceUID != m.SOPInstanceUID || gm.SOPClassUID != m.SOPClassUID || gm.TransferSyntaxUID != m.TransferSyntaxUID {
			t.Errorf("%s: meta %+v, want %+v", name, gm, m)
		}
		if !bytes.Equal(got[gm.DataSetOffset:], want[m.DataSetOffset:]) {
			t.Errorf("%s: data set bytes differ from the sample", name)
		}
		if !bytes.Contains(got[:gm.DataSetOffset], []byte(uid.ImplementationClassUID)) || !bytes.Contains(got[:gm.DataSetOffset], []byte("MODALITY")) {
			t.Errorf("%s: meta lacks implementation class UID or source AE", name)
		}
		// Group length matches the meta elements that follow it.
		gl := binary.LittleEndian.Uint32(got[140:])
		if int64(144+gl) != gm.DataSetOffset {
			t.Errorf("%s: group length %d, meta ends at %d", name, gl, gm.DataSetOffset)
		}
	}
	if n := ts.h.count(); n != 3 {
		t.Errorf("handler saw %d objects, want 3", n)
	}
}

func TestRejections(t *testing.T) {
	_, loop, _ := net.ParseCIDR("127.0.0.0/8")
	_, other, _ := net.ParseCIDR("192.0.2.0/24")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	check := func(t *testing.T, err error, result, source, reason byte) {
		t.Helper()
		var rj *RejectError
		if !errors.As(err, &rj) {
			t.Fatalf("want RejectError, got %v", err)
		}
		if rj.Result != result || rj.Source != source || rj.Reason != reason {
			t.Fatalf("got %v, want result %d source %d reason %d", rj, result, source, reason)
		}
	}
	t.Run("called AE", func(t *testing.T) {
		ts := startServer(t, Config{AETitles: []string{"SONOLINK", "US2"}}, nil)
		err := Echo(ctx, ts.addr, "MODALITY", "WRONG")
		check(t, err, 1, 1, 7)
		if err.Error() == "" || !bytes.Contains([]byte(err.Error()), []byte("called AE title not recognized")) {
			t.Errorf("error text %q", err)
		}
		mustf(t, Echo(ctx, ts.addr, "MODALITY", "US2"), "second AE title")
	})
	t.Run("calling AE", func(t *testing.T) {
		ts := startServer(t, Config{AllowedCallingAETs: []string{"GOOD"}}, nil)
		check(t, Echo(ctx, ts.addr, "BAD", "SONOLINK"), 1, 1, 3)
		mustf(t, Echo(ctx, ts.addr, "GOOD", "SONOLINK"), "allowed calling AE")
	})
	t.Run("peer address", func(t *testing.T) {
		ts := startServer(t, Config{AllowedPeers: []*net.IPNet{other}}, nil)
		check(t, Echo(ctx, ts.addr, "X", "SONOLINK"), 1, 1, 1)
		ts2 := startServer(t, Config{AllowedPeers: []*net.IPNet{other, loop}}, nil)
		mustf(t, Echo(ctx, ts2.addr, "X", "SONOLINK"), "allowed peer")
	})
	t.Run("application context", func(t *testing.T) {
		ts := startServer(t, Config{}, nil)
		rq := echoRQ("SONOLINK")
		rq.AppContext = "1.2.3"
		c, p := rawAssociate(t, ts.addr, rq)
		defer c.Close()
		rj, ok := p.(*associateRJ)
		if !ok || *rj != (associateRJ{1, 1, 2}) {
			t.Fatalf("got %#v, want RJ 1/1/2", p)
		}
	})
	t.Run("association limit", func(t *testing.T) {
		ts := startServer(t, Config{MaxAssociations: 1}, nil)
		c, p := rawAssociate(t, ts.addr, echoRQ("SONOLINK"))
		if _, ok := p.(*associate); !ok {
			t.Fatalf("first association: %#v", p)
		}
		check(t, Echo(ctx, ts.addr, "X", "SONOLINK"), 2, 3, 2)
		c.Write(encodeReleaseRQ())
		if p, err := readOne(c); err != nil {
			t.Fatal(err)
		} else if _, ok := p.(*releaseRP); !ok {
			t.Fatalf("want A-RELEASE-RP, got %T", p)
		}
		c.Close()
		// The slot is free again once the first association has ended.
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := Echo(ctx, ts.addr, "X", "SONOLINK")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slot not freed: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestPresentationContextNegotiation(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	rq := echoRQ("SONOLINK",
		presCtx{ID: 1, Abstract: uidVerification, Transfer: []string{uidImplicitVRLE}},
		// The sender's order decides among syntaxes sonolink decodes.
		presCtx{ID: 3, Abstract: usImage, Transfer: []string{"1.2.840.10008.1.2.4.50", uidImplicitVRLE, uidExplicitVRLE}},
		presCtx{ID: 5, Abstract: "1.2.840.113619.4.2", Transfer: []string{uidExplicitVRLE}},        // a private class
		presCtx{ID: 7, Abstract: usImage, Transfer: []string{"1.2.840.10008.1.2.4.94", "1.2.3.4"}}, // JPIP referenced, made up
		presCtx{ID: 9, Abstract: "1.2.840.10008.5.1.4.1.1.3.1", Transfer: []string{"1.2.840.10008.1.2.5"}},
		presCtx{ID: 11, Abstract: usImage, Transfer: []string{"1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.2"}}, // MPEG2, big endian
		presCtx{ID: 13, Abstract: "1.2.840.10008.5.1.4.1.1.2", Transfer: []string{"1.2.840.10008.1.2.4.100"}},    // CT in MPEG2: stored as received
	)
	c, p := rawAssociate(t, ts.addr, rq)
	defer c.Close()
	ac, ok := p.(*associate)
	if !ok || ac.Type != pduAssociateAC {
		t.Fatalf("got %#v", p)
	}
	want := map[byte]struct {
		res byte
		ts  string
	}{
		1:  {pcAcceptance, uidImplicitVRLE},
		3:  {pcAcceptance, "1.2.840.10008.1.2.4.50"},
		5:  {pcAbstractNotSupported, ""},
		7:  {pcTransferSynNotSupported, ""},
		9:  {pcAcceptance, "1.2.840.10008.1.2.5"},
		11: {pcAcceptance, "1.2.840.10008.1.2.2"},
		13: {pcAcceptance, "1.2.840.10008.1.2.4.100"},
	}
	if len(ac.Contexts) != len(want) {
		t.Fatalf("%d contexts answered, want %d", len(ac.Contexts), len(want))
	}
	for _, pc := range ac.Contexts {
		w := want[pc.ID]
		if pc.Result != w.res || (w.res == pcAcceptance && pc.Transfer[0] != w.ts) {
			t.Errorf("context %d: result %d ts %v, want %d %s", pc.ID, pc.Result, pc.Transfer, w.res, w.ts)
		}
	}
	if ac.User.MaxLength != DefaultMaxPDULength || ac.User.ImplClassUID != uid.ImplementationClassUID || ac.User.ImplVersion != uid.ImplementationVersionName {
		t.Errorf("user info %+v", ac.User)
	}
}

func TestMalformedPDUAbortsOnlyThatAssociation(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A healthy association, open throughout.
	good, err := associateSCU(ctx, ts.addr, "GOOD", "SONOLINK", []presCtx{{ID: 1, Abstract: uidVerification, Transfer: []string{uidImplicitVRLE}}})
	mustf(t, err, "good association")
	defer good.close()

	cases := map[string][]byte{
		"unknown PDU type":       {0x99, 0, 0, 0, 0, 4, 1, 2, 3, 4},
		"PDV longer than PDU":    {0x04, 0, 0, 0, 0, 8, 0, 0, 0xFF, 0xFF, 1, 3, 0, 0},
		"huge declared length":   {0x04, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0},
		"PDV on unknown context": append(pdataHeader(9, 3, 4), 1, 2, 3, 4),
		"garbage command":        append(pdataHeader(1, 3, 8), 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff),
		"second associate RQ":    encodeAssociate(echoRQ("SONOLINK")),
	}
	for name, pdu := range cases {
		t.Run(name, func(t *testing.T) {
			c, p := rawAssociate(t, ts.addr, echoRQ("SONOLINK"))
			defer c.Close()
			if _, ok := p.(*associate); !ok {
				t.Fatalf("association: %#v", p)
			}
			c.Write(pdu)
			expectAbort(t, c)
		})
	}
	// Garbage instead of the A-ASSOCIATE-RQ.
	c, err := net.Dial("tcp", ts.addr)
	mustf(t, err, "dial")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	expectAbort(t, c)
	c.Close()

	// The healthy association still works, and new ones are accepted.
	good.msgID++
	mustf(t, good.ul.sendCommand(1, encodeCommand(&command{Field: cmdCEchoRQ, MessageID: good.msgID, DataSetType: dataSetAbsent, AffectedSOPClassUID: uidVerification})), "echo on good association")
	rsp, err := good.readCommand(ctx)
	mustf(t, err, "echo response")
	if rsp.Status != StatusSuccess {
		t.Fatalf("echo status %v", rsp.Status)
	}
	mustf(t, good.release(ctx), "release")
	mustf(t, Echo(ctx, ts.addr, "AFTER", "SONOLINK"), "echo after malformed PDUs")
}

func TestHandlerStatusAndPanic(t *testing.T) {
	h := newTestHandler(t)
	h.status = func(obj *Object) Status {
		switch obj.SOPClassUID {
		case "1.2.840.10008.5.1.4.1.1.7":
			panic("handler bug")
		}
		return StatusOutOfResources
	}
	ts := startServer(t, Config{}, h)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := StoreFile(ctx, ts.addr, "M", "SONOLINK", filepath.Join(testenv.Samples(t), "us/pydicom-data__OBXXXX1A.dcm"))
	mustf(t, err, "store")
	if st != StatusOutOfResources {
		t.Errorf("status %v, want A700", st)
	}
	st, err = StoreFile(ctx, ts.addr, "M", "SONOLINK", filepath.Join(testenv.Samples(t), "sc/debian-pydicom__SC_ybr_full_422_uncompressed.dcm"))
	mustf(t, err, "store")
	if st != StatusProcessingFailure {
		t.Errorf("status %v after panic, want 0110", st)
	}
	mustf(t, Echo(ctx, ts.addr, "M", "SONOLINK"), "echo after panic")
}

func TestObjectTooLarge(t *testing.T) {
	ts := startServer(t, Config{MaxObjectSize: 100 << 10}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := StoreFile(ctx, ts.addr, "M", "SONOLINK", filepath.Join(testenv.Samples(t), "us/deid-data__GREYSCALE_IMAGE.dcm"))
	mustf(t, err, "store")
	if st != StatusOutOfResources {
		t.Errorf("status %v, want A700", st)
	}
	if ts.h.count() != 0 {
		t.Errorf("handler called for an oversize object")
	}
	st, err = StoreFile(ctx, ts.addr, "M", "SONOLINK", filepath.Join(testenv.Samples(t), "sc/debian-pydicom__SC_ybr_full_422_uncompressed.dcm"))
	if err != nil || st != StatusSuccess {
		t.Fatalf("small object after oversize one: %v %v", st, err)
	}
}

func TestTimeouts(t *testing.T) {
	ts := startServer(t, Config{ARTIMTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}, nil)
	// ARTIM: a connection that never sends A-ASSOCIATE-RQ is closed.
	c, err := net.Dial("tcp", ts.addr)
	mustf(t, err, "dial")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("ARTIM: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ARTIM close took %v", d)
	}
	c.Close()
	// Idle: an association that goes quiet is aborted.
	c, p := rawAssociate(t, ts.addr, echoRQ("SONOLINK"))
	defer c.Close()
	if _, ok := p.(*associate); !ok {
		t.Fatalf("association: %#v", p)
	}
	expectAbort(t, c)
}

func TestShutdownAbortsIdleAssociations(t *testing.T) {
	h := newTestHandler(t)
	cfg := Config{SpoolDir: t.TempDir()}
	s, err := NewServer(cfg, h)
	mustf(t, err, "NewServer")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "listen")
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	c, p := rawAssociate(t, l.Addr().String(), echoRQ("SONOLINK"))
	defer c.Close()
	if _, ok := p.(*associate); !ok {
		t.Fatalf("association: %#v", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	mustf(t, s.Shutdown(ctx), "Shutdown")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with an idle association", d)
	}
	expectAbort(t, c)
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if len(h.closed) != 1 {
		t.Errorf("AssociationClosed calls: %v", h.closed)
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	if _, err := NewServer(Config{}, newTestHandler(t)); err == nil {
		t.Error("missing SpoolDir accepted")
	}
	s, err := NewServer(Config{SpoolDir: t.TempDir()}, newTestHandler(t))
	mustf(t, err, "NewServer")
	c := s.cfg
	if c.AETitles[0] != "SONOLINK" || c.MaxAssociations != 16 || c.ARTIMTimeout != 30*time.Second || c.IdleTimeout != 120*time.Second ||
		c.MaxPDULength != 1<<20 || c.MaxObjectSize != 2<<30 || c.SOPClasses != nil || !slices.Contains(c.TransferSyntaxes, "1.2.840.10008.1.2.4.90") {
		t.Errorf("defaults: %+v", c)
	}
	if _, err := NewServer(Config{SpoolDir: "x", MaxPDULength: 100}, newTestHandler(t)); err == nil {
		t.Error("tiny MaxPDULength accepted")
	}
}

// A slow sender whose PDUs each arrive within the idle timeout is not cut
// off, however long the whole object takes.
func TestIdleTimeoutIsPerPDU(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: 300 * time.Millisecond}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, ds := startStoreByHand(ctx, t, ts, "SLOW")
	const parts = 6 // 6 x 150 ms = 900 ms in all, three times the idle timeout
	step := len(ds)/parts + 1
	for off := 0; off < len(ds); off += step {
		time.Sleep(150 * time.Millisecond)
		end := min(off+step, len(ds))
		ctl := byte(0)
		if end == len(ds) {
			ctl = 2
		}
		mustf(t, c.ul.write(append(pdataHeader(1, ctl, end-off), ds[off:end]...)), "fragment")
	}
	rsp, err := c.readCommand(ctx)
	mustf(t, err, "response")
	if rsp.Status != StatusSuccess {
		t.Fatalf("status %v", rsp.Status)
	}
	mustf(t, c.release(ctx), "release")
}

// A context gets the first syntax the sender proposed that sonolink can
// de-identify and render, in the sender's order: a sender holding an image
// in JPEG Lossless or RLE lists that first and sends it as it is, one
// listing uncompressed first is not asked to compress. Objects without an
// image take a native syntax when one is proposed. Only when nothing
// decodable is proposed does a storable syntax (JPEG 2000, JPEG-LS, video)
// get accepted, to be stored as received.
func TestChooseTransferSyntax(t *testing.T) {
	const (
		jpegLossless, rle, jpegBaseline = "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50"
		j2k, jls, h264, bigEndian       = "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.2"
		usImage, basicSR, pdf, kos      = "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.88.59"
		deflated, madeUp, jpip          = "1.2.840.10008.1.2.1.99", "1.2.3.4.5.6.7", "1.2.840.10008.1.2.4.94"
		htj2k                           = "1.2.840.10008.1.2.4.201"
	)
	s, err := NewServer(Config{SpoolDir: t.TempDir()}, newTestHandler(t))
	mustf(t, err, "NewServer")
	codecs := pixels.Decodable(j2k) // OpenJPEG and CharLS through cgo
	for _, c := range []struct {
		abstract      string
		proposed      []string
		want          string
		wantDecodable bool
	}{
		// dcmsend with a compressed file: its own syntax first.
		{usImage, []string{jpegLossless, uidExplicitVRLE, bigEndian, uidImplicitVRLE}, jpegLossless, true},
		{usImage, []string{rle, uidExplicitVRLE, uidImplicitVRLE}, rle, true},
		// storescu -xe / -xb / -x=: uncompressed, in its order.
		{usImage, []string{uidExplicitVRLE, bigEndian, uidImplicitVRLE}, uidExplicitVRLE, true},
		{usImage, []string{bigEndian, uidExplicitVRLE, uidImplicitVRLE}, bigEndian, true},
		{usImage, []string{uidImplicitVRLE, uidExplicitVRLE}, uidImplicitVRLE, true},
		// The sender listed uncompressed first: not asked to compress.
		{usImage, []string{uidExplicitVRLE, rle, jpegLossless}, uidExplicitVRLE, true},
		{usImage, []string{uidExplicitVRLE, jpegBaseline}, uidExplicitVRLE, true},
		{usImage, []string{jpegBaseline, uidExplicitVRLE}, jpegBaseline, true},
		// JPEG 2000 and JPEG-LS: decodable in a cgo build (the sender's
		// order decides), stored as received in a build without.
		{usImage, []string{j2k, uidExplicitVRLE}, map[bool]string{true: j2k, false: uidExplicitVRLE}[codecs], true},
		{usImage, []string{j2k}, j2k, codecs},
		{usImage, []string{madeUp, jls, j2k}, jls, codecs},
		// Not decodable: a decodable alternative wins, else stored as received.
		{usImage, []string{h264, uidExplicitVRLE}, uidExplicitVRLE, true},
		{"1.2.840.10008.5.1.4.1.1.77.1.4.1", []string{h264}, h264, false},
		// Objects without an image: native first, whatever the order.
		{basicSR, []string{rle, uidExplicitVRLE, bigEndian, uidImplicitVRLE}, uidExplicitVRLE, true},
		{pdf, []string{jpegLossless, uidImplicitVRLE}, uidImplicitVRLE, true},
		{kos, []string{rle}, rle, true},
		// Nothing storable.
		{usImage, []string{madeUp}, "", false},
		{usImage, []string{jpip}, "", false},
		// Deflated: read inflated, so decodable, in the sender's order.
		{usImage, []string{deflated, uidExplicitVRLE}, deflated, true},
		{basicSR, []string{deflated}, deflated, true},
		// HTJ2K: decodable in a cgo build, else stored as received.
		{usImage, []string{htj2k, uidExplicitVRLE}, map[bool]string{true: htj2k, false: uidExplicitVRLE}[codecs], true},
		{usImage, []string{htj2k}, htj2k, codecs},
		{uidVerification, []string{uidImplicitVRLE}, uidImplicitVRLE, true},
	} {
		got, dec := s.chooseTS(c.abstract, c.proposed)
		if got != c.want || (got != "" && dec != c.wantDecodable) {
			t.Errorf("%s proposed %v: chose %q (decodable %v), want %q (%v)", c.abstract, c.proposed, got, dec, c.want, c.wantDecodable)
		}
	}
}
