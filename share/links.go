package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/contact"
	"sonolink/i18n"
	"sonolink/internal/logid"
)

// Link origins.
const (
	OriginAuto       = "auto"       // issued when a study completed (auto-share)
	OriginTechnician = "technician" // issued by `sonolink send`
)

// Link statuses.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Link is a patient link as others may see it: no token, no hashes.
type Link struct {
	ID       string `json:"id"` // short, human-typeable, not secret: "L" + 6 Crockford base32
	StudyUID string `json:"study_uid"`
	StudyKey string `json:"study_key,omitempty"` // the study's short id, for display
	// Instances are the SOP Instance UIDs the link shows; empty means the
	// whole study, including objects that arrive after the link was issued.
	Instances     []string  `json:"instances,omitempty"`
	Emails        []string  `json:"emails,omitempty"`
	Phones        []string  `json:"phones,omitempty"` // E.164
	Origin        string    `json:"origin"`           // OriginAuto or OriginTechnician
	CreatedBy     string    `json:"created_by,omitempty"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires"`
	LastSent      time.Time `json:"last_sent"`  // last time messages were queued for it (create or resend)
	SendCount     int       `json:"send_count"` // 1 + number of resends
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokedReason string    `json:"revoked_reason,omitempty"`
	RevokedBy     string    `json:"revoked_by,omitempty"`
	Views         int       `json:"views"`
	LastView      time.Time `json:"last_view,omitzero"`
	PasswordSet   bool      `json:"password_set"`
	// IssuedWithCode: a clinic link code was in force when the link was
	// issued (see NeedsLinkCode).
	IssuedWithCode bool `json:"issued_with_code"`
	// Lang is the patient's language (a catalogue language such as "es")
	// when it was known at issue: messages about the link are in it, and
	// its page opens in it unless the phone asks for another. "": the
	// clinic's language (clinic.language) at the time of each message.
	Lang string `json:"lang,omitempty"`
}

// WholeStudy reports whether the link shows every object of its study.
func (l *Link) WholeStudy() bool { return len(l.Instances) == 0 }

// Shows reports whether the link shows the object with this SOP Instance UID.
func (l *Link) Shows(sopInstanceUID string) bool {
	return l.WholeStudy() || slices.Contains(l.Instances, sopInstanceUID)
}

// Status is StatusRevoked, StatusExpired or StatusActive at time now.
func (l *Link) Status(now time.Time) string {
	switch {
	case !l.RevokedAt.IsZero():
		return StatusRevoked
	case !now.Before(l.Expires):
		return StatusExpired
	}
	return StatusActive
}

// linkRecord is what share.db keeps for a link.
type linkRecord struct {
	Link
	TokenHash    []byte         `json:"token_hash"`
	SealedToken  []byte         `json:"sealed_token,omitempty"` // AES-GCM under share.key; deleted on revoke
	CodeHash     string         `json:"code_hash,omitempty"`    // clinic link code in force when issued
	PasswordHash string         `json:"password_hash,omitempty"`
	Throttle     *throttleState `json:"throttle,omitempty"` // sources that tried its secrets
	OTP          *otpState      `json:"otp,omitempty"`
	OTPSends     []time.Time    `json:"otp_sends,omitempty"` // code messages within SourceMemory
	Proof        *proofState    `json:"proof,omitempty"`
	// RenewOTP is the one-time code for a new link from the expired page
	// (RequestRenewalCode, SelfRenew); it opens nothing else.
	RenewOTP *otpState `json:"renew_otp,omitempty"`
	// RemindedFor is the expiry the last reminder announced: one reminder
	// per lifetime, and a resend (a new expiry) makes the next one due.
	RemindedFor time.Time `json:"reminded_for,omitzero"`
	// Renewals are the patient's requests for a new link within
	// SourceMemory (RequestRenewal).
	Renewals []time.Time `json:"renewals,omitempty"`
}

// CreateRequest asks for a new link.
type CreateRequest struct {
	StudyUID  string
	StudyKey  string   // optional short id for display
	Instances []string // SOP Instance UIDs; empty = whole study
	Emails    []string // validated again; use contact.Parse to read free text
	Phones    []string // E.164 or national in the clinic's region
	Origin    string   // OriginAuto or OriginTechnician (default)
	Actor     string   // who asked (audit log)
	// Lang is the patient's language as the technician chose it (send
	// --lang); one sonolink does not speak is an error
	// (ErrUnknownLanguage).
	Lang string
	// TypedLang is a language typed with the contacts on the scanner or
	// in --to (contact.Result.Lang); used when sonolink speaks it.
	TypedLang string
}

