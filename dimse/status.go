package dimse

import "fmt"

// Status is a DIMSE status code (PS3.7 annex C).
type Status uint16

// Status codes used by C-ECHO and C-STORE (PS3.4 B.2.3).
const (
	StatusSuccess              Status = 0x0000
	StatusCancel               Status = 0xFE00
	StatusProcessingFailure    Status = 0x0110
	StatusDuplicateSOPInstance Status = 0x0111
	StatusNoSuchSOPClass       Status = 0x0118
	StatusSOPClassNotSupported Status = 0x0122
	StatusOutOfResources       Status = 0xA700
	StatusDataSetMismatch      Status = 0xA900
	StatusCannotUnderstand     Status = 0xC000
	StatusCoercionOfElements   Status = 0xB000 // warning
	StatusElementsDiscarded    Status = 0xB007 // warning
	StatusDataSetMismatchWarn  Status = 0xB006 // warning
)

// IsSuccess reports whether s is Success.
func (s Status) IsSuccess() bool { return s == StatusSuccess }

// IsWarning reports whether s is a warning (the object was stored).
func (s Status) IsWarning() bool {
	return s == 0x0001 || s&0xF000 == 0xB000
}

// IsFailure reports whether s is neither success, warning nor pending/cancel.
func (s Status) IsFailure() bool {
	return !s.IsSuccess() && !s.IsWarning() && s != StatusCancel && s&0xFF00 != 0xFF00
}

// class returns "success", "warning" or "failure" (bounded metric label).
func (s Status) class() string {
	switch {
	case s.IsSuccess():
		return "success"
	case s.IsWarning():
		return "warning"
	default:
		return "failure"
	}
}

func (s Status) String() string {
	var name string
	switch {
	case s == StatusSuccess:
		name = "success"
	case s == StatusCancel:
		name = "cancel"
	case s == StatusProcessingFailure:
		name = "processing failure"
	case s == StatusDuplicateSOPInstance:
		name = "duplicate SOP instance"
	case s == StatusNoSuchSOPClass:
		name = "no such SOP class"
	case s == StatusSOPClassNotSupported:
		name = "SOP class not supported"
	case s&0xFF00 == 0xA700:
		name = "out of resources"
	case s&0xFF00 == 0xA900:
		name = "data set does not match SOP class"
	case s&0xF000 == 0xC000:
		name = "cannot understand"
	case s.IsWarning():
		name = "warning"
	default:
		name = "failure"
	}
	return fmt.Sprintf("%s (0x%04X)", name, uint16(s))
}
