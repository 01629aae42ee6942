package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"sonolink/contact"
	"sonolink/i18n"
	"sonolink/settings"
	"sonolink/share"
)

// shareSide is the half of the real backend that the share service answers.
type shareSide struct {
	sh *share.Service
}

// discontinued reports whether auto-share held the study back because its
// exam was discontinued on the scanner (MPPS).
func (b shareSide) discontinued(studyUID string) bool {
	d, ok := b.sh.AutoShareDecided(studyUID)
	return ok && d.Outcome == share.OutcomeDiscontinued
}

// locale is the clinic's language, the one patients' pages default to.
func (b shareSide) locale() (*i18n.Locale, error) {
	st, err := b.sh.Settings()
	return i18n.Lookup(st.Language), err
}

func (b shareSide) region() (string, error) {
	st, err := b.sh.Settings()
	return st.Region, err
}

// studiesByContact returns the UIDs of studies with a link sent to text
// (normalised like contacts).
func (b shareSide) studiesByContact(ctx context.Context, text string) ([]string, error) {
	region, err := b.region()
	if err != nil {
		return nil, err
	}
	r := contact.Parse(text, region)
	if r.Empty() {
		return nil, nil
	}
	return b.sh.StudiesWithContact(r.Emails, r.Phones)
}

// parseContacts parses "email, phone" with the DICOM contact rules.
func (b shareSide) parseContacts(ctx context.Context, raw string) ([]string, []string, []ContactNote, error) {
	region, err := b.region()
	if err != nil {
		return nil, nil, nil, err
	}
	r := contact.Parse(raw, region)
	var bad []ContactNote
	for _, iv := range r.Invalid {
		bad = append(bad, ContactNote{Kind: guessKind(iv.Value), Value: iv.Value, Reason: iv.Reason, Code: iv.Code})
	}
	return r.Emails, r.Phones, bad, nil
}

// contactNotes turns a parse result into the study view's contact list.
func contactNotes(r contact.Result) []ContactNote {
	var out []ContactNote
	for _, e := range r.Emails {
		out = append(out, ContactNote{Kind: "email", Value: e, Valid: true})
	}
	for _, p := range r.Phones {
		out = append(out, ContactNote{Kind: "phone", Value: p, Valid: true})
	}
	for _, iv := range r.Invalid {
		out = append(out, ContactNote{Kind: guessKind(iv.Value), Value: iv.Value, Reason: iv.Reason, Code: iv.Code})
	}
	return out
}

func guessKind(v string) string {
	if strings.Contains(v, "@") {
		return "email"
	}
	digits := 0
	for _, c := range v {
		if unicode.IsDigit(c) {
			digits++
		}
	}
	if digits >= 3 {
		return "phone"
	}
	return ""
}

func (b shareSide) shares(ctx context.Context, studyUID string) ([]Link, error) {
	views, err := b.sh.Shares(studyUID)
	if err != nil {
		return nil, err
	}
	out := make([]Link, 0, len(views))
	for _, v := range views {
		out = append(out, linkFromView(v))
	}
	return out, nil
}

func (b shareSide) link(ctx context.Context, id string) (Link, error) {
	l, err := b.sh.Link(id)
	if err != nil {
		return Link{}, mapShareErr(err)
	}
	// Shares has the status and deliveries; find the link among them.
	views, err := b.sh.Shares(l.StudyUID)
	if err != nil {
		return Link{}, err
	}
	for _, v := range views {
		if v.ID == l.ID {
			return linkFromView(v), nil
		}
	}
	return Link{}, fmt.Errorf("link %s is missing from its study's shares", l.ID)
}

