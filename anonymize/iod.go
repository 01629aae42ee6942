package anonymize

import (
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/uid"
)

// iodKind groups the IODs sonolink handles by what their modules require of
// the attributes Table E.1-1 touches.
type iodKind int

const (
	iodOther iodKind = iota
	iodUS            // US Image, US Multi-frame Image
	iodSC            // Secondary Capture and the multi-frame SC IODs
	iodSR            // Basic Text, Enhanced, Comprehensive (3D) SR, Key Object Selection…
	iodPDF           // Encapsulated PDF (and other encapsulated documents)
)

// MediaStorageDirectory is the SOP Class of a DICOMDIR, never forwarded.
const mediaStorageDirectory = uid.MediaStorageDirectory

func kindOf(sopClass string) iodKind {
	switch {
	case sopClass == "1.2.840.10008.5.1.4.1.1.6.1", sopClass == "1.2.840.10008.5.1.4.1.1.3.1",
		sopClass == "1.2.840.10008.5.1.4.1.1.6", sopClass == "1.2.840.10008.5.1.4.1.1.3": // incl. retired US classes
		return iodUS
	case sopClass == "1.2.840.10008.5.1.4.1.1.7", strings.HasPrefix(sopClass, "1.2.840.10008.5.1.4.1.1.7."):
		return iodSC
	case strings.HasPrefix(sopClass, "1.2.840.10008.5.1.4.1.1.88."):
		return iodSR
	case strings.HasPrefix(sopClass, "1.2.840.10008.5.1.4.1.1.104."):
		return iodPDF
	}
	return iodOther
}

func tagOf(g, e uint16) tag.Tag { return tag.Tag{Group: g, Element: e} }

// Attribute types (PS3.3) at the top level, for the attributes whose action
// depends on them. Types not listed are 3 (optional). Type 2C/1C
// attributes are listed with the type they have when present.
var (
	commonTypes = map[tag.Tag]int{
		tagOf(0x0010, 0x0010): 2, // Patient's Name
		tagOf(0x0010, 0x0020): 2, // Patient ID
		tagOf(0x0010, 0x0030): 2, // Patient's Birth Date
		tagOf(0x0010, 0x0040): 2, // Patient's Sex
		tagOf(0x0008, 0x0020): 2, // Study Date
		tagOf(0x0008, 0x0030): 2, // Study Time
		tagOf(0x0008, 0x0090): 2, // Referring Physician's Name
		tagOf(0x0020, 0x0010): 2, // Study ID
		tagOf(0x0008, 0x0050): 2, // Accession Number
		tagOf(0x0018, 0x0010): 2, // Contrast/Bolus Agent (Contrast/Bolus module)
	}
	kindTypes = map[iodKind]map[tag.Tag]int{
		iodUS: {
			tagOf(0x0008, 0x0023): 2, // Content Date (2C: temporally related images)
			tagOf(0x0008, 0x0033): 2, // Content Time
		},
		iodSC: {
			tagOf(0x0008, 0x0023): 2,
			tagOf(0x0008, 0x0033): 2,
		},
		iodSR: {
			tagOf(0x0008, 0x0023): 1, // Content Date (SR Document General)
			tagOf(0x0008, 0x0033): 1, // Content Time
			tagOf(0x0008, 0x1111): 2, // Referenced Performed Procedure Step Sequence (SR Document Series)
			tagOf(0x0040, 0xA372): 2, // Performed Procedure Code Sequence
		},
		iodPDF: {
			tagOf(0x0008, 0x0023): 2, // Content Date (Encapsulated Document)
			tagOf(0x0008, 0x0033): 2, // Content Time
			tagOf(0x0008, 0x002A): 2, // Acquisition DateTime
			tagOf(0x0042, 0x0010): 2, // Document Title
		},
	}
	// Types inside the items of a sequence, whatever the IOD.
	itemTypes = map[tag.Tag]map[tag.Tag]int{
		tagOf(0x0040, 0xA370): { // Referenced Request Sequence
			tagOf(0x0020, 0x000D): 1, tagOf(0x0008, 0x1110): 2, tagOf(0x0008, 0x0050): 2,
			tagOf(0x0040, 0x1001): 2, tagOf(0x0032, 0x1060): 2, tagOf(0x0032, 0x1064): 2,
			tagOf(0x0040, 0x2016): 2, tagOf(0x0040, 0x2017): 2,
		},
		tagOf(0x0040, 0xA073): { // Verifying Observer Sequence
			tagOf(0x0040, 0xA075): 1, tagOf(0x0040, 0xA030): 1, tagOf(0x0040, 0xA027): 1, tagOf(0x0040, 0xA088): 2,
		},
		tagOf(0x0040, 0xA730): { // Content Sequence (SR content items)
			tagOf(0x0040, 0xA160): 1, tagOf(0x0040, 0xA123): 1, tagOf(0x0040, 0xA120): 1,
			tagOf(0x0040, 0xA121): 1, tagOf(0x0040, 0xA122): 1, tagOf(0x0040, 0xA124): 1,
		},
		tagOf(0x0008, 0x1111): {tagOf(0x0008, 0x1150): 1, tagOf(0x0008, 0x1155): 1},
		tagOf(0x0008, 0x1140): {tagOf(0x0008, 0x1150): 1, tagOf(0x0008, 0x1155): 1},
		tagOf(0x0008, 0x1199): {tagOf(0x0008, 0x1150): 1, tagOf(0x0008, 0x1155): 1},
		tagOf(0x0008, 0x2112): {tagOf(0x0008, 0x1150): 1, tagOf(0x0008, 0x1155): 1},
	}
)

// attrType returns the PS3.3 type (1, 2 or 3) of tg inside a sequence item
// of parent (zero Tag: the top level) in an object of kind k.
func attrType(k iodKind, parent, tg tag.Tag) int {
	if parent != (tag.Tag{}) {
		if m, ok := itemTypes[parent]; ok {
			if ty, ok := m[tg]; ok {
				return ty
			}
		}
		return 3
	}
	if ty, ok := kindTypes[k][tg]; ok {
		return ty
	}
	if ty, ok := commonTypes[tg]; ok {
		return ty
	}
	return 3
}

// resolve turns a table action (possibly combined) into the single action
// to apply for an attribute of the given type: the weakest the IOD allows
// (Type 3 → X, Type 2 → Z, Type 1 → D). A plain X or Z on an attribute the
// IOD requires is strengthened to keep the object valid: the value goes
// either way, only the element stays (empty or dummy).
func resolve(action string, typ int) string {
	switch action {
	case "K", "C", "U":
		return action
	case "":
		return "K"
	}
	has := map[string]bool{}
	for _, p := range strings.Split(action, "/") {
		has[strings.TrimSuffix(p, "*")] = true
	}
	switch typ {
	case 1:
		if has["U"] {
			return "U"
		}
		return "D"
	case 2:
		if !has["Z"] && has["D"] {
			return "D"
		}
		return "Z"
	default:
		switch {
		case has["X"]:
			return "X"
		case has["Z"]:
			return "Z"
		case has["D"]:
			return "D"
		}
		return "U"
	}
}
