package console

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/admin"
	"sonolink/delivery"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// TestAttentionFailedChannelAndOldConflicts: a link whose e-mail was
// delivered but whose SMS failed (a webhook provider on a closed port)
// is in the attention list with the "delivery failed" badge and the way
// to the shares panel; and the study with an object in two versions is
// listed although forty studies arrived after it.
func TestAttentionFailedChannelAndOldConflicts(t *testing.T) {
	mail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer mail.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/sms"
	ln.Close()

	f := newFixtureWith(t, 1, func(st *store.Store) {
		for i := 1; i <= 40; i++ {
			sp := testdicom.Spec{PatientName: fmt.Sprintf("Later^L%02d", i), PatientID: fmt.Sprintf("L%d", i),
				StudyUID: fmt.Sprintf("1.8.%d", i), SeriesUID: fmt.Sprintf("1.8.%d.1", i), SOPUID: fmt.Sprintf("1.8.%d.1.1", i),
				InstanceNumber: 1, StudyDate: "20261125", SeriesNumber: "1",
				Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: fmt.Sprintf("l%d@example.com", i)}}}
			p := filepath.Join(st.SpoolDir(), fmt.Sprintf("later%d.dcm", i))
			testdicom.WriteFile(t, p, sp)
			if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
				t.Fatal(err)
			}
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

	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	body := html.UnescapeString(f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String())
	li := rowOf(body, "Muñoz, José")
	if !strings.Contains(li, `<span class="badge">Delivery failed</span>`) || !strings.Contains(li, `href="/study/`+f.study+`#shares"`) {
		t.Errorf("attention list: no failed-delivery row leading to the shares panel for a link whose SMS failed:\n%s", body)
	}
	if !strings.Contains(body, "Versions, Vera") {
		t.Errorf("attention list lacks the conflict study that 40 later studies pushed back:\n%s", body)
	}
	studies := html.UnescapeString(f.do("GET", "/studies", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(rowOf(studies, "Muñoz, José"), `<span class="badge">Delivery failed</span>`) {
		t.Errorf("studies list: no failed-delivery badge on the study")
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
