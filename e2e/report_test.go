package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

// The e2e_report test follows documents (a structured report and an
// Encapsulated PDF) from the modality to the patient through the real
// binary: both are residual, so nothing of them answers before the
// password; after it the page lists them, the report reads as typed on the
// scanner (the patient's own findings, not the de-identified placeholder),
// the PDF comes out as a PDF, and "Download all" carries both as
// de-identified DICOM objects with DICOMDIR records.

// reportDocTile matches a document tile: its item URL prefix, number and
// kind.
var reportDocTile = regexp.MustCompile(`<a class="(?:tile )?doc" href="([^"]*/i/([0-9]+)/)(?:report|report\.pdf)" data-kind="(report|pdf)"`)

// reportFetch GETs u with client and returns the response (body read).
func reportFetch(t *testing.T, client *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	res, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", shareE2ERedact(u), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", shareE2ERedact(u), err)
	}
	return res, b
}

// reportClient is a browser-like client: cookies, redirects not followed
// (so a gate redirect shows as such).
func reportClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestE2EReport(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	testenv.Tool(t, "dcmsend")
	testenv.Tool(t, "dcmodify")
	dcmdump := testenv.Tool(t, "dcmdump")
	start := time.Now()
	samples := testenv.Samples(t)
	dataDir := filepath.Join(shortTempDir(t), "data")
	in := t.TempDir()
	lg := &shareE2ELog{}
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", lg)
		}
	}()
	n := shareE2EStart(t, dataDir, lg)

	const studyUID = "1.2.826.0.1.3680043.10.5454.1"
	const contact = "report.patient@example.com"
	originals := []string{"us/deid-data__GREYSCALE_IMAGE.dcm", "sr/orthanc__StructuredReports_IM0.dcm", "pdf/orthanc__sample-pdf.dcm"}
	var paths, files []string
	for i, s := range originals {
		paths = append(paths, filepath.Join(samples, s))
		files = append(files, shareE2ESample(t, in, s, fmt.Sprintf("r-%d.dcm", i), false,
			"(0020,000D)="+studyUID, "(0010,2155)="+contact))
	}
	phi := browserE2EOriginalPHI(t, paths)
	// The SR's own text repeats the patient's name and ID.
	phi = append(phi, browserE2EPHI{"SR text patient ID", "ANON0A8A2D1RJ", false}, browserE2EPHI{"contact", contact, false})

	before := outboxURLs(t, dataDir)
	n.send(t, "SONOLINK", files...)
	link := browserE2ELinksByContact(t, dataDir, before, shareE2EStable+5*time.Second, contact)[contact]

	// The password gates, then wait until the three items are ready.
	client := reportClient()
	if res, body := reportFetch(t, client, link); res.StatusCode != 200 || !bytes.Contains(body, []byte(`name="contact"`)) {
		t.Fatalf("documents need the password: %d\n%s", res.StatusCode, body)
	}
	shareE2EPassPassword(t, &http.Client{Jar: client.Jar, Timeout: 30 * time.Second}, dataDir, link, "correct horse battery")
	var page string
	docs := map[string]string{} // kind → item URL prefix ".../i/N/"
	if !shareE2EWait(15*time.Second, func() bool {
		_, b := reportFetch(t, client, link)
		page = string(b)
		for _, m := range reportDocTile.FindAllStringSubmatch(page, -1) {
			docs[m[3]] = n.httpURL + m[1] // hrefs are absolute paths
		}
		kinds, pending := shareE2ETiles(page)
		return len(kinds) == 1 && pending == 0 && docs["report"] != "" && docs["pdf"] != ""
	}) {
		t.Fatalf("page after the password: documents %v, want an image, a report and a PDF:\n%s", docs, page)
	}
	// Reports come first, each headed by its own title, or numbered when
	// it has none (the PDF).
	for _, label := range []string{"<h3>Report 1</h3>", "<h3>Annotations</h3>"} {
		if !strings.Contains(page, label) {
			t.Errorf("the page lacks the heading %q", label)
		}
	}
	rep, pdf := docs["report"], docs["pdf"]

	res, body := reportFetch(t, client, rep+"report")
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`<h1 id="title">Report`)) || !bytes.Contains(body, []byte(`class="rlines"`)) {
		t.Errorf("report page: %d\n%s", res.StatusCode, body)
	}
	// Behind the password the report reads as typed on the scanner (the
	// patient's own findings), not as its de-identified copy.
	typed := reportTextValues(t, paths[1])
	if len(typed) == 0 {
		t.Fatal("the SR sample has no TEXT values to look for")
	}
	if bytes.Contains(body, []byte("ANONYMIZED")) {
		t.Errorf("the report page shows the de-identified placeholder instead of the findings")
	}

	res, txt := reportFetch(t, client, rep+"report.txt")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || len(bytes.TrimSpace(txt)) == 0 || !utf8.Valid(txt) {
		t.Errorf("report.txt: %d %q, %d bytes, valid UTF-8 %v", res.StatusCode, res.Header.Get("Content-Type"), len(txt), utf8.Valid(txt))
	}
	if !bytes.Contains(txt, []byte("Annotations")) {
		t.Errorf("report.txt lacks the report's title:\n%s", txt)
	}
	for _, v := range typed {
		if !bytes.Contains(txt, []byte(v)) {
			t.Errorf("report.txt lacks the typed finding %q", v)
		}
	}

	res, pdfBody := reportFetch(t, client, pdf+"report.pdf")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdfBody, []byte("%PDF")) {
		t.Errorf("report.pdf: %d %q, starts %q", res.StatusCode, res.Header.Get("Content-Type"), pdfBody[:min(8, len(pdfBody))])
	}

	// Download all: both documents as DICOM objects, with their records.
	res, z := reportFetch(t, client, link+"/all.zip")
	if res.StatusCode != 200 {
		t.Fatalf("all.zip: %d", res.StatusCode)
	}
	out, files := testenv.Unzip(t, z)
	classes := map[string]bool{}
	names := map[string]bool{}
	for _, name := range files {
		names[name] = true
		p := filepath.Join(out, filepath.FromSlash(name))
		if strings.HasPrefix(name, "DICOM/") {
			ds, err := dicomfile.ReadHeader(p)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			classes[dicomfile.String(ds, tag.SOPClassUID)] = true
		}
		if name == "DICOMDIR" || strings.HasPrefix(name, "DICOM/") {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, hit := range browserE2EScan(name, b, phi) {
				t.Errorf("PHI in the ZIP: %s", hit)
			}
		}
	}
	if !classes["1.2.840.10008.5.1.4.1.1.88.11"] || !classes["1.2.840.10008.5.1.4.1.1.104.1"] {
		t.Errorf("the ZIP's DICOM objects are of classes %v: want the Basic Text SR and the Encapsulated PDF", classes)
	}
	for _, name := range []string{"DICOMDIR", "README.txt"} {
		if !names[name] {
			t.Errorf("the ZIP lacks %s (has %v)", name, names)
		}
	}
	var txts, pdfs int
	for name := range names {
		if strings.HasPrefix(name, "reports/") {
			switch filepath.Ext(name) {
			case ".txt":
				txts++
			case ".pdf":
				pdfs++
			}
		}
	}
	if txts != 1 || pdfs != 1 {
		t.Errorf("the ZIP has %d report texts and %d PDFs, want one each: %v", txts, pdfs, names)
	}
	dump, err := exec.Command(dcmdump, "-E", filepath.Join(out, "DICOMDIR")).CombinedOutput()
	if err != nil || !bytes.Contains(dump, []byte("[SR DOCUMENT]")) || !bytes.Contains(dump, []byte("[ENCAP DOC]")) || !bytes.Contains(dump, []byte("[IMAGE]")) {
		t.Errorf("dcmdump DICOMDIR: %v\n%s", err, dump)
	}

	// Another browser, without the password: none of it answers.
	fresh := reportClient()
	for _, u := range []string{rep + "report", rep + "report.txt", rep + "download", pdf + "report.pdf", pdf + "download", link + "/all.zip"} {
		res, b := reportFetch(t, fresh, u)
		ok := res.StatusCode == 404 || res.StatusCode == 403 || res.StatusCode == http.StatusSeeOther
		if !ok || bytes.HasPrefix(b, []byte("%PDF")) || bytes.HasPrefix(b, []byte("PK")) || bytes.Contains(b, []byte("Annotations")) {
			t.Errorf("%s without the password: %d (%d bytes)", shareE2ERedact(u), res.StatusCode, len(b))
		}
	}
	t.Logf("TestE2EReport took %v", time.Since(start).Round(time.Millisecond))
}

// reportTextValues returns the TEXT content item values (0040,A160) of an
// SR file, at any depth, one line each.
func reportTextValues(t *testing.T, path string) []string {
	t.Helper()
	ds, err := dicomfile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for it := ds.FlatStatefulIterator(); it.HasNext(); {
		e := it.Next()
		if e.Tag != (tag.Tag{Group: 0x0040, Element: 0xA160}) || e.Value == nil {
			continue
		}
		vals, _ := e.Value.GetValue().([]string)
		for _, v := range vals {
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) > 3 {
					out = append(out, line)
				}
			}
		}
	}
	return out
}
