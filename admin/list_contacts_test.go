package admin

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sonolink/contact"
	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// The studies list reads the contacts of each unshared study's first three
// objects (store.StudyHeads); this holds its statuses to what the list
// showed when it read every object of the study (store.Instances, first
// three), on a generated archive whose objects arrive in random order with
// a valid e-mail, an invalid phone or nothing, so which three come first
// decides the status. With kept is true the store keeps the contacts at
// ingest (StoreContacts, as serve opens it) and the list is checked again
// once the files are gone: it no longer reads them.
func TestListContactsAsBefore(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(fmt.Sprintf("kept=%v", kept), func(t *testing.T) { testListContacts(t, kept) })
	}
}

func testListContacts(t *testing.T, kept bool) {
	ctx := context.Background()
	dir := shortDir(t)
	so := store.Options{Logger: discardLogger()}
	if kept {
		StoreContacts(&so, nil)
	}
	st, err := store.Open(dir, so)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	for study := range 30 {
		uid := fmt.Sprintf("1.2.9.%d", study)
		n := 1 + rng.IntN(6)
		for _, i := range rng.Perm(n) {
			spec := testdicom.Spec{PatientName: "Kontakt^Test", PatientID: "K1", StudyUID: uid, SeriesUID: fmt.Sprintf("%s.%d", uid, i%2),
				SOPUID: fmt.Sprintf("%s.%d", uid, i+1), InstanceNumber: n - i, SeriesNumber: fmt.Sprint(1 + i%2), StudyDate: "20261101"}
			switch rng.IntN(3) {
			case 0:
				spec.Extra = []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: fmt.Sprintf("p%d@example.com", study)}}
			case 1:
				spec.Extra = []testdicom.Element{{Group: 0x0010, Element: 0x2154, VR: "SH", Value: "0701"}}
			}
			p := filepath.Join(st.SpoolDir(), spec.SOPUID+".dcm")
			testdicom.WriteFile(t, p, spec)
			if _, err := st.Ingest(p, store.Source{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sh, err := share.Open(dir, share.Options{NoWorker: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	svc := New(st, sh, nil, discardLogger())
	list, err := svc.ListStudies(ctx, StudyQuery{Limit: 50})
	if err != nil || len(list) != 30 {
		t.Fatalf("list: %d studies, %v", len(list), err)
	}
	region, err := svc.be.region()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, sum := range list {
		insts, err := st.Instances(sum.StudyUID)
		if err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, in := range insts[:min(3, len(insts))] {
			ds, err := dicomfile.ReadHeader(st.ObjectPath(&in))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range contact.FromDataset(ds, contact.DefaultTags) {
				if !slices.Contains(values, v) {
					values = append(values, v)
				}
			}
		}
		var notes []ContactNote
		if len(values) > 0 {
			notes = contactNotes(contact.ParseAll(values, region))
		}
		if want := shareStatus(nil, notes); sum.ShareStatus != want {
			t.Errorf("study %s: %q, read from every object %q", sum.StudyUID, sum.ShareStatus, want)
		}
		kinds[strings.SplitN(sum.ShareStatus, ":", 2)[0]]++
	}
	if kinds["not shared"] == 0 || kinds["no contact"] == 0 {
		t.Fatalf("the archive does not exercise both statuses: %v", kinds)
	}
	if !kept {
		return
	}
	files, err := filepath.Glob(filepath.Join(dir, "objects", "*", "*.dcm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no object files: %v", err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	again, err := svc.ListStudies(ctx, StudyQuery{Limit: 50})
	if err != nil || len(again) != len(list) {
		t.Fatalf("list without files: %d studies, %v", len(again), err)
	}
	for i := range list {
		if again[i].ShareStatus != list[i].ShareStatus {
			t.Errorf("study %s without its files: %q, with them %q", list[i].StudyUID, again[i].ShareStatus, list[i].ShareStatus)
		}
	}
}
