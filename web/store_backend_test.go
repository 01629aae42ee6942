package web

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// The password gate follows the verdicts of every object a link carries:
// a residual structured report puts the study behind the password; an
// object still waiting for its verdict neither opens nor closes the gate,
// and is not shown.
func TestPasswordFollowsEveryObject(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, sh := openStoreShare(t, dir, log)

	const studyUID = "1.2.826.0.1.3680043.10.4242.7"
	ingest := func(spec testdicom.Spec) string {
		t.Helper()
		spec.PatientName, spec.PatientID, spec.StudyUID, spec.StudyDate = "Pat^Test", "P7", studyUID, "20261101"
		p := filepath.Join(st.SpoolDir(), spec.SOPUID+".dcm")
		testdicom.WriteFile(t, p, spec)
		res, err := st.Ingest(p, store.Source{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Instance.SOPInstanceUID
	}
	srSpec := testdicom.Spec{SeriesUID: studyUID + ".2", SOPUID: studyUID + ".2.1", SeriesNumber: "2", InstanceNumber: 1,
		SR: true, SRTitle: "Diagnosis", SRTexts: [][2]string{{"Finding", "Normal liver."}}}
	img := ingest(testdicom.Spec{SeriesUID: studyUID + ".1", SOPUID: studyUID + ".1.1", SeriesNumber: "1", InstanceNumber: 1})
	sr := ingest(srSpec)

	_, url, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: studyUID, Emails: []string{"pat@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	token := url[strings.LastIndex(url, "/")+1:]
	b := NewStoreBackend(sh, st)
	check := func(what string, wantPassword, wantReady, wantReportReady bool) {
		t.Helper()
		l, err := b.Link(context.Background(), token)
		if err != nil {
			t.Fatal(err)
		}
		if l.NeedsPassword != wantPassword {
			t.Errorf("%s: NeedsPassword %v, want %v", what, l.NeedsPassword, wantPassword)
		}
		if wantPassword && len(l.Contacts) != 1 {
			t.Errorf("%s: one-time code contacts %v", what, l.Contacts)
		}
		items, err := b.Items(context.Background(), l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 2 || items[0].Kind != "image" || items[0].Ready != wantReady ||
			items[1].Kind != "report" || items[1].Ready != wantReportReady {
			t.Errorf("%s: items %+v (want the image, ready %v, and the report, ready %v)", what, items, wantReady, wantReportReady)
		}
	}

	// Nothing processed yet: no verdict, no gate, nothing shown.
	check("pending", false, false, false)

	// A render without a verdict (should not happen) is still not shown.
	if err := st.SetRender(img, store.Render{Frames: 1, Width: 80, Height: 60, Thumbnail: "thumb.jpg", FramePattern: "f%04d.jpg"}); err != nil {
		t.Fatal(err)
	}
	check("rendered, no verdict", false, false, false)

	if err := st.SetDeid(img, store.Deid{Path: store.DeidName, Clean: true}); err != nil {
		t.Fatal(err)
	}
	check("image clean, report pending", false, true, false)

	if err := st.SetDeid(sr, store.Deid{Path: store.DeidName, Clean: false, Reasons: []string{"SR content"}}); err != nil {
		t.Fatal(err)
	}
	check("report residual", true, true, true)

	// The report reads from the object as received (it is residual, so only
	// shown behind the password), whether or not its copy exists.
	l, _ := b.Link(context.Background(), token)
	rep, err := b.Report(context.Background(), l.ID, 2)
	if err != nil || rep.Title != "Diagnosis" || len(rep.Sections) == 0 {
		t.Fatalf("report (no copy on disk yet): %v %+v", err, rep)
	}
	srSpec.PatientName, srSpec.PatientID, srSpec.StudyUID = "Pat^Test", "P7", studyUID
	orig := testdicom.Bytes(srSpec)
	deid := st.DerivedPath(sr, store.DeidName)
	if err := os.MkdirAll(filepath.Dir(deid), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deid, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err = b.Report(context.Background(), l.ID, 2); err != nil || rep.Title != "Diagnosis" {
		t.Fatalf("report with a copy on disk: %v", err)
	}
	if _, err := b.Report(context.Background(), l.ID, 1); err == nil {
		t.Error("the image read as a report")
	}

	// A link to the image alone does not carry the report: no gate.
	_, url2, err := sh.Create(context.Background(), share.CreateRequest{StudyUID: studyUID, Instances: []string{img}, Emails: []string{"pat@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := b.Link(context.Background(), url2[strings.LastIndex(url2, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	if l2.NeedsPassword {
		t.Error("a link to the clean image alone asks for the password")
	}
}

// StoreBackend over the real share service: an expired link names the
// patient's language, offers its contacts for a new link only while
// link.self_renew is on, and a wrong code is a wrong code.
func TestStoreBackendSelfRenew(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	sh, err := share.Open(dir, share.Options{NoWorker: true, Logger: log, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	ctx := context.Background()
	_, url, err := sh.Create(ctx, share.CreateRequest{StudyUID: "1.2.3.4", Phones: []string{"+34612345678"}, Emails: []string{"pat@example.com"}, Lang: "es"})
	if err != nil {
		t.Fatal(err)
	}
	token := url[strings.LastIndex(url, "/")+1:]
	b := NewStoreBackend(sh, st)
	now = now.Add(100 * 24 * time.Hour)
	_, err = b.Link(ctx, token)
	var exp *ExpiredError
	if !errors.As(err, &exp) || exp.Lang != "es" || exp.LinkID == "" {
		t.Fatalf("expired link: %v", err)
	}
	if cs, err := b.SelfRenewContacts(ctx, exp.LinkID); err != nil || len(cs) != 0 {
		t.Fatalf("contacts while link.self_renew is off: %v, %v", cs, err)
	}
	if err := sh.UpdateSetting("link.self_renew", "on"); err != nil {
		t.Fatal(err)
	}
	cs, err := b.SelfRenewContacts(ctx, exp.LinkID)
	if err != nil || len(cs) != 2 || cs[0].Kind != "email" || cs[1].Kind != "sms" || strings.Contains(cs[0].Label, "pat@") {
		t.Fatalf("contacts %+v, %v", cs, err)
	}
	if err := b.RequestRenewalCode(ctx, exp.LinkID, "10.0.0.1", 5, "es"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("a contact the link does not have: %v", err)
	}
	if err := b.RequestRenewalCode(ctx, exp.LinkID, "10.0.0.1", 1, "es"); err != nil {
		t.Fatal(err)
	}
	if err := b.SelfRenew(ctx, exp.LinkID, "10.0.0.1", "12345"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
}

// openStoreShare opens the store and the share service of a data
// directory, as serve does, closed when the test ends.
func openStoreShare(t *testing.T, dir string, log *slog.Logger) (*store.Store, *share.Service) {
	t.Helper()
	st, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sh, err := share.Open(dir, share.Options{NoWorker: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close() })
	return st, sh
}
