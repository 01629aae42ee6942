package share

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Audit event types.
const (
	EventLinkCreated      = "link.created"
	EventLinkResent       = "link.resent"
	EventLinkRevoked      = "link.revoked"
	EventLinkViewed       = "link.viewed"
	EventLinkReminded     = "link.reminded"     // the expiry reminder was queued
	EventRenewalRequested = "renewal.requested" // the patient asked for a new link on the expired page
	EventRenewalAnswered  = "renewal.answered"  // a resend, new link or revoke closed the request
	EventRenewalCode      = "renewal.code"      // a one-time code for a new link was sent (link.self_renew)
	EventDeliverySent     = "delivery.sent"
	EventDeliveryRetry    = "delivery.retry"  // failed, will retry
	EventDeliveryFailed   = "delivery.failed" // failed for good
	EventOTPRequested     = "otp.requested"
	EventOTPVerified      = "otp.verified"
	EventOTPFailed        = "otp.failed"
	EventPasswordSet      = "password.set"
	EventPasswordOK       = "password.ok"
	EventPasswordFailed   = "password.failed"
	EventLinkCodeOK       = "linkcode.ok"
	EventLinkCodeFailed   = "linkcode.failed"
	EventSettingChanged   = "setting.changed"
	EventInstancesJoined  = "link.instances"
	EventVersionChosen    = "object.version" // the technician chose which received object an instance serves

	// The staff console's accounts and sessions (Record). Actor is the
	// staff member ("staff:anna"), or who changed the account.
	EventStaffLogin       = "staff.login"
	EventStaffLoginFailed = "staff.login.failed" // wrong name or password
	EventStaffLoginLocked = "staff.login.locked" // refused: too many wrong passwords from that address
	EventStaffLogout      = "staff.logout"
	EventStaffAdded       = "staff.added"
	EventStaffDisabled    = "staff.disabled"
	EventStaffPasswordSet = "staff.password"
)

// ErrNotStaffEvent is Record's answer to an event it does not take.
var ErrNotStaffEvent = errors.New("share: Record takes staff.* events only")

// AuditEvent is one entry of the append-only audit log. It never holds a
// token, code or password; contacts appear masked (n•••@example.com).
type AuditEvent struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	LinkID     string    `json:"link_id,omitempty"`
	StudyUID   string    `json:"study_uid,omitempty"`
	Actor      string    `json:"actor,omitempty"` // who asked: a technician's name, "auto", "patient"
	Channel    string    `json:"channel,omitempty"`
	To         string    `json:"to,omitempty"` // masked contact
	Detail     string    `json:"detail,omitempty"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	StudyUID string
	LinkID   string
	Since    time.Time
	Limit    int // the newest Limit events; 0 = all
}

// audit appends e within tx.
func (s *Service) audit(tx *bolt.Tx, e AuditEvent) error {
	b := tx.Bucket(bktAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return b.Put(k[:], data)
}

// Record appends an event of the staff console (a type starting with
// "staff.") to the audit log, in its own transaction. The caller keeps
// passwords and tokens out of it.
func (s *Service) Record(e AuditEvent) error {
	if !strings.HasPrefix(e.Type, "staff.") {
		return ErrNotStaffEvent
	}
	e.Seq, e.LinkID, e.StudyUID, e.To = 0, "", "", ""
	return s.update(func(tx *bolt.Tx) error { return s.audit(tx, e) })
}

// Location is the server's time zone this service was opened with (the
// clinic's clock when clinic.timezone is not set).
func (s *Service) Location() *time.Location { return s.opts.Location }

// Audit returns the events matching f, oldest first.
func (s *Service) Audit(f AuditFilter) ([]AuditEvent, error) {
	var out []AuditEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var e AuditEvent
			if json.Unmarshal(v, &e) != nil {
				continue
			}
			if !f.Since.IsZero() && e.Time.Before(f.Since) {
				break // appended in time order
			}
			if (f.StudyUID != "" && e.StudyUID != f.StudyUID) || (f.LinkID != "" && !sameLinkID(e.LinkID, f.LinkID)) {
				continue
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
