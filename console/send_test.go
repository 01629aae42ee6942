package console

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"sonolink/admin"
)

// TestSendResendRevoke goes through the technician's flow over HTTP: the
// study page labels the objects as the patient page does, the send form is
// prefilled with the scanner's contacts and warns before sending, a second
// send to the same contact offers Resend, and resend and revoke show in the
// shares panel and the audit log under the person's name.
func TestSendResendRevoke(t *testing.T) {
	f := newFixture(t, 6)
	const client = "10.0.0.1"
	cookie, csrf := f.login("tech", techPW, client)

	// Search by part of the name, accents ignored; the search is not in the URL.
	w := f.do("POST", "/studies", client, cookie, url.Values{"csrf": {csrf}, "q": {"munoz"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/studies" {
		t.Fatalf("search: %d to %q", w.Code, w.Header().Get("Location"))
	}
	body := f.do("GET", "/studies", client, cookie, nil).Body.String()
	if !strings.Contains(body, "Muñoz, José") || !strings.Contains(body, `href="/study/`+f.study+`"`) {
		t.Fatalf("search result lacks the study:\n%s", body)
	}

	// The study page: objects labelled as the patient sees them (object 5
	// is the first loop: "Video 1"; object 6 is "Image 5"), thumbnails, the
	// residual verdict with its reason, the contacts read from DICOM.
	body = html.UnescapeString(f.do("GET", "/study/"+f.study, client, cookie, nil).Body.String())
	for _, want := range []string{"Image 1", "Image 4", "Video 1", "Image 5", "/study/" + f.study + "/thumb/1",
		"burned-in text outside the regions", "jose@example.com", "+46701234567"} {
		if !strings.Contains(body, want) {
			t.Errorf("study page lacks %q", want)
		}
	}
	if strings.Contains(body, "Image 6") {
		t.Error("study page numbers the loop as an image")
	}
	th := f.do("GET", "/study/"+f.study+"/thumb/2", client, cookie, nil)
	if th.Code != http.StatusOK || th.Header().Get("Content-Type") != "image/jpeg" || th.Body.Len() == 0 {
		t.Fatalf("thumbnail: %d %s", th.Code, th.Header().Get("Content-Type"))
	}

	// The send form for objects 1 and 3: prefilled, and the note that the
	// patient will confirm with a one-time code (object 3 is residual).
	body = html.UnescapeString(f.do("GET", "/study/"+f.study+"/send?img=1&img=3", client, cookie, nil).Body.String())
	if !strings.Contains(body, `value="jose@example.com, +46701234567"`) {
		t.Errorf("send form not prefilled with the DICOM contacts:\n%s", body)
	}
	if !strings.Contains(body, "one-time code") || !strings.Contains(body, `name="images" value="1,3"`) {
		t.Errorf("send form lacks the residual note or the selection")
	}
	// "Send selected" with nothing ticked goes back to the thumbnails with
	// a message, rather than offering the whole study.
	w = f.do("GET", "/study/"+f.study+"/send?sel=1", client, cookie, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/study/"+f.study+"?done=nopick#objects" {
		t.Fatalf("send with nothing ticked: %d to %q", w.Code, w.Header().Get("Location"))
	}
	body2 := html.UnescapeString(f.do("GET", "/study/"+f.study+"?done=nopick", client, cookie, nil).Body.String())
	if !strings.Contains(body2, `role="alert">No image was ticked`) || !strings.Contains(body2, "“Send whole study”") {
		t.Errorf("study page after an empty selection lacks the message")
	}
	// One residual object: the note is in the singular, not "object(s)".
	if !strings.Contains(body, "1 object may still show patient details") || strings.Contains(body, "object(s)") {
		t.Errorf("residual note not in the singular for one object")
	}
	// SMS only: the advice to add an e-mail.
	w = f.do("POST", "/study/"+f.study+"/send", client, cookie, url.Values{"csrf": {csrf}, "to": {"+46701234567"}, "images": {"1,2"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("send: %d %s", w.Code, w.Body.String())
	}
	loc := w.Header().Get("Location")
	m := regexp.MustCompile(`sent=([A-Z0-9]+)`).FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("send redirects to %q", loc)
	}
	link := m[1]
	u, _ := url.Parse(loc)
	body = f.do("GET", u.RequestURI(), client, cookie, nil).Body.String()
	if !strings.Contains(body, `id="sent"`) || !strings.Contains(body, "Link "+link+" sent") || !strings.Contains(body, "Image 1, Image 2") {
		t.Fatalf("no confirmation for %s:\n%s", link, body)
	}
	w = f.do("POST", "/study/"+f.study+"/send", client, cookie, url.Values{"csrf": {csrf}, "to": {"070-123 45 67"}})
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "/link/"+link+"/resend") {
		t.Fatalf("a second send to the same phone does not offer Resend: %d\n%s", w.Code, w.Body.String())
	}
	if !strings.Contains(w.Body.String(), "e-mail address") {
		t.Errorf("SMS-only send has no advice to add an e-mail")
	}

	// Resend, then revoke with a reason.
	w = f.do("POST", "/link/"+link+"/resend", client, cookie, url.Values{"csrf": {csrf}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("resend: %d %s", w.Code, w.Body.String())
	}
	if w = f.do("POST", "/link/"+link+"/revoke", client, cookie, url.Values{"csrf": {csrf}}); w.Code != http.StatusBadRequest {
		t.Errorf("revoke without a reason: %d", w.Code)
	}
	w = f.do("POST", "/link/"+link+"/revoke", client, cookie, url.Values{"csrf": {csrf}, "reason": {"wrong number"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", w.Code, w.Body.String())
	}
	body = f.do("GET", "/study/"+f.study, client, cookie, nil).Body.String()
	for _, want := range []string{"staff:tech", "wrong number", "disabled", "Revoked: send a new link instead."} {
		if !strings.Contains(body, want) {
			t.Errorf("shares panel after revoke lacks %q", want)
		}
	}
	if w = f.do("POST", "/link/"+link+"/resend", client, cookie, url.Values{"csrf": {csrf}}); w.Code != http.StatusConflict {
		t.Errorf("resending a revoked link: %d", w.Code)
	}

	ev, err := f.ops.Audit(t.Context(), admin.AuditQuery{Link: link})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range ev {
		if e.Actor != "" {
			got[e.Event] = e.Actor
		}
	}
	for _, e := range []string{"link.created", "link.resent", "link.revoked"} {
		if got[e] != "staff:tech" {
			t.Errorf("audit %s by %q, want staff:tech (all: %v)", e, got[e], got)
		}
	}
}
