package share

import (
	"sonolink/dicom/dicomdir"
	"sonolink/dicom/uid"
	"sonolink/i18n"
)

// The patient page names each object it shows "Image 2", "Video 1",
// "Report 1": one count per kind, in the study's order, PDF and structured
// reports counted together. The technician's view (`sonolink study`,
// `send --images`) uses the same names, so a patient calling about
// "Image 2" and the technician mean the same object. ItemKind and
// LabelItems are the one home of that naming.

// Kinds of objects as the patient page shows them.
const (
	KindImage  = "image"
	KindCine   = "cine"
	KindPDF    = "pdf"
	KindReport = "report" // structured report
)

// ItemKind is how the patient page shows an object of this SOP class with
// this many frames: KindImage, KindCine, KindPDF, KindReport, or "" for an
// object it does not show (no pixel data and not a report, e.g. a key
// object selection or raw data).
func ItemKind(sopClassUID string, frames int) string {
	switch {
	case sopClassUID == uid.EncapsulatedPDF:
		return KindPDF
	case dicomdir.IsSR(sopClassUID):
		return KindReport
	case frames > 1:
		return KindCine
	case frames == 1:
		return KindImage
	}
	return ""
}

// ItemLabel is the name of one shown object: its kind and its number
// among the objects of its kind group.
type ItemLabel struct {
	Kind string // as ItemKind; "" when the object is not shown
	N    int    // from 1
}

// In writes the label in a language ("Image 2", "Bild 2", "Imagen 2");
// "" for an object that is not shown.
func (l ItemLabel) In(loc *i18n.Locale) string {
	if l.Kind == "" {
		return ""
	}
	return loc.T("kind."+l.Kind, "n", l.N)
}

// Group is the kind group the label counts in: images, videos or reports.
func (l ItemLabel) Group() string {
	if l.Kind == KindPDF {
		return KindReport
	}
	return l.Kind
}

// LabelItems names objects of the given kinds (ItemKind, in the order
// shown) as the patient page does. An object of kind "" gets the zero
// label and is not counted.
func LabelItems(kinds []string) []ItemLabel {
	counts := map[string]int{}
	out := make([]ItemLabel, len(kinds))
	for i, k := range kinds {
		if k == "" {
			continue
		}
		l := ItemLabel{Kind: k}
		counts[l.Group()]++
		l.N = counts[l.Group()]
		out[i] = l
	}
	return out
}
