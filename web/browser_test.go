package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"sonolink/internal/testenv"
)

// TestBrowserViewerControls drives the viewer's own controls in headless
// Chromium at a phone viewport, against the fake backend whose item order
// the test knows: pause holds the frame, the arrow key steps to the next
// item. The patient's scenario (landing, thumbnails, the loop playing,
// download all, the gates, nothing fetched from elsewhere) belongs to
// e2e's TestE2EBrowser, over the real binary; the pages' HTTP behaviour
// (status codes, gates, expired links) to web_test.go.
func TestBrowserViewerControls(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium") // before building the fixture: skip early
	fx := newFixture(t, nil)
	shots := testenv.Artifacts(t, "share-web")
	ctx := testenv.PhoneTab(t, testenv.Browser(t), 45*time.Second, nil)

	var open bool
	if err := chromedp.Run(ctx,
		chromedp.Navigate(fx.srv.URL+"/p/"+tokOpen),
		chromedp.WaitVisible(`.grid`, chromedp.ByQuery),
		chromedp.Click(`a.tile[data-kind=cine]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('viewer').open`, &open, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil || !open {
		t.Fatalf("viewer did not open: %v", err)
	}
	var src string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('.vimg').getAttribute('src')`, &src)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, "/i/3/frame/") {
		t.Fatalf("viewer shows %q, not a frame of the loop", src)
	}
	// The loop plays (e2e checks how well); wait for one frame change.
	var moved bool
	if err := chromedp.Run(ctx, chromedp.Poll(`document.querySelector('.vimg').getAttribute('src') !== `+strconv.Quote(src),
		&moved, chromedp.WithPollingTimeout(5*time.Second))); err != nil || !moved {
		t.Fatalf("the loop does not play: %v", err)
	}
	testenv.Screenshot(t, ctx, shots, "viewer-cine")

	// Pause, then the next image with the arrow key.
	var label, src1, src2 string
	if err := chromedp.Run(ctx,
		chromedp.Click(`[data-act=play]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('.vimg').getAttribute('src')`, &src1),
		chromedp.Sleep(300*time.Millisecond), // several frame times of the loop
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
}
