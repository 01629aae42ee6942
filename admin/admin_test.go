package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/settings"
	"sonolink/share"
	"sonolink/store"
)

// The tests run the Service over a real store and share service in a
// temporary directory, with objects ingested through the store API.

// Two studies: Muñoz's (an image, a cine loop and a report the
// de-identification left residual) and Berg's (one image whose header
// carries a phone number too short to use).
var (
	studyMunoz = testdicom.Spec{SpecificCharacterSet: "ISO_IR 192", PatientName: "Muñoz^José", PatientID: "P1",
		StudyUID: "1.2.3", SeriesUID: "1.2.3.0", AccessionNumber: "ACC1", StudyDate: "20261120", StudyTime: "100000", SeriesNumber: "1"}
	studyBerg = testdicom.Spec{PatientName: "Berg^Anna", PatientID: "P2", StudyUID: "1.2.4", SeriesUID: "1.2.4.0",
		AccessionNumber: "ACC2", StudyDate: "20261121", StudyTime: "090000", SeriesNumber: "1",
		Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2154, VR: "SH", Value: "0701"}}}
)

// seed ingests the two studies into the store of dir and records the
// de-identification results the pipeline would have written.
func seed(t *testing.T, st *store.Store) {
	t.Helper()
	objs := []testdicom.Spec{
		with(studyMunoz, func(s *testdicom.Spec) { s.SOPUID, s.InstanceNumber = "1.2.3.1", 1 }),
		with(studyMunoz, func(s *testdicom.Spec) { s.SOPUID, s.InstanceNumber, s.Frames, s.FrameTimeMS = "1.2.3.2", 2, 10, 33 }),
		with(studyMunoz, func(s *testdicom.Spec) {
			s.SOPUID, s.InstanceNumber, s.SR, s.SRTitle = "1.2.3.3", 3, true, "Findings"
			s.SRTexts = [][2]string{{"Impression", "normal"}}
		}),
		with(studyBerg, func(s *testdicom.Spec) { s.SOPUID, s.InstanceNumber = "1.2.4.1", 1 }),
	}
	for _, o := range objs {
		p := filepath.Join(st.SpoolDir(), o.SOPUID+".dcm")
		testdicom.WriteFile(t, p, o)
		if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
			t.Fatalf("ingest %s: %v", o.SOPUID, err)
		}
	}
	for sop, d := range map[string]store.Deid{
		"1.2.3.1": {Clean: true}, "1.2.3.2": {Clean: true},
		"1.2.3.3": {Reasons: []string{"free text"}}, "1.2.4.1": {Clean: true},
	} {
		if err := st.SetDeid(sop, d); err != nil {
			t.Fatal(err)
		}
	}
}

func with(s testdicom.Spec, mod func(*testdicom.Spec)) testdicom.Spec { mod(&s); return s }

