package web

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"sonolink/internal/testenv"
)

type netLog struct {
	mu   sync.Mutex
	urls []string
	docs map[string]int64 // document URL → status
}

// TestBrowser drives headless Chromium at a phone viewport through the
// patient's pages.
func TestBrowser(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium") // before building the fixture: skip early
	fx := newFixture(t, nil)
	shots := testenv.Artifacts(t, "share-web")
	srvURL, _ := url.Parse(fx.srv.URL)

	bctx := testenv.Browser(t)

	nl := &netLog{docs: map[string]int64{}}
	// tab opens a new tab at the phone viewport that records every request.
	tab := func(t *testing.T) context.Context {
		return testenv.PhoneTab(t, bctx, 45*time.Second, func(ev any) {
			switch e := ev.(type) {
			case *network.EventRequestWillBeSent:
				nl.mu.Lock()
				nl.urls = append(nl.urls, e.Request.URL)
				nl.mu.Unlock()
			case *network.EventResponseReceived:
				if e.Type == network.ResourceTypeDocument {
					nl.mu.Lock()
					nl.docs[e.Response.URL] = e.Response.Status
					nl.mu.Unlock()
				}
			}
		})
	}
	shot := func(t *testing.T, ctx context.Context, name string) { testenv.Screenshot(t, ctx, shots, name) }

	t.Run("landing, cine and download all", func(t *testing.T) {
		ctx := tab(t)
		page := fx.srv.URL + "/p/" + tokOpen
		var allOK bool
		err := chromedp.Run(ctx,
			chromedp.Navigate(page),
			chromedp.WaitVisible(`.grid`, chromedp.ByQuery),
			chromedp.Poll(`(() => { const a = [...document.querySelectorAll('.tile img')];
				return a.length === 5 && a.every(i => i.complete && i.naturalWidth > 0); })()`, &allOK,
				chromedp.WithPollingTimeout(15*time.Second)),
		)
		if err != nil || !allOK {
			t.Fatalf("thumbnails not all visible: %v", err)
		}
		shot(t, ctx, "landing")

		// Tap the loop: the viewer opens and the frame changes over time.
		var open bool
		if err := chromedp.Run(ctx,
			chromedp.Click(`a.tile[data-kind=cine]`, chromedp.ByQuery),
			chromedp.Poll(`document.getElementById('viewer').open`, &open, chromedp.WithPollingTimeout(5*time.Second)),
		); err != nil || !open {
			t.Fatalf("viewer did not open: %v", err)
		}
		seen := map[string]bool{}
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) && len(seen) < 4 {
			var src string
			if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('.vimg').getAttribute('src')`, &src)); err != nil {
				t.Fatal(err)
			}
			seen[src] = true
			time.Sleep(60 * time.Millisecond)
		}
		if len(seen) < 4 {
			t.Fatalf("cine did not play: frames seen %v", seen)
		}
		for s := range seen {
			if !strings.Contains(s, "/i/3/frame/") {
				t.Errorf("viewer shows %q, not a frame of the loop", s)
			}
		}
		shot(t, ctx, "viewer-cine")

		// Pause, step with the keyboard, next image with the arrow key.
		var label, src1, src2 string
		if err := chromedp.Run(ctx,
			chromedp.Click(`[data-act=play]`, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector('.vimg').getAttribute('src')`, &src1),
			chromedp.Sleep(300*time.Millisecond),
			chromedp.Evaluate(`document.querySelector('.vimg').getAttribute('src')`, &src2),
		); err != nil {
			t.Fatal(err)
		}
		if src1 != src2 {
			t.Errorf("paused loop still changes: %s → %s", src1, src2)
		}
		if err := chromedp.Run(ctx,
			chromedp.KeyEvent(kb.ArrowRight),
			chromedp.Text(`.vlabel`, &label, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		if label != "Image 3" { // fourth item: the third still image
			t.Errorf("next shows %q", label)
		}
		if err := chromedp.Run(ctx, chromedp.Click(`[data-act=close]`, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}

		// Download all, with the browser's session cookie.
		var href string
		var cookies []*network.Cookie
		if err := chromedp.Run(ctx,
			chromedp.AttributeValue(`#download-all`, "href", &href, nil, chromedp.ByQuery),
			chromedp.ActionFunc(func(ctx context.Context) error {
				var err error
				cookies, err = network.GetCookies().WithURLs([]string{page}).Do(ctx)
				return err
			}),
		); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", fx.srv.URL+href, nil)
		for _, c := range cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("zip: %d", res.StatusCode)
		}
		checkZip(t, body, 5)
	})

	t.Run("link code and password", func(t *testing.T) {
		ctx := tab(t)
		var title string
		err := chromedp.Run(ctx,
			chromedp.Navigate(fx.srv.URL+"/p/"+tokGated),
			chromedp.WaitVisible(`#code`, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatal(err)
		}
		shot(t, ctx, "gate-code")
		err = chromedp.Run(ctx,
			chromedp.SendKeys(`#code`, "BLUE42", chromedp.ByQuery),
			chromedp.Submit(`#code`, chromedp.ByQuery),
			chromedp.WaitVisible(`input[name=contact]`, chromedp.ByQuery),
			chromedp.Click(`input[name=contact][value="1"]`, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatal(err)
		}
		shot(t, ctx, "gate-contacts")
		if err := chromedp.Run(ctx,
			chromedp.Submit(`input[name=contact]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#otp`, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		code := fx.b.otp("L-gated")
		if code != "123457" { // the fake's code for contact 1
			t.Fatalf("one-time code for the chosen contact not sent: %q", code)
		}
		if err := chromedp.Run(ctx,
			chromedp.SendKeys(`#otp`, code, chromedp.ByQuery),
			chromedp.Submit(`#otp`, chromedp.ByQuery),
			chromedp.WaitVisible(`#pw1`, chromedp.ByQuery),
			chromedp.SendKeys(`#pw1`, "short", chromedp.ByQuery),
			chromedp.SendKeys(`#pw2`, "short", chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		// The browser's own minlength check stops a short password.
		var valid bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById('pw1').checkValidity()`, &valid)); err != nil || valid {
			t.Errorf("short password passes the form check (%v)", err)
		}
		shot(t, ctx, "gate-password")
		if err := chromedp.Run(ctx,
			chromedp.Evaluate(`document.getElementById('pw1').value = document.getElementById('pw2').value = ''`, nil),
			chromedp.SendKeys(`#pw1`, "a long password", chromedp.ByQuery),
			chromedp.SendKeys(`#pw2`, "a long password", chromedp.ByQuery),
			chromedp.Submit(`#pw1`, chromedp.ByQuery),
			chromedp.WaitVisible(`.grid`, chromedp.ByQuery),
			chromedp.Text(`h1`, &title, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		if title != "Your ultrasound images" {
			t.Errorf("after the gates: %q", title)
		}
		var n int
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('.tile').length`, &n)); err != nil || n != 3 {
			t.Errorf("tiles after password (residual included): %d %v", n, err)
		}
		if pw := fx.b.passwords["L-gated"]; pw != "a long password" {
			t.Errorf("password not set through the backend: %q", pw)
		}
	})

	t.Run("expired", func(t *testing.T) {
		ctx := tab(t)
		var h1 string
		u := fx.srv.URL + "/p/" + tokExpired
		if err := chromedp.Run(ctx, chromedp.Navigate(u), chromedp.Text(`h1`, &h1, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		shot(t, ctx, "expired")
		nl.mu.Lock()
		status := nl.docs[u]
		nl.mu.Unlock()
		if status != 410 || h1 != "This link has expired" {
			t.Errorf("expired link: status %d, heading %q", status, h1)
		}
	})

	// Nothing the pages did left the test server.
	nl.mu.Lock()
	defer nl.mu.Unlock()
	if len(nl.urls) < 10 {
		t.Errorf("only %d requests recorded: is the network listener working?", len(nl.urls))
	}
	for _, u := range nl.urls {
		p, err := url.Parse(u)
		if err != nil || p.Host != srvURL.Host || p.Scheme != "http" {
			t.Errorf("request outside the server: %s", u)
		}
	}
}

// checkZip asserts the ZIP holds an image per shared item, the DICOM
// objects and a DICOMDIR that dcmdump reads.
func checkZip(t *testing.T, body []byte, items int) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	dir := t.TempDir()
	var images, dicoms int
	for _, f := range zr.File {
		switch {
		case strings.HasPrefix(f.Name, "images/"):
			images++
		case strings.HasPrefix(f.Name, "DICOM/IMG"):
			dicoms++
		}
		if f.Name == "DICOMDIR" || strings.HasPrefix(f.Name, "DICOM/") {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			p := filepath.Join(dir, filepath.FromSlash(f.Name))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if images != items || dicoms != items {
		t.Fatalf("zip holds %d images and %d DICOM files, want %d each", images, dicoms, items)
	}
	dcmdump := testenv.Tool(t, "dcmdump")
	out, err := exec.Command(dcmdump, "-E", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	if err != nil || strings.Count(string(out), "IMAGE") < items {
		t.Fatalf("dcmdump DICOMDIR: %v\n%s", err, out)
	}
	// dciodvfy checks the Basic Directory IOD, offsets included.
	dciodvfy := testenv.Tool(t, "dciodvfy")
	out, _ = exec.Command(dciodvfy, filepath.Join(dir, "DICOMDIR")).CombinedOutput()
	if strings.Contains(string(out), "Error") {
		t.Errorf("dciodvfy DICOMDIR:\n%s", out)
	}
	// Every referenced file exists in the ZIP.
	for i := 1; i <= items; i++ {
		if _, err := os.Stat(filepath.Join(dir, "DICOM", "IMG0000"+string(rune('0'+i)))); err != nil {
			t.Errorf("DICOM/IMG0000%d missing", i)
		}
	}
}
