package dimse

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// mppsBook is an MPPSHandler that keeps steps in memory with the rules of
// PS3.4 F.7.2 (the pipeline's is durable; these tests are about the wire).
type mppsBook struct {
	mu    sync.Mutex
	steps map[string]*ProcedureStep
	fail  error // returned by every call when set
}

func (b *mppsBook) CreateMPPS(ctx context.Context, a *Association, inst string, ps *ProcedureStep) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	if b.steps[inst] != nil {
		return ErrMPPSExists
	}
	b.steps[inst] = ps
	return nil
}

func (b *mppsBook) SetMPPS(ctx context.Context, a *Association, inst string, ps *ProcedureStep) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.steps[inst]
	switch {
	case old == nil:
		return ErrMPPSUnknown
	case old.Status != MPPSInProgress:
		return ErrMPPSFinal
	}
	if ps.Status != "" {
		old.Status = ps.Status
	}
	if ps.HasSeries {
		old.HasSeries, old.Refs = true, ps.Refs
	}
	return nil
}

func (b *mppsBook) get(inst string) *ProcedureStep {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.steps[inst]
}

func sampleStep() *ProcedureStep {
	return &ProcedureStep{Status: MPPSCompleted, StudyUIDs: []string{"1.2.3.9"}, HasSeries: true,
		Refs: []SOPRef{{SOPClassUID: usImage, SOPInstanceUID: "1.2.3.9.1"}, {SOPClassUID: usImage, SOPInstanceUID: "1.2.3.9.2"}}}
}

// The data set sonolink reads survives a round trip in either syntax.
func TestProcedureStepRoundTrip(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		for _, ps := range []*ProcedureStep{sampleStep(), {Status: MPPSInProgress, StudyUIDs: []string{"1.2", "1.3"}, HasSeries: true}, {Status: MPPSDiscontinued}} {
			got, err := decodeProcedureStep(encodeProcedureStep(ps, explicit), explicit)
			mustf(t, err, "explicit=%v", explicit)
			if !reflect.DeepEqual(got, ps) {
				t.Errorf("explicit=%v: got %+v, want %+v", explicit, got, ps)
			}
		}
	}
}

