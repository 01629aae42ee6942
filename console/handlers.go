package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"sonolink/admin"
	"sonolink/contact"
	"sonolink/i18n"
)

const (
	cookiePlain  = "sonolink_staff"
	cookieSecure = "__Host-sonolink_staff"
)

// searchForm is the studies search, kept in the session.
type searchForm struct {
	Text, From, To string
}

// view is what every page template gets.
type view struct {
	L      *i18n.Locale
	Zone   *time.Location // the clinic's clock
	Region string         // the clinic's country (clinic.region)
	Logo   bool           // the clinic has a logo (/logo)
	Title  string
	Clinic string
	User   string
	Admin  bool
	CSRF   string
	Nav    string
	Flash  string
	Error  string
	// ErrorDetail is admin's own message beside a translated Error: it
	// names the exact values, in English.
	ErrorDetail string
	Data        any
}

func (v *view) T(key string, args ...any) string { return v.L.T(key, args...) }

// N translates a counted phrase for templates (plural forms by n).
func (v *view) N(key string, n int, args ...any) string { return v.L.N(key, n, args...) }

// When writes t on the clinic's clock, its date in the language's long
// form: "1 December 2026 14:03". The zero time is "".
func (v *view) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(v.Zone)
	return v.L.Date(t) + " " + t.Format("15:04")
}

// Day writes a t's date on the clinic's clock in the long form.
func (v *view) Day(t time.Time) string { return v.L.Date(t.In(v.Zone)) }

// DayOf writes a study date given as YYYY-MM-DD in the long form (as it
// is when it is not such a date).
func (v *view) DayOf(date string) string {
	t, err := time.Parse("2006-01-02", date)
	if err != nil {
		return date
	}
	return v.L.Date(t)
}

// newView is a page's view with the clinic's name, language, clock and logo.
func (s *Server) newView(ctx context.Context) *view {
	c := s.clinic(ctx)
	return &view{L: c.L, Clinic: c.Name, Zone: c.Zone, Region: c.Region, Logo: len(c.Logo) > 0}
}

// req is one request with its session.
type req struct {
	w    http.ResponseWriter
	r    *http.Request
	sess *session
	v    *view
	ctx  context.Context
}

func (q *req) actor() string { return "staff:" + q.sess.name }

func (s *Server) routes() {
	m := http.NewServeMux()
	static := http.StripPrefix("/static/", http.FileServerFS(s.static))
	m.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /logo", s.logo)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.loginPost)
	m.HandleFunc("POST /logout", s.with(false, s.logout))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/studies", http.StatusSeeOther) })
	m.HandleFunc("GET /studies", s.with(false, s.studies))
	m.HandleFunc("POST /studies", s.with(false, s.search))
	m.HandleFunc("GET /study/{id}", s.with(false, s.study))
	m.HandleFunc("GET /study/{id}/thumb/{n}", s.with(false, s.thumb))
	m.HandleFunc("GET /study/{id}/send", s.with(false, s.sendForm))
	m.HandleFunc("POST /study/{id}/send", s.with(false, s.sendPost))
	m.HandleFunc("POST /link/{id}/resend", s.with(false, s.resend))
	m.HandleFunc("POST /link/{id}/revoke", s.with(false, s.revoke))
	m.HandleFunc("POST /study/{id}/version", s.with(false, s.useVersion))
	m.HandleFunc("GET /attention", s.with(false, s.attention))
	m.HandleFunc("GET /settings", s.with(true, s.settings))
	m.HandleFunc("POST /settings", s.with(true, s.setSetting))
	s.mux = m
}

