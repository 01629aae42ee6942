package share

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"sonolink/contact"
	"sonolink/i18n"
	"sonolink/settings"
)

// Gate rules. How wrong secrets slow a source down is in gates_throttle.go.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
	OTPLifetime       = 10 * time.Minute
	OTPMaxAttempts    = 5 // wrong guesses, from any source, before a code is void
	ProofLifetime     = 10 * time.Minute
)

type otpState struct {
	MAC      []byte    `json:"mac"` // HMAC of the code under share.key
	Channel  string    `json:"channel"`
	Expires  time.Time `json:"expires"`
	Attempts int       `json:"attempts"`
}

type proofState struct {
	Hash    []byte    `json:"hash"`
	Expires time.Time `json:"expires"`
}

// --- clinic link code ---

// NeedsLinkCode reports whether opening l asks for the clinic's link code:
// while a clinic code is set, if l was issued while one was set, or every
// link when the clinic chose link.code_scope all. A patient is never asked
// for a code nobody could have told them when the link was sent. Links
// from before codes were recorded per link have no CodeHash and count as
// issued without one. Clearing the setting removes the prompt from every
// link.
func (s *Service) NeedsLinkCode(l *Link) (bool, error) {
	st, err := s.Settings()
	return codeAsked(st, l.IssuedWithCode), err
}

func codeAsked(st settings.Values, issuedWithCode bool) bool {
	return st.LinkCodeSet && (issuedWithCode || st.LinkCodeAll)
}

// CodeReach counts the active links and, of them, those that ask for the
// link code under the current settings: what `settings set link.code`
// and link.code_scope report.
type CodeReach struct {
	Active      int `json:"active"`
	WithCode    int `json:"with_code"`     // issued while a code was set
	AskFor      int `json:"ask_for"`       // ask for the code now
	WouldAskAll int `json:"would_ask_all"` // would ask with link.code_scope all
}

// LinkCodeReach counts, over the active links, how many ask for the link
// code under the current settings.
func (s *Service) LinkCodeReach() (CodeReach, error) {
	var r CodeReach
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		st, err := readSettings(tx)
		if err != nil {
			return err
		}
		return tx.Bucket(bktLinks).ForEach(func(k, v []byte) error {
			rec, err := s.getLink(tx, string(k))
			if err != nil || rec.Status(now) != StatusActive {
				return nil
			}
			r.Active++
			if rec.IssuedWithCode {
				r.WithCode++
			}
			if codeAsked(st, rec.IssuedWithCode) {
				r.AskFor++
			}
			if st.LinkCodeSet {
				r.WouldAskAll++
			}
			return nil
		})
	})
	return r, err
}

// CheckLinkCode checks a link code typed on the landing page of link id
// by source (the client's address).
//
// Accepted: the code that was in force when the link was issued (changing
// the clinic code keeps each link's own code valid for that link), and the
// clinic's current code (so a patient who is told the new code by phone
// can get in). When the link does not ask for a code (NeedsLinkCode),
// every code (including none) is accepted. Case, spaces and dashes do not
// matter. Wrong codes slow source down (*WaitError), never the link.
func (s *Service) CheckLinkCode(id, source, code string) error {
	st, err := s.Settings()
	if err != nil {
		return err
	}
	rec, err := s.readLink(id)
	if err != nil {
		return err
	}
	if !codeAsked(st, rec.IssuedWithCode) {
		return nil
	}
	key := s.sourceKey(rec.ID, source)
	if err := s.mayTry(rec, key, "link code"); err != nil {
		return err
	}
	c := settings.NormalizeCode(code)
	ok := c != "" && ((rec.CodeHash != "" && verifySecret(rec.CodeHash, c)) || verifySecret(st.LinkCodeHash, c))
	return s.settle(rec.ID, key, "link code", ErrWrongLinkCode, func(*linkRecord, time.Time) bool { return ok }, func(rec *linkRecord, ev *AuditEvent, ok bool) {
		ev.Type = EventLinkCodeFailed
		if ok {
			ev.Type = EventLinkCodeOK
		}
	})
}

