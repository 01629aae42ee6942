package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sonolink/internal/testenv"
)

// TestBrowserStaffScenario is the technician's scenario in headless
// Chromium at a phone viewport: log in, search, open the study, pick two
// thumbnails, send, see the confirmation and the shares panel, resend,
// revoke; then the Resend button is disabled with its reason.
func TestBrowserStaffScenario(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	f := newFixture(t, 6)
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	shots := testenv.Artifacts(t, "staff-console")
	ctx := testenv.PhoneTab(t, testenv.Browser(t), 60*time.Second, nil)

	step := func(name string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			testenv.Screenshot(t, ctx, shots, "failed-"+name)
			var body string
			_ = chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery))
			t.Fatalf("%s: %v\npage: %s", name, err, body)
		}
		testenv.Screenshot(t, ctx, shots, name)
	}
	var text string
	step("login",
		chromedp.Navigate(ts.URL+"/study/"+f.study), // no session: the login page
		chromedp.WaitVisible(`#password`, chromedp.ByQuery),
		chromedp.SendKeys(`#name`, "tech", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, techPW, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`#q`, chromedp.ByQuery),
	)
	step("search",
		chromedp.SendKeys(`#q`, "muñoz", chromedp.ByQuery),
		chromedp.Submit(`#q`, chromedp.ByQuery),
		chromedp.WaitVisible(`table.studies a[href="/study/`+f.study+`"]`, chromedp.ByQuery),
		chromedp.Text(`table.studies`, &text, chromedp.ByQuery),
	)
	if !strings.Contains(text, "Muñoz, José") {
		t.Fatalf("search results: %q", text)
	}
	var loaded bool
	var small []string
	step("study",
		chromedp.Click(`table.studies a[href="/study/`+f.study+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`ul.thumbs`, chromedp.ByQuery),
		// The thumbnails load (real JPEGs from the console).
		chromedp.Poll(`[...document.querySelectorAll('ul.thumbs img')].every(i => i.complete && i.naturalWidth > 0)`, &loaded,
			chromedp.WithPollingTimeout(10*time.Second)),
		// Touch targets: at the phone viewport every button, button-like
		// link and nav link is at least 44 px high (WCAG 2.5.5).
		chromedp.Evaluate(`[...document.querySelectorAll('button, a.button, nav a')].filter(e => e.getBoundingClientRect().height < 44).map(e => e.textContent.trim())`, &small),
		chromedp.Click(`label[for=img1]`, chromedp.ByQuery),
		chromedp.Click(`label[for=img2]`, chromedp.ByQuery),
	)
	if len(small) > 0 {
		t.Errorf("controls under 44 px at the phone viewport: %q", small)
	}
	step("send-form",
		chromedp.Click(`button[name=sel]`, chromedp.ByQuery),
		chromedp.WaitVisible(`form.send #to`, chromedp.ByQuery),
		chromedp.Text(`ul.thumbs`, &text, chromedp.ByQuery),
	)
	if text = strings.Join(strings.Fields(text), " "); text != "Image 1 Image 2" {
		t.Fatalf("send form shows %q, want the two picked images", text)
	}
	var to string
	if err := chromedp.Run(ctx, chromedp.Value(`#to`, &to, chromedp.ByQuery)); err != nil || to != "jose@example.com, +46701234567" {
		t.Fatalf("send form contacts = %q, %v", to, err)
	}
	var confirm, panel string
	step("sent",
		chromedp.Click(`form.send button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sent`, chromedp.ByQuery),
		chromedp.Text(`#sent`, &confirm, chromedp.ByQuery),
		chromedp.Text(`article.link.just`, &panel, chromedp.ByQuery),
	)
	if !strings.Contains(confirm, "It works until") || !strings.Contains(confirm, "sent") {
		t.Errorf("confirmation: %q", confirm)
	}
	if !strings.Contains(panel, "Image 1, Image 2") || !strings.Contains(panel, "jose@example.com") || !strings.Contains(panel, "Active") {
		t.Errorf("shares panel: %q", panel)
	}
	var flash string
	step("resent",
		chromedp.Click(`article.link.just button.resend`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.flash`, chromedp.ByQuery),
		chromedp.Text(`p.flash`, &flash, chromedp.ByQuery),
	)
	if !strings.Contains(flash, "was sent again") {
		t.Errorf("after resend: %q", flash)
	}
	var disabled bool
	step("revoked",
		chromedp.SendKeys(`form.revoke input[name=reason]`, "wrong address", chromedp.ByQuery),
		chromedp.Click(`form.revoke button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.status-revoked`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('button.resend').disabled`, &disabled),
		chromedp.Text(`article.link`, &panel, chromedp.ByQuery),
	)
	if !disabled || !strings.Contains(panel, "Revoked: send a new link instead.") || !strings.Contains(panel, "staff:tech") || !strings.Contains(panel, "wrong address") {
		t.Errorf("after revoke: resend disabled=%v, panel %q", disabled, panel)
	}
}
