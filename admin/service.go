package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"sonolink/contact"
	"sonolink/internal/logid"
)

// studyRec is a study as the index knows it.
type studyRec struct {
	UID, ShortID, Accession string
	PatientName, PatientID  string
	Description             string
	Date, Time              string    // YYYY-MM-DD, HH:MM
	Received                time.Time // last object's arrival
	Instances               int
}

var errNotFound = errors.New("not found")

// Service implements Ops over an open store and share service.
type Service struct {
	be  *realBackend // the store and share service (backend.go)
	log *slog.Logger
	// local is set when the service runs inside the CLI's process: it then
	// delivers queued messages itself, once, instead of a worker.
	local bool
	// offline, for a local service, is what it may deliver (offline.go).
	offline *offlinePlan

	closeOnce sync.Once
	closeErr  error

	// reprocess, when set, has the running pipeline make an instance's
	// de-identified copy and renders again (SetReprocess).
	reprocess func(sopUID string)
}

var _ Ops = (*Service)(nil)

// ListStudies searches studies (newest study date first, or latest arrival
// first), one page at a time. A query that looks like a contact also finds
// the studies whose links were sent to it.
func (s *Service) ListStudies(ctx context.Context, q StudyQuery) ([]StudySummary, error) {
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return nil, errorf(KindInvalid, "--to %s is before --from %s", q.To.Format("2006-01-02"), q.From.Format("2006-01-02"))
	}
	if q.Sort != "" && q.Sort != SortDate && q.Sort != SortReceived {
		return nil, errorf(KindInvalid, "sort %q: use %q or %q", q.Sort, SortDate, SortReceived)
	}
	if q.Offset < 0 || q.Limit < 0 {
		return nil, errorf(KindInvalid, "limit and offset must be 0 or more")
	}
	var byContact []string
	if q.Text != "" && looksLikeContact(q.Text) {
		var err error
		if byContact, err = s.be.studiesByContact(ctx, q.Text); err != nil {
			return nil, s.internal("search contacts", err)
		}
	}
	recs, err := s.be.studies(ctx, q, byContact)
	if err != nil {
		return nil, s.internal("search studies", err)
	}
	if q.Text == "" && q.From.IsZero() && q.To.IsZero() {
		// The attention list: a study whose patient asked for a new link
		// is listed however old it is.
		if recs, err = s.withRenewals(ctx, recs); err != nil {
			return nil, err
		}
	}
	out := make([]StudySummary, 0, len(recs))
	for _, r := range recs {
		sum, err := s.summary(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// StudyDetail returns a study, its numbered objects and its shares panel.
func (s *Service) StudyDetail(ctx context.Context, key string) (*StudyDetail, error) {
	r, err := s.resolve(ctx, key)
	if err != nil {
		return nil, err
	}
	sum, err := s.summary(ctx, r)
	if err != nil {
		return nil, err
	}
	objs, err := s.be.instances(ctx, r.UID)
	if err != nil {
		return nil, s.internal("list objects", err)
	}
	d := &StudyDetail{StudySummary: sum, Objects: objs, Shares: []Link{}}
	if d.Objects == nil {
		d.Objects = []Object{}
	}
	if d.Contacts, err = s.be.dicomContacts(ctx, r.UID); err != nil {
		return nil, s.internal("read contacts", err)
	}
	links, err := s.be.shares(ctx, r.UID)
	if err != nil {
		return nil, s.internal("list shares", err)
	}
	for _, l := range links {
		d.Shares = append(d.Shares, s.decorate(l, r, objs))
	}
	d.Notes = notes(d)
	return d, nil
}

// Send issues a new link for a study or selected objects and delivers it.
func (s *Service) Send(ctx context.Context, req SendRequest) (*SendResult, error) {
	r, err := s.resolve(ctx, req.Study)
	if err != nil {
		return nil, err
	}
	emails, phones, invalid, err := s.be.parseContacts(ctx, req.To)
	if err != nil {
		return nil, s.internal("parse contacts", err)
	}
	if len(invalid) > 0 {
		var why []string
		for _, iv := range invalid {
			why = append(why, fmt.Sprintf("%q: %s", iv.Value, iv.Reason))
		}
		return nil, errorf(KindInvalid, "not a valid contact: %s; nothing was sent. Give e-mail addresses and phone numbers (with + and country code, or national numbers of the clinic's default country), e.g. --to \"name@example.com, +46701234567\"", strings.Join(why, "; "))
	}
	if len(emails) == 0 && len(phones) == 0 {
		return nil, errorf(KindInvalid, "--to holds no e-mail address or phone number; e.g. --to \"name@example.com, +46701234567\"")
	}
	objs, err := s.be.instances(ctx, r.UID)
	if err != nil {
		return nil, s.internal("list objects", err)
	}
	if len(objs) == 0 {
		return nil, errorf(KindInvalid, "study %s has no stored objects yet; wait until it has arrived", displayKey(r))
	}
	var sel []string // nil: the whole study
	if len(req.Objects) > 0 {
		if strings.TrimSpace(req.Images) != "" {
			return nil, errorf(KindInvalid, "select objects by label (images) or by place (objects), not both")
		}
		for _, n := range req.Objects {
			if n < 1 || n > len(objs) {
				return nil, errorf(KindInvalid, "study %s has no object #%d", displayKey(r), n)
			}
		}
		for _, o := range objs { // in the study's order
			if slices.Contains(req.Objects, o.N) {
				sel = append(sel, o.SOPInstance)
			}
		}
	} else if strings.TrimSpace(req.Images) != "" {
		idx, err := SelectObjects(req.Images, objs)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			sel = append(sel, objs[i].SOPInstance)
		}
	}
	hold, err := s.mayDeliver(channelsOf(len(emails) > 0, len(phones) > 0)...)
	if err != nil {
		return nil, err
	}
	l, err := s.be.create(ctx, r, sel, emails, phones, actorOr(req.Actor), req.Lang, contact.Parse(req.To, "").Lang)
	if err != nil {
		return nil, s.mapErr("create the link", err)
	}
	return s.afterSend(ctx, l, r, objs, hold)
}

// Resend delivers an existing link again; its lifetime starts again.
func (s *Service) Resend(ctx context.Context, req LinkRequest) (*SendResult, error) {
	id := normLinkID(req.Link)
	if id == "" {
		return nil, errorf(KindInvalid, "give the link id printed by 'sonolink send' or shown by 'sonolink study'")
	}
	cur, err := s.be.link(ctx, id)
	if errors.Is(err, errNotFound) || KindOf(err) == KindNotFound {
		if cur, err = s.onlyActiveLink(ctx, req.Link); err != nil {
			return nil, err
		}
		id = cur.ID
	} else if err != nil {
		return nil, s.mapErr("resend", err)
	}
	var hasEmail, hasSMS bool
	for _, c := range cur.Contacts {
		hasEmail = hasEmail || c.Channel == "email"
		hasSMS = hasSMS || c.Channel == "sms"
	}
	hold := false
	if cur.Status == "active" { // an expired or revoked link gets its own message from resend
		if hold, err = s.mayDeliver(channelsOf(hasEmail, hasSMS)...); err != nil {
			return nil, err
		}
	}
	l, err := s.be.resend(ctx, id, actorOr(req.Actor))
	if err != nil {
		return nil, s.mapErr("resend", err)
	}
	r, err := s.be.study(ctx, l.StudyUID)
	if err != nil {
		r = studyRec{UID: l.StudyUID}
	}
	objs, err := s.be.instances(ctx, l.StudyUID)
	if err != nil {
		return nil, s.internal("list objects", err)
	}
	return s.afterSend(ctx, l, r, objs, hold)
}

// Revoke stops a link at once.
func (s *Service) Revoke(ctx context.Context, req LinkRequest) (*Link, error) {
	id := normLinkID(req.Link)
	if id == "" {
		return nil, errorf(KindInvalid, "give the link id printed by 'sonolink send' or shown by 'sonolink study'")
	}
	before, err := s.be.link(ctx, id)
	if err != nil {
		return nil, s.mapErr("revoke", err)
	}
	if before.Status == "revoked" {
		r, _ := s.be.study(ctx, before.StudyUID)
		objs, _ := s.be.instances(ctx, before.StudyUID)
		l := s.decorate(before, r, objs)
		l.AlreadyRevoked = true
		return &l, nil
	}
	l, err := s.be.revoke(ctx, id, strings.TrimSpace(req.Reason), actorOr(req.Actor))
	if err != nil {
		return nil, s.mapErr("revoke", err)
	}
	r, _ := s.be.study(ctx, l.StudyUID)
	objs, _ := s.be.instances(ctx, l.StudyUID)
	l = s.decorate(l, r, objs)
	return &l, nil
}

// Settings lists the clinic settings.
func (s *Service) Settings(ctx context.Context) ([]Setting, error) {
	st, err := s.be.settings(ctx)
	if err != nil {
		return nil, s.internal("read settings", err)
	}
	return st, nil
}

// SetSetting changes one setting; an empty value clears it.
func (s *Service) SetSetting(ctx context.Context, req SettingRequest) (*Setting, error) {
	key := strings.TrimSpace(req.Key)
	st, err := s.be.setSetting(ctx, key, req.Value, actorOr(req.Actor))
	if err != nil {
		return nil, s.mapErr("change setting", err)
	}
	return &st, nil
}

// Audit returns audit events, oldest first.
func (s *Service) Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	var uid string
	if q.Study != "" {
		r, err := s.resolve(ctx, q.Study)
		if err != nil {
			return nil, err
		}
		uid = r.UID
	}
	q.Link = normLinkID(q.Link)
	ev, err := s.be.audit(ctx, q, uid)
	if err != nil {
		return nil, s.internal("read the audit log", err)
	}
	if ev == nil {
		ev = []AuditEvent{}
	}
	return ev, nil
}