// with wraps a page that needs a session (and, when adminOnly, the admin
// role). A POST must also carry the session's CSRF token and come from the
// console's own origin.
func (s *Server) with(adminOnly bool, h func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.auth.session(s.cookie(r))
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
			} else {
				s.fail(w, r, nil, http.StatusForbidden, "staff.error.session")
			}
			return
		}
		v := s.newView(r.Context())
		v.User, v.Admin, v.CSRF = sess.name, sess.role == RoleAdmin, sess.csrf
		q := &req{w: w, r: r, sess: sess, ctx: r.Context(), v: v}
		if adminOnly && sess.role != RoleAdmin {
			s.log.Warn("staff console: admin page refused", "actor", q.actor(), "path", r.URL.Path)
			s.fail(w, r, q.v, http.StatusForbidden, "staff.error.admin")
			return
		}
		if r.Method == http.MethodPost {
			if !s.sameOrigin(r) || !sameToken(r.PostFormValue("csrf"), sess.csrf) {
				s.log.Warn("staff console: request without a valid CSRF token or origin refused", "actor", q.actor(), "path", r.URL.Path)
				s.fail(w, r, q.v, http.StatusForbidden, "staff.error.csrf")
				return
			}
		}
		h(q)
	}
}

func (s *Server) cookie(r *http.Request) string {
	for _, n := range []string{cookieSecure, cookiePlain} {
		if c, err := r.Cookie(n); err == nil {
			return c.Value
		}
	}
	return ""
}

// sameOrigin checks Origin (or, without it, Referer) against the host the
// request was sent to.
func (s *Server) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		o = r.Header.Get("Referer")
	}
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	host := r.Host
	if s.trusted(remoteAddr(r)) {
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
			host = fh
		}
	}
	return strings.EqualFold(u.Host, host)
}

func (s *Server) render(w http.ResponseWriter, status int, page string, v *view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, "layout", v); err != nil {
		s.log.Error("staff console: page failed", "page", page, "error", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *view, status int, key string, args ...any) {
	if v == nil {
		v = s.newView(r.Context())
	}
	v.Title = v.L.T("staff.error.title")
	v.Error = v.L.T(key, args...)
	s.render(w, status, "error", v)
}

// opErr shows an admin operation's failure: its message says what to do.
func (s *Server) opErr(q *req, err error) {
	status := http.StatusInternalServerError
	switch admin.KindOf(err) {
	case admin.KindNotFound:
		status = http.StatusNotFound
	case admin.KindInvalid, admin.KindExpired, admin.KindRevoked:
		status = http.StatusConflict
	}
	q.v.Title = q.v.L.T("staff.error.title")
	q.v.Error, q.v.ErrorDetail = q.v.L.T(opErrKeys[admin.KindOf(err)]), err.Error()
	if errors.Is(err, context.Canceled) {
		return
	}
	s.render(q.w, status, "error", q.v)
}

// opErrKeys say, in the clinic's language, what kind of failure an admin
// operation met; anything else reads as internal.
var opErrKeys = map[string]string{
	admin.KindNotFound:      "staff.error.kind.notfound",
	admin.KindExpired:       "staff.error.kind.expired",
	admin.KindRevoked:       "staff.error.kind.revoked",
	admin.KindInvalid:       "staff.error.kind.invalid",
	admin.KindNotConfigured: "staff.error.kind.notconfigured",
	admin.KindInternal:      "staff.error.internal",
	"":                      "staff.error.internal",
}

// logo serves the clinic's logo (branding.logo), as the patient pages
// show it; it is no secret, so the login page has it too.
func (s *Server) logo(w http.ResponseWriter, r *http.Request) {
	c := s.clinic(r.Context())
	if len(c.Logo) == 0 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", c.LogoType)
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Write(c.Logo)
}

// Login.

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.auth.session(s.cookie(r)); ok {
		http.Redirect(w, r, "/studies", http.StatusSeeOther)
		return
	}
	v := s.newView(r.Context())
	v.Title = v.L.T("staff.login.title")
	s.render(w, http.StatusOK, "login", v)
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	v := s.newView(r.Context())
	loc := v.L
	v.Title = loc.T("staff.login.title")
	if !s.sameOrigin(r) {
		s.fail(w, r, v, http.StatusForbidden, "staff.error.csrf")
		return
	}
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("name")))
	client := s.client(r)
	id, sess, err := s.auth.login(r.Context(), name, r.PostFormValue("password"), client)
	var wait *WaitError
	var locked *LockedError
	switch {
	case errors.As(err, &wait):
		// Not recorded in the audit log: refused without looking at the
		// password, and an outsider could fill the log with them.
		s.log.Warn("staff console: login throttled", "actor", "staff:"+name, "client", client)
		v.Error = loc.T("staff.login.wait", "seconds", int(time.Until(wait.Until).Seconds())+1)
		v.Data = name
		s.render(w, http.StatusTooManyRequests, "login", v)
		return
	case errors.Is(err, errLogin):
		s.log.Warn("staff console: login failed", "actor", "staff:"+name, "client", client)
		if errors.As(err, &locked) {
			s.record(r.Context(), admin.StaffLoginLocked, typedActor(name), client,
				fmt.Sprintf("%d wrong passwords in a row; the next try from that address waits until %s", locked.Failures, locked.Until.UTC().Format(time.RFC3339)))
		} else {
			s.record(r.Context(), admin.StaffLoginFailed, typedActor(name), client, "wrong name or password")
		}
		v.Error = loc.T("staff.login.wrong")
		v.Data = name
		s.render(w, http.StatusUnauthorized, "login", v)
		return
	case err != nil:
		s.log.Error("staff console: login failed", "error", err)
		s.fail(w, r, v, http.StatusInternalServerError, "staff.error.internal")
		return
	}
	s.record(r.Context(), admin.StaffLogin, "staff:"+sess.name, client, "role "+sess.role)
	s.log.Info("staff console: logged in", "actor", "staff:"+sess.name, "role", sess.role, "client", client)
	secure := s.secure(r)
	n := cookiePlain
	if secure {
		n = cookieSecure
	}
	http.SetCookie(w, &http.Cookie{Name: n, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(AbsoluteTimeout.Seconds())})
	http.Redirect(w, r, "/studies", http.StatusSeeOther)
}

