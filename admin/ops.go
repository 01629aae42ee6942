// Package admin is the technician's side of sonolink: finding studies,
// sending, resending and revoking patient links, clinic settings and the
// audit log. Service implements the operations over an open store and share
// service; Server exposes them as JSON over HTTP on a Unix socket in the data
// directory (owner-only), and Client calls that socket, so the CLI works
// whether or not `sonolink serve` (which holds the bbolt lock) is running.
// Connect picks one or the other.
package admin

import (
	"context"
	"errors"
	"fmt"
)

// Ops is what the CLI can ask, locally (Service) or through the socket (Client).
type Ops interface {
	ListStudies(ctx context.Context, q StudyQuery) ([]StudySummary, error)
	StudyDetail(ctx context.Context, study string) (*StudyDetail, error)
	Send(ctx context.Context, req SendRequest) (*SendResult, error)
	Resend(ctx context.Context, req LinkRequest) (*SendResult, error)
	Revoke(ctx context.Context, req LinkRequest) (*Link, error)
	Settings(ctx context.Context) ([]Setting, error)
	SetSetting(ctx context.Context, req SettingRequest) (*Setting, error)
	Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	UseVersion(ctx context.Context, req VersionRequest) (*Object, error)
	// Backup writes a consistent backup of the data directory (backup.go).
	Backup(ctx context.Context, req BackupRequest) (*Manifest, error)
	// RecordStaff writes a staff console event to the audit log (staff.go).
	RecordStaff(ctx context.Context, ev StaffEvent) (*StaffEvent, error)
	// Clinic and LinkCodeReach serve the staff console (clinic.go).
	Clinic(ctx context.Context) (*Clinic, error)
	LinkCodeReach(ctx context.Context) (*CodeReach, error)
	// Attention: the studies that need a technician, however old (attention.go).
	Attention(ctx context.Context) ([]StudySummary, error)
}

// Error kinds. They decide the HTTP status on the socket and the CLI's exit
// code.
const (
	KindNotFound = "not_found" // no such study or link
	KindExpired  = "expired"   // the link expired
	KindRevoked  = "revoked"   // the link was revoked
	KindInvalid  = "invalid"   // bad input (contacts, image numbers, setting value…)
	KindInternal = "internal"  // anything else
)

// Error is an operation's failure with a message for the technician that
// says what to do next.
type Error struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	cause   error  // for errors.Is in this process; not sent over the socket
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.cause }

// ExitCode follows the CLI convention: 1 when the answer is "no" (not
// found, expired, revoked), 2 for bad input and errors.
func (e *Error) ExitCode() int {
	switch e.Kind {
	case KindNotFound, KindExpired, KindRevoked:
		return 1
	}
	return 2
}

// errorf formats the message like fmt.Errorf; what %w wraps stays the cause.
func errorf(kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	e := &Error{Kind: kind, Message: err.Error()}
	switch err.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		e.cause = err
	}
	return e
}

// causef is errorf with a message that does not quote its cause.
func causef(kind string, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), cause: cause}
}

// KindOf returns the kind of err (KindInternal when it is not an *Error).
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