// DeliverPending hands queued messages to their providers once. A running
// server's worker does this on its own; the CLI calls it (through Close)
// when it opened the data directory itself.
func (s *Service) DeliverPending(ctx context.Context) error { return s.be.deliverPending(ctx) }

// Close releases the store and share service when the Service opened them
// (Open); for a local service it first delivers queued messages once.
func (s *Service) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.be.close() })
	return s.closeErr
}

// afterSend delivers at once when local, or waits briefly for the server's
// worker, so the answer can say "sent" rather than "queued".
func (s *Service) afterSend(ctx context.Context, l Link, r studyRec, objs []Object, hold bool) (*SendResult, error) {
	if s.local && !hold {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.be.deliverPending(dctx); err != nil {
			s.log.Warn("delivery not completed; messages stay queued", logid.Study(r.UID), "error_type", fmt.Sprintf("%T", err))
		}
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cur, err := s.be.link(ctx, l.ID)
		if err == nil {
			l = cur
		}
		if s.local || !anyQueued(l) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	l = s.decorate(l, r, objs)
	return &SendResult{Link: l, Queued: anyQueued(l) || anyFailed(l), QueuedForServer: hold}, nil
}

// mayDeliver checks, for a service in the CLI's process, that messages on
// these channels may be sent (offline.go); hold: they stay queued for
// sonolink serve to deliver.
func (s *Service) mayDeliver(channels ...string) (hold bool, err error) {
	if s.offline == nil {
		return false, nil
	}
	return s.offline.check(channels...)
}

func channelsOf(email, sms bool) []string {
	var out []string
	if email {
		out = append(out, "email")
	}
	if sms {
		out = append(out, "sms")
	}
	return out
}

// onlyActiveLink resolves key as a study and returns its one active link;
// with none or several it says what to do instead.
func (s *Service) onlyActiveLink(ctx context.Context, key string) (Link, error) {
	r, err := s.be.study(ctx, strings.TrimSpace(key))
	if errors.Is(err, errNotFound) {
		return Link{}, errorf(KindNotFound, "no link or study %q; see the link ids with 'sonolink study STUDY'", strings.TrimSpace(key))
	}
	if err != nil {
		return Link{}, s.internal("find study", err)
	}
	links, err := s.be.shares(ctx, r.UID)
	if err != nil {
		return Link{}, s.internal("list shares", err)
	}
	var active []Link
	for _, l := range links {
		if l.Status == "active" {
			active = append(active, l)
		}
	}
	switch len(active) {
	case 1:
		return active[0], nil
	case 0:
		return Link{}, errorf(KindNotFound, "study %s has no active link to resend; issue a new one: %s", displayKey(r), SendCommand(displayKey(r), lastContacts(links)))
	}
	var lines []string
	for _, l := range active {
		var to []string
		for _, c := range l.Contacts {
			to = append(to, c.To)
		}
		lines = append(lines, fmt.Sprintf("sonolink resend %s (to %s, sent %s)", l.ID, strings.Join(to, ", "), fmtStamp(l.LastSent, l.Created)))
	}
	return Link{}, errorf(KindInvalid, "study %s has %d active links; say which to resend: %s", displayKey(r), len(active), strings.Join(lines, "; "))
}

// lastContacts are the contacts of the most recent of links, for a ready
// command; nil when there is none.
func lastContacts(links []Link) []string {
	var best *Link
	for i := range links {
		if best == nil || lastSentOrCreated(links[i]).After(lastSentOrCreated(*best)) {
			best = &links[i]
		}
	}
	if best == nil {
		return nil
	}
	var out []string
	for _, c := range best.Contacts {
		out = append(out, c.To)
	}
	return out
}

// SendCommand is the ready command that sends study a new link: with the
// given contacts, or an example when there are none.
func SendCommand(study string, contacts []string) string {
	to := "name@example.com, +46701234567"
	if len(contacts) > 0 {
		to = strings.Join(contacts, ", ")
	}
	return fmt.Sprintf("sonolink send %s --to %q", study, to)
}

func anyQueued(l Link) bool {
	return slices.ContainsFunc(l.Contacts, func(d Delivery) bool {
		return d.Status == "" || d.Status == "queued" || d.Status == "retrying" || d.Status == "sending"
	})
}

func anyFailed(l Link) bool {
	return slices.ContainsFunc(l.Contacts, func(d Delivery) bool { return d.Status == "failed" })
}

// decorate adds what the share service does not know: the study's short id
// and the object numbers the link carries.
func (s *Service) decorate(l Link, r studyRec, objs []Object) Link {
	if r.ShortID != "" {
		l.StudyID = r.ShortID
	}
	if l.Instances == nil {
		l.Instances = []string{}
	}
	if l.Contacts == nil {
		l.Contacts = []Delivery{}
	}
	if !l.WholeStudy {
		idx := map[string]int{}
		for i, o := range objs {
			idx[o.SOPInstance] = i
		}
		var at []int
		for _, uid := range l.Instances {
			if i, ok := idx[uid]; ok {
				at = append(at, i)
			}
		}
		sort.Ints(at)
		l.Images, l.Labels = nil, nil
		for _, i := range at {
			l.Images = append(l.Images, objs[i].N)
			if objs[i].Label != "" {
				l.Labels = append(l.Labels, objs[i].Label)
			}
		}
	}
	return l
}

// withRenewals adds to recs, first, the studies with an open request for
// a new link that recs lacks.
func (s *Service) withRenewals(ctx context.Context, recs []studyRec) ([]studyRec, error) {
	uids, err := s.be.renewalStudies(ctx)
	if err != nil {
		return nil, s.internal("list requests for new links", err)
	}
	var add []studyRec
	for _, uid := range uids {
		if slices.ContainsFunc(recs, func(r studyRec) bool { return r.UID == uid }) {
			continue
		}
		if r, err := s.be.study(ctx, uid); err == nil {
			add = append(add, r)
		}
	}
	return append(add, recs...), nil
}

func (s *Service) summary(ctx context.Context, r studyRec) (StudySummary, error) {
	sum := StudySummary{
		ShortID: r.ShortID, StudyUID: r.UID, Accession: r.Accession,
		Date: r.Date, Time: r.Time, PatientName: r.PatientName, PatientID: r.PatientID,
		Description: r.Description, Images: r.Instances, ReceivedAt: r.Received,
	}
	links, err := s.be.shares(ctx, r.UID)
	if err != nil {
		return sum, s.internal("list shares", err)
	}
	var contacts []ContactNote
	if len(links) == 0 {
		if contacts, err = s.be.dicomContacts(ctx, r.UID); err != nil {
			return sum, s.internal("read contacts", err)
		}
	}
	sum.Share = shareState(links, contacts)
	sum.ShareStatus = sum.Share.String()
	if err := s.be.attention(r.UID, &sum); err != nil {
		return sum, s.internal("read the attention indexes", err)
	}
	if len(links) == 0 && s.be.discontinued(r.UID) {
		sum.Attention, sum.AttentionCode = attentionDiscontinued, AttentionDiscontinued
	}
	for _, l := range links {
		if !l.RenewalAsked.IsZero() && (sum.RenewalAsked.IsZero() || l.RenewalAsked.Before(sum.RenewalAsked)) {
			sum.RenewalAsked = l.RenewalAsked
		}
	}
	return sum, nil
}

// shareStatus summarises a study's shares in a few words.
func shareStatus(links []Link, contacts []ContactNote) string {
	return shareState(links, contacts).String()
}

// shareState is what shareStatus says, in parts.
func shareState(links []Link, contacts []ContactNote) ShareState {
	if len(links) == 0 {
		var valid bool
		var bad []Unusable
		for _, c := range contacts {
			if c.Valid {
				valid = true
				continue
			}
			u := Unusable{Kind: c.Kind}
			if c.Kind == "" {
				u = Unusable{Reason: c.Reason, Code: c.Code}
			}
			if !slices.ContainsFunc(bad, func(b Unusable) bool { return b.String() == u.String() }) {
				bad = append(bad, u)
			}
		}
		if !valid && len(bad) > 0 {
			return ShareState{Kind: ShareNoContact, Unusable: bad}
		}
		return ShareState{Kind: ShareNotShared}
	}
	// The study's current link, as share decides it (the first, newest,
	// when none is marked).
	l := links[0]
	for _, c := range links {
		if c.Current {
			l = c
			break
		}
	}
	at := l.LastSent
	if at.IsZero() {
		at = l.Created
	}
	switch l.Status {
	case "revoked":
		return ShareState{Kind: ShareRevoked, At: at}
	case "expired":
		return ShareState{Kind: ShareExpired, At: l.Expires}
	}
	st := ShareState{Kind: ShareSent, At: at, More: max(countActive(links)-1, 0)}
	switch {
	case anyFailed(l) && !anySent(l):
		st.Kind = ShareFailed
	case anyQueued(l) && !anySent(l):
		st.Kind = ShareQueued
	case !anySent(l):
		st.Kind = ShareOutbox
	case anyFailed(l):
		// Sent to some contacts: the failure stays visible.
		st.Kind = ShareSentSomeFailed
	}
	return st
}

// String is the state in English, as the CLI shows it (ShareStatus).
func (s ShareState) String() string {
	more := ""
	if s.More > 0 {
		more = fmt.Sprintf(" (+%d links)", s.More)
	}
	switch s.Kind {
	case ShareNoContact:
		var bad []string
		for _, u := range s.Unusable {
			bad = append(bad, u.String())
		}
		return "no contact: " + strings.Join(bad, ", ")
	case ShareRevoked:
		return "revoked " + fmtStamp(s.At)
	case ShareExpired:
		return "expired " + s.At.Local().Format("2006-01-02")
	case ShareFailed:
		return "delivery failed" + more
	case ShareQueued:
		return "queued" + more
	case ShareOutbox:
		return "local outbox only, not sent " + fmtStamp(s.At) + more
	case ShareSentSomeFailed:
		return "sent " + fmtStamp(s.At) + ", delivery failed to some contacts" + more
	case ShareSent:
		return "sent " + fmtStamp(s.At) + more
	}
	return "not shared"
}

// String is how the English share status names an unusable contact.
func (u Unusable) String() string {
	switch {
	case u.Kind == "email":
		return "invalid e-mail"
	case u.Kind == "phone":
		return "invalid phone"
	case u.Kind == "" && u.Reason != "":
		return u.Reason
	}
	return "invalid contact"
}

// StatusOutbox is a Delivery's status when the message was only written to
// the local outbox directory (no provider configured): not sent.
const StatusOutbox = "outbox"

func anySent(l Link) bool {
	return slices.ContainsFunc(l.Contacts, func(d Delivery) bool { return d.Status == "sent" })
}

func countActive(links []Link) int {
	n := 0
	for _, l := range links {
		if l.Status == "active" {
			n++
		}
	}
	return n
}

func lastSentOrCreated(l Link) time.Time {
	if l.LastSent.After(l.Created) {
		return l.LastSent
	}
	return l.Created
}

func fmtStamp(ts ...time.Time) string {
	for _, t := range ts {
		if !t.IsZero() {
			return t.Local().Format("2006-01-02 15:04")
		}
	}
	return ""
}

// notes are hints for the technician in the study view.
// attentionDiscontinued is StudySummary.Attention for a study held back
// because its exam was discontinued on the scanner.
const attentionDiscontinued = "exam discontinued on the scanner (MPPS), not shared automatically"

func notes(d *StudyDetail) []string {
	var out []string
	if d.Attention == attentionDiscontinued {
		out = append(out, fmt.Sprintf("the scanner reported this exam as discontinued (MPPS), so no link was sent automatically; if the patient should have it, send it with: sonolink send %s --to CONTACT", d.ShortID))
	}
	for _, l := range d.Shares {
		if !l.RenewalAsked.IsZero() {
			var to []string
			for _, c := range l.Contacts {
				to = append(to, c.To)
			}
			out = append(out, fmt.Sprintf("the patient asked for a new link on %s (link %s expired); send one to the same contacts with: %s", fmtStamp(l.RenewalAsked), l.ID, SendCommand(d.ShortID, to)))
		}
	}
	for _, l := range d.Shares {
		var local []string
		for _, c := range l.Contacts {
			if c.Status == StatusOutbox {
				local = append(local, c.To)
			}
		}
		if len(local) > 0 && l.Status == "active" {
			out = append(out, fmt.Sprintf("link %s was only written to the local outbox for %s, not sent: no e-mail or SMS provider was configured. Configure one for sonolink serve, then: sonolink resend %s", l.ID, strings.Join(local, ", "), l.ID))
		}
	}
	for _, l := range d.Shares {
		if l.Status != "active" {
			continue
		}
		hasEmail := slices.ContainsFunc(l.Contacts, func(c Delivery) bool { return c.Channel == "email" })
		hasSMS := slices.ContainsFunc(l.Contacts, func(c Delivery) bool { return c.Channel == "sms" })
		if hasSMS && !hasEmail {
			out = append(out, fmt.Sprintf("link %s went by SMS only; an e-mail address makes delivery more reliable", l.ID))
		}
	}
	residual := 0
	for _, o := range d.Objects {
		if o.Deid == "residual" {
			residual++
		}
	}
	if residual > 0 {
		out = append(out, fmt.Sprintf("%d object(s) may still show patient details; patients must set a password before viewing a link that carries them", residual))
	}
	return out
}

func (s *Service) resolve(ctx context.Context, key string) (studyRec, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return studyRec{}, errorf(KindInvalid, "give a study: its short id (from 'sonolink studies'), Study Instance UID or accession number")
	}
	r, err := s.be.study(ctx, key)
	if errors.Is(err, errNotFound) {
		return r, errorf(KindNotFound, "no study %q; find it with 'sonolink studies NAME' and use the id in the second column", key)
	}
	if err != nil {
		return r, s.internal("find study", err)
	}
	return r, nil
}

// mapErr passes *Error through and hides anything else behind a generic
// message (logged without its text, which may hold patient data).
func (s *Service) mapErr(what string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, errNotFound) {
		return errorf(KindNotFound, "%s: not found", what)
	}
	return s.internal(what, err)
}

func (s *Service) internal(what string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errorf(KindInternal, "%s: %w", what, err)
	}
	s.log.Error("admin operation failed", "op", what, "error_type", fmt.Sprintf("%T", err))
	return errorf(KindInternal, "%s failed: %w", what, err)
}

// looksLikeContact reports whether a query may be an e-mail or a phone number.
func looksLikeContact(text string) bool {
	if strings.Contains(text, "@") {
		return true
	}
	digits := 0
	for _, c := range text {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case strings.ContainsRune("+ -().", c):
		default:
			return false
		}
	}
	return digits >= 6
}

func normLinkID(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func actorOr(a string) string {
	if strings.TrimSpace(a) == "" {
		return "admin"
	}
	return a
}

func displayKey(r studyRec) string {
	if r.ShortID != "" {
		return r.ShortID
	}
	return r.UID
}