// patientLanguage is the language a new link's messages and page are in:
// the one the technician chose, else one typed with the contacts, else
// the language of the first phone number's country, when sonolink speaks
// it; "" leaves it to the clinic's language.
func patientLanguage(req CreateRequest, phones []string) (string, error) {
	if req.Lang != "" {
		l := strings.ToLower(strings.TrimSpace(req.Lang))
		if !slices.Contains(i18n.Languages(), l) {
			return "", fmt.Errorf("%w: %q; sonolink speaks %s", ErrUnknownLanguage, req.Lang, strings.Join(i18n.Languages(), ", "))
		}
		return l, nil
	}
	if l := strings.ToLower(req.TypedLang); slices.Contains(i18n.Languages(), l) {
		return l, nil
	}
	for _, p := range phones {
		if l := contact.LanguageOfPhone(p); l != "" {
			if slices.Contains(i18n.Languages(), l) {
				return l, nil
			}
			break // a country whose language sonolink does not speak: the clinic's
		}
	}
	return "", nil
}

// URL is the patient's URL for a token.
func (s *Service) URL(token string) string { return s.opts.BaseURL + "/p/" + token }

// Create issues a link and queues its message on every channel (one e-mail
// per address, one SMS per number; the same URL everywhere). It returns the
// link and its URL; the URL is not kept in clear anywhere.
//
// With Origin OriginAuto, if the study already has an active whole-study
// automatic link, Create sends nothing and returns that link with
// ErrAlreadyShared (objects arriving later join it).
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Link, string, error) {
	if strings.TrimSpace(req.StudyUID) == "" {
		return nil, "", errors.New("share: a study is needed to create a link")
	}
	if req.Origin == "" {
		req.Origin = OriginTechnician
	}
	if req.Origin != OriginAuto && req.Origin != OriginTechnician {
		return nil, "", fmt.Errorf("share: unknown link origin %q", req.Origin)
	}
	st, err := s.Settings()
	if err != nil {
		return nil, "", err
	}
	emails, phones, err := cleanContacts(req.Emails, req.Phones, st.Region)
	if err != nil {
		return nil, "", err
	}
	lang, err := patientLanguage(req, phones)
	if err != nil {
		return nil, "", err
	}
	token := newToken()
	now := s.now()
	rec := &linkRecord{Link: Link{
		StudyUID: req.StudyUID, StudyKey: req.StudyKey, Instances: dedup(req.Instances),
		Emails: emails, Phones: phones, Origin: req.Origin, CreatedBy: req.Actor,
		Created: now, LastSent: now, SendCount: 1, Lang: lang,
	}, TokenHash: tokenHash(token)}
	var existing *Link
	err = s.update(func(tx *bolt.Tx) error {
		st, err := readSettings(tx)
		if err != nil {
			return err
		}
		if req.Origin == OriginAuto && rec.WholeStudy() {
			for _, l := range s.studyLinks(tx, req.StudyUID) {
				if l.Origin == OriginAuto && l.WholeStudy() && l.Status(now) == StatusActive {
					existing = &l.Link
					return nil
				}
			}
		}
		links := tx.Bucket(bktLinks)
		for {
			rec.ID = newID("L", 6)
			if links.Get([]byte(rec.ID)) == nil {
				break
			}
		}
		rec.Expires = now.Add(st.LinkLifetime)
		rec.CodeHash = st.LinkCodeHash
		rec.SealedToken = s.keys.sealBytes([]byte(token), rec.ID)
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		if err := tx.Bucket(bktTokens).Put(rec.TokenHash, []byte(rec.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bktStudyLinks).Put(studyKey(rec.StudyUID, rec.ID), nil); err != nil {
			return err
		}
		detail := fmt.Sprintf("%d e-mail, %d SMS; expires %s", len(emails), len(phones), rec.Expires.Format("2006-01-02"))
		if !rec.WholeStudy() {
			detail += fmt.Sprintf("; %d selected objects", len(rec.Instances))
		}
		if err := s.closeRequests(tx, rec.StudyUID, "", "new link "+rec.ID, req.Actor); err != nil {
			return err
		}
		if err := linkSentForStudy(tx, rec.StudyUID); err != nil {
			return err
		}
		if err := s.audit(tx, AuditEvent{Type: EventLinkCreated, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: req.Actor, Detail: req.Origin + ": " + detail}); err != nil {
			return err
		}
		return s.enqueueLink(tx, rec, token, st)
	})
	if err != nil {
		return nil, "", fmt.Errorf("share: creating link: %w", err)
	}
	if existing != nil {
		return existing, "", ErrAlreadyShared
	}
	mLinksCreated.WithLabelValues(req.Origin).Inc()
	s.kick()
	s.log.Info("link created", logid.Study(rec.StudyUID), "link", rec.ID, "origin", req.Origin, "emails", len(emails), "phones", len(phones))
	l := rec.Link
	return &l, s.URL(token), nil
}

// NewLink issues a new link for the same study and objects as link id, to
// the given contacts (the old link's contacts when both are empty). The old
// link is unaffected.
func (s *Service) NewLink(ctx context.Context, id string, emails, phones []string, actor string) (*Link, string, error) {
	old, err := s.Link(id)
	if err != nil {
		return nil, "", err
	}
	if len(emails) == 0 && len(phones) == 0 {
		emails, phones = old.Emails, old.Phones
	}
	req := CreateRequest{StudyUID: old.StudyUID, StudyKey: old.StudyKey, Instances: old.Instances,
		Emails: emails, Phones: phones, Origin: OriginTechnician, Actor: actor}
	if slices.Equal(emails, old.Emails) && slices.Equal(phones, old.Phones) {
		req.TypedLang = old.Lang // the same patient: the same language
	}
	return s.Create(ctx, req)
}

// Resend sends link id again, with the same URL, to the same contacts, and
// starts its lifetime again from now. An expired link fails with
// *ExpiredError, a revoked one with *RevokedError; both say to issue a new
// link with `sonolink send`.
func (s *Service) Resend(ctx context.Context, id, actor string) (*Link, error) {
	var out Link
	err := s.updateLink(id, func(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
		switch rec.Status(now) {
		case StatusRevoked:
			return &RevokedError{LinkID: rec.ID, Revoked: rec.RevokedAt}
		case StatusExpired:
			return &ExpiredError{LinkID: rec.ID, Expired: rec.Expires}
		}
		if len(rec.SealedToken) == 0 {
			return fmt.Errorf("link %s cannot be resent: its URL is not kept; use `sonolink send` to issue a new link", rec.ID)
		}
		tok, err := s.keys.openBytes(rec.SealedToken, rec.ID)
		if err != nil {
			return fmt.Errorf("link %s cannot be resent: %w; use `sonolink send` to issue a new link", rec.ID, err)
		}
		st, err := readSettings(tx)
		if err != nil {
			return err
		}
		rec.Expires = now.Add(st.LinkLifetime)
		rec.LastSent = now
		rec.SendCount++
		if err := s.cancelPending(tx, rec.ID, "replaced by a resend"); err != nil {
			return err
		}
		if err := s.closeRequests(tx, "", rec.ID, "resent", actor); err != nil {
			return err
		}
		if err := linkSentForStudy(tx, rec.StudyUID); err != nil {
			return err
		}
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		if err := s.audit(tx, AuditEvent{Type: EventLinkResent, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: actor,
			Detail: "expires " + rec.Expires.Format("2006-01-02")}); err != nil {
			return err
		}
		out = rec.Link
		return s.enqueueLink(tx, rec, string(tok), st)
	})
	if err != nil {
		return nil, err
	}
	mLinksResent.Inc()
	s.kick()
	s.log.Info("link resent", logid.Study(out.StudyUID), "link", out.ID)
	return &out, nil
}

// Revoke stops link id at once and for ever: Resolve answers *RevokedError,
// messages still queued for it are cancelled, its sealed URL is deleted,
// and it can never be resent. Revoking a revoked link changes nothing.
func (s *Service) Revoke(ctx context.Context, id, reason, actor string) (*Link, error) {
	var out Link
	err := s.update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		if !rec.RevokedAt.IsZero() {
			out = rec.Link
			return nil
		}
		rec.RevokedAt, rec.RevokedReason, rec.RevokedBy = s.now(), reason, actor
		rec.SealedToken, rec.OTP, rec.Proof, rec.RenewOTP = nil, nil, nil, nil
		if err := s.cancelPending(tx, rec.ID, "link revoked"); err != nil {
			return err
		}
		if err := s.closeRequests(tx, "", rec.ID, "revoked", actor); err != nil {
			return err
		}
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		if err := linkRevoked(tx, rec, s.now()); err != nil {
			return err
		}
		out = rec.Link
		return s.audit(tx, AuditEvent{Type: EventLinkRevoked, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: actor, Detail: reason})
	})
	if err != nil {
		return nil, err
	}
	mLinksRevoked.Inc()
	s.log.Info("link revoked", logid.Study(out.StudyUID), "link", out.ID)
	return &out, nil
}

