package e2e

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// TestE2EProxyTLSBaseURL: behind a reverse proxy that ends TLS, sonolink
// itself speaks plain HTTP, yet the patient's browser is on HTTPS. With an
// https --base-url the links in messages are https, HSTS is sent and the
// session cookie is Secure, exactly as when sonolink ends TLS itself.
func TestE2EProxyTLSBaseURL(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir := shortTempDir(t)
	data := dir + "/data"
	lg := &shareE2ELog{}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	const public = "https://images.clinic.example"
	// The later --base-url wins over the harness's own http one.
	n := shareE2EStartWith(t, data, lg, client, "--base-url", public)

	in := shareE2ESample(t, dir, "us/deid-data__GREYSCALE_IMAGE.dcm", "img.dcm", true,
		"(0010,2155)=name@example.com")
	before := shareE2EOutboxFiles(data)
	n.send(t, "SONOLINK", in)
	link := outboxLink(t, data, before, regexp.MustCompile(`https?://[^\s"<>]+/p/[A-Za-z0-9_-]+`), lg)
	if !strings.HasPrefix(link, public+"/p/") {
		t.Fatalf("link %q does not start with the public https base URL", shareE2ERedact(link))
	}

	// What the proxy forwards: the same path, over plain HTTP.
	res, err := client.Get(shareE2EWithBase(link, n.httpURL))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET link through the proxy's plain HTTP: %d", res.StatusCode)
	}
	if h := res.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Errorf("no HSTS with an https base URL behind a proxy: %q", h)
	}
	cookies := res.Cookies()
	if len(cookies) == 0 {
		t.Fatal("the first visit set no session cookie")
	}
	for _, c := range cookies {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v, want both with an https base URL", c.Name, c.Secure, c.HttpOnly)
		}
	}
}

// outboxLink waits for a message that was not in the outbox before and
// returns the first link in it that re matches.
func outboxLink(t *testing.T, dataDir string, before map[string]bool, re *regexp.Regexp, lg *shareE2ELog) string {
	t.Helper()
	var link string
	if !shareE2EWait(shareE2EStable+10*time.Second, func() bool {
		for f := range shareE2EOutboxFiles(dataDir) {
			if before[f] {
				continue
			}
			b, _ := os.ReadFile(f)
			if m := re.Find(b); m != nil {
				link = string(m)
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no link matching %s in the outbox:\n%s", re, lg)
	}
	return link
}
