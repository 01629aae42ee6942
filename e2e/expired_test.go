package e2e

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"sonolink/admin"
	"sonolink/internal/testenv"
	"sonolink/share"
)

// TestE2EExpiredPage: in Chromium at 390×844, a link code set after a link
// was issued does not gate it; once the link has expired, its page names
// the clinic and "ask for a new link" reaches the technician's list
// (`sonolink studies`, `sonolink study`), in Swedish, Spanish and English;
// with link.self_renew on, the patient has a new link sent to the same
// contact after a one-time code, which answers the request; a link sent
// while the code is set says so in its message, in each language.
func TestE2EExpiredPage(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	testenv.Tool(t, "dcmsend")
	testenv.Tool(t, "dcmodify")
	shots := testenv.Artifacts(t, "e2e-expired")
	dataDir := filepath.Join(shortTempDir(t), "data")
	in := t.TempDir()
	lg := &shareE2ELog{}
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", lg)
		}
	}()
	n := shareE2EStart(t, dataDir, lg)
	const clinic = "Klinik Zeta-Östra"
	mustCLI(t, 0, dataDir, "settings", "set", "clinic.name", clinic)
	const uid = "1.2.826.0.1.3680043.10.5252.77"
	f := shareE2ESample(t, in, "us/deid-data__GREYSCALE_IMAGE.dcm", "x.dcm", true, "(0020,000D)="+uid, "(0010,2155)=late.patient@example.com")
	before := outboxURLs(t, dataDir)
	n.send(t, "SONOLINK", f)
	link := browserE2ELinksByContact(t, dataDir, before, shareE2EStable+5*time.Second, "late.patient@example.com")["late.patient@example.com"]
	browserE2EReady(t, link, 1)

	bctx := testenv.Browser(t)
	tab := func(t *testing.T, lang string) context.Context {
		ctx := testenv.PhoneTab(t, bctx, 60*time.Second, nil)
		if err := chromedp.Run(ctx, network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": lang})); err != nil {
			t.Fatal(err)
		}
		return ctx
	}

	t.Run("a link code set after the link was issued does not gate it", func(t *testing.T) {
		r := mustCLI(t, 0, dataDir, "settings", "set", "link.code", "4711")
		if !strings.Contains(r.out, "1 keep opening without one") {
			t.Errorf("settings set link.code does not say which links it affects:\n%s", r.out)
		}
		for _, lang := range []string{"sv", "es", "en"} {
			ctx := tab(t, lang)
			var codes int
			var docLang string
			if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(link), chromedp.WaitVisible(`.grid`, chromedp.ByQuery),
				chromedp.Evaluate(`document.querySelectorAll('#code').length`, &codes),
				chromedp.Evaluate(`document.documentElement.lang`, &docLang)); err != nil || codes != 0 {
				t.Fatalf("%s: the link asks for a code its patient was never given (%d code fields, %v)", lang, codes, err)
			}
			if docLang != lang {
				t.Errorf("page in %q, want %s", docLang, lang)
			}
			testenv.Screenshot(t, ctx, shots, "code-set-later-not-gated-"+lang)
		}
	})

	// Let the link expire: renew its lifetime at a clock 100 days back,
	// with share's own API as the resend command would.
	d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", uid, "--json"))
	if len(d.Shares) != 1 {
		t.Fatalf("shares %+v", d.Shares)
	}
	n.stop(t)
	sh, err := share.Open(dataDir, share.Options{Now: func() time.Time { return time.Now().Add(-100 * 24 * time.Hour) }, NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sh.Resend(context.Background(), d.Shares[0].ID, "e2e test")
	sh.Close()
	if err != nil {
		t.Fatal(err)
	}
	n = shareE2EStart(t, dataDir, lg)
	link = shareE2EWithBase(link, n.httpURL)

	for _, tc := range []struct{ lang, ask, asked string }{
		{"sv-SE,sv;q=0.9", "Be om en ny länk", "Tack, din förfrågan är skickad"},
		{"es-ES,es;q=0.9", "Pedir un enlace nuevo", "Gracias, su solicitud se ha enviado"},
		{"en-GB,en;q=0.9", "Ask for a new link", "Thank you, your request was sent"},
	} {
		t.Run("ask for a new link, "+tc.lang[:2], func(t *testing.T) {
			ctx := tab(t, tc.lang)
			var page, asked string
			// Each language is another phone: no cookie of the one before.
			if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(link), chromedp.WaitVisible(`#ask`, chromedp.ByQuery),
				chromedp.Text(`main`, &page, chromedp.ByQuery)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(page, tc.ask) || !strings.Contains(page, clinic) {
				t.Errorf("expired page lacks %q or the clinic's name:\n%s", tc.ask, page)
			}
			testenv.Screenshot(t, ctx, shots, "expired-"+tc.lang[:2])
			if err := chromedp.Run(ctx, chromedp.Click(`#ask`, chromedp.ByQuery), chromedp.WaitVisible(`#asked`, chromedp.ByQuery),
				chromedp.Text(`#asked`, &asked, chromedp.ByQuery)); err != nil {
				t.Fatal(err)
			}
			if asked != tc.asked {
				t.Errorf("after the tap: %q, want %q", asked, tc.asked)
			}
			testenv.Screenshot(t, ctx, shots, "expired-asked-"+tc.lang[:2])
		})
	}

	// The request is on the technician's list.
	if r := mustCLI(t, 0, dataDir, "studies"); !strings.Contains(r.out, "! new link asked") || !strings.Contains(r.out, "1 patient asked for a new link") {
		t.Errorf("studies does not show the request:\n%s", r.out)
	}
	r := mustCLI(t, 0, dataDir, "study", uid)
	if !strings.Contains(r.out, "patient asked for a new link on") || !strings.Contains(r.out, "sonolink send") {
		t.Errorf("study does not show the request:\n%s", r.out)
	}
	// link.self_renew: the patient has a new link sent at once, after a
	// one-time code in the page's language at the contact they pick, and
	// that closes the request on the technician's list.
	t.Run("send me a new link, es", func(t *testing.T) {
		mustCLI(t, 0, dataDir, "settings", "set", "link.self_renew", "on")
		ctx := tab(t, "es-ES,es;q=0.9")
		var page string
		if err := chromedp.Run(ctx, network.ClearBrowserCookies(), chromedp.Navigate(link),
			chromedp.WaitVisible(`#sendcode`, chromedp.ByQuery), chromedp.Text(`main`, &page, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(page, "Recibir un enlace nuevo ahora") || !strings.Contains(page, "l•••@example.com") || strings.Contains(page, "late.patient") {
			t.Errorf("the expired page does not offer a new link to the masked contact, or shows it whole:\n%s", page)
		}
		testenv.Screenshot(t, ctx, shots, "self-renew-contacts-es")
		seen := shareE2EOutboxFiles(dataDir)
		before := outboxURLs(t, dataDir)
		if err := chromedp.Run(ctx, chromedp.Click(`#sendcode`, chromedp.ByQuery), chromedp.WaitVisible(`#otp`, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		spanishCode := regexp.MustCompile(`un solo uso es ([0-9]{6})`)
		var code string
		if !shareE2EWait(10*time.Second, func() bool {
			for f := range shareE2EOutboxFiles(dataDir) {
				if !seen[f] {
					if m := spanishCode.FindStringSubmatch(readOutbox(t, dataDir, filepath.Base(f))); m != nil {
						code = m[1]
					}
				}
			}
			return code != ""
		}) {
			t.Fatal("no one-time code in Spanish in the outbox within 10 s")
		}
		testenv.Screenshot(t, ctx, shots, "self-renew-code-es")
		var done string
		if err := chromedp.Run(ctx, chromedp.SendKeys(`#otp`, code, chromedp.ByQuery), chromedp.Click(`#renew`, chromedp.ByQuery),
			chromedp.WaitVisible(`#renewed`, chromedp.ByQuery), chromedp.Text(`main`, &done, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(done, "Hemos enviado un enlace nuevo a l•••@example.com") {
			t.Errorf("after the code: %q", done)
		}
		testenv.Screenshot(t, ctx, shots, "self-renew-sent-es")
		var fresh map[string]string
		if !shareE2EWait(10*time.Second, func() bool { fresh = newFiles(before, outboxURLs(t, dataDir)); return len(fresh) == 1 }) {
			t.Fatalf("new link messages: %v", fresh)
		}
		for _, u := range fresh {
			if tokenOf(u) == tokenOf(link) {
				t.Error("the old link was sent again")
			}
		}
		if r := mustCLI(t, 0, dataDir, "studies"); strings.Contains(r.out, "! new link asked") {
			t.Errorf("the request is still open after the patient's own new link:\n%s", r.out)
		}
		if r := mustCLI(t, 0, dataDir, "audit", "--study", uid); !strings.Contains(r.out, share.ActorSelfRenew) || !strings.Contains(r.out, share.EventRenewalCode) {
			t.Errorf("the audit log does not say the patient renewed the link:\n%s", r.out)
		}
		mustCLI(t, 0, dataDir, "settings", "set", "link.self_renew", "off")
	})

	// A link sent while the clinic's code is set says so in its message,
	// in the patient's language.
	for _, tc := range []struct{ lang, says string }{{"sv", "klinikens kod"}, {"es", "código de la clínica"}, {"en", "clinic's code"}} {
		seen := shareE2EOutboxFiles(dataDir)
		mustCLI(t, 0, dataDir, "send", uid, "--to", "late.patient@example.com", "--lang", tc.lang)
		var text string
		shareE2EWait(10*time.Second, func() bool {
			for f := range shareE2EOutboxFiles(dataDir) {
				if !seen[f] && strings.HasSuffix(f, ".eml") {
					text = emlPlainText(t, f)
					return true
				}
			}
			return false
		})
		if !strings.Contains(text, tc.says) {
			t.Errorf("send --lang %s with a link code set: the message does not mention %q:\n%s", tc.lang, tc.says, text)
		}
	}
	if r := mustCLI(t, 0, dataDir, "studies"); strings.Contains(r.out, "! new link asked") {
		t.Errorf("request still open after a new link was sent:\n%s", r.out)
	}
}

// emlPlainText is the text/plain part of an outbox e-mail, decoded.
func emlPlainText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	typ, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if !strings.HasPrefix(typ, "multipart/") {
		b, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
		return string(b)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("%s has no text/plain part: %v", path, err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, _ := io.ReadAll(p) // NextPart decodes quoted-printable
			return string(b)
		}
	}
}