// Link returns link id (as printed by send/study; case-insensitive).
func (s *Service) Link(id string) (*Link, error) {
	var out Link
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err == nil {
			out = rec.Link
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Resolve finds the link of a token from a URL. An unknown token gives
// ErrNotFound; a revoked link *RevokedError and an expired one
// *ExpiredError (with the date), so the patient, who holds a real link,
// can be told what happened to it. The lookup is by the token's SHA-256, so the work does not depend
// on how much of a guessed token matches.
func (s *Service) Resolve(token string) (*Link, error) {
	h := tokenHash(token)
	key := string(h)
	writes := s.writes.Load()
	e, cached := s.resolved.get(key)
	if !cached || e.writes != writes {
		err := s.db.View(func(tx *bolt.Tx) error {
			id := tx.Bucket(bktTokens).Get(h)
			if id == nil {
				return ErrNotFound
			}
			raw := tx.Bucket(bktLinks).Get([]byte(NormalizeLinkID(string(id))))
			if !cached || !e.same(string(id), raw) {
				rec, err := s.getLink(tx, string(id))
				if err != nil {
					if errors.Is(err, ErrNotFound) {
						return err
					}
					return fmt.Errorf("%w: %w", ErrNotFound, err) // damaged: still "not found" to the patient
				}
				e = resolvedEntry{id: string(id), raw: bytes.Clone(raw), link: cloneLink(rec.Link)}
			}
			e.writes = writes
			s.resolved.put(key, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	l := cloneLink(e.link)
	switch l.Status(s.now()) {
	case StatusRevoked:
		return nil, &RevokedError{LinkID: l.ID, Revoked: l.RevokedAt}
	case StatusExpired:
		return nil, &ExpiredError{LinkID: l.ID, Expired: l.Expires}
	}
	return &l, nil
}

// StudyLinks returns every link of a study, newest first.
func (s *Service) StudyLinks(studyUID string) ([]Link, error) {
	var out []Link
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, r := range s.studyLinks(tx, studyUID) {
			out = append(out, r.Link)
		}
		return nil
	})
	return out, err
}

// ActiveLinkForStudy returns the study's active whole-study automatic link,
// if any: auto-share uses it so objects arriving later join that link and
// no second message is sent.
func (s *Service) ActiveLinkForStudy(studyUID string) (*Link, bool) {
	links, _ := s.StudyLinks(studyUID)
	now := s.now()
	for _, l := range links {
		if l.Origin == OriginAuto && l.WholeStudy() && l.Status(now) == StatusActive {
			return &l, true
		}
	}
	return nil, false
}

// LinkView is a link as the shares panel shows it.
type LinkView struct {
	Link
	Status     string           `json:"status"` // StatusActive, StatusExpired or StatusRevoked
	Deliveries []DeliveryStatus `json:"deliveries"`
	// NeedsEmailHint: the link has phone numbers only; tell the clinic that
	// an e-mail address makes delivery more reliable.
	NeedsEmailHint bool `json:"needs_email_hint"`
	// RenewalAsked: when the patient asked for a new link on this expired
	// link's page, while that request is open (RequestRenewal).
	RenewalAsked time.Time `json:"renewal_asked,omitzero"`
	// Current: this is the study's current link (better), the one its
	// share status and its attention entry speak of.
	Current bool `json:"current,omitempty"`
}

// DeliveryStatus is the latest message of a link to one contact.
type DeliveryStatus struct {
	MessageID   string    `json:"message_id"`
	Channel     string    `json:"channel"` // "email" or "sms"
	To          string    `json:"to"`
	State       string    `json:"state"`            // queued, retrying, sending, sent, failed, cancelled
	Reason      string    `json:"reason,omitempty"` // last error (retrying, failed) or why cancelled
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Queued      time.Time `json:"queued"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	// Via is the provider that took a sent message; ProviderFile means it
	// was only written to the local outbox directory, not sent.
	Via string `json:"via,omitempty"`
}

// Shares lists a study's links with their status and per-channel delivery,
// newest first.
func (s *Service) Shares(studyUID string) ([]LinkView, error) {
	var out []LinkView
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		recs := s.studyLinks(tx, studyUID)
		cur := -1
		for i, r := range recs {
			if cur < 0 || better(r, recs[cur], now) {
				cur = i
			}
		}
		for i, r := range recs {
			v := LinkView{Link: r.Link, Status: r.Status(now), Deliveries: s.deliveries(tx, r.ID, kindLink), Current: i == cur}
			v.NeedsEmailHint = len(r.Emails) == 0 && len(r.Phones) > 0
			if data := tx.Bucket(bktRequests).Get([]byte(r.ID)); data != nil {
				var req RenewalRequest
				if json.Unmarshal(data, &req) == nil {
					v.RenewalAsked = req.First
				}
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// Deliveries returns the latest delivery status of link id's message to
// each contact.
func (s *Service) Deliveries(id string) ([]DeliveryStatus, error) {
	var out []DeliveryStatus
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err == nil {
			out = s.deliveries(tx, rec.ID, kindLink)
		}
		return err
	})
	return out, err
}

// --- storage helpers ---

func studyKey(study, id string) []byte { return []byte(study + "\x00" + id) }

func (s *Service) studyLinks(tx *bolt.Tx, studyUID string) []*linkRecord {
	return studyLinkRecords(tx, studyUID)
}

// studyLinkRecords is studyLinks for code that runs without a Service (a
// migration).
func studyLinkRecords(tx *bolt.Tx, studyUID string) []*linkRecord {
	var out []*linkRecord
	prefix := []byte(studyUID + "\x00")
	c := tx.Bucket(bktStudyLinks).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if r, err := loadLink(tx, string(k[len(prefix):])); err == nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// NormalizeLinkID turns what a person typed into a link ID: upper case,
// Crockford look-alikes (o→0, i→1) fixed, the "L" prefix added if missing.
func NormalizeLinkID(id string) string {
	id = strings.ToUpper(strings.TrimSpace(id))
	if len(id) == 6 {
		id = "L" + id
	}
	if len(id) != 7 || id[0] != 'L' {
		return id
	}
	return "L" + strings.NewReplacer("O", "0", "I", "1", "L", "1").Replace(id[1:])
}

func sameLinkID(a, b string) bool { return NormalizeLinkID(a) == NormalizeLinkID(b) }

// updateLink runs fn on link id's record inside one write transaction, at
// the time now of the transaction; fn writes the record back itself if it
// changes it. An unknown id gives getLink's error.
func (s *Service) updateLink(id string, fn func(tx *bolt.Tx, rec *linkRecord, now time.Time) error) error {
	return s.update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		return fn(tx, rec, s.now())
	})
}

func (s *Service) getLink(tx *bolt.Tx, id string) (*linkRecord, error) { return loadLink(tx, id) }

// loadLink is getLink for code that runs without a Service (a migration).
func loadLink(tx *bolt.Tx, id string) (*linkRecord, error) {
	id = NormalizeLinkID(id)
	v := tx.Bucket(bktLinks).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: no link %s", ErrNotFound, id)
	}
	var r linkRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("share: link %s is damaged: %w", id, err)
	}
	r.PasswordSet = r.PasswordHash != ""
	r.IssuedWithCode = r.CodeHash != ""
	return &r, nil
}

func (s *Service) putLink(tx *bolt.Tx, r *linkRecord) error {
	r.PasswordSet = r.PasswordHash != ""
	r.IssuedWithCode = r.CodeHash != ""
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := indexLinkContacts(tx, r); err != nil {
		return err
	}
	return tx.Bucket(bktLinks).Put([]byte(r.ID), data)
}

// cleanContacts validates contacts again (they may come from a script) and
// normalises phone numbers to E.164.
func cleanContacts(emails, phones []string, region string) ([]string, []string, error) {
	var r contact.Result
	var bad []string
	for _, e := range emails {
		p := contact.Parse(e, region)
		if len(p.Emails) != 1 || len(p.Phones) != 0 || len(p.Invalid) != 0 {
			v, reason := e, "not a valid e-mail address"
			if len(p.Invalid) > 0 { // the value as shown (bounded) and why
				v, reason = p.Invalid[0].Value, p.Invalid[0].Reason
			}
			bad = append(bad, fmt.Sprintf("%q: %s", v, reason))
			continue
		}
		r = r.Merge(p)
	}
	for _, ph := range phones {
		p := contact.Parse(ph, region)
		if len(p.Phones) != 1 || len(p.Emails) != 0 || len(p.Invalid) != 0 {
			v, reason := ph, "not a valid phone number"
			if len(p.Invalid) > 0 {
				v, reason = p.Invalid[0].Value, p.Invalid[0].Reason
			}
			bad = append(bad, fmt.Sprintf("%q: %s", v, reason))
			continue
		}
		r = r.Merge(p)
	}
	if len(bad) > 0 {
		return nil, nil, fmt.Errorf("share: %s", strings.Join(bad, "; "))
	}
	if r.Empty() {
		return nil, nil, ErrNoContact
	}
	return r.Emails, r.Phones, nil
}

func dedup(l []string) []string {
	var out []string
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
