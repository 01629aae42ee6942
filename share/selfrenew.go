package share

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/contact"
	"sonolink/internal/logid"
	"sonolink/settings"
)

// Self-renewal: with link.self_renew on, the patient of an expired link
// may have a new link sent to the same contacts, after proving with a
// one-time code that they read one of them. It is a path of its own, not
// RequestOTP's: RequestOTP still refuses every link that does not work,
// and a renewal code opens nothing but a new link that goes where the old
// one went.
//
// What an attacker holding only the expired link can do here: see the
// link's contacts masked (as the password gate shows them), and have
// one-time codes sent to them within the same OTPSendsPerLink and
// OTPSendsPerSource limits as the password's codes (the same counters).
// Without the code no link is issued, and the new link goes only to the
// old link's contacts, never to the page.

// ActorSelfRenew names the patient's own renewal in the audit log and as
// the new link's creator.
const ActorSelfRenew = "patient (self-renew)"

// ErrSelfRenewOff: the clinic does not offer new links from the expired
// page (link.self_renew off), or the link has no contact to send one to.
var ErrSelfRenewOff = errors.New("share: the clinic does not offer a new link from the expired page (link.self_renew is off)")

// renewOTPPurpose separates a renewal code's MAC from a password code's,
// so that neither can stand for the other.
const renewOTPPurpose = "\x00renew"

// selfRenewable reports whether link rec may renew itself now: it must
// have expired (not been revoked), the clinic must offer it, and the link
// must have a contact.
func selfRenewable(st settings.Values, rec *linkRecord, now time.Time) error {
	switch rec.Status(now) {
	case StatusRevoked:
		return ErrNotFound
	case StatusActive:
		return ErrNotExpired
	}
	if !st.LinkSelfRenew || len(rec.Emails)+len(rec.Phones) == 0 {
		return ErrSelfRenewOff
	}
	return nil
}

// SelfRenewContacts lists, masked, where expired link id can send a
// renewal code (and so where a new link would go). ErrSelfRenewOff when
// the clinic does not offer it; ErrNotExpired for a link that works;
// ErrNotFound for a revoked or unknown one.
func (s *Service) SelfRenewContacts(id string) ([]OTPContact, error) {
	rec, err := s.readLink(id)
	if err != nil {
		return nil, err
	}
	st, err := s.Settings()
	if err != nil {
		return nil, err
	}
	if err := selfRenewable(st, rec, s.now()); err != nil {
		return nil, err
	}
	return s.OTPContacts(rec.ID)
}

// RequestRenewalCode sends a one-time code to one contact of expired link
// id (ref as for RequestOTP), for SelfRenew, in lang (the page's language)
// when sonolink speaks it, else the link's. It counts against the same
// CodeMessages limits as RequestOTP; beyond them nothing is sent
// (*CodeLimitError). A new request replaces the previous renewal code.
func (s *Service) RequestRenewalCode(ctx context.Context, id, source, ref, lang string) error {
	var channel string
	err := s.updateLink(id, func(tx *bolt.Tx, rec *linkRecord, now time.Time) error {
		st, err := readSettings(tx)
		if err != nil {
			return err
		}
		if err := selfRenewable(st, rec, now); err != nil {
			return err
		}
		otp, ch, to, code, err := s.newCode(rec, ref, st.Region, source, renewOTPPurpose, now)
		if err != nil {
			return err
		}
		rec.RenewOTP = otp
		if err := s.putLink(tx, rec); err != nil {
			return err
		}
		if err := s.audit(tx, AuditEvent{Type: EventRenewalCode, LinkID: rec.ID, StudyUID: rec.StudyUID, Actor: "patient",
			Channel: ch, To: contact.Mask(to), Detail: "one-time code for a new link"}); err != nil {
			return err
		}
		channel = ch
		return s.enqueueCode(tx, rec, st, ch, to, code, lang)
	})
	if err != nil {
		return err
	}
	s.kick()
	s.log.Info("one-time code for a new link requested", "link", NormalizeLinkID(id), "channel", channel)
	return nil
}

// SelfRenew checks a renewal code of expired link id typed by source and,
// when it is right, issues a new link for the same study and objects to
// the old link's contacts (NewLink, by ActorSelfRenew), which also closes
// the study's open requests for a new link. It returns the new link; the
// page names its contacts masked. A wrong, expired or used code gives
// ErrWrongOTP and counts against source like any wrong secret
// (*WaitError once it must wait); OTPMaxAttempts wrong guesses void the
// code. The code is used up before the link is issued, so two tries with
// one code issue one link.
func (s *Service) SelfRenew(ctx context.Context, id, source, code string) (*Link, error) {
	code = strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, code)
	rec, err := s.readLink(id)
	if err != nil {
		return nil, err
	}
	st, err := s.Settings()
	if err != nil {
		return nil, err
	}
	if err := selfRenewable(st, rec, s.now()); err != nil {
		return nil, err
	}
	key := s.sourceKey(rec.ID, source)
	if err := s.mayTry(rec, key, "one-time code"); err != nil {
		return nil, err
	}
	mac := s.keys.otpMAC(rec.ID+renewOTPPurpose, code)
	err = s.settle(rec.ID, key, "one-time code", ErrWrongOTP, func(rec *linkRecord, now time.Time) bool {
		o := rec.RenewOTP
		return o != nil && now.Before(o.Expires) && len(code) == 6 && hmac.Equal(o.MAC, mac) && rec.Status(now) == StatusExpired
	}, func(rec *linkRecord, ev *AuditEvent, verified bool) {
		settleCode(&rec.RenewOTP, ev, verified, s.now(), codeTexts{prefix: "new link: ", expired: "code expired", verified: "new link"})
	})
	if err != nil {
		return nil, err
	}
	l, _, err := s.NewLink(ctx, rec.ID, nil, nil, ActorSelfRenew)
	if err != nil {
		return nil, fmt.Errorf("share: issuing the new link for expired link %s: %w", rec.ID, err)
	}
	s.log.Info("patient renewed an expired link", logid.Study(l.StudyUID), "link", rec.ID, "new_link", l.ID)
	return l, nil
}
