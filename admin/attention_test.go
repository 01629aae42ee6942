package admin

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// A study auto-share held back because its exam was discontinued on the
// scanner (MPPS) is flagged in the list and explained in its detail, until
// a link is sent by hand.
func TestDiscontinuedExamNeedsAttention(t *testing.T) {
	ctx := context.Background()
	dir, _, berg := seededDir(t)
	svc, err := Open(ctx, dir, fileOutbox, discardLogger()) // an outbox chosen on purpose: the CLI may deliver
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.be.sh.RecordAutoShareDecision("1.2.4", time.Now(), share.OutcomeDiscontinued); err != nil {
		t.Fatal(err)
	}
	list, err := svc.ListStudies(ctx, StudyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if want := s.ShortID == berg; (s.Attention != "") != want {
			t.Errorf("study %s: attention %q, want it set: %v", s.ShortID, s.Attention, want)
		}
	}
	d, err := svc.StudyDetail(ctx, berg)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "discontinued") || !strings.Contains(d.Notes[0], "sonolink send "+berg) {
		t.Errorf("notes %q: want the discontinued exam explained first", d.Notes)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: berg, To: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := svc.StudyDetail(ctx, berg); d.Attention != "" {
		t.Errorf("attention %q after a link was sent by hand", d.Attention)
	}
}

// The attention list names, however old, the study auto-share found no
// usable contact for and the study with an object in two versions; keeping
// the version in use is a choice (audited) that takes the study out, as
// sending a link takes the other out.
func TestAttentionList(t *testing.T) {
	ctx := context.Background()
	dir, munoz, berg := seededDir(t)
	st, err := store.Open(dir, store.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	v2 := with(studyMunoz, func(s *testdicom.Spec) { s.SOPUID, s.InstanceNumber, s.Rows, s.Columns = "1.2.3.1", 1, 16, 16 })
	p := filepath.Join(st.SpoolDir(), "v2.dcm")
	testdicom.WriteFile(t, p, v2)
	if r, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil || !r.Conflict {
		t.Fatalf("second version: %v %+v", err, r)
	}
	st.Close()
	svc, err := Open(ctx, dir, fileOutbox, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.be.sh.RecordAutoShareDecision("1.2.4", time.Now(), share.OutcomeNoContact); err != nil {
		t.Fatal(err)
	}
	listed := func(what string, want map[string]string) {
		t.Helper()
		list, err := svc.Attention(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range list {
			var why []string
			if s.NoContact {
				why = append(why, "no contact")
			}
			if s.ChooseVersion {
				why = append(why, "choose")
			}
			got[s.ShortID] = strings.Join(why, ",")
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: attention list %v, want %v", what, got, want)
		}
	}
	listed("before", map[string]string{berg: "no contact", munoz: "choose"})
	d, err := svc.StudyDetail(ctx, munoz)
	if err != nil {
		t.Fatal(err)
	}
	if !d.ChooseVersion || !d.Objects[0].ChooseVersion || len(d.Objects[0].Versions) != 2 || !d.Objects[0].Versions[0].InUse {
		t.Fatalf("object 1 before the choice: %+v", d.Objects[0])
	}
	if _, err := svc.UseVersion(ctx, VersionRequest{Study: munoz, Object: 1, Version: 1, Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	listed("after keeping version 1", map[string]string{berg: "no contact"})
	if d, err = svc.StudyDetail(ctx, munoz); err != nil || d.ChooseVersion || d.Objects[0].ChooseVersion || len(d.Objects[0].Versions) != 2 {
		t.Fatalf("object 1 after the choice: %v %+v", err, d.Objects[0])
	}
	ev, err := svc.Audit(ctx, AuditQuery{Study: munoz})
	if err != nil || len(ev) == 0 || ev[len(ev)-1].Event != share.EventVersionChosen || ev[len(ev)-1].Actor != "cli:test" {
		t.Fatalf("keeping the version in use is not audited: %v %+v", err, ev)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: berg, To: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	listed("after a link was sent to Berg", map[string]string{})
}
