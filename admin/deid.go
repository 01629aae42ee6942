package admin

import "strings"

// DeidReason is one of an object's de-identification reasons in parts,
// for a caller that says it in its own words (the staff console, in the
// clinic's language).
type DeidReason struct {
	// Code is which known reason it is, one of the Deid constants; "" for
	// a reason this list does not know (Detail then holds all of it).
	Code string `json:"code,omitempty"`
	// Detail is the technical rest of the reason, in English, when the
	// code does not say everything: the encoding that could not be
	// rewritten, an error's text.
	Detail string `json:"detail,omitempty"`
}

// DeidReason codes. The reasons are the anonymize package's and the
// pipeline's English (kept with each object in the store, so old records
// read the same way); TestDeidReasonsOfAnonymize checks the list against
// what anonymize says.
const (
	DeidSR           = "sr"            // a structured report: its content is the patient's record
	DeidPDF          = "pdf"           // an encapsulated PDF
	DeidDocument     = "document"      // another encapsulated document
	DeidVideo        = "video"         // video: burned-in text cannot be removed
	DeidNoRegions    = "no_regions"    // no ultrasound regions: pixels not cleaned
	DeidSCNoRegions  = "sc_no_regions" // a secondary capture without ultrasound regions
	DeidEncoding     = "encoding"      // an encoding whose pixels cannot be rewritten (Detail)
	DeidPixels       = "pixels"        // pixels not cleaned, for another reason (Detail)
	DeidCannot       = "cannot"        // the object cannot be de-identified (Detail)
	DeidFailed       = "failed"        // de-identification failed, recorded by an older version (Detail)
	DeidInternal     = "internal"      // an internal error; the server log says more
	DeidMissing      = "missing"       // the stored file is gone
	DeidFoundPrefix  = "found."        // the copy still holds an identifying value: "found." and its kind
	DeidFoundUnknown = "found"         // … of a kind this list does not know (Detail)
)

// deidFound are the kinds of identifying value the verification names
// ("verification: patient ID found"), with their code after DeidFoundPrefix.
var deidFound = map[string]string{
	"person name":     "name",
	"patient ID":      "patient_id",
	"other ID":        "other_id",
	"birth date":      "birth_date",
	"address":         "address",
	"phone number":    "phone",
	"e-mail address":  "email",
	"institution":     "institution",
	"device identity": "device",
	"original UID":    "uid",
}

// DeidFoundKinds lists the codes after DeidFoundPrefix.
func DeidFoundKinds() []string {
	out := make([]string, 0, len(deidFound))
	for _, c := range deidFound {
		out = append(out, c)
	}
	return out
}

// reasonMissing is Object.Reasons of an object whose stored file is gone.
const reasonMissing = "the stored file is gone"

// deidReasons splits reasons into their parts.
func deidReasons(reasons []string) []DeidReason {
	if len(reasons) == 0 {
		return nil
	}
	out := make([]DeidReason, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, deidReason(r))
	}
	return out
}

func deidReason(r string) DeidReason {
	switch r {
	case "SR content":
		return DeidReason{Code: DeidSR}
	case "Encapsulated PDF":
		return DeidReason{Code: DeidPDF}
	case "encapsulated document":
		return DeidReason{Code: DeidDocument}
	case "pixels not cleaned: no ultrasound regions":
		return DeidReason{Code: DeidNoRegions}
	case "pixels not cleaned: secondary capture without ultrasound regions":
		return DeidReason{Code: DeidSCNoRegions}
	case "internal error":
		return DeidReason{Code: DeidInternal}
	case reasonMissing:
		return DeidReason{Code: DeidMissing}
	}
	if strings.HasPrefix(r, "video (") && strings.Contains(r, "burned-in text cannot be removed from video") {
		return DeidReason{Code: DeidVideo}
	}
	if rest, ok := strings.CutPrefix(r, "pixels not cleaned: "); ok {
		if enc, ok := strings.CutPrefix(rest, "unsupported encoding ("); ok {
			return DeidReason{Code: DeidEncoding, Detail: strings.TrimSuffix(enc, ")")}
		}
		return DeidReason{Code: DeidPixels, Detail: rest}
	}
	if rest, ok := strings.CutPrefix(r, "verification: "); ok {
		if kind, ok := strings.CutSuffix(rest, " found"); ok {
			if c, ok := deidFound[kind]; ok {
				return DeidReason{Code: DeidFoundPrefix + c}
			}
		}
		return DeidReason{Code: DeidFoundUnknown, Detail: rest}
	}
	if rest, ok := strings.CutPrefix(r, "object cannot be de-identified: "); ok {
		return DeidReason{Code: DeidCannot, Detail: rest}
	}
	if rest, ok := strings.CutPrefix(r, "de-identification failed: "); ok {
		return DeidReason{Code: DeidFailed, Detail: rest}
	}
	return DeidReason{Detail: r}
}
