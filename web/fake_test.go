package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testdicom"
	"sonolink/render"
)

// fakeBackend serves generated studies: JPEG frames and thumbnails, GIF
// loops and tiny DICOM objects, made on first use.
type fakeBackend struct {
	mu        sync.Mutex
	clinic    Clinic
	clinicErr error                // what Clinic returns with it: the settings cannot be read
	links     map[string]*fakeLink // by SHA-256 of the token
	files     map[string][]byte
	lookups   int
	views     int
	otps      map[string]string // link ID → last one-time code sent
	otpOK     map[string]bool
	otpLang   map[string]string // link ID → the language the last code was asked in
	itemCalls int
	gen       int  // Generation's value
	stableGen bool // Generation stays gen until the test bumps it
	passwords map[string]string
	codes     map[string]string // link ID → link code
	fails     map[string]int    // link ID + client → wrong link codes
	sends     map[string]int    // link ID + client → one-time codes sent
	renewals  map[string]int    // link ID → requests for a new link recorded
	// selfRenew: the clinic offers a new link from the expired page
	// (link.self_renew); renewCodes the last code sent for one, renewed
	// the new links sent, renewLang the language the code was asked in.
	selfRenew  bool
	renewCodes map[string]string
	renewed    map[string]int
	renewLang  map[string]string

	// The structured report of "report" items: title and (label, value)
	// pairs.
	srTitle string
	srTexts [][2]string
}

type fakeLink struct {
	link    Link
	items   []Item
	revoked bool
	expired bool
}

