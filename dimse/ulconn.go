package dimse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// ulConn is one upper layer connection: PDU framing with deadlines, shared by
// the SCP and the SCU.
type ulConn struct {
	c         net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	buf       []byte // reused PDU body buffer
	readLimit uint32 // largest PDU body we accept
	peerMax   uint32 // largest P-DATA variable field the peer accepts (0: no limit)
	timeout   time.Duration
}

func newULConn(c net.Conn, readLimit uint32, timeout time.Duration) *ulConn {
	return &ulConn{
		c:         c,
		br:        bufio.NewReaderSize(c, 32<<10),
		bw:        bufio.NewWriterSize(c, 32<<10),
		readLimit: readLimit,
		timeout:   timeout,
	}
}

// read reads one PDU, waiting at most d for it to arrive in full.
func (u *ulConn) read(d time.Duration) (byte, []byte, error) {
	if d > 0 {
		u.c.SetReadDeadline(time.Now().Add(d))
	}
	return u.readNoDeadline()
}

func (u *ulConn) readNoDeadline() (byte, []byte, error) {
	typ, body, buf, err := readPDU(u.br, u.buf, u.readLimit)
	u.buf = buf
	if cap(u.buf) > 4<<20 { // do not keep an unusually large buffer around
		u.buf = nil
	}
	return typ, body, err
}

// write sends whole PDUs and flushes.
func (u *ulConn) write(pdus ...[]byte) error {
	u.c.SetWriteDeadline(time.Now().Add(u.timeout))
	for _, p := range pdus {
		if _, err := u.bw.Write(p); err != nil {
			return err
		}
	}
	return u.bw.Flush()
}

// maxPDV returns the largest PDV data we may send in one P-DATA-TF PDU.
func (u *ulConn) maxPDV() int {
	n := 1 << 20 // our own cap, also used when the peer sets no limit
	if u.peerMax != 0 && int64(u.peerMax)-6 < int64(n) {
		n = int(u.peerMax) - 6
	}
	if n < 1 {
		n = 1
	}
	return n
}

// sendCommand sends an encoded command set, fragmented as the peer requires.
func (u *ulConn) sendCommand(pcid byte, cmd []byte) error {
	u.c.SetWriteDeadline(time.Now().Add(u.timeout))
	max := u.maxPDV()
	for len(cmd) > 0 {
		n := min(len(cmd), max)
		ctl := byte(1)
		if n == len(cmd) {
			ctl |= 2
		}
		u.bw.Write(pdataHeader(pcid, ctl, n))
		if _, err := u.bw.Write(cmd[:n]); err != nil {
			return err
		}
		cmd = cmd[n:]
	}
	return u.bw.Flush()
}

// sendData streams size bytes of data set from r as P-DATA fragments.
func (u *ulConn) sendData(pcid byte, r io.Reader, size int64) error {
	chunk := make([]byte, min(int64(u.maxPDV()), max(size, 1)))
	if size == 0 {
		return u.write(pdataHeader(pcid, 2, 0))
	}
	for size > 0 {
		n := int(min(int64(len(chunk)), size))
		if _, err := io.ReadFull(r, chunk[:n]); err != nil {
			return fmt.Errorf("reading data set: %w", err)
		}
		size -= int64(n)
		ctl := byte(0)
		if size == 0 {
			ctl = 2
		}
		u.c.SetWriteDeadline(time.Now().Add(u.timeout))
		u.bw.Write(pdataHeader(pcid, ctl, n))
		if _, err := u.bw.Write(chunk[:n]); err != nil {
			return err
		}
	}
	return u.bw.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// RejectError is returned by Echo and StoreFile when the peer rejects the
// association (A-ASSOCIATE-RJ).
type RejectError struct {
	Result byte // 1 permanent, 2 transient
	Source byte // 1 service user, 2 service provider (ACSE), 3 service provider (presentation)
	Reason byte
}

func (e *RejectError) Error() string {
	kind := "permanently"
	if e.Result == 2 {
		kind = "transiently"
	}
	return fmt.Sprintf("association rejected %s: %s (result %d, source %d, reason %d)", kind, rejectReasonText(e.Source, e.Reason), e.Result, e.Source, e.Reason)
}

// Permanent reports whether retrying without changing anything is pointless.
func (e *RejectError) Permanent() bool { return e.Result != 2 }

func rejectReasonText(source, reason byte) string {
	switch source {
	case 1:
		switch reason {
		case 1:
			return "no reason given"
		case 2:
			return "application context name not supported"
		case 3:
			return "calling AE title not recognized"
		case 7:
			return "called AE title not recognized"
		}
	case 2:
		switch reason {
		case 1:
			return "no reason given (ACSE)"
		case 2:
			return "protocol version not supported"
		}
	case 3:
		switch reason {
		case 1:
			return "temporary congestion"
		case 2:
			return "local limit exceeded (too many associations)"
		}
	}
	return "unknown reason"
}

// AbortError is returned by Echo and StoreFile when the peer aborts the
// association (A-ABORT).
type AbortError struct{ Source, Reason byte }

func (e *AbortError) Error() string {
	return fmt.Sprintf("association aborted by peer: %s (source %d, reason %d)", abortReasonText(e.Source, e.Reason), e.Source, e.Reason)
}

func abortReasonText(source, reason byte) string {
	if source != abortSourceProvider {
		return "service user abort"
	}
	switch reason {
	case abortUnrecognizedPDU:
		return "unrecognized PDU"
	case abortUnexpectedPDU:
		return "unexpected PDU"
	case abortUnrecognizedParam:
		return "unrecognized PDU parameter"
	case abortUnexpectedParam:
		return "unexpected PDU parameter"
	case abortInvalidParamValue:
		return "invalid PDU parameter value"
	}
	return "reason not specified"
}