func linkFromView(v share.LinkView) Link {
	l := Link{
		ID: v.ID, StudyUID: v.StudyUID, StudyID: v.StudyKey, Created: v.Created, LastSent: v.LastSent,
		Expires: v.Expires, Status: v.Status, RevokedReason: v.RevokedReason, Origin: v.Origin,
		RevokedAt: v.RevokedAt, RevokedBy: v.RevokedBy,
		WholeStudy: v.WholeStudy(), Instances: append([]string{}, v.Instances...), Views: v.Views,
		Contacts: []Delivery{}, RenewalAsked: v.RenewalAsked, Current: v.Current,
	}
	// One row per contact, in the link's own order (e-mails, then phones):
	// deliveries come back in message-ID order, which is not meaningful.
	latest := map[string]share.DeliveryStatus{}
	for _, d := range v.Deliveries {
		latest[d.Channel+"\x00"+d.To] = d
	}
	add := func(channel, to string) {
		d, ok := latest[channel+"\x00"+to]
		if !ok {
			l.Contacts = append(l.Contacts, Delivery{Channel: channel, To: to, Status: "queued"})
			return
		}
		at := d.SentAt
		if d.State != "sent" { // outbox too: SentAt is when it was written
			at = time.Time{}
		}
		st := d.State
		if st == "sent" && d.Via == share.ProviderFile {
			st = StatusOutbox
		}
		dl := Delivery{Channel: d.Channel, To: d.To, Status: st, Reason: d.Reason, At: at, Via: d.Via}
		if st == "cancelled" {
			dl.ReasonCode = cancelReasons[d.Reason]
		}
		l.Contacts = append(l.Contacts, dl)
	}
	for _, e := range v.Emails {
		add(share.ChannelEmail, e)
	}
	for _, p := range v.Phones {
		add(share.ChannelSMS, p)
	}
	return l
}

// Delivery.ReasonCode of a cancelled message.
const (
	DeliveryResent  = "resent"  // the link was sent again before this message went
	DeliveryRevoked = "revoked" // the link was revoked before this message went
)

// cancelReasons are the share service's reasons for cancelling a queued
// message, by their code.
var cancelReasons = map[string]string{
	"replaced by a resend": DeliveryResent,
	"link revoked":         DeliveryRevoked,
}

// renewalStudies returns the UIDs of the studies whose patients asked for
// a new link, oldest request first.
func (b shareSide) renewalStudies(ctx context.Context) ([]string, error) {
	reqs, err := b.sh.RenewalRequests("")
	var out []string
	for _, r := range reqs {
		if !slices.Contains(out, r.StudyUID) {
			out = append(out, r.StudyUID)
		}
	}
	return out, err
}

func (b shareSide) create(ctx context.Context, st studyRec, instances []string, emails, phones []string, actor, lang, typedLang string) (Link, error) {
	l, _, err := b.sh.Create(ctx, share.CreateRequest{StudyUID: st.UID, StudyKey: st.ShortID, Instances: instances,
		Emails: emails, Phones: phones, Origin: share.OriginTechnician, Actor: actor, Lang: lang, TypedLang: typedLang})
	if err != nil {
		if errors.Is(err, share.ErrUnknownLanguage) {
			return Link{}, causef(KindInvalid, err, "%s (--lang); nothing was sent", strings.TrimPrefix(err.Error(), "share: "))
		}
		if errors.Is(err, share.ErrNoContact) {
			return Link{}, errorf(KindInvalid, "no valid e-mail address or phone number; e.g. --to \"name@example.com, +46701234567\"")
		}
		if strings.HasPrefix(err.Error(), "share: \"") { // contact validation
			return Link{}, causef(KindInvalid, err, "%s; nothing was sent", strings.TrimPrefix(err.Error(), "share: "))
		}
		return Link{}, err
	}
	return b.link(ctx, l.ID)
}

func (b shareSide) resend(ctx context.Context, id, actor string) (Link, error) {
	l, err := b.sh.Resend(ctx, id, actor)
	if err != nil {
		return Link{}, mapShareErr(err)
	}
	return b.link(ctx, l.ID)
}

func (b shareSide) revoke(ctx context.Context, id, reason, actor string) (Link, error) {
	l, err := b.sh.Revoke(ctx, id, reason, actor)
	if err != nil {
		return Link{}, mapShareErr(err)
	}
	return b.link(ctx, l.ID)
}

