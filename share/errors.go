package share

import (
	"errors"
	"fmt"
	"time"

	"sonolink/settings"
)

var (
	// ErrNotFound: no such link.
	ErrNotFound = errors.New("link not found")
	// ErrExpired: the link's lifetime has passed. Returned as *ExpiredError.
	ErrExpired = errors.New("link expired")
	// ErrNotExpired: a new link was asked for on a link that still works.
	ErrNotExpired = errors.New("the link has not expired")
	// ErrRevoked: the link was revoked. Returned as *RevokedError.
	ErrRevoked = errors.New("link revoked")
	// ErrTooSoon: this source must wait before its next try of a secret.
	// Returned as *WaitError.
	ErrTooSoon = errors.New("too many wrong attempts; wait before trying again")
	// ErrCodeLimit: no more one-time code messages may go out for now.
	// Returned as *CodeLimitError.
	ErrCodeLimit = errors.New("one-time code message limit reached")
	// ErrAlreadyShared: Create with origin auto found an active auto link for
	// the study; the existing link is returned with it (objects join it).
	ErrAlreadyShared = errors.New("the study already has an active automatic link")
	// ErrWrongLinkCode: the clinic link code did not match.
	ErrWrongLinkCode = errors.New("wrong link code")
	// ErrWrongPassword: the patient password did not match.
	ErrWrongPassword = errors.New("wrong password")
	// ErrNoPassword: the link has no password yet (set one with a one-time code).
	ErrNoPassword = errors.New("no password is set for this link")
	// ErrWrongOTP: the one-time code is wrong, used, expired or was never requested.
	ErrWrongOTP = errors.New("wrong or expired one-time code")
	// ErrBadProof: the proof from VerifyOTP is wrong, used or expired.
	ErrBadProof = errors.New("one-time code confirmation expired; request a new code")
	// ErrWeakPassword: the password is shorter than MinPasswordLength.
	ErrWeakPassword = fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	// ErrUnknownLanguage: a link was asked for in a language sonolink does
	// not speak (the error names those it does).
	ErrUnknownLanguage = errors.New("language not available")
	// ErrNoContact: the request names no usable contact.
	ErrNoContact = errors.New("no valid e-mail address or phone number")
	// ErrUnknownSetting: UpdateSetting with a key the settings registry
	// does not declare.
	ErrUnknownSetting = settings.ErrUnknown
	// ErrInvalidSetting: UpdateSetting with a value the key does not
	// accept (a *settings.InvalidError).
	ErrInvalidSetting = settings.ErrInvalid
)

// ExpiredError says which link expired and when. errors.Is(err, ErrExpired).
type ExpiredError struct {
	LinkID  string
	Expired time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("link %s expired on %s; use `sonolink send` to issue a new link", e.LinkID, e.Expired.Format("2006-01-02"))
}

// Is makes errors.Is(err, ErrExpired) true.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }

// RevokedError says which link was revoked and when. errors.Is(err, ErrRevoked).
type RevokedError struct {
	LinkID  string
	Revoked time.Time
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("link %s was revoked on %s and can never be sent again; use `sonolink send` to issue a new link", e.LinkID, e.Revoked.Format("2006-01-02"))
}

// Is makes errors.Is(err, ErrRevoked) true.
func (e *RevokedError) Is(target error) bool { return target == ErrRevoked }

// WaitError says until when a source must wait before its next try of a
// secret. errors.Is(err, ErrTooSoon); when the try that caused the wait was
// itself wrong, errors.Is(err, Cause) too (ErrWrongPassword, …).
type WaitError struct {
	What  string // "password", "link code" or "one-time code"
	Until time.Time
	Cause error // the wrong secret that made this source wait, or nil
}

func (e *WaitError) Error() string {
	msg := fmt.Sprintf("%s: too many wrong attempts from this address; try again after %s", e.What, e.Until.Format("2006-01-02 15:04:05 MST"))
	if e.Cause != nil {
		msg = e.Cause.Error() + "; " + msg
	}
	return msg
}

// Is makes errors.Is(err, ErrTooSoon) true.
func (e *WaitError) Is(target error) bool { return target == ErrTooSoon }

// Unwrap returns the wrong secret that made the source wait.
func (e *WaitError) Unwrap() error { return e.Cause }

// CodeLimitError says when a one-time code message may next be sent.
// errors.Is(err, ErrCodeLimit).
type CodeLimitError struct{ Until time.Time }

func (e *CodeLimitError) Error() string {
	return fmt.Sprintf("%v; the next can be sent after %s", ErrCodeLimit, e.Until.Format("2006-01-02 15:04 MST"))
}

// Is makes errors.Is(err, ErrCodeLimit) true.
func (e *CodeLimitError) Is(target error) bool { return target == ErrCodeLimit }
