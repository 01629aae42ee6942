package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/i18n"
	"sonolink/internal/testenv"
)

// TestE2EPatientLanguage: the patient's messages and page follow the
// patient, not only the clinic (issue 17). The clinic speaks English; a
// study whose contact is a Spanish mobile gets Spanish messages and a page
// that opens in Spanish on a phone that states no language; a link sent
// with --lang sv is in Swedish; the page's switch changes the language.
func TestE2EPatientLanguage(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	in := t.TempDir()
	dataDir := filepath.Join(shortTempDir(t), "data")
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dataDir, lg)

	const study = "1.2.826.0.1.3680043.10.1234.77"
	f := shareE2ESample(t, in, "us/pydicom-data__color-px.dcm", "es.dcm", true,
		"(0020,000D)="+study, "(0010,2155)=maria@example.es, +34 612 34 56 78")
	before := outboxURLs(t, dataDir)
	n.send(t, "SONOLINK", f)
	var link string
	var files []string
	if !shareE2EWait(shareE2EStable+20*time.Second, func() bool {
		link, files = shareE2ENewLink(t, dataDir, before)
		return len(files) == 2
	}) {
		t.Fatalf("no link to the Spanish patient; outbox %v\n%s", newFiles(before, outboxURLs(t, dataDir)), lg)
	}
	for _, name := range files {
		text := readOutbox(t, dataDir, name)
		want := "ecografias" // SMS: folded to GSM-7
		if strings.HasSuffix(name, ".eml") {
			want = "Sus im=C3=A1genes de ecograf=C3=ADa"
		}
		if !strings.Contains(text, want) {
			t.Errorf("%s is not in Spanish (no %q):\n%s", name, want, text)
		}
	}
	link = shareE2EWithBase(link, n.httpURL)

	htmlLang := regexp.MustCompile(`<html lang="([a-z]+)">`)
	pageLang := func(c *http.Client, accept string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", link, nil)
		if accept != "" {
			req.Header.Set("Accept-Language", accept)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 32<<10)
		for {
			k, err := res.Body.Read(buf)
			b.Write(buf[:k])
			if err != nil {
				break
			}
		}
		m := htmlLang.FindStringSubmatch(b.String())
		if m == nil {
			t.Fatalf("page %d without html lang", res.StatusCode)
		}
		return m[1]
	}
	if got := pageLang(http.DefaultClient, ""); got != "es" {
		t.Errorf("a phone stating no language: page in %q, want the patient's es", got)
	}
	if got := pageLang(http.DefaultClient, "sv-SE,sv;q=0.9"); got != "sv" {
		t.Errorf("a Swedish phone: page in %q, want sv", got)
	}

	// The switch, as a patient taps it: a cookie remembers the choice.
	c := reportClient()
	c.CheckRedirect = nil // follow the switch's redirect back to the page
	res, err := c.Get(link + "?lang=en")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.RawQuery != "" || pageLang(c, "es") != "en" {
		t.Errorf("after switching to English: at %s, page in %q", shareE2ERedact(res.Request.URL.String()), pageLang(c, "es"))
	}

	// send --lang sv: the technician's choice beats the phone's country.
	before = outboxURLs(t, dataDir)
	out := mustCLI(t, 0, dataDir, "send", study, "--to", "+34 612 34 56 78", "--lang", "sv")
	if !shareE2EWait(10*time.Second, func() bool { _, files = shareE2ENewLink(t, dataDir, before); return len(files) == 1 }) {
		t.Fatalf("no message for send --lang sv: %s", out)
	}
	if text := readOutbox(t, dataDir, files[0]); !strings.Contains(text, "dina ultraljudsbilder") {
		t.Errorf("send --lang sv: not Swedish:\n%s", text)
	}
	if r := runCLI(t, dataDir, "send", study, "--to", "+34 612 34 56 78", "--lang", "fi"); r.code != 2 || !strings.Contains(r.err, strings.Join(i18n.Languages(), ", ")) {
		t.Errorf("send --lang fi: exit %d, %s", r.code, r.err)
	}
}

// readOutbox is an outbox file's text, quoted-printable soft breaks joined.
func readOutbox(t *testing.T, dataDir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "outbox", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(data))
}