func newFake() *fakeBackend {
	return &fakeBackend{
		clinic:    Clinic{Name: "Mölndal Ultrasound", Language: "en"},
		links:     map[string]*fakeLink{},
		files:     map[string][]byte{},
		otps:      map[string]string{},
		otpLang:   map[string]string{},
		otpOK:     map[string]bool{},
		passwords: map[string]string{},
		codes:     map[string]string{},
		fails:     map[string]int{},
		sends:     map[string]int{},
		srTitle:   "Obstetric ultrasound report",
		srTexts:   [][2]string{{"Findings", "Single live intrauterine pregnancy."}, {"Impression", "Normal scan."}},
	}
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// add registers a link under token.
func (f *fakeBackend) add(token string, l *fakeLink) *fakeLink {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l.link.ExamDate.IsZero() {
		l.link.ExamDate = time.Date(2025, 6, 27, 10, 15, 0, 0, time.UTC)
	}
	if l.link.Expires.IsZero() {
		l.link.Expires = time.Now().Add(90 * 24 * time.Hour)
	}
	f.links[hashToken(token)] = l
	return l
}

// study makes n items: images, with cines at the given positions.
func study(n int, cineFrames map[int]int, residual ...int) []Item {
	var items []Item
	res := map[int]bool{}
	for _, r := range residual {
		res[r] = true
	}
	for i := 1; i <= n; i++ {
		it := Item{Index: i, Kind: "image", Frames: 1, Width: 64, Height: 48, Ready: true, Residual: res[i]}
		if fr, ok := cineFrames[i]; ok {
			it.Kind, it.Frames, it.FrameTimeMS = "cine", fr, 50
		}
		items = append(items, it)
	}
	return items
}

func (f *fakeBackend) Link(ctx context.Context, token string) (*Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	l := f.links[hashToken(token)]
	switch {
	case l == nil:
		return nil, ErrNotFound
	case l.revoked:
		return nil, &RevokedError{At: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	case l.expired:
		return nil, &ExpiredError{At: l.link.Expires, LinkID: l.link.ID, Lang: l.link.Lang}
	}
	cp := l.link
	cp.HasPassword = f.passwords[cp.ID] != ""
	return &cp, nil
}

func (f *fakeBackend) Clinic(ctx context.Context) (Clinic, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clinic, f.clinicErr
}

func (f *fakeBackend) byID(id string) *fakeLink {
	for _, l := range f.links {
		if l.link.ID == id {
			return l
		}
	}
	return nil
}

// Generation is new on every call, so pages are never kept, unless a test
// sets stableGen: then it is gen, which the test bumps when it changes
// what a page shows.
func (f *fakeBackend) Generation(ctx context.Context) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stableGen {
		f.gen++
	}
	return strconv.Itoa(f.gen)
}

func (f *fakeBackend) Items(ctx context.Context, linkID string) ([]Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.itemCalls++
	l := f.byID(linkID)
	if l == nil {
		return nil, ErrNotFound
	}
	return append([]Item(nil), l.items...), nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (f *fakeBackend) Open(ctx context.Context, linkID string, item int, file string) (Content, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byID(linkID)
	if l == nil {
		return nil, time.Time{}, ErrNotFound
	}
	var it *Item
	for i := range l.items {
		if l.items[i].Index == item {
			it = &l.items[i]
		}
	}
	if it == nil {
		return nil, time.Time{}, ErrNotFound
	}
	key := fmt.Sprintf("%s/%d/%s", linkID, item, file)
	b, ok := f.files[key]
	if !ok {
		var err error
		b, err = f.genFile(linkID, it, file)
		if err != nil {
			return nil, time.Time{}, err
		}
		f.files[key] = b
	}
	return nopCloser{bytes.NewReader(b)}, time.Date(2025, 6, 27, 10, 20, 0, 0, time.UTC), nil
}

func (f *fakeBackend) genFile(linkID string, it *Item, file string) ([]byte, error) {
	var buf bytes.Buffer
	if it.Kind == "report" && file != "image.dcm" {
		return nil, ErrNotFound
	}
	switch {
	case file == "image.dcm" && it.Kind == "report":
		return testdicom.Bytes(testdicom.Spec{
			PatientName: "ANONYMOUS", PatientID: "SL-" + linkID,
			StudyUID: "2.25.1001", SeriesUID: "2.25.1001.7", SOPUID: fmt.Sprintf("2.25.1001.9.%d", it.Index),
			StudyDate: "20250627", StudyTime: "101500", StudyID: "1", SeriesNumber: "7", InstanceNumber: it.Index,
			SR: true, SRTitle: f.srTitle, SRTexts: f.srTexts,
		}), nil
	case file == "thumb.jpg":
		err := jpeg.Encode(&buf, frameImage(it.Index, 0, it.Frames), &jpeg.Options{Quality: 80})
		return buf.Bytes(), err
	case strings.HasPrefix(file, "frame/"):
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(file, "frame/"), ".jpg"))
		if err != nil || n < 1 || n > max(it.Frames, 1) {
			return nil, ErrNotFound
		}
		err = jpeg.Encode(&buf, frameImage(it.Index, n-1, it.Frames), &jpeg.Options{Quality: 80})
		return buf.Bytes(), err
	case file == "loop.gif" && it.Kind == "cine":
		g := &gif.GIF{}
		// At most 120 frames, as the renderer: the page sizes its ZIPs,
		// and a loop of 10000 frames must not take minutes here.
		for k := 0; k < min(it.Frames, 120); k++ {
			src := frameImage(it.Index, k, it.Frames)
			p := image.NewPaletted(src.Bounds(), palette.Plan9)
			for y := 0; y < src.Bounds().Dy(); y++ {
				for x := 0; x < src.Bounds().Dx(); x++ {
					p.Set(x, y, src.At(x, y))
				}
			}
			g.Image = append(g.Image, p)
			g.Delay = append(g.Delay, int(it.FrameTimeMS/10))
		}
		err := gif.EncodeAll(&buf, g)
		return buf.Bytes(), err
	case file == "loop.mp4" && it.Video:
		// The real encoder on the item's own DICOM object.
		path := filepath.Join(os.TempDir(), fmt.Sprintf("sonolink-fake-%d-%d.dcm", os.Getpid(), it.Index))
		defer os.Remove(path)
		if err := os.WriteFile(path, testdicom.Bytes(testdicom.Spec{
			StudyUID: "2.25.1001", SeriesUID: "2.25.1001.1", SOPUID: fmt.Sprintf("2.25.1001.9.%d", it.Index),
			Rows: 240, Columns: 320, Frames: it.Frames, FrameTimeMS: it.FrameTimeMS,
		}), 0o600); err != nil {
			return nil, err
		}
		_, err := render.File(path, func(name string, write func(io.Writer) error) error {
			if name != render.VideoName {
				return write(io.Discard)
			}
			return write(&buf)
		})
		if err == nil && buf.Len() == 0 {
			err = ErrNotFound
		}
		return buf.Bytes(), err
	case file == "image.dcm":
		return testdicom.Bytes(testdicom.Spec{
			PatientName: "ANONYMOUS", PatientID: "SL-" + linkID,
			StudyUID: "2.25.1001", SeriesUID: fmt.Sprintf("2.25.1001.%d", 1+it.Index%2),
			SOPUID:    fmt.Sprintf("2.25.1001.9.%d", it.Index),
			StudyDate: "20250627", StudyTime: "101500", StudyID: "1", SeriesNumber: strconv.Itoa(1 + it.Index%2),
			InstanceNumber: it.Index, Frames: it.Frames, FrameTimeMS: it.FrameTimeMS,
		}), nil
	}
	return nil, ErrNotFound
}