// mayTry returns a *WaitError while source key must wait before trying a
// secret of rec. A source new to a link past its ceiling is remembered
// here, so that its wait runs from its first try.
func (s *Service) mayTry(rec *linkRecord, key, what string) error {
	now := s.now()
	d, register := rec.throttle(now).wait(key, now)
	if d == 0 {
		return nil
	}
	if register {
		err := s.update(func(tx *bolt.Tx) error {
			rec, err := s.getLink(tx, rec.ID)
			if err != nil {
				return err
			}
			rec.throttle(now).source(key, now)
			return s.putLink(tx, rec)
		})
		if err != nil {
			return err
		}
	}
	return &WaitError{What: what, Until: now.Add(d)}
}

// settle records the outcome of one try of a secret of link id by source
// key: a failure counts against the source (and the link's ceiling), a
// success clears the source's failures. When another try of the same
// source landed while this one was being checked and the source must now
// wait, the outcome is not revealed and nothing is recorded. apply fills
// in the audit event and may change the record; check tells whether the
// secret is right (inside the transaction). A wrong secret returns
// wrong, or a *WaitError with it as Cause when the source must now wait.
func (s *Service) settle(id, key, what string, wrong error, check func(*linkRecord, time.Time) bool, apply func(*linkRecord, *AuditEvent, bool)) error {
	var result error
	err := s.updateLink(id, func(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
		t := rec.throttle(now)
		if d, register := t.wait(key, now); d > 0 {
			if register {
				t.source(key, now)
			}
			result = &WaitError{What: what, Until: now.Add(d)}
			return s.putLink(tx, rec)
		}
		ev := AuditEvent{LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient"}
		ok := check(rec, now)
		if ok {
			t.succeed(key)
		} else {
			t.fail(key, now)
			result = wrong
			if d, _ := t.wait(key, now); d > 0 {
				result = &WaitError{What: what, Until: now.Add(d), Cause: wrong}
			}
			ev.Detail = fmt.Sprintf("failure %d from this address", t.Sources[key].Failures)
		}
		apply(rec, &ev, ok)
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		return s.audit(tx, ev) // commit even when the check failed: failures count
	})
	if err != nil {
		return err
	}
	return result
}

// --- one-time codes and the patient password ---

// OTPContact is a contact of a link a one-time code can be sent to, as the
// landing page may show it.
type OTPContact struct {
	Ref     string `json:"ref"`     // pass to RequestOTP: "email:0", "sms:1", …
	Channel string `json:"channel"` // ChannelEmail or ChannelSMS
	Masked  string `json:"masked"`  // n•••@example.com, +46•••••••67
}

// OTPContacts lists where link id can send a one-time code, masked.
func (s *Service) OTPContacts(id string) ([]OTPContact, error) {
	l, err := s.Link(id)
	if err != nil {
		return nil, err
	}
	var out []OTPContact
	for i, e := range l.Emails {
		out = append(out, OTPContact{Ref: ChannelEmail + ":" + strconv.Itoa(i), Channel: ChannelEmail, Masked: contact.Mask(e)})
	}
	for i, p := range l.Phones {
		out = append(out, OTPContact{Ref: ChannelSMS + ":" + strconv.Itoa(i), Channel: ChannelSMS, Masked: contact.Mask(p)})
	}
	return out, nil
}

// CodeMessages says how many more one-time code messages source may have
// sent for link id, and when one may next be sent if none is left: at most
// OTPSendsPerLink per link and OTPSendsPerSource per source within
// SourceMemory.
func (s *Service) CodeMessages(id, source string) (left int, next time.Time, err error) {
	rec, err := s.readLink(id)
	if err != nil {
		return 0, time.Time{}, err
	}
	now := s.now()
	left, next = rec.throttle(now).sendsLeft(recent(rec.OTPSends, now), s.sourceKey(rec.ID, source))
	return left, next, nil
}

// RequestOTP sends a 6-digit one-time code to one contact of link id, for
// source (the client's address); ref is an OTPContacts Ref or the contact
// itself (which must be one of the link's). The code is valid for
// OTPLifetime and OTPMaxAttempts guesses; a new request replaces it.
// Beyond the CodeMessages limits nothing is sent (*CodeLimitError). Only
// an active link can request a code.
//
// The message is in lang, the language of the page that asked for it
// (the patient reads the code beside that page), when sonolink speaks it;
// else in the link's language.
func (s *Service) RequestOTP(ctx context.Context, id, source, ref, lang string) error {
	var channel string
	err := s.updateLink(id, func(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
		switch rec.Status(now) {
		case StatusRevoked:
			return ErrNotFound
		case StatusExpired:
			return &ExpiredError{LinkID: rec.ID, Expired: rec.Expires}
		}
		st, err := readSettings(tx)
		if err != nil {
			return err
		}
		otp, ch, to, code, err := s.newCode(rec, ref, st.Region, source, "", now)
		if err != nil {
			return err
		}
		rec.OTP = otp
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		if err := s.audit(tx, AuditEvent{Type: EventOTPRequested, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient", Channel: ch, To: contact.Mask(to)}); err != nil {
			return err
		}
		channel = ch
		return s.enqueueCode(tx, rec, st, ch, to, code, lang)
	})
	if err != nil {
		return err
	}
	s.kick()
	s.log.Info("one-time code requested", "link", NormalizeLinkID(id), "channel", channel)
	return nil
}

// enqueueCode queues a one-time code message to one contact of rec, in
// lang (the page's language) when sonolink speaks it, else the link's.
func (s *Service) enqueueCode(tx *bolt.Tx, rec *linkRecord, st settings.Values, ch, to, code, lang string) error {
	if !slices.Contains(i18n.Languages(), lang) {
		lang = rec.Lang
	}
	r := s.rendererIn(st, lang)
	minutes := int(OTPLifetime / time.Minute)
	content := r.otpSMS(code, minutes)
	if ch == ChannelEmail {
		content = r.otpEmail(code, minutes)
	}
	return s.enqueue(tx, rec, kindOTP, ch, to, content)
}

// codeTexts are the audit details of a code's outcomes; the zero value is
// the password gate's.
type codeTexts struct{ prefix, expired, verified string }

// settleCode records in ev how a try of the one-time code held in *slot
// ended (none requested, expired, wrong, void after OTPMaxAttempts, or
// right), clears the code when it is spent, and reports whether it was
// right. The password gate and self-renewal keep their codes in separate
// slots and share these rules.
func settleCode(slot **otpState, ev *AuditEvent, verified bool, now time.Time, t codeTexts) bool {
	o := *slot
	ev.Type = EventOTPFailed
	if t.expired == "" {
		t.expired = "expired"
	}
	switch {
	case o == nil:
		ev.Detail = t.prefix + "no code requested or already used"
	case !now.Before(o.Expires):
		*slot, ev.Detail = nil, t.prefix+t.expired
	case !verified:
		o.Attempts++
		ev.Detail = fmt.Sprintf("%swrong code, attempt %d; %s", t.prefix, o.Attempts, ev.Detail)
		if o.Attempts >= OTPMaxAttempts {
			*slot, ev.Detail = nil, ev.Detail+"; code void"
		}
	default:
		*slot, ev.Type, ev.Channel, ev.Detail = nil, EventOTPVerified, o.Channel, t.verified
		return true
	}
	return false
}

// VerifyOTP checks a one-time code of link id typed by source. On success
// the code is used up and a proof is returned for SetPassword (valid
// ProofLifetime, single use). A wrong, expired or used code gives
// ErrWrongOTP, and counts against source like a wrong password.
func (s *Service) VerifyOTP(id, source, code string) (proof string, err error) {
	code = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, code)
	rec, err := s.readLink(id)
	if err != nil {
		return "", err
	}
	if rec.Status(s.now()) == StatusRevoked {
		return "", ErrNotFound
	}
	key := s.sourceKey(rec.ID, source)
	if err := s.mayTry(rec, key, "one-time code"); err != nil {
		return "", err
	}
	mac := s.keys.otpMAC(rec.ID, code)
	err = s.settle(rec.ID, key, "one-time code", ErrWrongOTP, func(rec *linkRecord, now time.Time) bool {
		o := rec.OTP
		return o != nil && now.Before(o.Expires) && len(code) == 6 && hmac.Equal(o.MAC, mac)
	}, func(rec *linkRecord, ev *AuditEvent, verified bool) {
		now := s.now()
		if settleCode(&rec.OTP, ev, verified, now, codeTexts{}) {
			p := make([]byte, 32)
			rand.Read(p)
			proof = base64.RawURLEncoding.EncodeToString(p)
			h := sha256.Sum256([]byte(proof))
			rec.Proof = &proofState{Hash: h[:], Expires: now.Add(ProofLifetime)}
		}
	})
	if err != nil {
		return "", err
	}
	return proof, nil
}

// SetPassword sets (or resets) the patient password of link id, with a
// proof from VerifyOTP. It is stored as an argon2id hash only.
func (s *Service) SetPassword(id, proof, password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLength {
		return ErrWeakPassword
	} else if n > MaxPasswordLength {
		return fmt.Errorf("password must be at most %d characters", MaxPasswordLength)
	}
	ph := sha256.Sum256([]byte(proof))
	hash := hashSecret(password) // outside the transaction: argon2 takes a while
	return s.update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if rec.Proof == nil || !now.Before(rec.Proof.Expires) || subtle.ConstantTimeCompare(rec.Proof.Hash, ph[:]) != 1 {
			return ErrBadProof
		}
		rec.Proof = nil
		rec.PasswordHash = hash
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		return s.audit(tx, AuditEvent{Type: EventPasswordSet, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient"})
	})
}

// HasPassword reports whether link id has a patient password.
func (s *Service) HasPassword(id string) (bool, error) {
	l, err := s.Link(id)
	if err != nil {
		return false, err
	}
	return l.PasswordSet, nil
}

// CheckPassword checks the patient password of link id typed by source
// (the client's address). Wrong passwords slow source down (*WaitError,
// see FailureDelay), never the link: the right password from another
// address is accepted at once, and from this one once the wait is over.
func (s *Service) CheckPassword(id, source, password string) error {
	rec, err := s.readLink(id)
	if err != nil {
		return err
	}
	key := s.sourceKey(rec.ID, source)
	if err := s.mayTry(rec, key, "password"); err != nil {
		return err
	}
	if rec.PasswordHash == "" {
		return ErrNoPassword
	}
	ok := verifySecret(rec.PasswordHash, password) // outside the transaction: argon2 takes a while
	return s.settle(rec.ID, key, "password", ErrWrongPassword, func(*linkRecord, time.Time) bool { return ok }, func(rec *linkRecord, ev *AuditEvent, ok bool) {
		ev.Type = EventPasswordFailed
		if ok {
			ev.Type = EventPasswordOK
		}
	})
}

func (s *Service) readLink(id string) (*linkRecord, error) {
	var rec *linkRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = s.getLink(tx, id)
		return err
	})
	return rec, err
}

