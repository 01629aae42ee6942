package e2e

import (
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testenv"
)

var (
	labelTile = regexp.MustCompile(`<a class="tile" href="[^"]*" data-kind="([a-z]+)"[^>]*data-label="([^"]*)"`)
	labelDoc  = regexp.MustCompile(`(?s)<a class="doc" href="[^"]*" data-kind="([a-z]+)">\s*<svg.*?</svg>\s*<h3>([^<]*)</h3>`)
)

// pageLabels returns "kind:label" for every ready object of a landing page.
func pageLabels(page string) []string {
	var out []string
	for _, re := range []*regexp.Regexp{labelTile, labelDoc} {
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1]+":"+m[2])
		}
	}
	slices.Sort(out)
	return out
}

// readyPage fetches a landing page until nothing on it is still being
// prepared.
func readyPage(t *testing.T, client *http.Client, link string) string {
	t.Helper()
	var page string
	if !shareE2EWait(30*time.Second, func() bool {
		_, body := shareE2EGet(t, client, link)
		page = string(body)
		return strings.Contains(page, `class="grid"`) && !strings.Contains(page, "pending")
	}) {
		t.Fatalf("landing page not ready after 30 s:\n%s", page)
	}
	return page
}

// The labels `sonolink study` prints are the patient page's, for a study
// of images, a cine loop and a PDF report; a link to selected objects
// keeps them. Resend takes a study with one active link; a second revoke
// says when the first was.
func TestCLILabelsMatchPatientPage(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir := shortTempDir(t)
	dataDir, in := dir+"/data", t.TempDir()
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dataDir, lg)
	const uid = "1.2.826.0.1.3680043.10.7777.1"
	set := func(i string) []string {
		return []string{"(0020,000D)=" + uid, "(0010,2155)=label.patient@example.com", "(0020,0011)=1", "(0020,0013)=" + i}
	}
	files := []string{
		shareE2ESample(t, in, "us/deid-data__GREYSCALE_IMAGE.dcm", "1.dcm", true, set("1")...),
		shareE2ESample(t, in, "us/deid-data__GREYSCALE_CINE.dcm", "2.dcm", true, set("2")...),
		shareE2ESample(t, in, "us/deid-data__RGB_IMAGE.dcm", "3.dcm", true, set("3")...),
		shareE2ESample(t, in, "pdf/orthanc__sample-pdf.dcm", "4.dcm", true, set("4")...),
	}
	before := outboxURLs(t, dataDir)
	n.send(t, "SONOLINK", files...)
	var link string
	if !shareE2EWait(shareE2EStable+10*time.Second, func() bool { link, _ = shareE2ENewLink(t, dataDir, before); return link != "" }) {
		t.Fatalf("no auto-share link:\n%s", lg)
	}
	link = shareE2EWithBase(link, n.httpURL)

	sum := decodeJSON[[]admin.StudySummary](t, mustCLI(t, 0, dataDir, "studies", "--json"))
	if len(sum) != 1 {
		t.Fatalf("studies: %+v", sum)
	}
	short := sum[0].ShortID
	d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", short, "--json"))
	pageKind := map[string]string{"image": "image", "cine": "cine", "PDF": "pdf", "SR": "report"}
	var cli []string
	for _, o := range d.Objects {
		cli = append(cli, pageKind[o.Kind]+":"+o.Label)
	}
	if len(d.Objects) != 4 || d.Objects[2].Label != "Image 2" || d.Objects[1].Label != "Video 1" || d.Objects[3].Label != "Report 1" {
		t.Fatalf("study labels: %v", cli)
	}
	slices.Sort(cli)

	// The patient's page, behind the password the PDF requires.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	shareE2EPassPassword(t, client, dataDir, link, "a long password")
	if got := pageLabels(readyPage(t, client, link)); !slices.Equal(got, cli) {
		t.Errorf("patient page labels %v, sonolink study %v", got, cli)
	}
	if r := mustCLI(t, 0, dataDir, "study", short); !regexp.MustCompile(`\n  Image 2 +image +1 `).MatchString(r.out) {
		t.Errorf("study view lacks the Image 2 row:\n%s", r.out)
	}

	// A link to "image 2" shows it as Image 2.
	before = outboxURLs(t, dataDir)
	r := mustCLI(t, 0, dataDir, "send", short, "--to", "label.patient@example.com", "--images", "image 2")
	sel := strings.Fields(r.out)[1]
	if !strings.Contains(r.out, "(Done by the running sonolink serve.)") {
		t.Errorf("send through serve does not say so: %s", r)
	}
	var selLink string
	shareE2EWait(5*time.Second, func() bool { selLink, _ = shareE2ENewLink(t, dataDir, before); return selLink != "" })
	if got := pageLabels(readyPage(t, &http.Client{Timeout: 30 * time.Second}, shareE2EWithBase(selLink, n.httpURL))); !slices.Equal(got, []string{"image:Image 2"}) {
		t.Errorf("the link to image 2 shows %v", got)
	}

	// Two active links: resend by study names both.
	r = mustCLI(t, 2, dataDir, "resend", short)
	if !strings.Contains(r.err, "has 2 active links; say which") || !strings.Contains(r.err, "sonolink resend "+sel) {
		t.Errorf("resend by study with two links: %s", r)
	}
	r = mustCLI(t, 0, dataDir, "revoke", sel, "--reason", "wrong selection")
	if !strings.Contains(r.out, `To share the study again: sonolink send `+short+` --to "label.patient@example.com"`) {
		t.Errorf("revoke hint: %s", r)
	}
	r = mustCLI(t, 0, dataDir, "revoke", sel)
	if !regexp.MustCompile(`Link ` + sel + ` was already revoked on \d{4}-\d\d-\d\d \d\d:\d\d \(wrong selection\); nothing changed`).MatchString(r.out) {
		t.Errorf("second revoke: %s", r)
	}
	// One active link left: resend by study resends it.
	r = mustCLI(t, 0, dataDir, "resend", short)
	if !strings.Contains(r.out, "sent again to label.patient@example.com") && !strings.Contains(r.out, "Only written to the local outbox") {
		t.Errorf("resend by study: %s", r)
	}
	if strings.Contains(r.out, sel) {
		t.Errorf("resend by study took the revoked link: %s", r)
	}
}