// In Implicit VR, the sequences of interest are read whether their lengths
// are defined or not, Non-Image Composite references are read beside image
// ones, and other sequences (of defined length) are skipped as values.
func TestProcedureStepImplicitUndefinedLengths(t *testing.T) {
	u32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	tagLE := func(b []byte, tag uint32) []byte {
		b = binary.LittleEndian.AppendUint16(b, uint16(tag>>16))
		return binary.LittleEndian.AppendUint16(b, uint16(tag))
	}
	w := dsWriter{}
	other := w.sequence(nil, 0x00081110, [][]byte{w.elem(nil, tagRefSOPInstanceUID, "UI", evenUID("5.5"))}) // Referenced Study Sequence
	b := w.elem(nil, 0x00080020, "DA", []byte("20261202"))
	b = w.elem(b, tagPPSStatus, "CS", []byte("COMPLETED "))
	b = tagLE(b, tagSchedStepAttrSeq)
	b = u32(b, undefinedLength)
	b = tagLE(b, tagItem)
	b = u32(b, undefinedLength)
	b = append(b, other...)
	b = w.elem(b, tagStudyInstanceUID, "UI", evenUID("7.7.7"))
	b = tagLE(b, tagItemDelim)
	b = u32(b, 0)
	b = tagLE(b, tagSeqDelim)
	b = u32(b, 0)
	series := w.sequence(nil, tagRefImageSeq, [][]byte{w.refItem(SOPRef{usImage, "7.7.7.1"}, nil)})
	series = w.sequence(series, tagRefNonImageSeq, [][]byte{w.refItem(SOPRef{"1.2.840.10008.5.1.4.1.1.88.33", "7.7.7.2"}, nil)})
	b = w.sequence(b, tagPerformedSeriesSeq, [][]byte{series})
	got, err := decodeProcedureStep(b, false)
	mustf(t, err, "decoding")
	want := &ProcedureStep{Status: MPPSCompleted, StudyUIDs: []string{"7.7.7"}, HasSeries: true,
		Refs: []SOPRef{{usImage, "7.7.7.1"}, {"1.2.840.10008.5.1.4.1.1.88.33", "7.7.7.2"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := decodeProcedureStep(b[:len(b)-3], false); !errors.Is(err, errDataSet) {
		t.Errorf("cut short: err %v, want errDataSet", err)
	}
}

// The N-CREATE and N-SET command sets, the response's Error ID included,
// survive a round trip.
func TestMPPSCommandsRoundTrip(t *testing.T) {
	for _, c := range []*command{
		{Field: cmdNCreateRQ, MessageID: 3, DataSetType: dataSetPresent, AffectedSOPClassUID: UIDModalityPerformedProcedureStep, AffectedSOPInstanceUID: "1.2.3"},
		{Field: cmdNCreateRSP, MessageIDRespondedTo: 3, DataSetType: dataSetAbsent, AffectedSOPClassUID: UIDModalityPerformedProcedureStep,
			AffectedSOPInstanceUID: "1.2.3", Status: StatusSuccess},
		{Field: cmdNSetRQ, MessageID: 4, DataSetType: dataSetPresent, RequestedSOPClassUID: UIDModalityPerformedProcedureStep, RequestedSOPInstanceUID: "1.2.3"},
		{Field: cmdNSetRSP, MessageIDRespondedTo: 4, DataSetType: dataSetAbsent, AffectedSOPClassUID: UIDModalityPerformedProcedureStep,
			AffectedSOPInstanceUID: "1.2.3", Status: StatusProcessingFailure, ErrorComment: "no", ErrorID: errorIDMayNoLongerBeUpdated},
	} {
		d, err := decodeCommand(encodeCommand(c))
		mustf(t, err, "command 0x%04X", c.Field)
		d.has = nil
		if !reflect.DeepEqual(d, c) {
			t.Errorf("command 0x%04X: got %+v, want %+v", c.Field, d, c)
		}
	}
}

// One exam's life over the wire, with every refusal PS3.4 F.7 names.
func TestMPPSOverTheWire(t *testing.T) {
	book := &mppsBook{steps: map[string]*ProcedureStep{}}
	srv := startServer(t, Config{MPPS: book}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	create := func(inst string, ps *ProcedureStep) *MPPSResponse {
		t.Helper()
		r, err := CreateMPPS(ctx, srv.addr, "US1", "SONOLINK", inst, ps)
		mustf(t, err, "N-CREATE")
		return r
	}
	set := func(inst string, ps *ProcedureStep) *MPPSResponse {
		t.Helper()
		r, err := SetMPPS(ctx, srv.addr, "US1", "SONOLINK", inst, ps)
		mustf(t, err, "N-SET")
		return r
	}
	start := &ProcedureStep{Status: MPPSInProgress, StudyUIDs: []string{"1.2.3.9"}, HasSeries: true}

	// The SCP chooses the UID when the modality leaves it out.
	r := create("", start)
	if r.Status != StatusSuccess || !strings.HasPrefix(r.SOPInstanceUID, "2.25.") || book.get(r.SOPInstanceUID) == nil {
		t.Fatalf("N-CREATE without UID: %+v", r)
	}
	// The modality's own UID is kept and answered.
	const inst = "1.2.826.0.1.3680043.2.1.500"
	if r := create(inst, start); r.Status != StatusSuccess || r.SOPInstanceUID != inst {
		t.Fatalf("N-CREATE: %+v", r)
	}
	if r := create(inst, start); r.Status != StatusDuplicateSOPInstance || r.SOPInstanceUID != inst {
		t.Errorf("duplicate N-CREATE: %+v, want 0111", r)
	}
	if r := create("1.2.9", &ProcedureStep{Status: MPPSCompleted}); r.Status != statusInvalidAttributeValue {
		t.Errorf("N-CREATE COMPLETED: %+v, want 0106", r)
	}
	if r := create("1.2.9", &ProcedureStep{}); r.Status != statusMissingAttribute {
		t.Errorf("N-CREATE without status: %+v, want 0120", r)
	}
	if r := set("1.2.404", sampleStep()); r.Status != statusNoSuchInstance || r.SOPInstanceUID != "1.2.404" {
		t.Errorf("N-SET of an unknown instance: %+v, want 0112", r)
	}
	if r := set(inst, &ProcedureStep{Status: "PAUSED"}); r.Status != statusInvalidAttributeValue {
		t.Errorf("N-SET PAUSED: %+v, want 0106", r)
	}
	if r := set(inst, sampleStep()); r.Status != StatusSuccess || r.SOPInstanceUID != inst {
		t.Fatalf("N-SET COMPLETED: %+v", r)
	}
	if got := book.get(inst); got.Status != MPPSCompleted || !reflect.DeepEqual(got.Refs, sampleStep().Refs) {
		t.Errorf("handler got %+v", got)
	}
	r = set(inst, &ProcedureStep{Status: MPPSDiscontinued})
	if r.Status != StatusProcessingFailure || r.ErrorID != errorIDMayNoLongerBeUpdated || r.ErrorComment == "" {
		t.Errorf("N-SET after COMPLETED: %+v, want 0110 with Error ID A710", r)
	}
	// A handler that cannot record answers processing failure, never Success.
	book.mu.Lock()
	book.fail = errors.New("disk full")
	book.mu.Unlock()
	if r := create("1.2.10", start); r.Status != StatusProcessingFailure {
		t.Errorf("N-CREATE the handler failed: %+v, want 0110", r)
	}
}

// Without a handler, the MPPS SOP class is refused at negotiation.
func TestMPPSNotAcceptedWithoutHandler(t *testing.T) {
	srv := startServer(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := CreateMPPS(ctx, srv.addr, "US1", "SONOLINK", "", &ProcedureStep{Status: MPPSInProgress})
	if err == nil || !strings.Contains(err.Error(), "refused the MPPS SOP class") {
		t.Fatalf("err %v, want the class refused", err)
	}
}

// Whatever a modality sends, decoding returns or errs without panicking,
// and what it returns (with values of valid lengths) survives a round trip.
func FuzzDecodeProcedureStep(f *testing.F) {
	f.Add(encodeProcedureStep(sampleStep(), false), false)
	f.Add(encodeProcedureStep(sampleStep(), true), true)
	f.Add(encodeProcedureStep(&ProcedureStep{Status: MPPSInProgress, StudyUIDs: []string{"1.2"}, HasSeries: true}, true), true)
	f.Fuzz(func(t *testing.T, b []byte, explicit bool) {
		ps, err := decodeProcedureStep(b, explicit)
		if err != nil {
			return
		}
		short := len(ps.Status) <= 64
		for _, s := range ps.StudyUIDs {
			short = short && len(s) <= 64
		}
		for _, r := range ps.Refs {
			short = short && len(r.SOPClassUID) <= 64 && len(r.SOPInstanceUID) <= 64
		}
		if !short {
			return
		}
		again, err := decodeProcedureStep(encodeProcedureStep(ps, explicit), explicit)
		if err != nil || !reflect.DeepEqual(again, ps) {
			t.Fatalf("round trip: %+v -> %+v (%v)", ps, again, err)
		}
	})
}

// An N-CREATE without its data set is answered 0120 with the instance it
// named; the association goes on.
func TestMPPSCreateWithoutDataSet(t *testing.T) {
	srv := startServer(t, Config{MPPS: &mppsBook{steps: map[string]*ProcedureStep{}}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := associateSCU(ctx, srv.addr, "US1", "SONOLINK", []presCtx{{ID: 1, Abstract: UIDModalityPerformedProcedureStep, Transfer: []string{uidImplicitVRLE}}})
	mustf(t, err, "associate")
	defer c.close()
	rq := &command{Field: cmdNCreateRQ, MessageID: 5, DataSetType: dataSetAbsent, AffectedSOPClassUID: UIDModalityPerformedProcedureStep, AffectedSOPInstanceUID: "1.2.5"}
	mustf(t, c.ul.sendCommand(1, encodeCommand(rq)), "N-CREATE-RQ")
	rsp, _ := readMessage(t, c)
	if rsp.Field != cmdNCreateRSP || rsp.Status != statusMissingAttribute || rsp.AffectedSOPInstanceUID != "1.2.5" || rsp.MessageIDRespondedTo != 5 {
		t.Errorf("response %+v, want N-CREATE-RSP 0120 for 1.2.5", rsp)
	}
	mustf(t, c.release(ctx), "release")
}
