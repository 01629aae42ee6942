package console

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/delivery"
	"sonolink/share"
	"sonolink/store"
)

// TestAttentionFailedChannelAndOldConflicts: a link whose e-mail was
// delivered but whose SMS failed (a webhook provider on a closed port)
// is in the attention list with the "delivery failed" badge and the way
// to the shares panel, although 600 studies arrived after its study; so
// are the study without a usable contact and the one with an object in
// two versions.
func TestAttentionFailedChannelAndOldConflicts(t *testing.T) {
	mail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer mail.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/sms"
	ln.Close()

	const later = 600
	f := newFixtureWith(t, 1, func(st *store.Store) {
		// Index entries without files: the attention list must not read them.
		objs := make([]store.BulkObject, 0, later)
		now := time.Now()
		for i := 1; i <= later; i++ {
			uid := fmt.Sprintf("1.8.%d", i)
			objs = append(objs, store.BulkObject{Instance: store.Instance{SOPInstanceUID: uid + ".1.1", StudyUID: uid, SeriesUID: uid + ".1",
				InstanceNumber: 1, ReceivedAt: now.Add(time.Duration(i) * time.Second), Source: store.Source{CalledAET: "SONOLINK"}},
				Patient: store.Patient{Name: fmt.Sprintf("Later^L%03d", i), ID: fmt.Sprintf("L%d", i)}, Date: "20261125"})
		}
		if err := st.LoadUnsynced(objs); err != nil {
			t.Fatal(err)
		}
	}, func(o *admin.LocalOptions) {
		o.Share.Delivery = delivery.Config{
			Email: delivery.EmailConfig{Provider: "webhook", From: "clinic@example.com", Webhook: delivery.WebhookConfig{URL: mail.URL}},
			SMS:   delivery.SMSConfig{Provider: "webhook", Webhook: delivery.WebhookConfig{URL: closed}},
		}
		o.Share.Backoff = share.Backoff{MaxAttempts: 1}
		o.Configured.EmailFrom = true
	})
	res, err := f.ops.Send(t.Context(), admin.SendRequest{Study: f.study, To: "jose@example.com, +46701234567"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ops.DeliverPending(t.Context()); err != nil {
		t.Fatal(err)
	}
	latest, err := f.ops.ListStudies(t.Context(), admin.StudyQuery{Sort: admin.SortReceived, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range latest {
		if s.ShortID == f.study {
			t.Fatalf("study %s is among the 500 latest arrivals; the test needs it older", f.study)
		}
	}
	d, err := f.ops.StudyDetail(t.Context(), f.study)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range d.Shares {
		for _, c := range l.Contacts {
			got = append(got, c.Channel+" "+c.Status)
		}
	}
	if strings.Join(got, ",") != "email sent,sms failed" {
		t.Fatalf("deliveries of %s: %v, want the e-mail sent and the SMS failed", res.ID, got)
	}

	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	body := html.UnescapeString(f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String())
	li := rowOf(body, "Muñoz, José")
	if !strings.Contains(li, `<span class="badge">Delivery failed</span>`) || !strings.Contains(li, `href="/study/`+f.study+`#shares"`) {
		t.Errorf("attention list: no failed-delivery row leading to the shares panel for a link whose SMS failed:\n%s", body)
	}
	if !strings.Contains(body, "Versions, Vera") || !strings.Contains(rowOf(body, "Berg, Anna"), "No usable contact") {
		t.Errorf("attention list lacks the conflict study or the one without a usable contact:\n%s", body)
	}
	if strings.Contains(body, "Later, L") {
		t.Errorf("attention list shows studies that need nothing:\n%s", body)
	}
	// The studies list, searched for the patient, carries the same badge.
	f.do("POST", "/studies", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "q": {"munoz"}})
	studies := html.UnescapeString(f.do("GET", "/studies", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(rowOf(studies, "Muñoz, José"), `<span class="badge">Delivery failed</span>`) {
		t.Errorf("studies list: no failed-delivery badge on the study:\n%s", studies)
	}
}

// rowOf is the list item or table row of a page that names who.
func rowOf(page, who string) string {
	i := strings.Index(page, who)
	if i < 0 {
		return ""
	}
	start := max(strings.LastIndex(page[:i], "<li>"), strings.LastIndex(page[:i], "<tr>"), 0)
	end := len(page)
	for _, tag := range []string{"</li>", "</tr>"} {
		if e := strings.Index(page[i:], tag); e >= 0 && i+e < end {
			end = i + e
		}
	}
	return page[start:end]
}
