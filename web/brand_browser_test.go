package web

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"sonolink/internal/testenv"
)

// TestBrowserGateNamesClinic: on a phone, in each language, the gate page
// of a link that needs the clinic's code shows the clinic's name and logo
// and how to reach it, and a revoked link's page says the clinic withdrew
// it. Screenshots go to the share-web artefacts.
func TestBrowserGateNamesClinic(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	fx := newFixture(t, nil)
	var logo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 120, 40))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for x := 0; x < 40; x++ {
		for y := 0; y < 40; y++ {
			img.Set(x, y, color.RGBA{0x1d, 0x5c, 0x63, 0xff})
		}
	}
	png.Encode(&logo, img)
	fx.b.mu.Lock()
	fx.b.clinic.Logo, fx.b.clinic.LogoType = logo.Bytes(), "image/png"
	fx.b.clinic.Phone, fx.b.clinic.Web, fx.b.clinic.Hours = "+46 31 123 45 67", "https://ultraljud.example", "8–16"
	fx.b.mu.Unlock()
	shots := testenv.Artifacts(t, "share-web")
	browser := testenv.Browser(t)
	titles := map[string][2]string{ // gate heading, revoked heading
		"en": {"Enter the clinic's code", "This link was withdrawn"},
		"sv": {"Ange klinikens kod", "Länken har dragits tillbaka"},
		"es": {"Introduzca el código de la clínica", "Este enlace fue retirado"},
	}
	for _, lang := range []string{"sv", "es", "en"} {
		t.Run(lang, func(t *testing.T) {
			ctx := testenv.PhoneTab(t, browser, 30*time.Second, nil)
			var clinic, h1, contact, docLang string
			var logoShown bool
			if err := chromedp.Run(ctx,
				network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": lang}),
				chromedp.Navigate(fx.srv.URL+"/p/"+tokGated),
				chromedp.WaitVisible(`#code`, chromedp.ByQuery),
				chromedp.Text(`.top .clinic`, &clinic, chromedp.ByQuery),
				chromedp.Text(`h1`, &h1, chromedp.ByQuery),
				chromedp.Text(`.contact`, &contact, chromedp.ByQuery),
				chromedp.Evaluate(`document.documentElement.lang`, &docLang),
				chromedp.Poll(`(() => { const i = document.querySelector('.top img.logo'); return !!i && i.complete && i.naturalWidth > 0; })()`,
					&logoShown, chromedp.WithPollingTimeout(5*time.Second)),
			); err != nil {
				t.Fatal(err)
			}
			if docLang != lang || clinic != "Mölndal Ultrasound" || !logoShown || h1 != titles[lang][0] ||
				!strings.Contains(contact, "+46 31 123 45 67") || !strings.Contains(contact, "ultraljud.example") {
				t.Errorf("gate page: lang %q clinic %q logo %v heading %q contact %q", docLang, clinic, logoShown, h1, contact)
			}
			testenv.Screenshot(t, ctx, shots, "gate-code-"+lang)

			if err := chromedp.Run(ctx,
				chromedp.Navigate(fx.srv.URL+"/p/"+tokRevoked),
				chromedp.WaitVisible(`h1`, chromedp.ByQuery),
				chromedp.Text(`h1`, &h1, chromedp.ByQuery),
				chromedp.Text(`.top .clinic`, &clinic, chromedp.ByQuery),
			); err != nil {
				t.Fatal(err)
			}
			if h1 != titles[lang][1] || clinic != "Mölndal Ultrasound" {
				t.Errorf("revoked page: heading %q clinic %q", h1, clinic)
			}
			testenv.Screenshot(t, ctx, shots, "revoked-"+lang)
		})
	}
}
