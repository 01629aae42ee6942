package console

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// The tests run the console over the real admin service (admin.Open: a
// store and share database in a temporary directory, messages written to
// DATA/outbox on the spot), with objects ingested through the store API
// and thumbnails written where the pipeline writes them.

const (
	techPW  = "technician-password"
	adminPW = "administrator-password"
)

type fixture struct {
	t     testing.TB
	dir   string
	ops   *admin.Service
	srv   *Server
	study string // short id of the seeded study
}

// newFixture seeds one study of n objects: images, and every fifth a
// cine loop; object 3 was left residual by de-identification. The study's
// contact field holds an e-mail and a phone number. Berg's study has an
// unusable contact, and auto-share decided so; Vera's has an object in
// two versions. Accounts: "tech"
// (technician) and "boss" (admin).
func newFixture(t testing.TB, n int) *fixture { return newFixtureWith(t, n, nil, nil) }

// newFixtureWith is newFixture with more done to the store (more studies,
// say) before the console opens it, and other options for admin (delivery
// providers, say).
func newFixtureWith(t testing.TB, n int, more func(st *store.Store), opts func(*admin.LocalOptions)) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(dir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	base := testdicom.Spec{PatientName: "Muñoz^José", SpecificCharacterSet: "ISO_IR 192", PatientID: "P1", StudyUID: "1.2.3",
		SeriesUID: "1.2.3.0", AccessionNumber: "ACC1", StudyDate: "20261120", StudyTime: "100000", SeriesNumber: "1",
		Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: "jose@example.com, +46701234567"}}}
	for i := 1; i <= n; i++ {
		sp := base
		sp.SOPUID, sp.InstanceNumber = fmt.Sprintf("1.2.3.%d", i), i
		if i%5 == 0 {
			sp.Frames, sp.FrameTimeMS = 4, 40
		}
		p := filepath.Join(st.SpoolDir(), sp.SOPUID+".dcm")
		testdicom.WriteFile(t, p, sp)
		if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
			t.Fatal(err)
		}
		d := store.Deid{Clean: true}
		if i == 3 {
			d = store.Deid{Reasons: []string{"burned-in text outside the regions"}}
		}
		if err := st.SetDeid(sp.SOPUID, d); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutDerived(sp.SOPUID, "thumb.jpg", func(w io.Writer) error { return jpeg.Encode(w, thumbImage(i), nil) }); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRender(sp.SOPUID, store.Render{Frames: max(sp.Frames, 1), Width: 64, Height: 48, Thumbnail: "thumb.jpg"}); err != nil {
			t.Fatal(err)
		}
	}
	// A second study whose only contact is a number too short to use.
	berg := testdicom.Spec{PatientName: "Berg^Anna", PatientID: "P2", StudyUID: "1.2.4", SeriesUID: "1.2.4.0", SOPUID: "1.2.4.1",
		InstanceNumber: 1, StudyDate: "20261121", SeriesNumber: "1", Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2154, VR: "SH", Value: "0701"}}}
	p := filepath.Join(st.SpoolDir(), "berg.dcm")
	testdicom.WriteFile(t, p, berg)
	if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeid("1.2.4.1", store.Deid{Clean: true}); err != nil {
		t.Fatal(err)
	}
	// A third study: two different objects arrived under one SOP Instance UID.
	vera := testdicom.Spec{PatientName: "Versions^Vera", PatientID: "P3", StudyUID: "1.2.5", SeriesUID: "1.2.5.0", SOPUID: "1.2.5.1",
		InstanceNumber: 1, StudyDate: "20261101", SeriesNumber: "1"}
	for i, size := range []int{8, 16} {
		v := vera
		v.Rows, v.Columns = size, size
		p := filepath.Join(st.SpoolDir(), fmt.Sprintf("vera%d.dcm", i))
		testdicom.WriteFile(t, p, v)
		if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := st.Study("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	short := s.ShortID
	if more != nil {
		more(st)
	}
	st.Close()
	// What the pipeline decided when Berg's study was complete.
	sh, err := share.Open(dir, share.Options{NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.RecordAutoShareDecision("1.2.4", time.Now(), share.OutcomeNoContact); err != nil {
		t.Fatal(err)
	}
	sh.Close()

	lo := admin.LocalOptions{Share: share.Options{BaseURL: "https://images.clinic.example", Location: time.UTC},
		Configured: admin.Configured{BaseURL: true, EmailProvider: true, SMSProvider: true}}
	if opts != nil {
		opts(&lo)
	}
	ops, err := admin.Open(context.Background(), dir, lo, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ops.Close() })
	if _, err := ops.SetSetting(context.Background(), admin.SettingRequest{Key: "clinic.region", Value: "SE"}); err != nil {
		t.Fatal(err)
	}
	acc := NewAccounts(AccountsPath(dir))
	if _, err := acc.Add("tech", RoleTechnician, techPW); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Add("boss", RoleAdmin, adminPW); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Ops: ops, Accounts: acc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, ops: ops, srv: srv, study: short}
}

func thumbImage(i int) image.Image {
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for p := range img.Pix {
		img.Pix[p] = uint8(i * 20)
	}
	img.Set(i, i, color.White)
	return img
}

// do sends one request straight to the handler from client (an IP
// address), with cookie and, for POSTs, form values and an Origin of the
// console itself.
func (f *fixture) do(method, path, client, cookie string, form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://console.test"+path, body)
	r.RemoteAddr = client + ":40000"
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://console.test")
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookiePlain+"="+cookie)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w
}

// login logs name in from client and returns the session cookie's value
// and the CSRF token of its pages.
func (f *fixture) login(name, pw, client string) (cookie, csrf string) {
	f.t.Helper()
	w := f.do("POST", "/login", client, "", url.Values{"name": {name}, "password": {pw}})
	if w.Code != http.StatusSeeOther {
		f.t.Fatalf("login %s: %d %s", name, w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == cookiePlain {
			cookie = c.Value
		}
	}
	if cookie == "" {
		f.t.Fatal("login set no session cookie")
	}
	page := f.do("GET", "/studies", client, cookie, nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.Body.String())
	if m == nil {
		f.t.Fatalf("no CSRF token on the studies page:\n%s", page.Body.String())
	}
	return cookie, m[1]
}

var _ = bytes.NewReader

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
