package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBackend is an in-memory backend for the Service's own rules and the
// socket round trip; the CLI tests exercise the real store and share.
type fakeBackend struct {
	mu        sync.Mutex
	studyRecs []studyRec
	objs      map[string][]Object
	links     map[string]*Link
	set       map[string]string
	n         int
	delivered int
}

func newFake() *fakeBackend {
	return &fakeBackend{
		studyRecs: []studyRec{
			{UID: "1.2.3", ShortID: "AAAA1", Accession: "ACC1", PatientName: "Muñoz^José", PatientID: "P1", Date: "2026-11-20", Time: "10:00", Instances: 3},
			{UID: "1.2.4", ShortID: "BBBB2", Accession: "ACC2", PatientName: "Berg^Anna", PatientID: "P2", Date: "2026-11-21", Time: "09:00", Instances: 1},
		},
		objs: map[string][]Object{
			"1.2.3": {{N: 1, SOPInstance: "1.2.3.1", Kind: "image", Deid: "clean"}, {N: 2, SOPInstance: "1.2.3.2", Kind: "cine", Frames: 10, Deid: "clean"}, {N: 3, SOPInstance: "1.2.3.3", Kind: "SR", Deid: "residual", Reasons: []string{"free text"}}},
			"1.2.4": {{N: 1, SOPInstance: "1.2.4.1", Kind: "image", Deid: "clean"}},
		},
		links: map[string]*Link{},
		set:   map[string]string{"clinic-name": "Clinic"},
	}
}

func (f *fakeBackend) studies(ctx context.Context, q StudyQuery) ([]studyRec, error) {
	var out []studyRec
	for _, r := range f.studyRecs {
		if q.Text == "" || strings.Contains(strings.ToLower(r.PatientName), strings.ToLower(q.Text)) {
			out = append(out, r)
		}
	}
	return out, nil
}
func (f *fakeBackend) study(ctx context.Context, key string) (studyRec, error) {
	for _, r := range f.studyRecs {
		if r.UID == key || r.ShortID == key || r.Accession == key {
			return r, nil
		}
	}
	return studyRec{}, errNotFound
}
func (f *fakeBackend) instances(ctx context.Context, uid string) ([]Object, error) {
	return f.objs[uid], nil
}
func (f *fakeBackend) studiesByContact(ctx context.Context, text string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.links {
		for _, c := range l.Contacts {
			if c.To == text {
				out = append(out, l.StudyUID)
			}
		}
	}
	return out, nil
}
func (f *fakeBackend) dicomContacts(ctx context.Context, uid string) ([]ContactNote, error) {
	if uid == "1.2.4" {
		return []ContactNote{{Kind: "phone", Value: "0701", Reason: "too short"}}, nil
	}
	return nil, nil
}
func (f *fakeBackend) shares(ctx context.Context, uid string) ([]Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Link
	for _, l := range f.links {
		if l.StudyUID == uid {
			out = append(out, clone(l))
		}
	}
	return out, nil
}
func (f *fakeBackend) link(ctx context.Context, id string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.links[id]; ok {
		return clone(l), nil
	}
	return Link{}, errNotFound
}
func (f *fakeBackend) parseContacts(ctx context.Context, raw string) ([]string, []string, []ContactNote, error) {
	var e, p []string
	var bad []ContactNote
	for _, v := range strings.Split(raw, ",") {
		v = strings.TrimSpace(v)
		switch {
		case strings.Contains(v, "@"):
			e = append(e, v)
		case strings.HasPrefix(v, "+"):
			p = append(p, v)
		case v != "":
			bad = append(bad, ContactNote{Value: v, Reason: "not a phone number"})
		}
	}
	return e, p, bad, nil
}
func (f *fakeBackend) create(ctx context.Context, st studyRec, inst []string, emails, phones []string, actor string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	now := time.Now()
	l := &Link{ID: "L" + strings.Repeat("X", f.n), StudyUID: st.UID, Created: now, Expires: now.Add(90 * 24 * time.Hour), Status: "active", Instances: inst, WholeStudy: inst == nil}
	for _, e := range emails {
		l.Contacts = append(l.Contacts, Delivery{Channel: "email", To: e, Status: "queued"})
	}
	for _, p := range phones {
		l.Contacts = append(l.Contacts, Delivery{Channel: "sms", To: p, Status: "queued"})
	}
	f.links[l.ID] = l
	return clone(l), nil
}
func (f *fakeBackend) resend(ctx context.Context, id, actor string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[id]
	if !ok {
		return Link{}, errNotFound
	}
	if l.Status == "revoked" {
		return Link{}, errorf(KindRevoked, "link %s was revoked; use `sonolink send` to issue a new link", id)
	}
	return clone(l), nil
}
func (f *fakeBackend) revoke(ctx context.Context, id, reason, actor string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.links[id]
	if !ok {
		return Link{}, errNotFound
	}
	l.Status, l.RevokedReason = "revoked", reason
	return clone(l), nil
}
func (f *fakeBackend) settings(ctx context.Context) ([]Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []Setting{{Key: "clinic-name", Value: f.set["clinic-name"]}}, nil
}
func (f *fakeBackend) setSetting(ctx context.Context, key, value, actor string) (Setting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if key != "clinic-name" {
		return Setting{}, errorf(KindInvalid, "unknown setting %q", key)
	}
	f.set[key] = value
	return Setting{Key: key, Value: value}, nil
}
func (f *fakeBackend) audit(ctx context.Context, q AuditQuery, uid string) ([]AuditEvent, error) {
	return []AuditEvent{{Time: time.Now(), Event: "created", StudyUID: uid, Link: q.Link}}, nil
}
func (f *fakeBackend) deliverPending(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delivered++
	for _, l := range f.links {
		for i := range l.Contacts {
			l.Contacts[i].Status = "sent"
			l.Contacts[i].At = time.Now()
		}
		l.LastSent = time.Now()
	}
	return nil
}
func (f *fakeBackend) close() error { return nil }

