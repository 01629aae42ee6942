package share

import (
	"testing"

	"sonolink/dicom/uid"
	"sonolink/i18n"
)

// The patient page's names: one count per kind, PDFs and structured
// reports counted together, objects not shown not counted.
func TestLabelItems(t *testing.T) {
	const us, sr, kos = "1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.59"
	kinds := []string{
		ItemKind(us, 1), ItemKind(us, 40), ItemKind(kos, 0), ItemKind(us, 1),
		ItemKind(uid.EncapsulatedPDF, 0), ItemKind(sr, 0), ItemKind(us, 0),
	}
	en, sv := i18n.Lookup("en"), i18n.Lookup("sv")
	want := []string{"Image 1", "Video 1", "", "Image 2", "Report 1", "Report 2", ""}
	wantSV := []string{"Bild 1", "Video 1", "", "Bild 2", "Rapport 1", "Rapport 2", ""}
	for i, l := range LabelItems(kinds) {
		if got := l.In(en); got != want[i] {
			t.Errorf("object %d (%q): %q, want %q", i+1, kinds[i], got, want[i])
		}
		if got := l.In(sv); got != wantSV[i] {
			t.Errorf("object %d in Swedish: %q, want %q", i+1, got, wantSV[i])
		}
	}
}