func pickContact(rec *linkRecord, ref, region string) (channel, to string, ok bool) {
	ref = strings.TrimSpace(ref)
	if ch, idx, found := strings.Cut(ref, ":"); found {
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 {
			switch {
			case ch == ChannelEmail && i < len(rec.Emails):
				return ChannelEmail, rec.Emails[i], true
			case ch == ChannelSMS && i < len(rec.Phones):
				return ChannelSMS, rec.Phones[i], true
			}
		}
	}
	p := contact.Parse(ref, region)
	for _, e := range p.Emails {
		for _, x := range rec.Emails {
			if strings.EqualFold(e, x) {
				return ChannelEmail, x, true
			}
		}
	}
	for _, ph := range p.Phones {
		for _, x := range rec.Phones {
			if ph == x {
				return ChannelSMS, x, true
			}
		}
	}
	return "", "", false
}

func sixDigits() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// newCode draws a one-time code for a contact of rec (ref names it,
// masked) if the link's code limits allow another send from source, and
// counts the send: what the page's code (purpose "") and the expired
// page's renewal code (renewOTPPurpose) share. The caller keeps the
// returned state in the record and sends code to ch/to.
func (s *Service) newCode(rec *linkRecord, ref, region, source, purpose string, now time.Time) (otp *otpState, ch, to, code string, err error) {
	ch, to, ok := pickContact(rec, ref, region)
	if !ok {
		return nil, "", "", "", fmt.Errorf("%w: the code can only go to a contact of this link", ErrNoContact)
	}
	key := s.sourceKey(rec.ID, source)
	t := rec.throttle(now)
	rec.OTPSends = recent(rec.OTPSends, now)
	if left, next := t.sendsLeft(rec.OTPSends, key); left <= 0 {
		return nil, "", "", "", &CodeLimitError{Until: next}
	}
	src := t.source(key, now)
	src.Sends = append(src.Sends, now)
	rec.OTPSends = append(rec.OTPSends, now)
	code = sixDigits()
	return &otpState{MAC: s.keys.otpMAC(rec.ID+purpose, code), Channel: ch, Expires: now.Add(OTPLifetime)}, ch, to, code, nil
}
