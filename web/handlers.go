package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"sonolink/i18n"
	"sonolink/internal/logid"
)

// reqCtx is what a route under /p/{token} knows once the token resolved.
type reqCtx struct {
	ctx    context.Context
	base   string // BasePath + "/p/" + token
	link   *Link
	sess   *session
	fresh  bool // no valid session cookie came with the request
	loc    *i18n.Locale
	clinic Clinic
	addr   string
}

func (rc *reqCtx) gatesPassed() bool {
	return (!rc.link.NeedsLinkCode || rc.sess.has(fCode)) && (!rc.link.NeedsPassword || rc.sess.has(fPassword))
}

// mayReveal reports whether an item may be shown in this session.
func (rc *reqCtx) mayReveal(it *Item) bool {
	return it.Ready && (!it.Residual || rc.sess.has(fPassword))
}

// withLink resolves the token before any route under /p/{token}: rate
// limit, lookup, session, and the floor that makes every token answer in
// the same time for a client without a session.
func (s *server) withLink(h func(http.ResponseWriter, *http.Request, *reqCtx)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if s.switchLanguage(w, r) {
			return
		}
		ctx := r.Context()
		addr := s.cfg.ClientAddr(r)
		clinic, err := s.b.Clinic(ctx)
		loc := s.pageLocale(r, clinic.Language)
		if err != nil {
			s.cfg.Logger.Error("web: reading the clinic settings failed", "err", err)
			s.errorPage(w, loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
			return
		}
		if d := s.lim.wait(addr, start); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
			s.errorPage(w, loc, http.StatusTooManyRequests, "err.busy.title", "err.busy.text")
			return
		}
		link, err := s.b.Link(ctx, r.PathValue("token"))
		var sess *session
		if err == nil {
			if !link.Expires.IsZero() && !s.cfg.Now().Before(link.Expires) {
				err = &ExpiredError{At: link.Expires}
			} else {
				sess = s.readSession(r, link)
			}
		}
		if sess == nil && s.cfg.LookupFloor > 0 {
			if d := s.cfg.LookupFloor - time.Since(start); d > 0 {
				time.Sleep(d)
			}
		}
		var exp *ExpiredError
		var rev *RevokedError
		switch {
		case err == nil:
		case errors.As(err, &rev):
			s.brandedError(w, loc, &clinic, http.StatusGone, "err.revoked.title", "err.revoked.text", "clinic", clinic.Name, "date", loc.Date(rev.At))
			return
		case errors.Is(err, ErrNotFound):
			s.lim.fail(addr, time.Now())
			s.errorPage(w, loc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
			return
		case errors.As(err, &exp):
			if exp.Lang != "" { // the patient's language, unless the phone asks for another
				loc = s.pageLocale(r, exp.Lang)
			}
			s.expired(w, r, exp, loc, clinic, addr)
			return
		default:
			s.cfg.Logger.Error("web: link lookup failed", "err", err)
			s.errorPage(w, loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
			return
		}
		if info, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
			info.linkID = link.ID
		}
		if link.Lang != "" { // the patient's language, unless the phone asks for another
			loc = s.pageLocale(r, link.Lang)
		}
		rc := &reqCtx{
			ctx:  ctx,
			base: s.cfg.BasePath + "/p/" + r.PathValue("token"),
			link: link, sess: sess, loc: loc, clinic: clinic, addr: addr,
		}
		if sess == nil {
			rc.sess, rc.fresh = s.newSession(link), true
		}
		h(w, r, rc)
	}
}

// pageData is what every template sees.
type pageData struct {
	s         *server
	L         *i18n.Locale
	Title     string
	Base      string
	CSRF      string
	BodyClass string
	Script    bool
	Refresh   int

	// Gate pages.
	Step     string
	Error    string
	Contacts []MaskedContact
	Codes    string // how many one-time code messages may still be sent
	NoCodes  bool   // none: the form to ask for one is not shown

	// Error pages.
	Heading, Text string

	// Every page: who is asking, and how to reach them (nil when the
	// settings cannot be read).
	Clinic  *Clinic
	HasLogo bool
	LogoURL template.URL // a data: URL

	// Landing page.
	Exam     string
	Until    string
	Items    []itemView // images and loops
	Reports  []itemView // documents, shown first
	Count    int
	HasDICOM bool
	// The two downloads of the whole study, with the exact size each
	// serves ("" when it could not be worked out).
	HasPictures             bool
	SizeAll, SizePictures   string
	BytesAll, BytesPictures int64

	// Report page.
	Report *reportView

	// Expired page: the request for a new link was sent (and the client
	// had asked often enough).
	Asked, AskedWait bool
	// … a new link went to the link's contacts (link.self_renew), named
	// masked in RenewedTo.
	Renewed   bool
	RenewedTo string
}