// frameImage draws a soft sector with a bright bar whose position depends
// on the frame, so frames differ.
func frameImage(item, k, n int) image.Image {
	const w, h = 64, 48
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bar := 8 + (k*40)/max(n, 1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8((x*3 + y*2 + item*20) % 160)
			if x >= bar && x < bar+6 {
				v = 240
			}
			img.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	return img
}

// Report reads the generated SR of a "report" item through the real
// parser and render.SR.
func (f *fakeBackend) Report(ctx context.Context, linkID string, item int) (*render.Report, error) {
	c, _, err := f.Open(ctx, linkID, item, "image.dcm")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	size, err := c.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	ds, _, err := dicomfile.Parse(c, size, dicomfile.Limits{}, true)
	if err != nil {
		return nil, err
	}
	rep, err := render.SR(ds)
	if render.IsUnsupported(err) {
		return nil, ErrNotFound
	}
	return rep, err
}

func (f *fakeBackend) CheckLinkCode(ctx context.Context, linkID, client, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails[linkID+client] >= 5 {
		return &WaitError{Until: time.Now().Add(90 * time.Second)}
	}
	if code != f.codes[linkID] {
		f.fails[linkID+client]++
		return ErrWrongCode
	}
	return nil
}

// fakeCodeMessages is how many one-time codes one client may ask for.
const fakeCodeMessages = 3

func (f *fakeBackend) CodeMessages(ctx context.Context, linkID, client string) (int, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if left := fakeCodeMessages - f.sends[linkID+client]; left > 0 {
		return left, time.Time{}, nil
	}
	return 0, time.Now().Add(5 * time.Hour), nil
}

func (f *fakeBackend) RequestOTP(ctx context.Context, linkID, client string, contactIndex int, lang string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sends[linkID+client] >= fakeCodeMessages {
		return &CodeLimitError{Until: time.Now().Add(5 * time.Hour)}
	}
	f.sends[linkID+client]++
	f.otps[linkID] = fmt.Sprintf("%06d", 123456+contactIndex)
	f.otpLang[linkID] = lang
	f.otpOK[linkID] = false
	return nil
}

func (f *fakeBackend) VerifyOTP(ctx context.Context, linkID, client, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.otps[linkID] == "" || code != f.otps[linkID] {
		return ErrWrongCode
	}
	f.otps[linkID] = ""
	f.otpOK[linkID] = true
	return nil
}

func (f *fakeBackend) SetPassword(ctx context.Context, linkID, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.otpOK[linkID] {
		return fmt.Errorf("no verified one-time code")
	}
	f.otpOK[linkID] = false
	f.passwords[linkID] = password
	return nil
}

func (f *fakeBackend) CheckPassword(ctx context.Context, linkID, client, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.passwords[linkID] == "" || password != f.passwords[linkID] {
		return ErrWrongCode
	}
	return nil
}

func (f *fakeBackend) RequestRenewal(ctx context.Context, linkID, client string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewals == nil {
		f.renewals = map[string]int{}
	}
	if f.renewals[linkID] >= 2 {
		return &WaitError{Until: time.Now().Add(time.Hour)}
	}
	f.renewals[linkID]++
	return nil
}

func (f *fakeBackend) SelfRenewContacts(ctx context.Context, linkID string) ([]MaskedContact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byID(linkID)
	if !f.selfRenew || l == nil || !l.expired {
		return nil, nil
	}
	return l.link.Contacts, nil
}

func (f *fakeBackend) RequestRenewalCode(ctx context.Context, linkID, client string, contactIndex int, lang string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.byID(linkID); !f.selfRenew || l == nil || !l.expired || contactIndex >= len(l.link.Contacts) {
		return fmt.Errorf("no new link for %s", linkID)
	}
	if f.sends[linkID+client] >= fakeCodeMessages {
		return &CodeLimitError{Until: time.Now().Add(5 * time.Hour)}
	}
	f.sends[linkID+client]++
	if f.renewCodes == nil {
		f.renewCodes, f.renewed, f.renewLang = map[string]string{}, map[string]int{}, map[string]string{}
	}
	f.renewCodes[linkID] = fmt.Sprintf("%06d", 654321-contactIndex)
	f.renewLang[linkID] = lang
	return nil
}

func (f *fakeBackend) SelfRenew(ctx context.Context, linkID, client, code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renewCodes[linkID] == "" || code != f.renewCodes[linkID] {
		f.fails[linkID+client]++
		if f.fails[linkID+client] >= 3 {
			return &WaitError{Until: time.Now().Add(10 * time.Minute), Wrong: true}
		}
		return ErrWrongCode
	}
	f.renewCodes[linkID] = ""
	f.renewed[linkID]++
	return nil
}

func (f *fakeBackend) RecordView(ctx context.Context, linkID, remoteAddr, userAgent string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.views++
}

func (f *fakeBackend) otp(linkID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.otps[linkID]
}

// Tokens used by the tests (never valid anywhere else).
const (
	tokOpen     = "OpenTokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tokGated    = "GatedTokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	tokExpired  = "ExpiredTokenCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
	tokRevoked  = "RevokedTokenDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
	tokUnknown  = "UnknownTokenEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE"
	tokLoggedIn = "LoginTokenFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
)

type fixture struct {
	b   *fakeBackend
	srv *httptest.Server
	log *syncBuffer
	cfg Config
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newFixture starts a server with the standard links: an open one (5
// items, a 12-frame loop), a gated one (link code + password, residual
// item), an expired and a revoked one.
func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	b := newFake()
	b.add(tokOpen, &fakeLink{link: Link{ID: "L-open"}, items: study(5, map[int]int{3: 12})})
	b.add(tokGated, &fakeLink{
		link:  Link{ID: "L-gated", NeedsLinkCode: true, NeedsPassword: true, Contacts: []MaskedContact{{Kind: "email", Label: "n***@example.com"}, {Kind: "sms", Label: "+46 ••• •• 67"}}},
		items: study(3, map[int]int{2: 6}, 3),
	})
	b.codes["L-gated"] = "BLUE42"
	b.add(tokLoggedIn, &fakeLink{link: Link{ID: "L-login", NeedsPassword: true, Contacts: []MaskedContact{{Kind: "email", Label: "a***@example.com"}}}, items: study(2, nil, 2)})
	b.passwords["L-login"] = "correct horse"
	b.add(tokExpired, &fakeLink{link: Link{ID: "L-expired"}, items: study(1, nil), expired: true})
	b.add(tokRevoked, &fakeLink{link: Link{ID: "L-revoked"}, items: study(1, nil), revoked: true})
	logBuf := &syncBuffer{}
	cfg := Config{
		Logger:     slog.New(slog.NewTextHandler(logBuf, nil)),
		SessionKey: bytes.Repeat([]byte{7}, 32),
		// Tests choose the client address with a header, so rate limits
		// of one test address do not leak into the others.
		ClientAddr: func(r *http.Request) string {
			if a := r.Header.Get("X-Test-Addr"); a != "" {
				return a
			}
			return remoteHost(r)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{b: b, srv: srv, log: logBuf, cfg: cfg}
}

func (fx *fixture) get(t testing.TB, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fx.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}