func mapShareErr(err error) error {
	switch {
	case errors.Is(err, share.ErrExpired):
		return errorf(KindExpired, "%w", err)
	case errors.Is(err, share.ErrRevoked):
		return errorf(KindRevoked, "%w", err)
	case errors.Is(err, share.ErrNotFound):
		return errorf(KindNotFound, "%w; see the link ids with 'sonolink study STUDY'", err)
	case errors.Is(err, share.ErrUnknownSetting), errors.Is(err, share.ErrInvalidSetting):
		return causef(KindInvalid, err, "%s", strings.TrimPrefix(err.Error(), "share: "))
	}
	return err
}

func (b shareSide) settings(ctx context.Context) ([]Setting, error) {
	st, err := b.sh.Settings()
	if err != nil {
		return nil, err
	}
	reg := share.Registry()
	var out []Setting
	for _, k := range reg.Keys() {
		out = append(out, settingOf(k, reg.Format(st, k.Key)))
	}
	return out, nil
}

// setSetting takes a key as a person may type it (link-code, code,
// stable-time; see settings.Registry.Resolve); an empty value clears it.
func (b shareSide) setSetting(ctx context.Context, key, value, actor string) (Setting, error) {
	reg := share.Registry()
	k, err := reg.Resolve(key)
	if err != nil {
		return Setting{}, errorf(KindInvalid, "%s", err)
	}
	if err := b.sh.UpdateSettingAs(k, value, actor); err != nil {
		return Setting{}, mapShareErr(err)
	}
	st, err := b.sh.Settings()
	if err != nil {
		return Setting{}, err
	}
	d, _ := reg.Lookup(k)
	out := settingOf(d, reg.Format(st, k))
	if k == settings.KeyLinkCode || k == settings.KeyLinkCodeScope {
		r, err := b.sh.LinkCodeReach()
		if err != nil {
			return Setting{}, err
		}
		out.Reach = codeReach(st, r)
		out.Note = out.Reach.note()
	}
	return out, nil
}

// settingOf is a registry key with its value, as admin gives it.
func settingOf(d settings.Setting, value string) Setting {
	return Setting{Key: d.Key, Value: value, Default: d.Default, Description: d.Description,
		Family: d.Family, Message: d.Message, Fields: d.Fields}
}

// note says, in English for the CLI, how many active links ask for the
// link code now, and how many patients would be asked for a code they
// were never given. The console says the same from the numbers.
func (r *CodeReach) note() string {
	switch {
	case !r.CodeSet:
		return fmt.Sprintf("no link asks for a code; all %d active links open without one", r.Active)
	case r.ScopeAll:
		return fmt.Sprintf("it affects all %d active links: each asks for the code; %d of them were sent before a code was set, so tell those patients the code (or: sonolink settings set link.code_scope new)", r.Active, r.Active-r.WithCode)
	}
	return fmt.Sprintf("it affects %d of the %d active links (those issued while a code was set; they also accept the code they were issued with), and every link issued from now on; %d keep opening without one (sonolink settings set link.code_scope all would make all %d ask)", r.AskNow, r.Active, r.Active-r.AskNow, r.Active)
}

func (b shareSide) audit(ctx context.Context, q AuditQuery, studyUID string) ([]AuditEvent, error) {
	ev, err := b.sh.Audit(share.AuditFilter{StudyUID: studyUID, LinkID: q.Link, Since: q.Since, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]AuditEvent, 0, len(ev))
	for _, e := range ev {
		detail := e.Detail
		var extra []string
		if e.Channel != "" {
			extra = append(extra, e.Channel)
		}
		if e.To != "" {
			extra = append(extra, "to "+e.To)
		}
		if e.RemoteAddr != "" {
			extra = append(extra, "from "+e.RemoteAddr)
		}
		if e.UserAgent != "" {
			extra = append(extra, "("+e.UserAgent+")")
		}
		if len(extra) > 0 {
			if detail != "" {
				detail += "; "
			}
			detail += strings.Join(extra, " ")
		}
		out = append(out, AuditEvent{Time: e.Time, Event: e.Type, StudyUID: e.StudyUID, Link: e.LinkID, Actor: e.Actor, Detail: detail})
	}
	return out, nil
}