// Asset returns the content-hashed URL of an embedded asset.
func (p *pageData) Asset(name string) string { return p.s.assetURL(name) }

// langChoice is one entry of a page's language switch.
type langChoice struct {
	Tag, Name string
	Current   bool
}

// Langs lists the languages a patient may switch the page to, each named
// in itself ("Svenska"), the page's own marked.
func (p *pageData) Langs() []langChoice {
	var out []langChoice
	for _, tag := range i18n.Languages() {
		out = append(out, langChoice{Tag: tag, Name: i18n.Lookup(tag).Name(), Current: tag == p.L.Lang()})
	}
	return out
}

type itemView struct {
	Item
	Label    string
	Thumb    string
	Full     string // first frame, GIF or PDF
	Download string
	FrameURL string // frame URL prefix, "…/frame/"
	FrameMS  string
	Video    string // the loop's MP4, when it has one
	Duration string // a loop's length, "0:04"
}

func (s *server) render(w http.ResponseWriter, status int, name string, d *pageData) {
	if body, ok := s.renderBytes(w, name, d); ok {
		writePage(w, status, body)
	}
}

// renderBytes runs a page's template; on failure it answers 500 itself.
func (s *server) renderBytes(w http.ResponseWriter, name string, d *pageData) ([]byte, bool) {
	d.s = s
	if d.Clinic != nil && len(d.Clinic.Logo) > 0 && logoTypes[d.Clinic.LogoType] {
		// Inline, so the expired and revoked pages, which serve no files,
		// show it too.
		d.HasLogo, d.LogoURL = true, template.URL("data:"+d.Clinic.LogoType+";base64,"+base64.StdEncoding.EncodeToString(d.Clinic.Logo))
	}
	var buf bytes.Buffer
	if err := s.tmpl[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.cfg.Logger.Error("web: template failed", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	return buf.Bytes(), true
}

// writePage answers a rendered page; pages are personal: never stored by
// a browser or a proxy.
func writePage(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// A length, not chunks: one write of the whole page, as a file server
	// answers.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// errorPage shows an error that names no clinic: for an unknown token or
// path, which must not tell a scanner whose server it found.
func (s *server) errorPage(w http.ResponseWriter, loc *i18n.Locale, status int, title, text string) {
	s.brandedError(w, loc, nil, status, title, text)
}

// linkError shows an error on a real link's page, with the clinic's name,
// logo and contact details, as every page of a link has.
func (s *server) linkError(w http.ResponseWriter, rc *reqCtx, status int, title, text string) {
	s.brandedError(w, rc.loc, &rc.clinic, status, title, text)
}

// brandedError shows an error page; clinic, when not nil, brands it, and
// args fill the text's {names}.
func (s *server) brandedError(w http.ResponseWriter, loc *i18n.Locale, clinic *Clinic, status int, title, text string, args ...any) {
	s.render(w, status, "error", &pageData{L: loc, Title: loc.T(title), Heading: loc.T(title), Text: loc.T(text, args...),
		BodyClass: "gate-page", Clinic: clinic})
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	clinic, err := s.b.Clinic(r.Context())
	loc := i18n.Match(r.Header.Get("Accept-Language"), clinic.Language)
	if err != nil {
		s.cfg.Logger.Error("web: reading the clinic settings failed", "err", err)
		s.errorPage(w, loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
		return
	}
	s.errorPage(w, loc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
}

// langCookie holds the language a patient chose with the page's switch.
const langCookie = "lang"

// switchLanguage answers a GET with ?lang=xx, the page's language switch:
// it remembers the choice in a cookie (for every link's pages; a language
// is not personal data) and sends the browser back to the same page
// without the query. It reports whether it answered.
func (s *server) switchLanguage(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || !r.URL.Query().Has("lang") {
		return false
	}
	if tag := r.URL.Query().Get("lang"); slices.Contains(i18n.Languages(), tag) {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: tag, Path: s.cfg.BasePath + "/p/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteLaxMode})
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, r.URL.EscapedPath(), http.StatusSeeOther)
	return true
}

// pageLocale is the page's language: the one the patient chose with the
// switch, else the phone's preferred one that sonolink speaks, else
// fallback (the link's language, or the clinic's).
func (s *server) pageLocale(r *http.Request, fallback string) *i18n.Locale {
	if c, err := r.Cookie(langCookie); err == nil && slices.Contains(i18n.Languages(), c.Value) {
		return i18n.Lookup(c.Value)
	}
	return i18n.Match(r.Header.Get("Accept-Language"), fallback)
}

// landing shows the gate this session has not yet passed, or the study.
func (s *server) landing(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if rc.fresh {
		s.setSession(w, rc)
	}
	if !rc.gatesPassed() {
		s.gate(w, rc, http.StatusOK, "")
		return
	}
	key, now := landingKey(rc, s.b.Generation(r.Context())), s.cfg.Now()
	if body, ok := s.pages.get(key, now); ok {
		s.b.RecordView(r.Context(), rc.link.ID, rc.addr, r.UserAgent())
		writePage(w, http.StatusOK, body)
		return
	}
	items, err := s.b.Items(r.Context(), rc.link.ID)
	if err != nil {
		s.cfg.Logger.Error("web: items failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		s.linkError(w, rc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
		return
	}
	s.b.RecordView(r.Context(), rc.link.ID, rc.addr, r.UserAgent())
	loc := rc.loc
	d := &pageData{
		L: loc, Base: rc.base, Script: true, BodyClass: "landing-page", Clinic: &rc.clinic,
		Exam: loc.Date(rc.link.ExamDate), Until: loc.Date(rc.link.Expires),
	}
	d.Title = loc.T("landing.title")
	labels := s.labels(items, rc)
	for _, it := range items {
		if it.Residual && !rc.sess.has(fPassword) {
			continue
		}
		v := itemView{Item: it, Label: labels[it.Index]}
		doc := it.Kind == "pdf" || it.Kind == "report"
		if !it.Ready && doc {
			d.Refresh = 20
			d.Reports = append(d.Reports, v)
			continue
		}
		if !it.Ready {
			d.Refresh = 20
			d.Items = append(d.Items, v)
			continue
		}
		p := fmt.Sprintf("%s/i/%d/", rc.base, it.Index)
		if it.Kind != "pdf" && it.Kind != "report" {
			v.Thumb = p + "thumb.jpg" // documents have no thumbnail: the tile shows an icon
		}
		v.Download = p + "download"
		v.FrameURL = p + "frame/"
		v.FrameMS = strconv.FormatFloat(frameMS(it.FrameTimeMS), 'f', -1, 64)
		switch it.Kind {
		case "cine":
			v.Full = p + "loop.gif"
			if it.Video {
				v.Video = p + "loop.mp4"
			}
			if it.VideoOnly {
				v.Full = v.Video // a video object has no GIF
			}
			v.Duration = duration(it.Frames, frameMS(it.FrameTimeMS))
		case "pdf":
			v.Full = p + "report.pdf"
		case "report":
			v.Full = p + "report"
		default:
			v.Full = p + "frame/0001.jpg"
		}
		if it.Kind != "pdf" {
			d.HasDICOM = true
		}
		if doc {
			if it.Kind == "report" {
				// The report's own title heads it, e.g. "Obstetric
				// ultrasound report"; its label when it has none.
				if rep, err := s.b.Report(r.Context(), rc.link.ID, it.Index); err == nil && rep.Title != "" {
					v.Label = rep.Title
				}
			}
			d.Reports = append(d.Reports, v)
			continue
		}
		d.HasPictures = true
		d.Items = append(d.Items, v)
	}
	d.Count = len(d.Items) + len(d.Reports)
	for _, z := range []struct {
		set   int
		text  *string
		bytes *int64
	}{{zipEverything, &d.SizeAll, &d.BytesAll}, {zipPictures, &d.SizePictures, &d.BytesPictures}} {
		if n, err := s.shownSize(r.Context(), rc, items, z.set); err != nil {
			s.cfg.Logger.Error("web: zip not sized", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		} else {
			*z.text, *z.bytes = sizeText(loc, n), n
		}
	}
	body, ok := s.renderBytes(w, "landing", d)
	if !ok {
		return
	}
	s.pages.put(key, body, now)
	writePage(w, http.StatusOK, body)
}

// expired answers every route of an expired link with the expired page:
// the clinic's name and one button that asks for a new link (POST
// …/renew, with the session's CSRF token like every form). After the
// request the page says it reached the clinic; the session remembers it,
// so a reload does not ask again.
//
// When the clinic offers it (link.self_renew), the page also lets the
// patient have a new link sent at once: pick one of the link's contacts
// (masked), get a one-time code there (…/renew/code), type it
// (…/renew/verify), and the new link goes to the same contacts; the page
// then names them, masked. …/renew/restart asks for another code.
func (s *server) expired(w http.ResponseWriter, r *http.Request, exp *ExpiredError, loc *i18n.Locale, clinic Clinic, addr string) {
	link := &Link{ID: exp.LinkID}
	rc := &reqCtx{ctx: r.Context(), base: s.cfg.BasePath + "/p/" + r.PathValue("token"), link: link, loc: loc, clinic: clinic, addr: addr}
	if exp.LinkID != "" {
		rc.sess = s.readSession(r, link)
	}
	if rc.sess == nil {
		rc.sess, rc.fresh = s.newSession(link), true
	}
	if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		info.linkID = exp.LinkID
	}
	if r.Method == http.MethodPost && exp.LinkID != "" {
		if !s.post(w, r, rc) {
			return
		}
		switch strings.TrimPrefix(r.URL.Path, rc.base) {
		case "/renew":
			if !rc.sess.has(fAsked) {
				err := s.b.RequestRenewal(r.Context(), exp.LinkID, addr)
				var wait *WaitError
				switch {
				case err == nil:
					rc.sess.flags |= fAsked
				case errors.As(err, &wait):
					rc.sess.flags |= fAsked | fAskedWait
				default:
					s.cfg.Logger.Error("web: recording a request for a new link failed", "link", exp.LinkID, "err", err)
					s.errorPage(w, loc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
					return
				}
			}
		case "/renew/code":
			if !s.renewCode(w, r, rc) {
				return
			}
		case "/renew/verify":
			if !s.renewVerify(w, r, rc) {
				return
			}
		case "/renew/restart":
			rc.sess.flags &^= fOTPSent
		}
		s.back(w, r, rc)
		return
	}
	s.expiredPage(w, rc, http.StatusGone, "")
}

// expiredPage shows the expired page, with msg (translated) as its alert.
func (s *server) expiredPage(w http.ResponseWriter, rc *reqCtx, status int, msg string) {
	loc := rc.loc
	d := &pageData{L: loc, Base: rc.base, BodyClass: "gate-page", Title: loc.T("err.expired.title"), Clinic: &rc.clinic,
		Asked: rc.sess.has(fAsked), AskedWait: rc.sess.has(fAskedWait), Error: msg}
	if rc.link.ID != "" {
		d.CSRF = s.csrf(rc.sess)
		if rc.fresh {
			s.setSession(w, rc)
		}
		cs, err := s.b.SelfRenewContacts(rc.ctx, rc.link.ID)
		if err != nil {
			s.cfg.Logger.Error("web: contacts for a new link failed", "link", rc.link.ID, "err", err)
		}
		switch {
		case rc.sess.has(fRenewed):
			d.Renewed = true
			var to []string
			for _, c := range cs {
				to = append(to, c.Label)
			}
			d.RenewedTo = strings.Join(to, ", ")
		case len(cs) == 0:
		case rc.sess.has(fOTPSent):
			d.Step = "renew-otp"
		default:
			d.Step, d.Contacts = "renew-contacts", cs
			left, next, err := s.b.CodeMessages(rc.ctx, rc.link.ID, rc.addr)
			switch {
			case err != nil:
				s.cfg.Logger.Error("web: code messages failed", "link", rc.link.ID, "err", err)
			case left > 0:
				d.Codes = loc.N("gate.codes.left", left)
			default:
				d.Codes, d.NoCodes = s.codesAgain(rc, next), true
			}
		}
	}
	s.render(w, status, "expired", d)
}

// renewCode sends a one-time code for a new link to the chosen contact.
// It reports whether the page should go back (false: it answered).
func (s *server) renewCode(w http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if rc.sess.has(fRenewed) {
		return true
	}
	cs, err := s.b.SelfRenewContacts(r.Context(), rc.link.ID)
	if err != nil {
		s.renewFailed(w, rc, err, "")
		return false
	}
	i, err := strconv.Atoi(r.PostFormValue("contact"))
	if err != nil || i < 0 || i >= len(cs) {
		s.expiredPage(w, rc, http.StatusBadRequest, rc.loc.T("gate.contacts.choose"))
		return false
	}
	if err := s.b.RequestRenewalCode(r.Context(), rc.link.ID, rc.addr, i, rc.loc.Lang()); err != nil {
		s.renewFailed(w, rc, err, "gate.contacts.choose")
		return false
	}
	rc.sess.flags |= fOTPSent
	return true
}

// renewVerify checks the typed code; when right, the new link is sent.
func (s *server) renewVerify(w http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if rc.sess.has(fRenewed) || !rc.sess.has(fOTPSent) {
		return true
	}
	code := strings.Join(strings.Fields(r.PostFormValue("code")), "")
	if code == "" || len(code) > 32 {
		s.expiredPage(w, rc, http.StatusUnauthorized, rc.loc.T("gate.otp.wrong"))
		return false
	}
	if err := s.b.SelfRenew(r.Context(), rc.link.ID, rc.addr, code); err != nil {
		s.renewFailed(w, rc, err, "gate.otp.wrong")
		return false
	}
	rc.sess.flags = rc.sess.flags&^fOTPSent | fRenewed
	return true
}

// renewFailed answers a failed step of the new link on the expired page,
// as failed does on the gates.
func (s *server) renewFailed(w http.ResponseWriter, rc *reqCtx, err error, wrongKey string) {
	if status, msg, ok := s.throttled(w, rc, err, wrongKey); ok {
		s.expiredPage(w, rc, status, msg)
		return
	}
	switch {
	case errors.Is(err, ErrWrongCode) && wrongKey != "":
		s.expiredPage(w, rc, http.StatusUnauthorized, rc.loc.T(wrongKey))
	default:
		s.cfg.Logger.Error("web: new link from the expired page failed", "link", rc.link.ID, "err", err)
		s.brandedError(w, rc.loc, &rc.clinic, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
	}
}

// postRenew is reached only for a link that still works (an expired one
// is answered by expired): there is nothing to ask for.
func (s *server) postRenew(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.back(w, r, rc)
}

// frameMS bounds a frame time to something a browser can show.
func frameMS(ms float64) float64 {
	if ms <= 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return 40
	}
	return math.Min(math.Max(ms, 10), 2000)
}

// sizeText says how large a download is, in the page's language's
// numbers: "830 kB", "4.2 MB", "37 MB", "1.2 GB" (decimal units, as phones
// show storage).
func sizeText(loc *i18n.Locale, n int64) string {
	p := message.NewPrinter(language.Make(loc.Lang()))
	switch f := float64(n); {
	case n < 1e6:
		return p.Sprintf("%d kB", max(1, int((n+500)/1000)))
	case n < 10e6:
		return p.Sprintf("%.1f MB", f/1e6)
	case n < 1e9:
		return p.Sprintf("%.0f MB", f/1e6)
	default:
		return p.Sprintf("%.1f GB", f/1e9)
	}
}

// duration says how long a loop of n frames of ms each plays, as a clock
// does ("0:04", "1:02"); never "0:00".
func duration(n int, ms float64) string {
	sec := max(1, int(math.Round(float64(n)*ms/1000)))
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// step names the gate this session must pass next.
func (rc *reqCtx) step() string {
	switch {
	case rc.link.NeedsLinkCode && !rc.sess.has(fCode):
		return "code"
	case !rc.link.NeedsPassword || rc.sess.has(fPassword):
		return ""
	case rc.sess.has(fOTP):
		return "setpw"
	case rc.sess.has(fOTPSent):
		return "otp"
	case rc.link.HasPassword && !rc.sess.has(fForgot):
		return "login"
	default:
		return "contacts"
	}
}

func (s *server) gate(w http.ResponseWriter, rc *reqCtx, status int, errKey string, args ...any) {
	msg := ""
	if errKey != "" {
		msg = rc.loc.T(errKey, args...)
	}
	s.gateMsg(w, rc, status, msg)
}

// gateMsg shows the gate this session must pass next, with msg (already
// translated) as its alert.
func (s *server) gateMsg(w http.ResponseWriter, rc *reqCtx, status int, msg string) {
	step := rc.step()
	d := &pageData{L: rc.loc, Base: rc.base, CSRF: s.csrf(rc.sess), Step: step, BodyClass: "gate-page",
		Title: rc.loc.T("gate." + step + ".title"), Contacts: rc.link.Contacts, Clinic: &rc.clinic}
	d.Error = msg
	if step == "contacts" && len(rc.link.Contacts) > 0 {
		left, next, err := s.b.CodeMessages(rc.ctx, rc.link.ID, rc.addr)
		switch {
		case err != nil:
			s.cfg.Logger.Error("web: code messages failed", "link", rc.link.ID, "err", err)
		case left > 0:
			d.Codes = rc.loc.N("gate.codes.left", left)
		default:
			d.Codes, d.NoCodes = s.codesAgain(rc, next), true
		}
	}
	s.render(w, status, "gate", d)
}

// codesAgain says, in the page's language, when a code may be asked for:
// in how many hours and at what time on the clinic's clock.
func (s *server) codesAgain(rc *reqCtx, next time.Time) string {
	return rc.loc.N("gate.codes.none", int(math.Ceil(max(next.Sub(s.cfg.Now()), time.Minute).Hours())),
		"time", rc.clock(s.cfg.Now(), next))
}

// waitText says, in the page's language, how long to wait before trying
// again, and from a wait of minutes on, until when on the clinic's clock.
func (s *server) waitText(rc *reqCtx, until time.Time) string {
	d := max(until.Sub(s.cfg.Now()), time.Second)
	if d < 2*time.Minute {
		return rc.loc.N("gate.wait.seconds", int(math.Ceil(d.Seconds())))
	}
	return rc.loc.N("gate.wait.minutes", int(math.Ceil(d.Minutes())), "time", rc.clock(s.cfg.Now(), until))
}

// clock writes t as a time of day on the clinic's clock (24-hour, as all
// three languages write it), rounded up to the minute so the patient who
// comes back at that minute is let in, and with the date when it is not
// today there.
func (rc *reqCtx) clock(now, t time.Time) string {
	loc := rc.clinic.Location
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	if t.Second() != 0 || t.Nanosecond() != 0 {
		t = t.Truncate(time.Minute).Add(time.Minute)
	}
	hm := t.Format("15:04")
	if y, m, d := now.In(loc).Date(); t.Year() != y || t.Month() != m || t.Day() != d {
		return rc.loc.Date(t) + " " + hm
	}
	return hm
}

// post checks what every form submission needs: a session cookie that
// came with the request and the form's CSRF token.
func (s *server) post(w http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	if rc.fresh {
		s.linkError(w, rc, http.StatusForbidden, "err.cookies.title", "err.cookies.text")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || !s.checkCSRF(r, rc.sess) {
		s.linkError(w, rc, http.StatusForbidden, "err.form.title", "err.form.text")
		return false
	}
	return true
}

func (s *server) back(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.setSession(w, rc)
	http.Redirect(w, r, rc.base, http.StatusSeeOther)
}

// throttled answers what every form shares when a try is refused for
// time: a source that must wait (how long, and whether the try was also
// wrong) or a code-message limit (the contacts step says when); it sets
// Retry-After and returns the status and message for the page, ok false
// for any other error.
func (s *server) throttled(w http.ResponseWriter, rc *reqCtx, err error, wrongKey string) (status int, msg string, ok bool) {
	var wait *WaitError
	var limit *CodeLimitError
	switch {
	case errors.As(err, &wait):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait.Until.Sub(s.cfg.Now()), time.Second).Seconds()))))
		msg, status = s.waitText(rc, wait.Until), http.StatusTooManyRequests
		if wait.Wrong {
			msg, status = rc.loc.T(wrongKey)+" "+msg, http.StatusUnauthorized
		}
		return status, msg, true
	case errors.As(err, &limit):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(limit.Until.Sub(s.cfg.Now()), time.Second).Seconds()))))
		return http.StatusTooManyRequests, "", true
	}
	return 0, "", false
}