// seededDir returns a data directory (with a path short enough for the
// admin socket) holding the two studies, and their short ids.
func seededDir(t *testing.T) (dir, munoz, berg string) {
	t.Helper()
	dir = shortDir(t)
	st, err := store.Open(dir, store.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seed(t, st)
	for uid, id := range map[string]*string{"1.2.3": &munoz, "1.2.4": &berg} {
		s, err := st.Study(uid)
		if err != nil {
			t.Fatal(err)
		}
		*id = s.ShortID
	}
	return dir, munoz, berg
}

// fileOutbox configures the CLI's in-process service as a clinic that
// writes messages to DATA/outbox on purpose, with a public base URL.
var fileOutbox = LocalOptions{Share: share.Options{Location: time.UTC, BaseURL: "https://images.clinic.example"},
	Configured: Configured{BaseURL: true, EmailProvider: true, SMSProvider: true}}

// TestLocalService runs the CLI's in-process service (Open): the store and
// share database of the data directory, messages delivered on the spot to
// DATA/outbox.
func TestLocalService(t *testing.T) {
	ctx := context.Background()
	dir, munoz, berg := seededDir(t)
	svc, err := Open(ctx, dir, fileOutbox, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	res, err := svc.Send(ctx, SendRequest{Study: munoz, To: "a@example.com, +46701234567", Images: "image 1, report 1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Instances, " "); got != "1.2.3.1 1.2.3.3" {
		t.Fatalf("instances = %q", got)
	}
	if len(res.Images) != 2 || res.Images[0] != 1 || res.Images[1] != 3 || !slices.Equal(res.Labels, []string{"Image 1", "Report 1"}) {
		t.Fatalf("images = %v %v", res.Images, res.Labels)
	}
	if res.Queued || res.StudyID != munoz || res.WholeStudy {
		t.Fatalf("local send: queued=%v study=%q whole=%v", res.Queued, res.StudyID, res.WholeStudy)
	}
	if len(res.Contacts) != 2 || res.Contacts[0].Channel != "email" || res.Contacts[1].Channel != "sms" {
		t.Fatalf("contacts = %+v", res.Contacts)
	}
	for _, c := range res.Contacts {
		if c.Status != StatusOutbox || c.Via != "file" || c.At.IsZero() {
			t.Fatalf("not written to the outbox on the spot, or not marked so: %+v", c)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*")); len(files) == 0 {
		t.Fatal("nothing written to the outbox")
	}

	if _, err := svc.Send(ctx, SendRequest{Study: munoz, To: "a@example.com, 0701"}); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), `"0701"`) {
		t.Fatalf("invalid contact: %v", err)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: munoz, To: " , "}); KindOf(err) != KindInvalid {
		t.Fatalf("no contact: %v", err)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: munoz, To: "a@example.com", Images: "image 2"}); KindOf(err) != KindInvalid {
		t.Fatalf("image out of range: %v", err)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: "nope", To: "a@example.com"}); KindOf(err) != KindNotFound {
		t.Fatalf("unknown study: %v", err)
	}

	list, err := svc.ListStudies(ctx, StudyQuery{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if list[0].ShortID != berg || list[0].Date != "2026-11-21" || list[0].Time != "09:00" || list[0].Images != 1 {
		t.Fatalf("not newest first, or dates not shown: %+v", list[0])
	}
	if list[0].ShareStatus != "no contact: invalid phone" {
		t.Fatalf("status of unshared study with a bad phone: %q", list[0].ShareStatus)
	}
	if list[1].PatientName != "Muñoz^José" || list[1].Accession != "ACC1" || list[1].Images != 3 {
		t.Fatalf("study as indexed: %+v", list[1])
	}
	if !strings.HasPrefix(list[1].ShareStatus, "local outbox only, not sent 20") {
		t.Fatalf("status of shared study: %q", list[1].ShareStatus)
	}
	byContact, err := svc.ListStudies(ctx, StudyQuery{Text: "+46701234567"})
	if err != nil || len(byContact) != 1 || byContact[0].ShortID != munoz {
		t.Fatalf("search by contact: %v %v", byContact, err)
	}
	first := list[0] // arrived first: the other arrived later, or at the same instant with a greater UID
	if list[1].ReceivedAt.Before(list[0].ReceivedAt) || (list[1].ReceivedAt.Equal(list[0].ReceivedAt) && list[1].StudyUID < list[0].StudyUID) {
		first = list[1]
	}
	page2, err := svc.ListStudies(ctx, StudyQuery{Sort: SortReceived, Limit: 1, Offset: 1})
	if err != nil || len(page2) != 1 || page2[0].ShortID != first.ShortID {
		t.Fatalf("second page by arrival: %+v %v, want %s", page2, err, first.ShortID)
	}
	if _, err := svc.ListStudies(ctx, StudyQuery{Sort: "name"}); KindOf(err) != KindInvalid {
		t.Fatalf("unknown sort: %v", err)
	}
	if _, err := svc.ListStudies(ctx, StudyQuery{From: time.Now(), To: time.Now().Add(-48 * time.Hour)}); KindOf(err) != KindInvalid {
		t.Fatalf("--to before --from: %v", err)
	}

	d, err := svc.StudyDetail(ctx, "ACC1")
	if err != nil || len(d.Shares) != 1 || d.Shares[0].LastSent.IsZero() || d.Shares[0].ID != res.ID {
		t.Fatalf("detail: %+v %v", d, err)
	}
	var kinds []string
	for _, o := range d.Objects {
		kinds = append(kinds, o.Kind+"/"+o.Deid)
	}
	if got := strings.Join(kinds, " "); got != "image/clean cine/clean SR/residual" {
		t.Fatalf("objects: %s", got)
	}
	var labels []string
	for _, o := range d.Objects {
		labels = append(labels, o.Label)
	}
	if got := strings.Join(labels, ", "); got != "Image 1, Video 1, Report 1" {
		t.Fatalf("labels: %s", got)
	}
	if o := d.Objects[1]; o.N != 2 || o.Frames != 10 || o.SeriesUID != "1.2.3.0" {
		t.Fatalf("cine object: %+v", o)
	}
	if o := d.Objects[2]; !slices.Equal(o.Reasons, []string{"free text"}) {
		t.Fatalf("residual reasons: %+v", o)
	}
	db, err := svc.StudyDetail(ctx, berg)
	if err != nil || len(db.Contacts) != 1 || db.Contacts[0].Kind != "phone" || db.Contacts[0].Value != "0701" || db.Contacts[0].Valid {
		t.Fatalf("contact read from the header: %+v %v", db, err)
	}

	again, err := svc.Resend(ctx, LinkRequest{Link: res.ID})
	if err != nil || again.ID != res.ID || again.Queued {
		t.Fatalf("resend: %+v %v", again, err)
	}
	// By study, while it has one active link.
	if again, err = svc.Resend(ctx, LinkRequest{Link: munoz}); err != nil || again.ID != res.ID {
		t.Fatalf("resend by study: %+v %v", again, err)
	}
	other, err := svc.Send(ctx, SendRequest{Study: munoz, To: "b@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resend(ctx, LinkRequest{Link: munoz}); KindOf(err) != KindInvalid ||
		!strings.Contains(err.Error(), "sonolink resend "+res.ID) || !strings.Contains(err.Error(), "sonolink resend "+other.ID) {
		t.Fatalf("resend by study with two active links: %v", err)
	}
	if _, err := svc.Revoke(ctx, LinkRequest{Link: other.ID}); err != nil {
		t.Fatal(err)
	}
	rv, err := svc.Revoke(ctx, LinkRequest{Link: res.ID, Reason: "wrong patient"})
	if err != nil || rv.Status != "revoked" || rv.RevokedReason != "wrong patient" || rv.StudyID != munoz || rv.AlreadyRevoked || rv.RevokedAt.IsZero() {
		t.Fatalf("revoke: %+v %v", rv, err)
	}
	rv2, err := svc.Revoke(ctx, LinkRequest{Link: res.ID, Reason: "again"})
	if err != nil || !rv2.AlreadyRevoked || !rv2.RevokedAt.Equal(rv.RevokedAt) || rv2.RevokedReason != "wrong patient" {
		t.Fatalf("second revoke: %+v %v", rv2, err)
	}
	if _, err := svc.Resend(ctx, LinkRequest{Link: munoz}); KindOf(err) != KindNotFound || !strings.Contains(err.Error(), `sonolink send `+munoz+` --to "b@example.com"`) {
		t.Fatalf("resend by study without an active link: %v", err)
	}
	if _, err := svc.Resend(ctx, LinkRequest{Link: res.ID}); KindOf(err) != KindRevoked {
		t.Fatalf("resend after revoke: %v", err)
	}
	if _, err := svc.Resend(ctx, LinkRequest{Link: "nosuchlink"}); KindOf(err) != KindNotFound {
		t.Fatalf("resend of an unknown link: %v", err)
	}

	ev, err := svc.Audit(ctx, AuditQuery{Study: munoz, Link: res.ID})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range ev {
		if e.StudyUID != "1.2.3" || e.Link != res.ID {
			t.Errorf("audit event of another study or link: %+v", e)
		}
		types = append(types, e.Event)
	}
	for _, want := range []string{share.EventLinkCreated, share.EventDeliverySent, share.EventLinkResent, share.EventLinkRevoked} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s: %v", want, types)
		}
	}

	// By place in the study, as a console picks objects.
	if byPlace, err := svc.Send(ctx, SendRequest{Study: munoz, To: "c@example.com", Objects: []int{3, 2, 3}}); err != nil || !slices.Equal(byPlace.Labels, []string{"Video 1", "Report 1"}) || !slices.Equal(byPlace.Instances, []string{"1.2.3.2", "1.2.3.3"}) {
		t.Fatalf("send by place: %+v %v", byPlace, err)
	} else if _, err := svc.Revoke(ctx, LinkRequest{Link: byPlace.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: munoz, To: "a@example.com", Objects: []int{9}}); KindOf(err) != KindInvalid {
		t.Fatalf("object #9 of 3: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	// Close released the data directory.
	st, err := store.Open(dir, store.Options{Logger: discardLogger(), LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("store still held after Close: %v", err)
	}
	st.Close()
}

func TestSettingsOnShareDatabase(t *testing.T) {
	ctx := context.Background()
	dir, _, _ := seededDir(t)
	svc, err := Open(ctx, dir, LocalOptions{}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	set, err := svc.SetSetting(ctx, SettingRequest{Key: "clinic-name", Value: "Söder"})
	if err != nil || set.Key != settings.KeyClinicName || set.Value != "Söder" {
		t.Fatalf("set clinic name: %+v %v", set, err)
	}
	if _, err := svc.SetSetting(ctx, SettingRequest{Key: "bogus", Value: "x"}); KindOf(err) != KindInvalid {
		t.Fatalf("unknown setting: %v", err)
	}
	all, err := svc.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(s Setting) bool { return s.Key == settings.KeyClinicName })
	if i < 0 || all[i].Value != "Söder" {
		t.Fatalf("settings: %+v", all)
	}
	svc.Close()
	// The setting is in the share database, not in the Service.
	again, err := Open(ctx, dir, LocalOptions{}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	all, _ = again.Settings(ctx)
	if i := slices.IndexFunc(all, func(s Setting) bool { return s.Key == settings.KeyClinicName }); i < 0 || all[i].Value != "Söder" {
		t.Fatalf("setting not kept: %+v", all)
	}
}

// TestExpiredLink: resending a link past its lifetime fails with what to
// do; the share database's clock decides.
func TestExpiredLink(t *testing.T) {
	ctx := context.Background()
	dir, munoz, _ := seededDir(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := fileOutbox
	opts.Share.Now = clock
	svc, err := Open(ctx, dir, opts, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	res, err := svc.Send(ctx, SendRequest{Study: munoz, To: "a@example.com"})
	if err != nil || !res.WholeStudy || len(res.Images) != 0 {
		t.Fatalf("send the whole study: %+v %v", res, err)
	}
	now = res.Expires.Add(time.Minute)
	if _, err := svc.Resend(ctx, LinkRequest{Link: res.ID}); KindOf(err) != KindExpired {
		t.Fatalf("resend after expiry: %v", err)
	}
	d, err := svc.StudyDetail(ctx, munoz)
	if err != nil || len(d.Shares) != 1 || d.Shares[0].Status != "expired" {
		t.Fatalf("detail of an expired share: %+v %v", d, err)
	}
}

// TestAmbiguousKey: an accession two studies share names neither.
func TestAmbiguousKey(t *testing.T) {
	dir := shortDir(t)
	st, err := store.Open(dir, store.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, st)
	other := with(studyBerg, func(s *testdicom.Spec) {
		s.StudyUID, s.SeriesUID, s.SOPUID, s.AccessionNumber, s.Extra = "1.2.5", "1.2.5.0", "1.2.5.1", "ACC1", nil
	})
	p := filepath.Join(st.SpoolDir(), "other.dcm")
	testdicom.WriteFile(t, p, other)
	if _, err := st.Ingest(p, store.Source{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	svc, err := Open(context.Background(), dir, LocalOptions{}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.StudyDetail(context.Background(), "ACC1"); KindOf(err) != KindInvalid {
		t.Fatalf("accession of two studies: %v", err)
	}
	if d, err := svc.StudyDetail(context.Background(), "1.2.5"); err != nil || d.PatientName != "Berg^Anna" {
		t.Fatalf("by Study Instance UID: %+v %v", d, err)
	}
}

// TestOpenWhileHeld: the CLI fails fast, saying what to do, while another
// process holds the data directory without answering on the socket.
func TestOpenWhileHeld(t *testing.T) {
	dir, _, _ := seededDir(t)
	st, err := store.Open(dir, store.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = Open(context.Background(), dir, LocalOptions{}, discardLogger())
	if KindOf(err) != KindInternal || !strings.Contains(err.Error(), "in use by another sonolink process") {
		t.Fatalf("open while held: %v", err)
	}
}

// Selections name objects as the patient page labels them.
func TestSelectObjects(t *testing.T) {
	mixed := []Object{
		{N: 1, Label: "Image 1", Group: "image", Number: 1},
		{N: 2, Label: "Video 1", Group: "cine", Number: 1},
		{N: 3, Label: "Image 2", Group: "image", Number: 2},
		{N: 4}, // not shown to the patient
		{N: 5, Label: "Report 1", Group: "report", Number: 1},
		{N: 6, Label: "Image 3", Group: "image", Number: 3},
	}
	for spec, want := range map[string][]int{
		"image 2":               {2},
		"Image 2, video 1":      {1, 2},
		"i1-3":                  {0, 2, 5},
		"image 1 3":             {0, 5},
		"v1;r1":                 {1, 4},
		"bild 2, informe 1":     {2, 4},
		"vídeo 1":               {1},
		"IMAGEN 3, image 3, i3": {5},
	} {
		got, err := SelectObjects(spec, mixed)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v, want %v", spec, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "image 3-1", "a", "image 1,,x", "image 2-", "image", "2", "image 4", "video 2"} {
		if _, err := SelectObjects(bad, mixed); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := SelectObjects("2", mixed); err == nil || !strings.Contains(err.Error(), "images, videos and reports") {
		t.Errorf("a bare number in a mixed study: %v", err)
	}
	// Only images: bare numbers are the images' numbers.
	images := []Object{{N: 1, Label: "Image 1", Group: "image", Number: 1}, {N: 2}, {N: 3, Label: "Image 2", Group: "image", Number: 2}}
	if got, err := SelectObjects("2", images); err != nil || !slices.Equal(got, []int{2}) {
		t.Errorf("bare number, images only: %v %v", got, err)
	}
}

func shortDir(t *testing.T) string {
	// Unix socket paths are limited to ~108 bytes; t.TempDir can be long.
	d, err := os.MkdirTemp("", "sladm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "data")
}

// serverService opens the store and share service the way `sonolink serve`
// does (the share worker delivers) and returns the admin Service over them.
func serverService(t *testing.T, dir string) *Service {
	t.Helper()
	st, err := store.Open(dir, store.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := share.Open(dir, share.Options{Logger: discardLogger(), Location: time.UTC,
		Backoff: share.Backoff{Initial: 10 * time.Millisecond}})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Close(); st.Close() })
	return New(st, sh, nil, discardLogger())
}

func TestServerClientRoundTrip(t *testing.T) {
	dir, munoz, _ := seededDir(t)
	svc := serverService(t, dir)
	sock := SocketPath(dir)
	srv := NewServer(svc, sock, discardLogger())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	st, err := os.Lstat(sock)
	if err != nil || st.Mode().Perm() != 0o600 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode %v, %v", st.Mode(), err)
	}
	dst, _ := os.Stat(dir)
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v", dst.Mode())
	}
	// A second server on the same socket is refused while the first answers.
	if err := NewServer(svc, sock, discardLogger()).Listen(); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second server: %v", err)
	}

	ctx := context.Background()
	ops, closeFn, err := Connect(ctx, dir, ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := ops.(*Client)
	if !ok {
		t.Fatalf("Connect returned %T with a server running", ops)
	}
	// Over the socket the share service's worker delivers, and the answer
	// waits for it.
	res, err := c.Send(ctx, SendRequest{Study: munoz, To: "a@example.com", Images: "video 1"})
	if err != nil || res.ID == "" || len(res.Images) != 1 || res.Images[0] != 2 || res.Queued || res.QueuedForServer {
		t.Fatalf("send over socket: %+v %v", res, err)
	}
	if _, err := c.StudyDetail(ctx, "zzz"); KindOf(err) != KindNotFound || (&Error{Kind: KindOf(err)}).ExitCode() != 1 {
		t.Fatalf("not found over socket: %v", err)
	}
	if _, err := c.SetSetting(ctx, SettingRequest{Key: "bogus", Value: "x"}); KindOf(err) != KindInvalid {
		t.Fatalf("bad setting over socket: %v", err)
	}
	if _, err := c.SetSetting(ctx, SettingRequest{Key: "clinic-name", Value: "Söder"}); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.Settings(ctx)
	if i := slices.IndexFunc(got, func(s Setting) bool { return s.Key == settings.KeyClinicName }); i < 0 || got[i].Value != "Söder" {
		t.Fatalf("service did not see the setting: %v", got)
	}
	list, err := c.ListStudies(ctx, StudyQuery{Text: "muñoz", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(list) != 1 || list[0].ShortID != munoz {
		t.Fatalf("list over socket: %v %v", list, err)
	}
	ev, err := c.Audit(ctx, AuditQuery{Study: munoz, Link: res.ID, Since: time.Now().Add(-time.Hour)})
	if err != nil || len(ev) == 0 || ev[0].StudyUID != "1.2.3" || ev[0].Event != share.EventLinkCreated {
		t.Fatalf("audit over socket: %v %v", ev, err)
	}
	closeFn()

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
	// The server's Service does not close what it was given.
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Settings(ctx); err != nil {
		t.Fatalf("store and share closed by the server's Service: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	dir := shortDir(t)
	os.MkdirAll(dir, 0o700)
	sock := SocketPath(dir)
	// A crashed server leaves its socket file behind with nobody listening.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal("stale socket not left behind")
	}
	srv := NewServer(serverService(t, dir), sock, discardLogger())
	if err := srv.Listen(); err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	go srv.Serve()
	defer srv.Close()
	if err := NewClient(sock).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
