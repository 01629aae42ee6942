package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"sonolink/internal/testenv"
)

// TestBrowserExpiredSelfRenew: on a phone, in each language, the expired
// page with link.self_renew on offers the masked contacts, takes the code
// and says where the new link went; every control is at least 44 px tall
// and nothing is wider than the screen. Screenshots go to the share-web
// artefacts.
func TestBrowserExpiredSelfRenew(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	fx := newFixture(t, func(c *Config) { c.LookupFloor = -1 })
	const tok = "SelfRenewTokenEEEEEEEEEEEEEEEEEEEEEEEEEEEEE"
	fx.b.add(tok, &fakeLink{link: Link{ID: "L-self", Contacts: []MaskedContact{{Kind: "email", Label: "n***@example.com"}, {Kind: "sms", Label: "+46 ••• •• 67"}}},
		items: study(1, nil), expired: true})
	fx.b.mu.Lock()
	fx.b.selfRenew = true
	fx.b.mu.Unlock()
	shots := testenv.Artifacts(t, "share-web")
	browser := testenv.Browser(t)
	done := map[string]string{"sv": "En ny länk är på väg", "es": "Su enlace nuevo está en camino", "en": "A new link is on its way"}
	for _, lang := range []string{"sv", "es", "en"} {
		t.Run(lang, func(t *testing.T) {
			ctx := testenv.PhoneTab(t, browser, 30*time.Second, nil)
			var clinic string
			var width, small int
			if err := chromedp.Run(ctx,
				network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": lang}),
				network.ClearBrowserCookies(), // each language is another phone
				chromedp.Navigate(fx.srv.URL+"/p/"+tok),
				chromedp.WaitVisible(`#sendcode`, chromedp.ByQuery),
				chromedp.Text(`.top .clinic`, &clinic, chromedp.ByQuery),
				chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
				chromedp.Evaluate(`[...document.querySelectorAll('main button, main label.choice')].filter(e => e.getBoundingClientRect().height < 44).length`, &small),
			); err != nil {
				t.Fatal(err)
			}
			if clinic != "Mölndal Ultrasound" || width > 390 || small != 0 {
				t.Errorf("clinic %q, page %d px wide, %d controls under 44 px", clinic, width, small)
			}
			testenv.Screenshot(t, ctx, shots, "expired-self-renew-"+lang)
			if err := chromedp.Run(ctx, chromedp.Click(`#sendcode`, chromedp.ByQuery), chromedp.WaitVisible(`#otp`, chromedp.ByQuery)); err != nil {
				t.Fatal(err)
			}
			fx.b.mu.Lock()
			code := fx.b.renewCodes["L-self"]
			fx.b.mu.Unlock()
			testenv.Screenshot(t, ctx, shots, "expired-self-renew-code-"+lang)
			var h1, status string
			if err := chromedp.Run(ctx,
				chromedp.SendKeys(`#otp`, code, chromedp.ByQuery),
				chromedp.Click(`#renew`, chromedp.ByQuery),
				chromedp.WaitVisible(`#renewed`, chromedp.ByQuery),
				chromedp.Text(`#renewed`, &h1, chromedp.ByQuery),
				chromedp.Text(`[role=status]`, &status, chromedp.ByQuery),
			); err != nil {
				t.Fatal(err)
			}
			if h1 != done[lang] || !strings.Contains(status, "n***@example.com, +46 ••• •• 67") {
				t.Errorf("after the code: %q / %q", h1, status)
			}
			testenv.Screenshot(t, ctx, shots, "expired-self-renewed-"+lang)
		})
	}
}
