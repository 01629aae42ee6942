package web

import (
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
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

// TestBrowserCineWindow: a loop of more frames than four digits hold is
// requested a window at a time, not all at once, and a frame past 9999
// is asked for by its own name.
func TestBrowserCineWindow(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	fx := newFixture(t, nil)
	const tok, frames = "LongCineTokenGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG", 10005
	fx.b.add(tok, &fakeLink{link: Link{ID: "L-long"}, items: study(1, map[int]int{1: frames})})
	var mu sync.Mutex
	requested := map[string]bool{} // frame file names
	ctx := testenv.PhoneTab(t, testenv.Browser(t), 45*time.Second, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(e.Request.URL, "/p/"+tok+"/i/1/frame/") {
			mu.Lock()
			requested[e.Request.URL[strings.LastIndexByte(e.Request.URL, '/')+1:]] = true
			mu.Unlock()
		}
	})
	framesRequested := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(requested)
	}

	var open bool
	if err := chromedp.Run(ctx,
		chromedp.Navigate(fx.srv.URL+"/p/"+tok),
		chromedp.WaitVisible(`a.tile[data-kind=cine]`, chromedp.ByQuery),
		chromedp.Click(`a.tile[data-kind=cine]`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('viewer').open`, &open, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil || !open {
		t.Fatalf("viewer did not open: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // about 30 frames of playback at 50 ms
	if got := framesRequested(); len(got) > 80 || len(got) < 5 {
		t.Errorf("%d of %d frames requested after 1.5 s of playback, want a window ahead of the one shown", len(got), frames)
	}

	// Jump near the end: frame 10003 is asked for by its own name, and shown.
	var ok bool
	if err := chromedp.Run(ctx,
		chromedp.Click(`[data-act=play]`, chromedp.ByQuery), // pause
		chromedp.Evaluate(`(() => { const s = document.querySelector('.scrub'); s.value = 10003;
			s.dispatchEvent(new Event('input')); })()`, nil),
		chromedp.Poll(`(() => { const i = document.querySelector('.vimg');
			return i.getAttribute('src').endsWith('/frame/10003.jpg') && i.complete && i.naturalWidth > 0; })()`, &ok,
			chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil || !ok {
		t.Fatalf("frame 10003 not shown: %v", err)
	}
	// The window from there: to the last frame, then from the first.
	got := framesRequested()
	for _, f := range []string{"10003.jpg", "10004.jpg", "10005.jpg", "0001.jpg"} {
		if !got[f] {
			t.Errorf("frame %s not requested after the jump", f)
		}
	}
	if got["10002.jpg"] || got["10006.jpg"] || len(got) > 120 {
		t.Errorf("frames outside the window requested (%d in all)", len(got))
	}
}
