package admin

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"sonolink/share"
)

// Staff events, as share names them in the audit log.
const (
	StaffLogin       = share.EventStaffLogin
	StaffLoginFailed = share.EventStaffLoginFailed
	StaffLoginLocked = share.EventStaffLoginLocked
	StaffLogout      = share.EventStaffLogout
	StaffAdded       = share.EventStaffAdded
	StaffDisabled    = share.EventStaffDisabled
	StaffPasswordSet = share.EventStaffPasswordSet
)

// StaffEvent is what the staff console and `sonolink staff` record in the
// audit log: logins, logouts and account changes. It names the person and
// the client address; it never holds a password or a session id.
type StaffEvent struct {
	Event  string `json:"event"`            // share.EventStaff*: "staff.login", "staff.added", …
	Actor  string `json:"actor"`            // who did it: "staff:anna", "cli:root"
	Client string `json:"client,omitempty"` // the browser's address, for console events
	Detail string `json:"detail,omitempty"` // e.g. "account erik (technician)"
}

// RecordStaff appends a staff event to the audit log.
func (s *Service) RecordStaff(ctx context.Context, ev StaffEvent) (*StaffEvent, error) {
	if !strings.HasPrefix(ev.Event, "staff.") || ev.Actor == "" {
		return nil, errorf(KindInvalid, "a staff event needs a staff.* event name and an actor")
	}
	err := s.be.sh.Record(share.AuditEvent{Type: ev.Event, Actor: ev.Actor, RemoteAddr: ev.Client, Detail: ev.Detail})
	if err != nil {
		return nil, s.internal("record a staff event", err)
	}
	return &ev, nil
}

// RecordStaff appends a staff event through the running server.
func (c *Client) RecordStaff(ctx context.Context, ev StaffEvent) (*StaffEvent, error) {
	var out StaffEvent
	if err := c.do(ctx, http.MethodPost, "/v1/staff-event", ev, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RecordStaffEvent records ev in dataDir's audit log for `sonolink staff`:
// through a running server's socket, or, when none runs, by opening the
// share database alone (no store, no outbox delivery: recording an account
// change must not send anything).
func RecordStaffEvent(ctx context.Context, dataDir string, ev StaffEvent) error {
	sock := SocketPath(dataDir)
	if _, err := os.Lstat(sock); err == nil {
		c := NewClient(sock)
		defer c.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.Ping(pctx)
		cancel()
		if err == nil {
			_, err = c.RecordStaff(ctx, ev)
			return err
		}
		if !isConnRefused(err) {
			return fmt.Errorf("sonolink serve's admin socket %s does not answer properly: %w", sock, err)
		}
	}
	sh, err := share.Open(dataDir, share.Options{NoWorker: true})
	if err != nil {
		return err
	}
	err = sh.Record(share.AuditEvent{Type: ev.Event, Actor: ev.Actor, RemoteAddr: ev.Client, Detail: ev.Detail})
	if cerr := sh.Close(); err == nil {
		err = cerr
	}
	return err
}
