package admin

import (
	"context"
	"testing"
)

// TestConsoleRoutesOverSocket: what the staff console and `sonolink staff`
// ask of a running server reaches it through the socket: a staff event is
// recorded (and anything but a staff.* event refused), the clinic and the
// dry link-code count are read, and the conflict studies listed.
func TestConsoleRoutesOverSocket(t *testing.T) {
	dir, _, _ := seededDir(t)
	svc := serverService(t, dir)
	srv := NewServer(svc, SocketPath(dir), discardLogger())
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Close()
	ctx := context.Background()

	if err := RecordStaffEvent(ctx, dir, StaffEvent{Event: StaffAdded, Actor: "cli:test", Detail: "account erik (technician)"}); err != nil {
		t.Fatal(err)
	}
	c := NewClient(SocketPath(dir))
	defer c.Close()
	if _, err := c.RecordStaff(ctx, StaffEvent{Event: "link.revoked", Actor: "cli:test"}); KindOf(err) != KindInvalid {
		t.Errorf("a non-staff event over the socket: %v, want refused", err)
	}
	ev, err := svc.Audit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if last := ev[len(ev)-1]; last.Event != StaffAdded || last.Actor != "cli:test" || last.Detail != "account erik (technician)" {
		t.Errorf("last audit event %+v, want the staff event recorded through the socket", last)
	}
	cl, err := c.Clinic(ctx)
	if err != nil || cl.Name == "" || cl.TimeZone == "" {
		t.Errorf("clinic over the socket: %+v %v", cl, err)
	}
	if r, err := c.LinkCodeReach(ctx); err != nil || r.CodeSet {
		t.Errorf("link code reach over the socket: %+v %v", r, err)
	}
	if list, err := c.Attention(ctx); err != nil || list == nil {
		t.Errorf("attention list over the socket: %v %v", list, err)
	}
}