// record writes a login, logout or account event to the audit log. A
// failure is logged: the login itself does not depend on it.
func (s *Server) record(ctx context.Context, event, actor, client, detail string) {
	if _, err := s.ops.RecordStaff(ctx, admin.StaffEvent{Event: event, Actor: actor, Client: client, Detail: detail}); err != nil {
		s.log.Error("staff console: could not write the audit log", "event", event, "actor", actor, "error", err)
	}
}

// typedActor names who tried to log in by the name typed, when it could be
// an account name at all; anything else (a password typed into the name
// field, say) stays out of the audit log.
func typedActor(name string) string {
	if nameRe.MatchString(name) {
		return "staff:" + name
	}
	return "staff:(not an account name)"
}

func (s *Server) logout(q *req) {
	s.auth.logout(s.cookie(q.r))
	for _, n := range []string{cookieSecure, cookiePlain} {
		http.SetCookie(q.w, &http.Cookie{Name: n, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: n == cookieSecure, SameSite: http.SameSiteStrictMode})
	}
	s.log.Info("staff console: logged out", "actor", q.actor())
	s.record(q.ctx, admin.StaffLogout, q.actor(), s.client(q.r), "")
	http.Redirect(q.w, q.r, "/login", http.StatusSeeOther)
}

// Studies.

type studyRow struct {
	admin.StudySummary
	Patient   string
	Attention string // why it needs attention, "" when nothing
	Action    string // what resolves it
	ActionURL string
}

type studiesData struct {
	Search searchForm
	Rows   []studyRow
	// Paging: studies From to To of this page (1-based), and the pages
	// before and after it (0: none).
	From, To   int
	Prev, Next int
}

// pageSize is how many studies one page of the list shows.
const pageSize = 100

func (s *Server) search(q *req) {
	s.auth.remember(s.cookie(q.r), searchForm{Text: strings.TrimSpace(q.r.PostFormValue("q")),
		From: strings.TrimSpace(q.r.PostFormValue("from")), To: strings.TrimSpace(q.r.PostFormValue("to"))})
	http.Redirect(q.w, q.r, "/studies", http.StatusSeeOther)
}

