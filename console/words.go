package console

import (
	"slices"
	"strings"

	"sonolink/admin"
	"sonolink/contact"
)

// What admin says about a study, a contact, a delivery or an object comes
// as codes beside its English (for the CLI); the console says it in the
// clinic's language from the catalogue. Admin is the one home of what a
// status is; these say how it reads here.

// why is a reason as a page shows it: Text in the clinic's language and,
// when the code does not say everything (or there is no code), Detail,
// the technical rest in English (shown apart, marked as English).
type why struct {
	Text, Detail string
}

// Word writes a value admin gives as a word of its own (a link's status,
// a delivery's channel) in the clinic's language: the catalogue's text
// under prefix and the value; a value the catalogue does not know is
// shown as it is.
func (v *view) Word(prefix, value string) string {
	if k := prefix + strings.ToLower(value); v.L.Has(k) {
		return v.L.T(k)
	}
	return value
}

// Share writes a study's share status (admin.ShareState) in the clinic's
// language, its times on the clinic's clock.
func (v *view) Share(st admin.StudySummary) string {
	s := st.Share
	key := "staff.share." + s.Kind
	if !v.L.Has(key) {
		return st.ShareStatus // a kind this console does not know yet
	}
	var out string
	switch s.Kind {
	case admin.ShareNoContact:
		var bad []string
		for _, u := range s.Unusable {
			w := v.unusable(u)
			if !slices.Contains(bad, w) {
				bad = append(bad, w)
			}
		}
		out = v.L.T(key, "what", strings.Join(bad, ", "))
	case admin.ShareExpired:
		out = v.L.T(key, "date", v.Day(s.At))
	default:
		out = v.L.T(key, "when", v.When(s.At))
	}
	if s.More > 0 {
		out += " " + v.L.N("staff.share.more", s.More)
	}
	return out
}

func (v *view) unusable(u admin.Unusable) string {
	switch u.Kind {
	case "email":
		return v.L.T("staff.share.bademail")
	case "phone":
		return v.L.T("staff.share.badphone")
	}
	if w := v.ContactWhy(admin.ContactNote{Code: u.Code}); w.Text != "" {
		return w.Text
	}
	return v.L.T("staff.share.badcontact")
}

// ContactWhy says why a contact from the scanner cannot be used; for a
// reason without a known code only Detail, the reason in English, is set
// (the page says "not usable" anyway).
func (v *view) ContactWhy(c admin.ContactNote) why {
	key := "staff.contact.why." + c.Code
	if c.Code == "" || !v.L.Has(key) {
		return why{Detail: c.Reason}
	}
	var args []any
	switch c.Code {
	case contact.CodeFieldTooLong:
		args = []any{"max", contact.MaxFieldLength}
	case contact.CodeEmailTooLong:
		args = []any{"max", contact.MaxEmailLength}
	case contact.CodeEmailLocalTooLong:
		args = []any{"max", contact.MaxLocalLength}
	case contact.CodePhoneRegion:
		args = []any{"region", v.Region}
	}
	return why{Text: v.L.T(key, args...)}
}

// DeidWhy says why an object may still show patient details: a known
// reason in the clinic's language, with its technical rest apart; an
// unknown one as a general phrase and the reason as it was recorded.
func (v *view) DeidWhy(r admin.DeidReason) why {
	if key := "staff.deid.why." + r.Code; r.Code != "" && v.L.Has(key) {
		return why{Text: v.L.T(key), Detail: r.Detail}
	}
	return why{Text: v.L.T("staff.deid.why.unknown"), Detail: r.Detail}
}

// VersionFact writes one fact that differs between an object's versions
// (admin.VersionFact) in the clinic's language: its name, then its value
// with a person name as people read it, dates in the long form, sex and
// the de-identification verdict as words.
func (v *view) VersionFact(f admin.VersionFact) string {
	val := f.Value
	switch {
	case val == "":
		val = v.L.T("staff.version.empty")
	case f.Field == "patient_name":
		val = patientName(val)
	case f.Field == "birth_date" || f.Field == "study_date":
		val = v.DayOf(val)
	case f.Field == "sex":
		val = v.Word("staff.version.sex.", val)
	case f.Field == "deid":
		val = v.Word("staff.deid.", val)
	}
	return v.Word("staff.version.", f.Field) + ": " + val
}

// DeliveryWhy says why a message was cancelled, or what the provider
// answered (its own words, apart); nil when there is nothing to say.
func (v *view) DeliveryWhy(d admin.Delivery) *why {
	if key := "staff.delivery.why." + d.ReasonCode; d.ReasonCode != "" && v.L.Has(key) {
		return &why{Text: v.L.T(key)}
	}
	if d.Reason == "" {
		return nil
	}
	return &why{Text: v.L.T("staff.delivery.why.provider"), Detail: d.Reason}
}

// contactError says, when admin refused to send, what in the contacts
// typed cannot be used and why (contact.Parse, with the clinic's region,
// as admin reads them); "" when they are all usable and admin refused for
// another reason.
func (v *view) contactError(to string) string {
	p := contact.Parse(to, v.Region)
	if len(p.Invalid) == 0 {
		if p.Empty() {
			return v.L.T("staff.send.empty")
		}
		return ""
	}
	var what []string
	for _, iv := range p.Invalid {
		w := v.ContactWhy(admin.ContactNote{Code: iv.Code, Reason: iv.Reason})
		if w.Text == "" {
			w.Text = w.Detail // a reason without a known code, as contact gives it
		}
		what = append(what, iv.Value+" ("+w.Text+")")
	}
	return v.L.T("staff.send.invalid", "what", strings.Join(what, "; "))
}
