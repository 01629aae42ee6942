package console

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sonolink/admin"
)

// TestAttentionList: a study whose only contact cannot be used is listed,
// with the action that resolves it (send a link to a contact typed by the
// technician); a study with usable contacts is not. The studies list
// carries the same warning badge.
func TestAttentionList(t *testing.T) {
	f := newFixture(t, 1)
	cookie, _ := f.login("tech", techPW, "10.0.0.1")
	body := html.UnescapeString(f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(body, "Berg, Anna") || !strings.Contains(body, "No usable contact") {
		t.Fatalf("attention list lacks Berg's study:\n%s", body)
	}
	berg, err := f.ops.StudyDetail(t.Context(), "1.2.4")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `href="/study/`+berg.ShortID+`/send"`) {
		t.Errorf("attention list has no send action for Berg's study")
	}
	if strings.Contains(body, "Muñoz") {
		t.Errorf("attention list shows a study with usable contacts")
	}
	body = html.UnescapeString(f.do("GET", "/studies", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(body, `<span class="badge">No usable contact</span>`) {
		t.Errorf("studies list has no warning badge for Berg's study")
	}
	// Newest arrival first: Berg's study arrived last.
	if i, j := strings.Index(body, "Berg, Anna"), strings.Index(body, "Muñoz, José"); i < 0 || j < 0 || i > j {
		t.Errorf("studies not newest arrival first (Berg at %d, Muñoz at %d)", i, j)
	}
}

// TestClinicLanguageAndSettingNote: the console speaks the clinic's
// language, and setting a patient link code says how many active links it
// concerns.
func TestClinicLanguageAndSettingNote(t *testing.T) {
	f := newFixture(t, 1)
	cookie, csrf := f.login("boss", adminPW, "10.0.0.1")
	if _, err := f.ops.Send(t.Context(), admin.SendRequest{Study: f.study, To: "jose@example.com"}); err != nil {
		t.Fatal(err)
	}
	w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"link.code"}, "value": {"4711"}})
	body := html.UnescapeString(w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(body, "Saved: Patient link code.") || !strings.Contains(body, "active link") {
		t.Errorf("setting link.code: %d, no note on the active links:\n%s", w.Code, body)
	}
	w = f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"link.lifetime"}, "value": {"forever"}})
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `class="alert"`) {
		t.Errorf("an invalid value: %d, no error shown", w.Code)
	}
	if w = f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"clinic.language"}, "value": {"sv"}}); w.Code != http.StatusOK {
		t.Fatalf("set language: %d", w.Code)
	}
	body = f.do("GET", "/studies", "10.0.0.1", cookie, nil).Body.String()
	if !strings.Contains(body, `lang="sv"`) || !strings.Contains(body, "Undersökningar") || !strings.Contains(body, "Logga ut") {
		t.Errorf("the console is not in Swedish after clinic.language sv:\n%s", body)
	}
}

// TestConflictVersions: a study with two objects under one SOP Instance
// UID is in the attention list with the action that resolves it, and the
// study page chooses the version in use, audited under the person's name.
// Once chosen, the study leaves the attention list and its page no longer
// flags the object, but still lets staff choose again; keeping the version
// in use is a choice too.
func TestConflictVersions(t *testing.T) {
	f := newFixture(t, 1)
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	vera, err := f.ops.StudyDetail(t.Context(), "1.2.5")
	if err != nil {
		t.Fatal(err)
	}
	body := f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String()
	if !strings.Contains(body, "Versions, Vera") || !strings.Contains(body, `href="/study/`+vera.ShortID+`#objects"`) {
		t.Fatalf("attention list lacks the study with two versions:\n%s", body)
	}
	body = f.do("GET", "/study/"+vera.ShortID, "10.0.0.1", cookie, nil).Body.String()
	if !strings.Contains(body, `action="/study/`+vera.ShortID+`/version"`) || !strings.Contains(body, `value="2"`) {
		t.Fatalf("study page offers no version choice:\n%s", body)
	}
	w := f.do("POST", "/study/"+vera.ShortID+"/version", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "object": {"1"}, "version": {"2"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("choose version 2: %d %s", w.Code, w.Body.String())
	}
	d, err := f.ops.StudyDetail(t.Context(), vera.ShortID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Objects) != 1 || len(d.Objects[0].Versions) != 2 || !d.Objects[0].Versions[1].InUse || d.Objects[0].ChooseVersion {
		t.Fatalf("version 2 not in use, or still to choose: %+v", d.Objects)
	}
	if body := f.do("GET", "/attention", "10.0.0.1", cookie, nil).Body.String(); strings.Contains(body, "Versions, Vera") {
		t.Errorf("the study stays in the attention list after a version was chosen:\n%s", body)
	}
	body = f.do("GET", "/study/"+vera.ShortID, "10.0.0.1", cookie, nil).Body.String()
	if strings.Contains(body, `<span class="badge">Several versions</span>`) || !strings.Contains(body, `action="/study/`+vera.ShortID+`/version"`) {
		t.Errorf("study page after the choice: the object is still flagged, or the choice is gone:\n%s", body)
	}
	ev, err := f.ops.Audit(t.Context(), admin.AuditQuery{Study: vera.ShortID})
	if err != nil {
		t.Fatal(err)
	}
	var by string
	for _, e := range ev {
		by = e.Actor
	}
	if by != "staff:tech" {
		t.Errorf("the version choice is audited as %q, want staff:tech (%+v)", by, ev)
	}
}