// studies lists the studies found by the session's search, newest arrival
// first, pageSize to a page (?page=N: a number, no patient data).
func (s *Server) studies(q *req) {
	f := q.sess.search
	page, err := strconv.Atoi(q.r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	// One more than a page: whether there is a next page.
	sq := admin.StudyQuery{Text: f.Text, Sort: admin.SortReceived, Limit: pageSize + 1, Offset: (page - 1) * pageSize}
	if sq.From, err = parseDay(f.From); err != nil {
		s.opErr(q, err)
		return
	}
	if sq.To, err = parseDay(f.To); err != nil {
		s.opErr(q, err)
		return
	}
	list, err := s.ops.ListStudies(q.ctx, sq)
	if err != nil {
		s.opErr(q, err)
		return
	}
	d := &studiesData{Search: f}
	if len(list) > pageSize {
		list, d.Next = list[:pageSize], page+1
	}
	if page > 1 {
		d.Prev = page - 1
	}
	if len(list) > 0 {
		d.From, d.To = sq.Offset+1, sq.Offset+len(list)
	}
	for _, st := range list {
		d.Rows = append(d.Rows, studyRow{StudySummary: st, Patient: patientName(st.PatientName), Attention: attention(q.v.L, st)})
	}
	q.v.Title, q.v.Nav, q.v.Data = q.v.L.T("staff.studies.title"), "studies", d
	s.render(q.w, http.StatusOK, "studies", q.v)
}

func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, time.Local)
	if err != nil {
		return t, &admin.Error{Kind: admin.KindInvalid, Message: fmt.Sprintf("%q is not a date like 2026-11-20", s)}
	}
	return t, nil
}

// attention says why a study needs a technician, "" when it does not
// (an object's versions to choose from are shown on the study's page).
func attention(l *i18n.Locale, st admin.StudySummary) string {
	switch {
	case !st.RenewalAsked.IsZero():
		return l.T("staff.attention.renewal")
	case st.NoContact:
		return l.T("staff.attention.nocontact")
	case st.DeliveryFailed:
		return l.T("staff.attention.failed")
	}
	return ""
}

// patientName writes a DICOM person name as people read it.
func patientName(pn string) string {
	fam, rest, _ := strings.Cut(pn, "^")
	given := strings.Join(strings.Fields(strings.ReplaceAll(rest, "^", " ")), " ")
	if given == "" {
		return fam
	}
	return fam + ", " + given
}

// A study.

type objectView struct {
	admin.Object
	Label    string // as the patient sees it; "" when the patient page does not show it
	Thumb    string
	Selected bool
}

type linkView struct {
	admin.Link
	RevokedBy string
	ResendWhy string // why Resend is disabled; "" when it is not
	Images    string
	JustSent  bool
}

type studyData struct {
	D        *admin.StudyDetail
	Patient  string
	Objects  []objectView
	Links    []linkView
	Sent     *linkView
	Residual int
	Renewal  bool
	NoPick   string // "Send selected" was pressed with nothing ticked
}

