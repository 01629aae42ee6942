package admin

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/store"
)

// Muñoz's study re-sent: image 1 with the patient's name, ID, sex and
// e-mail corrected, the cine with other pixels only. The study lists, for
// each version of image 1, the facts that differ and only those; the cine's
// versions are alike in every fact a technician recognises. Choosing the
// corrected version of image 1 puts the corrected name on the study, where
// a search finds it, and the old ID no longer finds the study.
func TestVersionDiffers(t *testing.T) {
	ctx := context.Background()
	dir, munoz, _ := seededDir(t)
	st, err := store.Open(dir, store.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []testdicom.Spec{
		with(studyMunoz, func(s *testdicom.Spec) {
			s.SOPUID, s.InstanceNumber, s.PatientName, s.PatientID = "1.2.3.1", 1, "Muñoz^Josefa", "P9"
			s.Extra = []testdicom.Element{{Group: 0x0010, Element: 0x0040, VR: "CS", Value: "F"},
				{Group: 0x0010, Element: 0x2155, VR: "LT", Value: "josefa@example.com"}}
		}),
		with(studyMunoz, func(s *testdicom.Spec) {
			s.SOPUID, s.InstanceNumber, s.Frames, s.FrameTimeMS, s.Rows, s.Columns = "1.2.3.2", 2, 10, 33, 16, 16
		}),
	} {
		p := filepath.Join(st.SpoolDir(), []string{"v2a.dcm", "v2b.dcm"}[i])
		testdicom.WriteFile(t, p, s)
		if r, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil || !r.Conflict {
			t.Fatalf("second version of %s: %v %+v", s.SOPUID, err, r)
		}
	}
	st.Close()
	svc, err := Open(ctx, dir, fileOutbox, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	d, err := svc.StudyDetail(ctx, munoz)
	if err != nil {
		t.Fatal(err)
	}
	img, cine := d.Objects[0], d.Objects[1]
	want := [][]VersionFact{
		{{"patient_name", "Muñoz^José"}, {"patient_id", "P1"}, {"sex", ""}, {"contact", ""}},
		{{"patient_name", "Muñoz^Josefa"}, {"patient_id", "P9"}, {"sex", "F"}, {"contact", "josefa@example.com"}},
	}
	if len(img.Versions) != 2 || img.VersionsAlike {
		t.Fatalf("image 1: %+v", img)
	}
	for i, v := range img.Versions {
		if !slices.Equal(v.Differs, want[i]) {
			t.Errorf("image 1 version %d differs in %+v, want %+v", i+1, v.Differs, want[i])
		}
	}
	if len(cine.Versions) != 2 || !cine.VersionsAlike || cine.Versions[0].Differs != nil || cine.Versions[1].Differs != nil {
		t.Errorf("the cine's versions differ in pixels only: %+v", cine)
	}

	found := func(text string) bool {
		t.Helper()
		list, err := svc.ListStudies(ctx, StudyQuery{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(list, func(s StudySummary) bool { return s.ShortID == munoz })
	}
	if found("josefa") || !found("P1") {
		t.Fatal("before the choice the study is found by the corrected name, or not by the old ID")
	}
	if _, err := svc.UseVersion(ctx, VersionRequest{Study: munoz, Object: 1, Version: 2, Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	if d, err = svc.StudyDetail(ctx, munoz); err != nil || d.PatientName != "Muñoz^Josefa" || d.PatientID != "P9" {
		t.Fatalf("study after choosing the corrected version: %v %+v", err, d.StudySummary)
	}
	if !found("josefa") || !found("P9") || found("P1") {
		t.Error("after the choice the study is not found by the corrected name and ID, or still by the old ID")
	}
}
