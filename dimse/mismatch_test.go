package dimse

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A handler that finds the data set is not the object the command named
// answers A900; the response says why in its Error Comment (an LO, so at
// most 64 characters) and still names the command's UIDs.
func TestDataSetMismatchErrorComment(t *testing.T) {
	h := newTestHandler(t)
	h.status = func(*Object) Status { return StatusDataSetMismatch }
	ts := startServer(t, Config{}, h)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := associateSCU(ctx, ts.addr, "US1", "SONOLINK", []presCtx{{ID: 1, Abstract: usImage, Transfer: []string{"1.2.840.10008.1.2.1"}}})
	mustf(t, err, "associate")
	defer c.close()
	const sop = "1.2.826.0.1.3680043.10.4242.8.1"
	rq := &command{Field: cmdCStoreRQ, MessageID: 1, DataSetType: dataSetPresent, AffectedSOPClassUID: usImage, AffectedSOPInstanceUID: sop}
	mustf(t, c.ul.sendCommand(1, encodeCommand(rq)), "send command")
	ds := []byte{0x08, 0x00, 0x18, 0x00, 'U', 'I', 2, 0, '1', 0}
	mustf(t, c.ul.sendData(1, strings.NewReader(string(ds)), int64(len(ds))), "send data set")
	rsp, err := c.readCommand(ctx)
	mustf(t, err, "response")
	if rsp.Status != StatusDataSetMismatch || rsp.AffectedSOPInstanceUID != sop {
		t.Errorf("status %v for %s, want A900 for %s", rsp.Status, rsp.AffectedSOPInstanceUID, sop)
	}
	if !strings.Contains(rsp.ErrorComment, "differs from the request") || len(rsp.ErrorComment) > 64 {
		t.Errorf("error comment %q: want why, in at most 64 characters", rsp.ErrorComment)
	}
	mustf(t, c.release(ctx), "release")
}