func (s *Server) study(q *req) {
	id := q.r.PathValue("id")
	d, err := s.ops.StudyDetail(q.ctx, id)
	if err != nil {
		s.opErr(q, err)
		return
	}
	sd := &studyData{D: d, Patient: patientName(d.PatientName), Objects: objectViews(q.v.L, d, nil)}
	for _, o := range d.Objects {
		if o.Deid == "residual" {
			sd.Residual++
		}
	}
	revokedBy := map[string]string{}
	// Only a revoked link needs the audit log (who revoked it).
	if slices.ContainsFunc(d.Shares, func(l admin.Link) bool { return l.Status == "revoked" }) {
		if ev, err := s.ops.Audit(q.ctx, admin.AuditQuery{Study: d.ShortID}); err == nil {
			for _, e := range ev {
				if e.Event == "link.revoked" {
					revokedBy[e.Link] = e.Actor
				}
			}
		}
	}
	sent := q.r.URL.Query().Get("sent")
	for i := len(d.Shares) - 1; i >= 0; i-- { // newest first
		l := d.Shares[i]
		lv := linkView{Link: l, RevokedBy: revokedBy[l.ID]}
		switch l.Status {
		case "expired":
			lv.ResendWhy = q.v.L.T("staff.link.expiredwhy", "date", q.v.Day(l.Expires))
		case "revoked":
			lv.ResendWhy = q.v.L.T("staff.link.revokedwhy")
		}
		if !l.WholeStudy {
			lv.Images = imageLabels(sd.Objects, l.Images)
		}
		if !l.RenewalAsked.IsZero() {
			sd.Renewal = true
		}
		if l.ID == sent {
			lv.JustSent = true
			cp := lv
			sd.Sent = &cp
		}
		sd.Links = append(sd.Links, lv)
	}
	q.v.Title, q.v.Nav, q.v.Data = sd.Patient, "studies", sd
	switch q.r.URL.Query().Get("done") {
	case "resent":
		q.v.Flash = q.v.L.T("staff.flash.resent", "link", q.r.URL.Query().Get("link"))
	case "revoked":
		q.v.Flash = q.v.L.T("staff.flash.revoked", "link", q.r.URL.Query().Get("link"))
	case "version":
		q.v.Flash = q.v.L.T("staff.flash.version")
	case "nopick":
		sd.NoPick = q.v.L.T("staff.study.nopick", "all", q.v.L.T("staff.study.sendall"))
	}
	s.render(q.w, http.StatusOK, "study", q.v)
}

// objectViews labels the objects as the patient page does, with the
// numbering admin gives them (share.LabelItems, the one home of it), in the
// console's language.
func objectViews(l *i18n.Locale, d *admin.StudyDetail, sel []int) []objectView {
	out := make([]objectView, 0, len(d.Objects))
	for _, o := range d.Objects {
		v := objectView{Object: o, Selected: slices.Contains(sel, o.N)}
		if o.Group != "" && o.Number > 0 {
			v.Label = l.T("kind."+o.Group, "n", o.Number)
			if o.Group != "report" && o.Deid != "pending" {
				v.Thumb = fmt.Sprintf("/study/%s/thumb/%d", url.PathEscape(d.ShortID), o.N)
			}
		}
		out = append(out, v)
	}
	return out
}

func imageLabels(objs []objectView, nums []int) string {
	var out []string
	for _, o := range objs {
		if slices.Contains(nums, o.N) {
			if o.Label != "" {
				out = append(out, o.Label)
			} else {
				out = append(out, "#"+strconv.Itoa(o.N))
			}
		}
	}
	return strings.Join(out, ", ")
}

