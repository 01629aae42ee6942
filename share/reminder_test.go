package share

import (
	"context"
	"strings"
	"testing"
	"time"

	"sonolink/settings"
)

// One reminder per link lifetime, link.reminder before expiry, on every
// channel, in the clinic's language; a resend makes the next one due; off
// sends none; a link sent inside the window gets none.
func TestExpiryReminder(t *testing.T) {
	c := newClock()
	s := open(t, t.TempDir(), c, nil)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.UpdateSetting(settings.KeyLanguage, "sv"))
	must(s.UpdateSetting(settings.KeyClinicName, "Ultraljud Söder"))
	l, url, err := s.Create(ctx, CreateRequest{StudyUID: "1.2.3", Emails: []string{"a@example.com"}, Phones: []string{"+46701234567"}})
	must(err)
	waitFor(t, "the link's messages", func() bool { return len(outboxFiles(t, s, ".sms")) == 1 })
	remind := func(want int) {
		t.Helper()
		n, err := s.SendReminders()
		if err != nil || n != want {
			t.Fatalf("at %s: %d reminders (%v), want %d", c.Now().Format(time.DateOnly), n, err, want)
		}
	}
	remind(0)
	c.Add(90*24*time.Hour - 7*24*time.Hour - time.Minute) // just before the window opens
	remind(0)
	c.Add(2 * time.Minute)
	remind(1)
	remind(0) // once per lifetime
	waitFor(t, "the reminders", func() bool { return len(outboxFiles(t, s, ".sms")) == 2 && len(outboxFiles(t, s, ".eml")) == 2 })
	var sms string
	for _, f := range outboxFiles(t, s, ".sms") {
		if strings.Contains(f, "spara det du vill") {
			sms = f
		}
	}
	if sms == "" || linkRE.FindString(sms) != url || !strings.Contains(sms, "1 oktober 2026") {
		t.Fatalf("reminder SMS (sv, the link, the expiry): %q", outboxFiles(t, s, ".sms"))
	}
	reminded := 0
	ev, _ := s.Audit(AuditFilter{LinkID: l.ID})
	for _, e := range ev {
		if e.Type == EventLinkReminded {
			reminded++
		}
	}
	if reminded != 1 {
		t.Fatalf("%d reminder audit events", reminded)
	}
	// A resend starts a new lifetime, and a new reminder before its end.
	_, err = s.Resend(ctx, l.ID, "tech")
	must(err)
	remind(0)
	c.Add(84 * 24 * time.Hour)
	remind(1)

	// A link sent inside the window already says the date.
	must(s.UpdateSetting(settings.KeyLinkLifetime, "5d"))
	_, _, err = s.Create(ctx, CreateRequest{StudyUID: "4.5", Emails: []string{"b@example.com"}})
	must(err)
	c.Add(4 * 24 * time.Hour)
	remind(0)

	// off sends none.
	must(s.UpdateSetting(settings.KeyLinkLifetime, "30d"))
	must(s.UpdateSetting(settings.KeyLinkReminder, "off"))
	_, _, err = s.Create(ctx, CreateRequest{StudyUID: "6.7", Emails: []string{"c@example.com"}})
	must(err)
	c.Add(29 * 24 * time.Hour)
	remind(0)
	must(s.UpdateSetting(settings.KeyLinkReminder, "7d"))
	remind(1)
}
