package admin

import (
	"context"
	"testing"
)

// TestCancelledDeliveryCode: a message still queued when its link is
// revoked is cancelled with share's reason, which admin gives as a code
// too, so the console need not read the English.
func TestCancelledDeliveryCode(t *testing.T) {
	ctx := context.Background()
	dir, munoz, _ := seededDir(t)
	if err := RecordServeSettings(dir, ServeSettings{BaseURL: "https://images.clinic.example", EmailProvider: "smtp", SMSProvider: "file", EmailFrom: "clinic@example.com"}); err != nil {
		t.Fatal(err)
	}
	svc, err := Open(ctx, dir, LocalOptions{}, discardLogger()) // serve's providers: messages wait for it
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	res, err := svc.Send(ctx, SendRequest{Study: munoz, To: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.QueuedForServer {
		t.Fatalf("the message was not left for serve: %+v", res)
	}
	l, err := svc.Revoke(ctx, LinkRequest{Link: res.ID, Reason: "wrong patient"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contacts) != 1 || l.Contacts[0].Status != "cancelled" || l.Contacts[0].ReasonCode != DeliveryRevoked || l.Contacts[0].Reason == "" {
		t.Fatalf("deliveries of the revoked link: %+v, want cancelled with code %q", l.Contacts, DeliveryRevoked)
	}
}
