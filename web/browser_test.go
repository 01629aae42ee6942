package web

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"sonolink/i18n"
	"sonolink/internal/testenv"
	"sonolink/render"
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

// TestBrowserVideoSaveSizes, at a phone viewport in each language: a
// loop plays its MP4 (the video's readyState advances and its time runs;
// ffprobe reads the served file as H.264), or its frames where the
// browser says it cannot play H.264; Save is the share sheet exactly where
// navigator.canShare takes files; and each Download all link shows the
// size of the very bytes it serves.
func TestBrowserVideoSaveSizes(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium")
	ffprobe := testenv.Tool(t, "ffprobe")
	if !render.HasVideo() {
		t.Fatal("ffmpeg cannot encode H.264 here (see the log)")
	}
	fx := newFixture(t, nil)
	const tok = "VideoTokenGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG"
	items := study(3, map[int]int{2: 30}) // 30 frames of 50 ms: "0:02"
	items[1].Video = true
	fx.b.add(tok, &fakeLink{link: Link{ID: "L-video"}, items: items})

	// The served MP4 is H.264.
	res, body := fx.get(t, "/p/"+tok+"/i/2/loop.mp4")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("loop.mp4: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	mp4 := filepath.Join(t.TempDir(), "loop.mp4")
	if err := os.WriteFile(mp4, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0", mp4).Output()
	if err != nil || strings.TrimSpace(string(out)) != "h264" {
		t.Fatalf("ffprobe reads the loop as %q (%v), want h264", out, err)
	}
	if res, _ := fx.get(t, "/p/"+tok+"/i/2/download"); res.Header.Get("Content-Disposition") != `attachment; filename="ultrasound-02.mp4"` {
		t.Errorf("the loop downloads as %q, want its MP4", res.Header.Get("Content-Disposition"))
	}

	browser := testenv.Browser(t)
	shots := testenv.Artifacts(t, "share-web")
	for _, tc := range []struct {
		lang    string
		inject  string // run before the page's own script
		share   bool   // Save is the share sheet
		frames  bool   // the loop plays as frames, not the MP4
		section string
	}{
		{lang: "sv", inject: `navigator.canShare = (d) => !!(d && d.files); navigator.share = () => Promise.resolve();`, share: true},
		{lang: "es"},
		{lang: "en"},
		// A browser that cannot play H.264 (the language is incidental).
		{lang: "es", inject: `HTMLMediaElement.prototype.canPlayType = () => '';`, frames: true},
	} {
		name := tc.lang
		if tc.frames {
			name += "-no-h264"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testenv.PhoneTab(t, browser, 45*time.Second, nil)
			if err := chromedp.Run(ctx,
				network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": tc.lang}),
				chromedp.ActionFunc(func(ctx context.Context) error {
					if tc.inject == "" {
						return nil
					}
					_, err := page.AddScriptToEvaluateOnNewDocument(tc.inject).Do(ctx)
					return err
				}),
				chromedp.Navigate(fx.srv.URL+"/p/"+tok),
				chromedp.WaitVisible(`.grid`, chromedp.ByQuery),
			); err != nil {
				t.Fatal(err)
			}
			loc := i18n.Lookup(tc.lang)
			var lang, badge string
			if err := chromedp.Run(ctx,
				chromedp.Evaluate(`document.documentElement.lang`, &lang),
				chromedp.Text(`a.tile[data-kind=cine] .badge`, &badge, chromedp.ByQuery),
			); err != nil {
				t.Fatal(err)
			}
			if lang != tc.lang || !strings.HasSuffix(strings.TrimSpace(badge), "0:02") {
				t.Errorf("page in %q, loop badge %q; want %s and 0:02", lang, badge, tc.lang)
			}

			// Each download shows the size of the bytes it serves.
			for _, link := range []string{"#download-images", "#download-all"} {
				var shown struct {
					Text  string `json:"text"`
					Bytes string `json:"bytes"`
					Got   int    `json:"got"`
				}
				if err := chromedp.Run(ctx, chromedp.Evaluate(`(async () => {
					const a = document.querySelector('`+link+`');
					const r = await fetch(a.href);
					return {text: a.textContent, bytes: a.dataset.bytes, got: (await r.arrayBuffer()).byteLength};
				})()`, &shown, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
					t.Fatal(err)
				}
				n, _ := strconv.ParseInt(shown.Bytes, 10, 64)
				if n == 0 || int64(shown.Got) != n || !strings.Contains(shown.Text, sizeText(loc, n)) {
					t.Errorf("%s shows %q (%s bytes) and serves %d bytes", link, strings.Join(strings.Fields(shown.Text), " "), shown.Bytes, shown.Got)
				}
			}

			// Save: the share sheet exactly where it takes files.
			var canShare, shareShown, dlShown bool
			if err := chromedp.Run(ctx,
				chromedp.Click(`a.tile[data-kind=cine]`, chromedp.ByQuery),
				chromedp.WaitVisible(`#viewer`, chromedp.ByQuery),
				chromedp.Evaluate(`!!(navigator.canShare && navigator.canShare({files: [new File([''], 'x.jpg', {type: 'image/jpeg'})]}))`, &canShare),
				chromedp.Evaluate(`!document.querySelector('[data-act=share]').hidden`, &shareShown),
				chromedp.Evaluate(`!document.querySelector('[data-act=download]').hidden`, &dlShown),
			); err != nil {
				t.Fatal(err)
			}
			if canShare != tc.share || shareShown != canShare || dlShown == canShare {
				t.Errorf("canShare %v: share button shown %v, download shown %v", canShare, shareShown, dlShown)
			}

			if tc.frames {
				var ok bool
				if err := chromedp.Run(ctx, chromedp.Poll(`(() => { const i = document.querySelector('.vimg');
					return !i.hidden && i.getAttribute('src').includes('/i/2/frame/') && document.querySelector('.vvid').hidden; })()`,
					&ok, chromedp.WithPollingTimeout(5*time.Second))); err != nil || !ok {
					t.Fatalf("without H.264 the loop does not play its frames: %v", err)
				}
				testenv.Screenshot(t, ctx, shots, "viewer-frames-"+tc.lang)
				return
			}
			var state struct {
				Src   string  `json:"src"`
				Ready int     `json:"ready"`
				Time  float64 `json:"time"`
			}
			if err := chromedp.Run(ctx, chromedp.Poll(`(() => { const v = document.querySelector('.vvid');
				return v.readyState >= 2 && v.currentTime > 0.2 && {src: v.currentSrc, ready: v.readyState, time: v.currentTime}; })()`,
				&state, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
				var why string
				_ = chromedp.Run(ctx, chromedp.Evaluate(`(() => { const v = document.querySelector('.vvid');
					return 'readyState ' + v.readyState + ', error ' + (v.error && v.error.code) + ', src ' + v.currentSrc; })()`, &why))
				t.Fatalf("the MP4 does not play: %v (%s)", err, why)
			}
			if !strings.HasSuffix(state.Src, "/i/2/loop.mp4") {
				t.Errorf("video plays %q, want the loop's MP4", state.Src)
			}
			testenv.Screenshot(t, ctx, shots, "viewer-video-"+tc.lang)
		})
	}
}
