package admin

import (
	"testing"
	"time"
)

// TestShareStateEnglish: the share status in parts reads, in English,
// exactly as the CLI has always written it.
func TestShareStateEnglish(t *testing.T) {
	created := time.Date(2026, 11, 20, 13, 3, 0, 0, time.UTC)
	sent := created.Add(time.Hour)
	stamp := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }
	link := func(status string, lastSent time.Time, d ...string) Link {
		l := Link{Status: status, Created: created, LastSent: lastSent, Expires: created.AddDate(0, 0, 30)}
		for i, s := range d {
			l.Contacts = append(l.Contacts, Delivery{Channel: "email", To: string(rune('a'+i)) + "@example.com", Status: s})
		}
		return l
	}
	older := link("active", time.Time{}, "sent")
	older.Created = created.Add(-time.Hour)
	current := older
	current.Current = true
	for _, c := range []struct {
		name     string
		links    []Link
		contacts []ContactNote
		kind     string
		want     string
	}{
		{"nothing", nil, nil, ShareNotShared, "not shared"},
		{"valid contact", nil, []ContactNote{{Kind: "phone", Valid: true}, {Kind: "email"}}, ShareNotShared, "not shared"},
		{"bad contacts", nil, []ContactNote{{Kind: "phone", Reason: "too short for a phone number"}, {Kind: "phone"}, {Kind: "email"},
			{Reason: "not an e-mail address or a phone number", Code: "not_contact"}, {}}, ShareNoContact,
			"no contact: invalid phone, invalid e-mail, not an e-mail address or a phone number, invalid contact"},
		{"revoked", []Link{link("revoked", sent, "sent")}, nil, ShareRevoked, "revoked " + stamp(sent)},
		{"expired", []Link{link("expired", sent, "sent")}, nil, ShareExpired, "expired " + created.AddDate(0, 0, 30).Local().Format("2006-01-02")},
		{"failed", []Link{link("active", time.Time{}, "failed", "cancelled")}, nil, ShareFailed, "delivery failed"},
		{"queued", []Link{link("active", time.Time{}, "retrying"), older}, nil, ShareQueued, "queued (+1 links)"},
		{"outbox", []Link{link("active", time.Time{}, StatusOutbox)}, nil, ShareOutbox, "local outbox only, not sent " + stamp(created)},
		{"some failed", []Link{link("active", sent, "sent", "failed")}, nil, ShareSentSomeFailed, "sent " + stamp(sent) + ", delivery failed to some contacts"},
		{"sent", []Link{link("active", sent, "sent"), older, link("revoked", time.Time{})}, nil, ShareSent, "sent " + stamp(sent) + " (+1 links)"},
		// share marks the current link; a newer revoked one does not speak.
		{"current not first", []Link{link("revoked", sent, "sent"), current}, nil, ShareSent, "sent " + stamp(older.Created)},
	} {
		st := shareState(c.links, c.contacts)
		if st.Kind != c.kind || st.String() != c.want || shareStatus(c.links, c.contacts) != c.want {
			t.Errorf("%s: %s %q, want %s %q", c.name, st.Kind, st.String(), c.kind, c.want)
		}
	}
}
