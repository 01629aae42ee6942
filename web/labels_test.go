package web

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"sonolink/i18n"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// A link to some of a study's objects names them as the whole study does
// (and as `sonolink study` does): the third image is "Image 3" on every
// link.
func TestItemLabelsCountTheWholeStudy(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, sh := openStoreShare(t, dir, log)
	const studyUID = "1.2.826.0.1.3680043.10.4242.9"
	var sops []string
	for i := 1; i <= 3; i++ {
		spec := testdicom.Spec{PatientName: "Pat^Test", StudyUID: studyUID, SeriesUID: studyUID + ".1", SeriesNumber: "1",
			SOPUID: fmt.Sprintf("%s.1.%d", studyUID, i), InstanceNumber: i}
		p := filepath.Join(st.SpoolDir(), spec.SOPUID+".dcm")
		testdicom.WriteFile(t, p, spec)
		if _, err := st.Ingest(p, store.Source{}); err != nil {
			t.Fatal(err)
		}
		sops = append(sops, spec.SOPUID)
	}
	l, _, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: studyUID, Instances: []string{sops[2]}, Emails: []string{"pat@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	items, err := NewStoreBackend(sh, st).Items(context.Background(), l.ID)
	if err != nil || len(items) != 1 {
		t.Fatalf("items %+v %v", items, err)
	}
	if got := items[0].Label.In(i18n.Lookup("en")); got != "Image 3" {
		t.Errorf("the third image of the study is labelled %q on a link to it alone", got)
	}
}
