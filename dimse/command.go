package dimse

// DIMSE command sets (PS3.7 section 9.3 and annex E): group 0000, always
// Implicit VR Little Endian.

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Command fields.
const (
	cmdCStoreRQ  uint16 = 0x0001
	cmdCStoreRSP uint16 = 0x8001
	cmdCEchoRQ   uint16 = 0x0030
	cmdCEchoRSP  uint16 = 0x8030

	cmdNEventReportRQ  uint16 = 0x0100
	cmdNEventReportRSP uint16 = 0x8100
	cmdNSetRQ          uint16 = 0x0120
	cmdNSetRSP         uint16 = 0x8120
	cmdNActionRQ       uint16 = 0x0130
	cmdNActionRSP      uint16 = 0x8130
	cmdNCreateRQ       uint16 = 0x0140
	cmdNCreateRSP      uint16 = 0x8140
)

const (
	dataSetAbsent  uint16 = 0x0101
	dataSetPresent uint16 = 0x0000 // any value other than 0x0101
)

// Command element tags (element numbers in group 0000).
const (
	tagGroupLength         uint16 = 0x0000
	tagAffectedSOPClass    uint16 = 0x0002
	tagRequestedSOPClass   uint16 = 0x0003
	tagCommandField        uint16 = 0x0100
	tagMessageID           uint16 = 0x0110
	tagMessageIDResponded  uint16 = 0x0120
	tagMoveDestination     uint16 = 0x0600
	tagPriority            uint16 = 0x0700
	tagDataSetType         uint16 = 0x0800
	tagStatus              uint16 = 0x0900
	tagOffendingElement    uint16 = 0x0901
	tagErrorComment        uint16 = 0x0902
	tagErrorID             uint16 = 0x0903
	tagAffectedSOPInstance uint16 = 0x1000
	tagRequestedSOPInst    uint16 = 0x1001
	tagEventTypeID         uint16 = 0x1002
	tagActionTypeID        uint16 = 0x1008
	tagMoveOriginatorAET   uint16 = 0x1030
	tagMoveOriginatorMsgID uint16 = 0x1031
)

// maxCommandSize bounds a command set; real ones are a few hundred bytes.
const maxCommandSize = 64 << 10

// command is a decoded DIMSE command set. Only the fields C-ECHO, C-STORE,
// N-ACTION and N-EVENT-REPORT use are kept; others are tolerated and ignored.
type command struct {
	Field                  uint16
	MessageID              uint16
	MessageIDRespondedTo   uint16
	AffectedSOPClassUID    string
	AffectedSOPInstanceUID string
	// RequestedSOPClassUID and RequestedSOPInstanceUID name the SOP
	// instance an N-ACTION-RQ acts on.
	RequestedSOPClassUID    string
	RequestedSOPInstanceUID string
	ActionTypeID            uint16 // N-ACTION
	EventTypeID             uint16 // N-EVENT-REPORT
	Priority                uint16
	DataSetType             uint16
	Status                  Status
	ErrorComment            string
	ErrorID                 uint16 // a response's Error ID (0000,0903), when not 0
	MoveOriginatorAET       string
	MoveOriginatorMsgID     uint16
	has                     map[uint16]bool
}

func (c *command) hasDataSet() bool { return c.DataSetType != dataSetAbsent }

