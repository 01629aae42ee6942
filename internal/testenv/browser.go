package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (Debian's chromium) at a 390×844 phone
// viewport with a fresh profile, the way the tests of the patient pages
// need it: no sandbox (tests may run as root), no GPU, and none of
// Chromium's own background traffic. The browser is closed, and waited for,
// when the test ends. Run actions on the returned context (or on tabs made
// from it with chromedp.NewContext).
func Browser(t testing.TB) context.Context {
	t.Helper()
	Long(t, "browser scenario")
	chromium := Tool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	// chromedp logs CDP events it does not know (e.g. top-layer updates of
	// <dialog>) as errors; they are harmless.
	quiet := chromedp.WithErrorf(func(f string, a ...any) {
		if !strings.Contains(f, "unhandled") {
			t.Logf(f, a...)
		}
	})
	bctx, cancelB := chromedp.NewContext(actx, quiet)
	// Close the browser and wait for it to exit before the profile directory
	// is removed (cleanups run last-registered first).
	t.Cleanup(func() {
		_ = chromedp.Cancel(bctx)
		cancelB()
		cancelA()
		if c := chromedp.FromContext(bctx); c != nil && c.Allocator != nil {
			c.Allocator.Wait()
		}
	})
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// Artifacts returns the directory a test leaves screenshots and similar
// artifacts in: $SONOLINK_ARTIFACTS/<name> when that is set (CI keeps it),
// else a temporary directory. Never the repository.
func Artifacts(t testing.TB, name string) string {
	t.Helper()
	if d := os.Getenv("SONOLINK_ARTIFACTS"); d != "" {
		d = filepath.Join(d, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// PhoneTab opens a new tab of browser (from Browser) at a phone viewport
// (390×844, mobile, touch, 2× scale) with network events enabled. onEvent,
// when not nil, sees every CDP event of the tab (e.g. to record requests).
// Actions on the tab give up after timeout; it closes when the test ends.
func PhoneTab(t testing.TB, browser context.Context, timeout time.Duration, onEvent func(ev any)) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelT)
	if onEvent != nil {
		chromedp.ListenTarget(ctx, onEvent)
	}
	if err := chromedp.Run(ctx, network.Enable(),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// Screenshot saves what the tab shows as dir/name.png.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