func (s *Server) thumb(q *req) {
	n, err := strconv.Atoi(q.r.PathValue("n"))
	if err != nil {
		http.NotFound(q.w, q.r)
		return
	}
	path, err := s.ops.Thumbnail(q.ctx, q.r.PathValue("id"), n)
	if err != nil {
		http.NotFound(q.w, q.r)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		http.NotFound(q.w, q.r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(q.w, q.r)
		return
	}
	q.w.Header().Set("Content-Type", "image/jpeg")
	q.w.Header().Set("Cache-Control", "private, max-age=300")
	http.ServeContent(q.w, q.r, "thumb.jpg", st.ModTime(), f)
}

// Send to patient.

type sendData struct {
	D        *admin.StudyDetail
	Patient  string
	Objects  []objectView // the selection (all of them for the whole study)
	Images   string       // "1,3" or "" for the whole study
	To       string
	Notes    []string
	Existing []admin.Link // active links to one of the contacts typed
}

func (s *Server) sendForm(q *req) {
	d, err := s.ops.StudyDetail(q.ctx, q.r.PathValue("id"))
	if err != nil {
		s.opErr(q, err)
		return
	}
	var to []string
	for _, c := range d.Contacts {
		if c.Valid {
			to = append(to, c.Value)
		}
	}
	sel := selection(q.r.URL.Query()["img"])
	if len(sel) == 0 && q.r.URL.Query().Get("sel") != "" {
		// "Send selected" with nothing ticked: back to the thumbnails
		// rather than quietly offering the whole study.
		http.Redirect(q.w, q.r, "/study/"+url.PathEscape(d.ShortID)+"?done=nopick#objects", http.StatusSeeOther)
		return
	}
	s.renderSend(q, d, sel, strings.Join(to, ", "), false)
}

func selection(vals []string) []int {
	var out []int
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil && n > 0 && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// renderSend shows the send form with the notes for what is typed;
// offerResend lists the active links already sent to those contacts.
func (s *Server) renderSend(q *req, d *admin.StudyDetail, sel []int, to string, offerResend bool) {
	region := s.clinic(q.ctx).Region
	sd := &sendData{D: d, Patient: patientName(d.PatientName), To: to}
	var nums []string
	for _, o := range objectViews(q.v.L, d, sel) {
		if len(sel) == 0 || o.Selected {
			sd.Objects = append(sd.Objects, o)
		}
		if o.Selected {
			nums = append(nums, strconv.Itoa(o.N))
		}
	}
	sd.Images = strings.Join(nums, ",")
	residual := 0
	for _, o := range sd.Objects {
		if o.Deid == "residual" {
			residual++
		}
	}
	parsed := contact.Parse(to, region)
	if len(parsed.Phones) > 0 && len(parsed.Emails) == 0 {
		sd.Notes = append(sd.Notes, q.v.L.T("staff.send.smsonly"))
	}
	if residual > 0 {
		sd.Notes = append(sd.Notes, q.v.L.N("staff.send.residual", residual))
	}
	if strings.TrimSpace(to) == "" {
		sd.Notes = append(sd.Notes, q.v.L.T("staff.send.nocontact"))
	}
	for _, l := range d.Shares {
		if l.Status != "active" {
			continue
		}
		if slices.ContainsFunc(l.Contacts, func(c admin.Delivery) bool {
			return slices.Contains(parsed.Emails, c.To) || slices.Contains(parsed.Phones, c.To)
		}) {
			sd.Existing = append(sd.Existing, l)
		}
	}
	if !offerResend && len(sd.Existing) > 0 {
		sd.Notes = append(sd.Notes, q.v.L.T("staff.send.existing"))
	}
	q.v.Title, q.v.Nav, q.v.Data = q.v.L.T("staff.send.title"), "studies", sd
	status := http.StatusOK
	if offerResend {
		status = http.StatusConflict
	}
	s.render(q.w, status, "send", q.v)
}

func (s *Server) sendPost(q *req) {
	id := q.r.PathValue("id")
	to := strings.TrimSpace(q.r.PostFormValue("to"))
	images := strings.TrimSpace(q.r.PostFormValue("images"))
	d, err := s.ops.StudyDetail(q.ctx, id)
	if err != nil {
		s.opErr(q, err)
		return
	}
	if q.r.PostFormValue("force") == "" {
		region := s.clinic(q.ctx).Region
		parsed := contact.Parse(to, region)
		for _, l := range d.Shares {
			if l.Status == "active" && slices.ContainsFunc(l.Contacts, func(c admin.Delivery) bool {
				return slices.Contains(parsed.Emails, c.To) || slices.Contains(parsed.Phones, c.To)
			}) {
				q.v.Error = q.v.L.T("staff.send.existing")
				s.renderSend(q, d, selection([]string{images}), to, true)
				return
			}
		}
	}
	// The form carries the picked thumbnails' places in the study (1,3),
	// not labels a technician typed: they select by place.
	var objects []int
	for _, f := range strings.Split(images, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			objects = append(objects, n)
		}
	}
	res, err := s.ops.Send(q.ctx, admin.SendRequest{Study: d.ShortID, To: to, Objects: objects, Actor: q.actor()})
	if err != nil {
		if admin.KindOf(err) == admin.KindInvalid {
			q.v.Error = q.v.contactError(to)
			if q.v.Error == "" {
				q.v.Error = err.Error()
			}
			s.renderSend(q, d, selection([]string{images}), to, false)
			return
		}
		s.opErr(q, err)
		return
	}
	s.log.Info("staff console: link sent", "actor", q.actor(), "link", res.ID, "queued", res.Queued)
	http.Redirect(q.w, q.r, "/study/"+url.PathEscape(d.ShortID)+"?sent="+url.QueryEscape(res.ID)+"#sent", http.StatusSeeOther)
}

func (s *Server) resend(q *req) {
	res, err := s.ops.Resend(q.ctx, admin.LinkRequest{Link: q.r.PathValue("id"), Actor: q.actor()})
	if err != nil {
		s.opErr(q, err)
		return
	}
	s.log.Info("staff console: link resent", "actor", q.actor(), "link", res.ID, "queued", res.Queued)
	http.Redirect(q.w, q.r, "/study/"+url.PathEscape(res.StudyID)+"?done=resent&link="+url.QueryEscape(res.ID)+"#shares", http.StatusSeeOther)
}

func (s *Server) revoke(q *req) {
	reason := strings.TrimSpace(q.r.PostFormValue("reason"))
	if reason == "" {
		s.fail(q.w, q.r, q.v, http.StatusBadRequest, "staff.link.reasonneeded")
		return
	}
	l, err := s.ops.Revoke(q.ctx, admin.LinkRequest{Link: q.r.PathValue("id"), Reason: reason, Actor: q.actor()})
	if err != nil {
		s.opErr(q, err)
		return
	}
	s.log.Info("staff console: link revoked", "actor", q.actor(), "link", l.ID)
	http.Redirect(q.w, q.r, "/study/"+url.PathEscape(l.StudyID)+"?done=revoked&link="+url.QueryEscape(l.ID)+"#shares", http.StatusSeeOther)
}

// useVersion chooses which of the objects received under one SOP
// Instance UID is in use (as sonolink study --use-version).
func (s *Server) useVersion(q *req) {
	obj, err1 := strconv.Atoi(q.r.PostFormValue("object"))
	ver, err2 := strconv.Atoi(q.r.PostFormValue("version"))
	if err1 != nil || err2 != nil {
		s.fail(q.w, q.r, q.v, http.StatusBadRequest, "staff.error.version")
		return
	}
	id := q.r.PathValue("id")
	if _, err := s.ops.UseVersion(q.ctx, admin.VersionRequest{Study: id, Object: obj, Version: ver, Actor: q.actor()}); err != nil {
		s.opErr(q, err)
		return
	}
	s.log.Info("staff console: object version chosen", "actor", q.actor(), "object", obj, "version", ver)
	http.Redirect(q.w, q.r, "/study/"+url.PathEscape(id)+"?done=version#objects", http.StatusSeeOther)
}

// Needs attention.

// attention lists every study that needs a technician, however old, from
// the admin service's attention indexes (admin.Attention: the work grows
// with what is listed, not with the archive), each with the action that
// resolves it.
func (s *Server) attention(q *req) {
	list, err := s.ops.Attention(q.ctx)
	if err != nil {
		s.opErr(q, err)
		return
	}
	d := &studiesData{}
	for _, st := range list {
		id := url.PathEscape(st.ShortID)
		row := studyRow{StudySummary: st, Patient: patientName(st.PatientName), Attention: attention(q.v.L, st),
			Action: q.v.L.T("staff.attention.action"), ActionURL: "/study/" + id + "/send"}
		switch {
		case row.Attention == "" && st.ChooseVersion:
			row.Attention, row.Action, row.ActionURL = q.v.L.T("staff.attention.conflict"), q.v.L.T("staff.attention.conflictaction"), "/study/"+id+"#objects"
		case row.Attention == "":
			continue
		case st.DeliveryFailed && !st.NoContact && st.RenewalAsked.IsZero():
			// The panel says why; Resend or a new link to a corrected contact.
			row.Action, row.ActionURL = q.v.L.T("staff.attention.failedaction"), "/study/"+id+"#shares"
		}
		d.Rows = append(d.Rows, row)
	}
	q.v.Title, q.v.Nav, q.v.Data = q.v.L.T("staff.attention.title"), "attention", d
	s.render(q.w, http.StatusOK, "attention", q.v)
}

// Settings (admin role).

type settingsData struct {
	Groups []settingGroup
	// Changed is the setting just saved; Saved and Note say so in the
	// clinic's language.
	Changed     *settingRow
	Saved, Note string
	// CodeNote says, before a patient link code is saved, how many active
	// links will ask for it.
	CodeNote string
}

// codeNote counts, without changing anything, the active links that would
// ask for a patient link code once one is saved.
func (s *Server) codeNote(q *req) string {
	r, err := s.ops.LinkCodeReach(q.ctx)
	if err != nil {
		s.log.Warn("staff console: could not count the active links", "error", err)
		return ""
	}
	if r.CodeSet {
		return q.v.L.T("staff.settings.linkcodechange", "n", r.AskNow, "active", r.Active)
	}
	return q.v.L.T("staff.settings.linkcodedry", "n", r.WouldAsk, "active", r.Active)
}

func (s *Server) settings(q *req) {
	st, err := s.ops.Settings(q.ctx)
	if err != nil {
		s.opErr(q, err)
		return
	}
	q.v.Title, q.v.Nav, q.v.Data = q.v.L.T("staff.settings.title"), "settings", &settingsData{Groups: q.v.settingGroupsOf(st), CodeNote: s.codeNote(q)}
	s.render(q.w, http.StatusOK, "settings", q.v)
}

func (s *Server) setSetting(q *req) {
	key, value := q.r.PostFormValue("key"), q.r.PostFormValue("value")
	res, err := s.ops.SetSetting(q.ctx, admin.SettingRequest{Key: key, Value: value, Actor: q.actor()})
	// Read the settings again: a change of clinic name or language shows at once.
	s.forgetClinic()
	nv := s.newView(q.ctx)
	q.v.Clinic, q.v.L, q.v.Zone, q.v.Region, q.v.Logo = nv.Clinic, nv.L, nv.Zone, nv.Region, nv.Logo
	st, lerr := s.ops.Settings(q.ctx)
	if lerr != nil {
		s.opErr(q, lerr)
		return
	}
	d := &settingsData{Groups: q.v.settingGroupsOf(st), CodeNote: s.codeNote(q)}
	status := http.StatusOK
	if err != nil {
		// What was refused, in the clinic's language; admin's exact reason
		// beside it, in English.
		status = http.StatusConflict
		q.v.Error, q.v.ErrorDetail = q.v.L.T(opErrKeys[admin.KindOf(err)]), err.Error()
		if admin.KindOf(err) == admin.KindInvalid {
			label := key
			if i := slices.IndexFunc(st, func(x admin.Setting) bool { return x.Key == strings.TrimSpace(key) }); i >= 0 {
				label = q.v.settingRowOf(st[i]).Label
			}
			q.v.Error = q.v.L.T("staff.settings.invalid", "label", label)
		}
	}
	if res != nil {
		s.log.Info("staff console: setting changed", "actor", q.actor(), "key", res.Key)
		row := q.v.settingRowOf(*res)
		d.Changed, d.Note = &row, q.v.reachNote(res.Reach)
		d.Saved = q.v.L.T("staff.settings.saved", "label", row.Label)
		if strings.TrimSpace(value) == "" {
			d.Saved = q.v.L.T("staff.settings.cleared", "label", row.Label)
		}
	}
	q.v.Title, q.v.Nav, q.v.Data = q.v.L.T("staff.settings.title"), "settings", d
	s.render(q.w, status, "settings", q.v)
}