// decodeCommand parses an Implicit VR LE group 0000 command set.
func decodeCommand(b []byte) (*command, error) {
	if len(b) > maxCommandSize {
		return nil, fmt.Errorf("command set of %d bytes exceeds %d", len(b), maxCommandSize)
	}
	c := &command{has: make(map[uint16]bool, 8)}
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("command set: %d trailing bytes at offset %d", len(b)-off, off)
		}
		group := binary.LittleEndian.Uint16(b[off:])
		elem := binary.LittleEndian.Uint16(b[off+2:])
		n := binary.LittleEndian.Uint32(b[off+4:])
		off += 8
		if group != 0x0000 {
			return nil, fmt.Errorf("command set: element (%04X,%04X) outside group 0000", group, elem)
		}
		if uint64(n) > uint64(len(b)-off) {
			return nil, fmt.Errorf("command set: element (0000,%04X) length %d with %d bytes left", elem, n, len(b)-off)
		}
		v := b[off : off+int(n)]
		off += int(n)
		us := func() (uint16, error) {
			if len(v) != 2 {
				return 0, fmt.Errorf("command set: element (0000,%04X) has length %d, want 2", elem, len(v))
			}
			return binary.LittleEndian.Uint16(v), nil
		}
		var err error
		switch elem {
		case tagCommandField:
			c.Field, err = us()
		case tagMessageID:
			c.MessageID, err = us()
		case tagMessageIDResponded:
			c.MessageIDRespondedTo, err = us()
		case tagPriority:
			c.Priority, err = us()
		case tagDataSetType:
			c.DataSetType, err = us()
		case tagStatus:
			var s uint16
			s, err = us()
			c.Status = Status(s)
		case tagMoveOriginatorMsgID:
			c.MoveOriginatorMsgID, err = us()
		case tagActionTypeID:
			c.ActionTypeID, err = us()
		case tagEventTypeID:
			c.EventTypeID, err = us()
		case tagErrorID:
			c.ErrorID, err = us()
		case tagAffectedSOPClass:
			c.AffectedSOPClassUID = uidString(v)
		case tagRequestedSOPClass:
			c.RequestedSOPClassUID = uidString(v)
		case tagRequestedSOPInst:
			c.RequestedSOPInstanceUID = uidString(v)
		case tagAffectedSOPInstance:
			c.AffectedSOPInstanceUID = uidString(v)
		case tagErrorComment:
			c.ErrorComment = strings.TrimRight(string(v), " \x00")
		case tagMoveOriginatorAET:
			c.MoveOriginatorAET = aeString(v)
		}
		if err != nil {
			return nil, err
		}
		c.has[elem] = true
	}
	for _, need := range []uint16{tagCommandField, tagDataSetType} {
		if !c.has[need] {
			return nil, fmt.Errorf("command set lacks (0000,%04X)", need)
		}
	}
	return c, nil
}

// encodeCommand encodes c with its group length, elements in tag order.
// Only the elements relevant to the command field are written.
func encodeCommand(c *command) []byte {
	type el struct {
		tag uint16
		val []byte
	}
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	uid := func(s string) []byte {
		b := []byte(s)
		if len(b)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	text := func(s string) []byte {
		b := []byte(s)
		if len(b)%2 == 1 {
			b = append(b, ' ')
		}
		return b
	}
	els := []el{
		{tagCommandField, u16(c.Field)},
		{tagDataSetType, u16(c.DataSetType)},
	}
	if c.AffectedSOPClassUID != "" {
		els = append(els, el{tagAffectedSOPClass, uid(c.AffectedSOPClassUID)})
	}
	if c.AffectedSOPInstanceUID != "" {
		els = append(els, el{tagAffectedSOPInstance, uid(c.AffectedSOPInstanceUID)})
	}
	if c.RequestedSOPClassUID != "" {
		els = append(els, el{tagRequestedSOPClass, uid(c.RequestedSOPClassUID)})
	}
	if c.RequestedSOPInstanceUID != "" {
		els = append(els, el{tagRequestedSOPInst, uid(c.RequestedSOPInstanceUID)})
	}
	switch c.Field &^ 0x8000 {
	case cmdNActionRQ:
		els = append(els, el{tagActionTypeID, u16(c.ActionTypeID)})
	case cmdNEventReportRQ:
		els = append(els, el{tagEventTypeID, u16(c.EventTypeID)})
	}
	if c.Field&0x8000 != 0 { // response
		els = append(els, el{tagMessageIDResponded, u16(c.MessageIDRespondedTo)}, el{tagStatus, u16(uint16(c.Status))})
		if c.ErrorComment != "" {
			s := c.ErrorComment
			if len(s) > 64 {
				s = s[:64]
			}
			els = append(els, el{tagErrorComment, text(s)})
		}
		if c.ErrorID != 0 {
			els = append(els, el{tagErrorID, u16(c.ErrorID)})
		}
	} else {
		els = append(els, el{tagMessageID, u16(c.MessageID)})
		if c.Field == cmdCStoreRQ {
			els = append(els, el{tagPriority, u16(c.Priority)})
			if c.MoveOriginatorAET != "" {
				els = append(els, el{tagMoveOriginatorAET, text(c.MoveOriginatorAET)}, el{tagMoveOriginatorMsgID, u16(c.MoveOriginatorMsgID)})
			}
		}
	}
	sort.Slice(els, func(i, j int) bool { return els[i].tag < els[j].tag })
	total := 0
	for _, e := range els {
		total += 8 + len(e.val)
	}
	b := make([]byte, 0, 12+total)
	b = append(b, 0, 0, 0, 0, 4, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	for _, e := range els {
		b = append(b, 0, 0)
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(e.val)))
		b = append(b, e.val...)
	}
	return b
}
