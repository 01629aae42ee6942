package share

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sonolink/i18n"
	"sonolink/internal/testenv"
)

// TestBrowserLinkEmail renders the HTML part of a gated link's e-mail in
// Chromium at a phone's width, in each language, as a mail client would
// (the inline logo in place of its cid: address): the page says what the
// link will ask for, the button and the plain URL are there, nothing is
// wider than the screen. The screenshots are the artefacts to look at.
func TestBrowserLinkEmail(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	var logo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 96, 48))
	for i := range img.Pix {
		img.Pix[i] = []byte{0x1d, 0x5c, 0x63, 0xff}[i%4]
	}
	png.Encode(&logo, img)
	until := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	url := "https://images.clinic.example/p/" + strings.Repeat("A", 43)
	shots := testenv.Artifacts(t, "share-email")
	browser := testenv.Browser(t)
	mentions := map[string][2]string{"en": {"clinic's code", "one-time code"}, "sv": {"klinikens kod", "engångskod"}, "es": {"código de la clínica", "código de un solo uso"}}
	for _, lang := range []string{"sv", "es", "en"} {
		t.Run(lang, func(t *testing.T) {
			r := renderer{lang: i18n.Lookup(lang), clinic: "Ultraljudsmottagningen Söder", phone: "+46 31 123 45 67",
				web: "https://ultraljud.example", hours: "8–16", logo: logo.Bytes(), logoType: "image/png", loc: time.UTC}
			m := r.linkEmail(url, until, gates{LinkCode: true, Password: true})
			page := strings.ReplaceAll(m.HTML, string(logoCID), "data:image/png;base64,"+base64.StdEncoding.EncodeToString(m.Logo.Data))
			ctx := testenv.PhoneTab(t, browser, 30*time.Second, nil)
			var text, docLang, button string
			var width int
			var logoShown bool
			if err := chromedp.Run(ctx,
				chromedp.Navigate("data:text/html;charset=utf-8;base64,"+base64.StdEncoding.EncodeToString([]byte(page))),
				chromedp.WaitVisible(`a[href]`, chromedp.ByQuery),
				chromedp.Evaluate(`document.body.innerText`, &text),
				chromedp.Evaluate(`document.documentElement.lang`, &docLang),
				chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
				chromedp.Evaluate(`document.querySelector('a[href]').innerText`, &button),
				chromedp.Evaluate(`(() => { const i = document.querySelector('img'); return !!i && i.complete && i.naturalWidth > 0; })()`, &logoShown),
			); err != nil {
				t.Fatal(err)
			}
			w := mentions[lang]
			if docLang != lang || !strings.Contains(text, w[0]) || !strings.Contains(text, w[1]) || !strings.Contains(text, url) ||
				!strings.Contains(text, "+46 31 123 45 67") || !strings.Contains(text, "Ultraljudsmottagningen Söder") || button == "" || !logoShown {
				t.Errorf("lang %q button %q logo %v; the e-mail reads:\n%s", docLang, button, logoShown, text)
			}
			if width > 390 {
				t.Errorf("the e-mail is %d px wide on a 390 px screen", width)
			}
			testenv.Screenshot(t, ctx, shots, "link-email-"+lang)
		})
	}
}
