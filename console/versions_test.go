package console

import (
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/admin"
	"sonolink/internal/testdicom"
	"sonolink/store"
)

// TestVersionFacts: Berg's study re-sent with the name and sex corrected.
// The study page says, under each version, what differs, in the clinic's
// language, the name as people read it; Vera's versions, alike in every
// such fact, say that the image data differs. Choosing the corrected
// version puts the corrected name on the study page and the studies list.
func TestVersionFacts(t *testing.T) {
	f := newFixtureWith(t, 1, func(st *store.Store) {
		berg := testdicom.Spec{PatientName: "Berg^Anne", PatientID: "P2", StudyUID: "1.2.4", SeriesUID: "1.2.4.0", SOPUID: "1.2.4.1",
			InstanceNumber: 1, StudyDate: "20261121", SeriesNumber: "1", Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2154, VR: "SH", Value: "0701"},
				{Group: 0x0010, Element: 0x0040, VR: "CS", Value: "F"}}}
		p := filepath.Join(st.SpoolDir(), "berg2.dcm")
		testdicom.WriteFile(t, p, berg)
		if r, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil || !r.Conflict {
			t.Fatalf("corrected Berg: %v %+v", err, r)
		}
	}, nil)
	cookie, csrf := f.login("boss", adminPW, "10.0.0.1")
	berg, err := f.ops.StudyDetail(t.Context(), "1.2.4")
	if err != nil {
		t.Fatal(err)
	}
	vera, err := f.ops.StudyDetail(t.Context(), "1.2.5")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lang, name, sex, empty, alike string }{
		{"en", "Patient name", "Sex: female", "Sex: (empty)", "they differ in the image data"},
		{"sv", "Patientens namn", "Kön: kvinna", "Kön: (tomt)", "de skiljer sig i bilddata"},
		{"es", "Nombre del paciente", "Sexo: mujer", "Sexo: (vacío)", "difieren en los datos de imagen"},
	} {
		if w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"clinic.language"}, "value": {c.lang}}); w.Code != http.StatusOK {
			t.Fatalf("set language %s: %d", c.lang, w.Code)
		}
		body := html.UnescapeString(f.do("GET", "/study/"+berg.ShortID, "10.0.0.1", cookie, nil).Body.String())
		for _, want := range []string{c.name + ": Berg, Anna", c.name + ": Berg, Anne", c.sex, c.empty} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: Berg's study page lacks %q:\n%s", c.lang, want, body)
			}
		}
		if strings.Contains(body, "P2<") || strings.Contains(body, c.alike) {
			t.Errorf("%s: Berg's page lists a fact that does not differ, or calls the versions alike", c.lang)
		}
		body = html.UnescapeString(f.do("GET", "/study/"+vera.ShortID, "10.0.0.1", cookie, nil).Body.String())
		if !strings.Contains(body, c.alike) || strings.Contains(body, `class="fact"`) {
			t.Errorf("%s: Vera's versions are alike in every fact, but the page does not say so:\n%s", c.lang, body)
		}
	}
	w := f.do("POST", "/study/"+berg.ShortID+"/version", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "object": {"1"}, "version": {"2"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("choose version 2: %d %s", w.Code, w.Body.String())
	}
	body := html.UnescapeString(f.do("GET", "/study/"+berg.ShortID, "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(body, "<h1>Berg, Anne</h1>") {
		t.Errorf("the study page does not show the chosen version's name:\n%s", body)
	}
	body = html.UnescapeString(f.do("GET", "/studies", "10.0.0.1", cookie, nil).Body.String())
	if !strings.Contains(body, "Berg, Anne") || strings.Contains(body, "Berg, Anna") {
		t.Errorf("the studies list does not show the chosen version's name:\n%s", body)
	}
	if list, err := f.ops.ListStudies(t.Context(), admin.StudyQuery{Text: "anne"}); err != nil || len(list) != 1 || list[0].ShortID != berg.ShortID {
		t.Errorf("search for the corrected name: %v %+v", err, list)
	}
}