func TestServiceRules(t *testing.T) {
	ctx := context.Background()
	fb := newFake()
	svc := &Service{be: fb, log: discardLogger(), local: true}

	res, err := svc.Send(ctx, SendRequest{Study: "AAAA1", To: "a@example.com, +46701234567", Images: "1,3"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Instances, " "); got != "1.2.3.1 1.2.3.3" {
		t.Fatalf("instances = %q", got)
	}
	if len(res.Images) != 2 || res.Images[0] != 1 || res.Images[1] != 3 {
		t.Fatalf("images = %v", res.Images)
	}
	if res.Queued || fb.delivered != 1 || res.StudyID != "AAAA1" {
		t.Fatalf("local send: queued=%v delivered=%d study=%q", res.Queued, fb.delivered, res.StudyID)
	}

	if _, err := svc.Send(ctx, SendRequest{Study: "AAAA1", To: "a@example.com, 0701"}); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), `"0701"`) {
		t.Fatalf("invalid contact: %v", err)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: "AAAA1", To: "a@example.com", Images: "4"}); KindOf(err) != KindInvalid {
		t.Fatalf("image out of range: %v", err)
	}
	if _, err := svc.Send(ctx, SendRequest{Study: "nope", To: "a@example.com"}); KindOf(err) != KindNotFound {
		t.Fatalf("unknown study: %v", err)
	}

	list, err := svc.ListStudies(ctx, StudyQuery{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if list[0].ShortID != "BBBB2" {
		t.Fatalf("not newest first: %v", list)
	}
	if list[0].ShareStatus != "no contact: invalid phone" {
		t.Fatalf("status of unshared study with a bad phone: %q", list[0].ShareStatus)
	}
	if !strings.HasPrefix(list[1].ShareStatus, "sent 20") {
		t.Fatalf("status of shared study: %q", list[1].ShareStatus)
	}
	byContact, err := svc.ListStudies(ctx, StudyQuery{Text: "+46701234567"})
	if err != nil || len(byContact) != 1 || byContact[0].ShortID != "AAAA1" {
		t.Fatalf("search by contact: %v %v", byContact, err)
	}

	d, err := svc.StudyDetail(ctx, "ACC1")
	if err != nil || len(d.Shares) != 1 || d.Shares[0].LastSent.IsZero() {
		t.Fatalf("detail: %+v %v", d, err)
	}
	if _, err := svc.Revoke(ctx, LinkRequest{Link: res.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resend(ctx, LinkRequest{Link: res.ID}); KindOf(err) != KindRevoked {
		t.Fatalf("resend after revoke: %v", err)
	}
}

func TestParseImages(t *testing.T) {
	got, err := ParseImages("5-8, 1,3,3", 0)
	if err != nil || len(got) != 6 || got[0] != 1 || got[5] != 8 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "0", "3-1", "a", "1,,x", "2-"} {
		if _, err := ParseImages(bad, 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseImages("1-4", 3); err == nil {
		t.Error("4 of 3 accepted")
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

func TestServerClientRoundTrip(t *testing.T) {
	dir := shortDir(t)
	fb := newFake()
	svc := &Service{be: fb, log: discardLogger()}
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
	// Over the socket the server's worker delivers; the fake's queue is
	// drained from here so the client's wait sees "sent".
	go func() { time.Sleep(100 * time.Millisecond); fb.deliverPending(ctx) }()
	res, err := c.Send(ctx, SendRequest{Study: "AAAA1", To: "a@example.com", Images: "2"})
	if err != nil || res.ID == "" || len(res.Images) != 1 || res.Images[0] != 2 || res.Queued {
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
	if got, _ := svc.Settings(ctx); got[0].Value != "Söder" {
		t.Fatalf("service did not see the setting: %v", got)
	}
	list, err := c.ListStudies(ctx, StudyQuery{Text: "muñoz", From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(list) != 1 {
		t.Fatalf("list over socket: %v %v", list, err)
	}
	ev, err := c.Audit(ctx, AuditQuery{Study: "AAAA1", Link: res.ID, Since: time.Now().Add(-time.Hour)})
	if err != nil || len(ev) != 1 || ev[0].StudyUID != "1.2.3" {
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
	srv := NewServer(&Service{be: newFake(), log: discardLogger()}, sock, discardLogger())
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

func clone(l *Link) Link {
	c := *l
	c.Contacts = append([]Delivery(nil), l.Contacts...)
	return c
}
