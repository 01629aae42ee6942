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
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"sonolink/contact"
	"sonolink/settings"
)

// Gate rules.
const (
	MinPasswordLength   = 8
	MaxPasswordLength   = 256
	PasswordMaxFailures = 5                // failures in a row before a lockout
	LinkCodeMaxFailures = 10               // failures in a row before a lockout
	LockoutDuration     = 15 * time.Minute // lockout after too many failures
	OTPLifetime         = 10 * time.Minute
	OTPMaxAttempts      = 5         // wrong guesses before a code is void
	OTPMaxRequests      = 5         // codes sent per link per OTPRequestWindow
	OTPRequestWindow    = time.Hour //
	ProofLifetime       = 10 * time.Minute
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
// whenever a clinic code is set. Clearing the setting removes the prompt
// from every existing link.
func (s *Service) NeedsLinkCode(l *Link) (bool, error) {
	st, err := s.Settings()
	return st.LinkCodeSet, err
}

// CheckLinkCode checks a link code typed on the landing page of link id.
//
// Accepted: the code that was in force when the link was issued (changing
// the clinic code keeps each link's own code valid for that link), and the
// clinic's current code (so a link issued before any code was set, or a
// patient who is told the new code by phone, can get in). When no code is
// set, every code (including none) is accepted. Case, spaces and dashes do
// not matter. After LinkCodeMaxFailures wrong codes in a row the link's
// code gate is locked for LockoutDuration (*LockedError).
func (s *Service) CheckLinkCode(id, code string) error {
	st, err := s.Settings()
	if err != nil {
		return err
	}
	if !st.LinkCodeSet {
		return nil
	}
	rec, err := s.readLink(id)
	if err != nil {
		return err
	}
	now := s.now()
	if now.Before(rec.CodeLockedUntil) {
		return &LockedError{What: "link code", Until: rec.CodeLockedUntil}
	}
	c := settings.NormalizeCode(code)
	ok := c != "" && ((rec.CodeHash != "" && verifySecret(rec.CodeHash, c)) || verifySecret(st.LinkCodeHash, c))
	var result error
	err = s.db.Update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		ev := AuditEvent{LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient"}
		if ok {
			rec.CodeFailures, ev.Type = 0, EventLinkCodeOK
		} else {
			rec.CodeFailures++
			ev.Type, result = EventLinkCodeFailed, ErrWrongLinkCode
			if rec.CodeFailures >= LinkCodeMaxFailures {
				rec.CodeFailures, rec.CodeLockedUntil = 0, now.Add(LockoutDuration)
				ev.Type = EventLinkCodeLocked
				result = &LockedError{What: "link code", Until: rec.CodeLockedUntil}
			}
		}
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

// RequestOTP sends a 6-digit one-time code to one contact of link id; ref
// is an OTPContacts Ref or the contact itself (which must be one of the
// link's). The code is valid for OTPLifetime and OTPMaxAttempts guesses;
// a new request replaces it. At most OTPMaxRequests per OTPRequestWindow
// (*LockedError beyond). Only an active link can request a code.
func (s *Service) RequestOTP(ctx context.Context, id, ref string) error {
	var channel string
	err := s.db.Update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		now := s.now()
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
		ch, to, ok := pickContact(rec, ref, st.Region)
		if !ok {
			return fmt.Errorf("%w: the code can only go to a contact of this link", ErrNoContact)
		}
		var recent []time.Time
		for _, t := range rec.OTPRequests {
			if now.Sub(t) < OTPRequestWindow {
				recent = append(recent, t)
			}
		}
		if len(recent) >= OTPMaxRequests {
			return &LockedError{What: "one-time code requests", Until: recent[0].Add(OTPRequestWindow)}
		}
		rec.OTPRequests = append(recent, now)
		code := sixDigits()
		rec.OTP = &otpState{MAC: s.keys.otpMAC(rec.ID, code), Channel: ch, Expires: now.Add(OTPLifetime)}
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		if err := s.audit(tx, AuditEvent{Type: EventOTPRequested, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient", Channel: ch, To: contact.Mask(to)}); err != nil {
			return err
		}
		r := s.renderer(st)
		minutes := int(OTPLifetime / time.Minute)
		content := r.otpSMS(code, minutes)
		if ch == ChannelEmail {
			content = r.otpEmail(code, minutes)
		}
		channel = ch
		return s.enqueue(tx, rec, kindOTP, ch, to, content)
	})
	if err != nil {
		return err
	}
	s.kick()
	s.log.Info("one-time code requested", "link", NormalizeLinkID(id), "channel", channel)
	return nil
}

// VerifyOTP checks a one-time code of link id. On success the code is used
// up and a proof is returned for SetPassword (valid ProofLifetime, single
// use). A wrong, expired or used code gives ErrWrongOTP.
func (s *Service) VerifyOTP(id, code string) (proof string, err error) {
	code = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, code)
	var result error
	err = s.db.Update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		ev := AuditEvent{LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient", Type: EventOTPFailed}
		o := rec.OTP
		switch {
		case rec.Status(now) == StatusRevoked:
			return ErrNotFound
		case o == nil:
			ev.Detail, result = "no code requested or already used", ErrWrongOTP
		case !now.Before(o.Expires):
			rec.OTP, ev.Detail, result = nil, "expired", ErrWrongOTP
		case len(code) != 6 || !hmac.Equal(o.MAC, s.keys.otpMAC(rec.ID, code)):
			o.Attempts++
			ev.Detail, result = fmt.Sprintf("wrong code, attempt %d", o.Attempts), ErrWrongOTP
			if o.Attempts >= OTPMaxAttempts {
				rec.OTP, ev.Detail = nil, ev.Detail+"; code void"
			}
		default:
			rec.OTP, ev.Type, ev.Channel = nil, EventOTPVerified, o.Channel
			p := make([]byte, 32)
			rand.Read(p)
			proof = base64.RawURLEncoding.EncodeToString(p)
			h := sha256.Sum256([]byte(proof))
			rec.Proof = &proofState{Hash: h[:], Expires: now.Add(ProofLifetime)}
		}
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		return s.audit(tx, ev) // commit even when the code was wrong: attempts count
	})
	if err == nil {
		err = result
	}
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
	return s.db.Update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if rec.Proof == nil || !now.Before(rec.Proof.Expires) || subtle.ConstantTimeCompare(rec.Proof.Hash, ph[:]) != 1 {
			return ErrBadProof
		}
		rec.Proof = nil
		rec.PasswordHash, rec.PwFailures, rec.PwLockedUntil = hash, 0, time.Time{}
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

// CheckPassword checks the patient password of link id. After
// PasswordMaxFailures wrong passwords in a row, the link's password gate is
// locked for LockoutDuration (*LockedError with the unlock time), during
// which even the right password is refused.
func (s *Service) CheckPassword(id, password string) error {
	rec, err := s.readLink(id)
	if err != nil {
		return err
	}
	now := s.now()
	if now.Before(rec.PwLockedUntil) {
		return &LockedError{What: "password", Until: rec.PwLockedUntil}
	}
	if rec.PasswordHash == "" {
		return ErrNoPassword
	}
	ok := verifySecret(rec.PasswordHash, password)
	var result error
	err = s.db.Update(func(tx *bolt.Tx) error {
		rec, err := s.getLink(tx, id)
		if err != nil {
			return err
		}
		if now.Before(rec.PwLockedUntil) { // locked by a concurrent attempt
			return &LockedError{What: "password", Until: rec.PwLockedUntil}
		}
		ev := AuditEvent{LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient"}
		if ok {
			rec.PwFailures, ev.Type = 0, EventPasswordOK
		} else {
			rec.PwFailures++
			ev.Type, ev.Detail, result = EventPasswordFailed, fmt.Sprintf("failure %d", rec.PwFailures), ErrWrongPassword
			if rec.PwFailures >= PasswordMaxFailures {
				rec.PwFailures, rec.PwLockedUntil = 0, now.Add(LockoutDuration)
				ev.Type, ev.Detail = EventPasswordLocked, "locked until "+rec.PwLockedUntil.Format(time.RFC3339)
				result = &LockedError{What: "password", Until: rec.PwLockedUntil}
			}
		}
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