// failed answers a wrong attempt on the current gate, or one that must
// wait: the page says how long (Retry-After too), and whether the try was
// wrong.
func (s *server) failed(w http.ResponseWriter, rc *reqCtx, err error, wrongKey string) {
	if status, msg, ok := s.throttled(w, rc, err, wrongKey); ok {
		s.gateMsg(w, rc, status, msg)
		return
	}
	switch {
	case errors.Is(err, ErrWrongCode):
		s.gate(w, rc, http.StatusUnauthorized, wrongKey)
	default:
		s.cfg.Logger.Error("web: gate check failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
		s.linkError(w, rc, http.StatusInternalServerError, "err.internal.title", "err.internal.text")
	}
}

func (s *server) postCode(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	if rc.step() != "code" {
		s.back(w, r, rc)
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" || len(code) > 64 {
		s.gate(w, rc, http.StatusUnauthorized, "gate.code.wrong")
		return
	}
	if err := s.b.CheckLinkCode(r.Context(), rc.link.ID, rc.addr, code); err != nil {
		if errors.Is(err, ErrWrongCode) {
			s.lim.fail(rc.addr, time.Now())
		}
		s.failed(w, rc, err, "gate.code.wrong")
		return
	}
	rc.sess.flags |= fCode
	s.back(w, r, rc)
}

func (s *server) postOTPRequest(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	if rc.step() != "contacts" {
		s.back(w, r, rc)
		return
	}
	i, err := strconv.Atoi(r.PostFormValue("contact"))
	if err != nil || i < 0 || i >= len(rc.link.Contacts) {
		s.gate(w, rc, http.StatusBadRequest, "gate.contacts.choose")
		return
	}
	if err := s.b.RequestOTP(r.Context(), rc.link.ID, rc.addr, i, rc.loc.Lang()); err != nil {
		s.failed(w, rc, err, "gate.contacts.choose")
		return
	}
	rc.sess.flags |= fOTPSent
	s.back(w, r, rc)
}

func (s *server) postOTPVerify(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	if rc.step() != "otp" {
		s.back(w, r, rc)
		return
	}
	code := strings.Join(strings.Fields(r.PostFormValue("code")), "")
	if code == "" || len(code) > 32 {
		s.gate(w, rc, http.StatusUnauthorized, "gate.otp.wrong")
		return
	}
	if err := s.b.VerifyOTP(r.Context(), rc.link.ID, rc.addr, code); err != nil {
		s.failed(w, rc, err, "gate.otp.wrong")
		return
	}
	rc.sess.flags |= fOTP
	s.back(w, r, rc)
}

func (s *server) postOTPRestart(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	rc.sess.flags &^= fOTPSent | fOTP
	s.back(w, r, rc)
}

func (s *server) postForgot(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	rc.sess.flags |= fForgot
	s.back(w, r, rc)
}

func (s *server) postLogin(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	if rc.step() != "login" {
		s.back(w, r, rc)
		return
	}
	pw := r.PostFormValue("password")
	if pw == "" || len(pw) > 1024 {
		s.gate(w, rc, http.StatusUnauthorized, "gate.login.wrong")
		return
	}
	if err := s.b.CheckPassword(r.Context(), rc.link.ID, rc.addr, pw); err != nil {
		s.failed(w, rc, err, "gate.login.wrong")
		return
	}
	rc.sess.flags |= fPassword
	s.back(w, r, rc)
}

// MinPasswordLength is the least number of characters of a patient password.
const MinPasswordLength = 8

func (s *server) postPassword(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !s.post(w, r, rc) {
		return
	}
	if rc.step() != "setpw" {
		s.back(w, r, rc)
		return
	}
	p1, p2 := r.PostFormValue("password"), r.PostFormValue("password2")
	switch {
	case utf8.RuneCountInString(p1) < MinPasswordLength || len(p1) > 1024:
		s.gate(w, rc, http.StatusBadRequest, "gate.setpw.short", "n", MinPasswordLength)
		return
	case p1 != p2:
		s.gate(w, rc, http.StatusBadRequest, "gate.setpw.mismatch")
		return
	}
	if err := s.b.SetPassword(r.Context(), rc.link.ID, p1); err != nil {
		s.failed(w, rc, err, "gate.setpw.mismatch")
		return
	}
	rc.sess.flags = rc.sess.flags&^(fOTP|fOTPSent|fForgot) | fPassword
	s.back(w, r, rc)
}

// ---- files ----

var logoTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/webp": true, "image/gif": true}

// item finds the visible item of the request's {n}.
func (s *server) item(w http.ResponseWriter, r *http.Request, rc *reqCtx) (*Item, bool) {
	if !rc.gatesPassed() {
		s.linkError(w, rc, http.StatusForbidden, "err.form.title", "err.gate.text")
		return nil, false
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err == nil {
		items, err := s.b.Items(r.Context(), rc.link.ID)
		if err != nil {
			s.cfg.Logger.Error("web: items failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return nil, false
		}
		for i := range items {
			if items[i].Index == n && rc.mayReveal(&items[i]) {
				return &items[i], true
			}
		}
	}
	s.linkError(w, rc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
	return nil, false
}

// frameName matches a frame's file: its number from 1, zero-padded to four
// digits and no further, so a loop of 10000 frames or more has names of
// five digits and more (the viewer builds them the same way).
var frameName = regexp.MustCompile(`^([0-9]{4,9})\.jpg$`)

func (s *server) file(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	it, ok := s.item(w, r, rc)
	if !ok {
		return
	}
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var file, ctype string
	switch {
	case name == "thumb.jpg":
		file, ctype = name, "image/jpeg"
	case name == "loop.gif" && it.Kind == "cine":
		file, ctype = name, "image/gif"
	case name == "loop.mp4" && it.Video:
		file, ctype = name, "video/mp4"
	case name == "report.pdf" && it.Kind == "pdf":
		file, ctype = name, "application/pdf"
	case r.PathValue("f") != "" && it.Kind != "pdf" && it.Kind != "report":
		m := frameName.FindStringSubmatch(r.PathValue("f"))
		if m == nil {
			break
		}
		f, _ := strconv.Atoi(m[1])
		if f < 1 || f > max(it.Frames, 1) || m[1] != fmt.Sprintf("%04d", f) {
			break // out of range, or one frame under a second name
		}
		file, ctype = "frame/"+m[1]+".jpg", "image/jpeg"
	}
	if file == "" {
		s.linkError(w, rc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
		return
	}
	s.serveFile(w, r, rc, it, file, ctype, "")
}

func (s *server) download(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	it, ok := s.item(w, r, rc)
	if !ok {
		return
	}
	switch it.Kind {
	case "cine":
		if it.Video {
			s.serveFile(w, r, rc, it, "loop.mp4", "video/mp4", fmt.Sprintf("ultrasound-%02d.mp4", it.Index))
			return
		}
		s.serveFile(w, r, rc, it, "loop.gif", "image/gif", fmt.Sprintf("ultrasound-%02d.gif", it.Index))
	case "pdf":
		s.serveFile(w, r, rc, it, "report.pdf", "application/pdf", fmt.Sprintf("report-%02d.pdf", it.Index))
	case "report":
		rep, err := s.b.Report(r.Context(), rc.link.ID, it.Index)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				s.cfg.Logger.Error("web: report failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "item", it.Index, "err", err)
			}
			s.linkError(w, rc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
			return
		}
		s.serveReportText(w, r, rc, it, rep, fmt.Sprintf("report-%02d.txt", it.Index))
	default:
		s.serveFile(w, r, rc, it, "frame/0001.jpg", "image/jpeg", fmt.Sprintf("ultrasound-%02d.jpg", it.Index))
	}
}

func (s *server) serveFile(w http.ResponseWriter, r *http.Request, rc *reqCtx, it *Item, file, ctype, attachment string) {
	f, mod, err := s.b.Open(r.Context(), rc.link.ID, it.Index, file)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.cfg.Logger.Error("web: open failed", logid.Study(rc.link.StudyUID), "link", rc.link.ID, "item", it.Index, "file", file, "err", err)
		}
		s.linkError(w, rc, http.StatusNotFound, "err.notfound.title", "err.notfound.text")
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "private, max-age=86400")
	if attachment != "" {
		h.Set("Content-Disposition", `attachment; filename="`+attachment+`"`)
	}
	http.ServeContent(w, r, "", mod, f)
}
