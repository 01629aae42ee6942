package web

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/i18n"
	"sonolink/internal/testenv"
	"sonolink/render"
)

const tokReport = "ReportTokenGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"

// reportFixture adds a password link with an image and a residual
// structured report (item 2), and returns a client logged in to it.
func reportFixture(t *testing.T) (*fixture, string, *http.Client) {
	t.Helper()
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
	items := study(1, nil)
	items = append(items, Item{Index: 2, Kind: "report", Residual: true, Ready: true})
	fx.b.add(tokReport, &fakeLink{link: Link{ID: "L-report", NeedsPassword: true, Contacts: []MaskedContact{{Kind: "email", Label: "a***@example.com"}}}, items: items})
	fx.b.passwords["L-report"] = "correct horse"
	base := fx.srv.URL + "/p/" + tokReport
	return fx, base, client()
}

func reportLogin(t *testing.T, c *http.Client, base string) {
	t.Helper()
	_, body := getc(t, c, base)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form:\n%s", body)
	}
	if res, _ := post(t, c, base+"/login", url.Values{"password": {"correct horse"}, "csrf": {m[1]}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
}

func TestReportBehindPassword(t *testing.T) {
	_, base, c := reportFixture(t)
	_, body := getc(t, c, base)
	if strings.Contains(body, "/i/2/") || strings.Contains(body, "Obstetric") {
		t.Fatal("the gate page shows the report")
	}
	for _, p := range []string{"/i/2/report", "/i/2/report.txt", "/i/2/download", "/i/2/thumb.jpg"} {
		res, body := getc(t, c, base+p)
		if res.StatusCode != 403 && res.StatusCode != 404 || strings.Contains(body, "Single live") {
			t.Errorf("%s before the password: %d", p, res.StatusCode)
		}
	}
	if res, _ := getc(t, c, base+"/all.zip"); res.StatusCode != 403 {
		t.Errorf("zip before the password: %d", res.StatusCode)
	}
}

// A residual report on a link that (inconsistently) needs no password is
// not shown at all.
func TestReportResidualHiddenWithoutPassword(t *testing.T) {
	fx := newFixture(t, nil)
	l := fx.b.links[hashToken(tokOpen)]
	l.items = append(l.items, Item{Index: 6, Kind: "report", Residual: true, Ready: true})
	if _, body := fx.get(t, "/p/"+tokOpen); strings.Contains(body, "/i/6/") {
		t.Error("residual report on the page")
	}
	for _, p := range []string{"/i/6/report", "/i/6/report.txt", "/i/6/download"} {
		if res, _ := fx.get(t, "/p/"+tokOpen+p); res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
	if names := zipNames(t, fx, "/p/"+tokOpen+"/all.zip"); names["reports/06-report.txt"] || names["DICOM/IMG00006"] {
		t.Error("residual report in the ZIP")
	}
}

func TestReportPageTextAndZip(t *testing.T) {
	_, base, c := reportFixture(t)
	reportLogin(t, c, base)

	res, body := getc(t, c, base)
	if res.StatusCode != 200 {
		t.Fatalf("landing: %d", res.StatusCode)
	}
	for _, want := range []string{`<a class="doc" href="/p/` + tokReport + `/i/2/report"`, "<h3>Obstetric ultrasound report</h3>"} {
		if !strings.Contains(body, want) {
			t.Errorf("landing lacks %s", want)
		}
	}
	if i, j := strings.Index(body, `id="reports-title"`), strings.Index(body, `class="grid"`); i < 0 || j >= 0 && j < i {
		t.Error("reports do not come first")
	}
	if strings.Contains(body, "/i/2/thumb.jpg") {
		t.Error("report tile asks for a thumbnail it does not have")
	}

	res, body = getc(t, c, base+"/i/2/report")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("report page: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{"<h1 id=\"title\">Report 1</h1>", "Obstetric ultrasound report", `<span class="rlabel">Findings</span>:`, "Single live intrauterine pregnancy.", `href="/p/` + tokReport + `/i/2/download"`, `<html lang="en">`} {
		if !strings.Contains(body, want) {
			t.Errorf("report page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
		t.Error("inline script or style on the report page")
	}
	if len(body) > 150<<10 {
		t.Errorf("report page is %d bytes", len(body))
	}

	res, txt := getc(t, c, base+"/i/2/report.txt")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !utf8.ValidString(txt) ||
		!strings.Contains(txt, "Findings: Single live intrauterine pregnancy.") || !strings.HasPrefix(txt, "Obstetric ultrasound report\r\n") {
		t.Errorf("report.txt: %d %v\n%s", res.StatusCode, res.Header, txt)
	}
	res, _ = getc(t, c, base+"/i/2/download")
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="report-02.txt"` {
		t.Errorf("download: %q", cd)
	}
	// Only reports have a report page; reports have no frames.
	for _, p := range []string{"/i/1/report", "/i/1/report.txt", "/i/2/frame/0001.jpg", "/i/2/loop.gif", "/i/2/report.pdf"} {
		if res, _ := getc(t, c, base+p); res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}

	// Download all: the text, the SR object and a DICOMDIR record for it.
	res, z := getc(t, c, base+"/all.zip")
	if res.StatusCode != 200 {
		t.Fatalf("zip: %d", res.StatusCode)
	}
	dir, names := testenv.Unzip(t, []byte(z))
	got := map[string]bool{}
	for _, n := range names {
		got[n] = true
	}
	for _, want := range []string{"images/01-image.jpg", "reports/02-report.txt", "DICOM/IMG00001", "DICOM/IMG00002", "DICOMDIR", "README.txt"} {
		if !got[want] {
			t.Errorf("zip lacks %s (has %v)", want, got)
		}
	}
	sr, err := dicomfile.ReadFile(filepath.Join(dir, "DICOM", "IMG00002"))
	if err != nil || dicomfile.String(sr, tag.SOPClassUID) != "1.2.840.10008.5.1.4.1.1.88.11" {
		t.Fatalf("DICOM/IMG00002 is not the SR: %v", err)
	}
	dcmdump := testenv.Tool(t, "dcmdump")
	out, err := exec.Command(dcmdump, "-E", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "E:") {
		t.Fatalf("dcmdump DICOMDIR: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "[SR DOCUMENT]") || !strings.Contains(string(out), `DICOM\IMG00002`) {
		t.Errorf("DICOMDIR has no SR DOCUMENT record for IMG00002:\n%s", out)
	}
	if out, err := exec.Command(dcmdump, filepath.Join(dir, "DICOM", "IMG00002")).CombinedOutput(); err != nil {
		t.Errorf("dcmdump SR: %v\n%s", err, out)
	}
}

func TestReportLocalized(t *testing.T) {
	_, base, c := reportFixture(t)
	reportLogin(t, c, base)
	for lang, want := range map[string][]string{
		"sv": {"Rapport 1", "Ladda ner som text", "Tillbaka till alla bilder"},
		"es": {"Informe 1", "Descargar como texto", "Volver a todas las imágenes"},
	} {
		req, _ := http.NewRequest("GET", base+"/i/2/report", nil)
		req.Header.Set("Accept-Language", lang)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := html.UnescapeString(string(b))
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: page lacks %q", lang, w)
			}
		}
		req, _ = http.NewRequest("GET", base, nil)
		req.Header.Set("Accept-Language", lang)
		res, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(res.Body)
		res.Body.Close()
		// The landing page lists reports first, under a heading in the
		// page's language, each under the document's own title.
		section := map[string]string{"sv": "Rapporter", "es": "Informes"}[lang]
		if !strings.Contains(string(b), `<h2 id="reports-title">`+section+`</h2>`) || !strings.Contains(string(b), "<h3>Obstetric ultrasound report</h3>") {
			t.Errorf("%s: landing lacks the reports section %q with the report's title", lang, section)
		}
	}
}

// The stored-XSS strings of the Orthanc sample, put into a report's title,
// labels and values, come out as text.
func TestReportXSSInert(t *testing.T) {
	ds, err := dicomfile.ReadFile(filepath.Join(testenv.Samples(t), "odd", "orthanc__2017-06-27-XSSInjection.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, tg := range []tag.Tag{tag.PatientName, tag.StudyDescription, tag.SeriesDescription} {
		if v := dicomfile.String(ds, tg); strings.Contains(v, "<") {
			bad = append(bad, v)
		}
	}
	if len(bad) < 3 {
		t.Fatalf("want the sample's 3 XSS strings, found %q", bad)
	}
	fx, base, c := reportFixture(t)
	fx.b.srTitle = bad[0]
	fx.b.srTexts = [][2]string{{bad[1], bad[2]}, {`"><img src=x onerror=alert(3)>`, bad[0]}}
	reportLogin(t, c, base)
	_, body := getc(t, c, base+"/i/2/report")
	for _, s := range append(bad, "<script", "<img src=x") {
		if strings.Contains(body, s) {
			t.Errorf("unescaped %q on the report page", s)
		}
	}
	if !strings.Contains(body, html.EscapeString(bad[2])) {
		t.Errorf("the value is not shown escaped:\n%s", body)
	}
	res, txt := getc(t, c, base+"/i/2/report.txt")
	if !strings.Contains(txt, bad[2]) || res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("report.txt: %v", res.Header)
	}
}

// The SR relationship words ("modifier", "inferred from") are behind
// "Show details": present in the page for the curious, hidden by the style
// sheet until the box is ticked, which needs no script.
func TestReportRelationsBehindDetails(t *testing.T) {
	tm, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{tmpl: tm, assets: theAssets}
	loc := i18n.Lookup("sv")
	rep := &render.Report{Title: "Obstetrisk rapport", Sections: []render.ReportSection{{Heading: "Fynd", Level: 1, Lines: []render.ReportLine{
		{Label: "Fosterläge", Value: "huvudbjudning", Kind: "code"},
		{Label: "Lateralitet", Value: "vänster", Kind: "code", Relation: "modifier", Depth: 1},
	}}}}
	page := func(r *render.Report) string {
		var b strings.Builder
		d := &pageData{L: loc, Base: "/p/x", Title: "Rapport 1", Heading: "Rapport 1", Clinic: &Clinic{Name: "Kliniken"}, Report: viewReport(r, loc)}
		d.s = s
		if err := s.tmpl["report"].ExecuteTemplate(&b, "layout", d); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	body := page(rep)
	for _, want := range []string{`<input type="checkbox" id="rdetails" class="rtoggle">`, `<label for="rdetails" class="rtoggle-label">` + loc.T("report.details") + `</label>`,
		`<div class="rbody">`, `<span class="rrel">` + render.ReportWord(loc, "modifier") + `</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("report page lacks %s:\n%s", want, body)
		}
	}
	if i, j := strings.Index(body, `id="rdetails"`), strings.Index(body, `class="rbody"`); i < 0 || j < i {
		t.Error("the details box must come before the report body, its sibling, for the style sheet to reach it")
	}
	css, err := staticFS.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{".rrel { font-style: italic; display: none; }", ".rtoggle:checked ~ .rbody .rrel { display: inline; }"} {
		if !strings.Contains(string(css), rule) {
			t.Errorf("app.css lacks %s", rule)
		}
	}
	rep.Sections[0].Lines = rep.Sections[0].Lines[:1]
	if body := page(rep); strings.Contains(body, "rdetails") {
		t.Error("a report without relationship words offers details")
	}
}
