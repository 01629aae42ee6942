package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"image/gif"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/admin"
	"sonolink/dicom/dicomfile"
	"sonolink/i18n"
	"sonolink/internal/testenv"
)

// The e2e_browser test opens the patient's links from the real `sonolink
// serve` in headless Chromium at a phone viewport (issue 5, and the page
// side of issue 6).

// browserE2ENet records every request any tab makes.
type browserE2ENet struct {
	mu   sync.Mutex
	urls []string
}

func (n *browserE2ENet) add(u string) {
	n.mu.Lock()
	n.urls = append(n.urls, u)
	n.mu.Unlock()
}

func (n *browserE2ENet) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.urls)
}

// browserE2EPHI is one identifying value of the clean study's originals;
// derived values are other spellings (a date as a page might print it) that
// the DICOM files themselves do not hold.
type browserE2EPHI struct {
	what, value string
	derived     bool
}

// browserE2EOriginalPHI reads the identifying values of the original
// samples (before any change) that must never reach the patient: name
// components, IDs, birth date in the forms a page or file might print,
// accession, institution, and the staff and device values the profile
// removes.
func browserE2EOriginalPHI(t *testing.T, files []string) []browserE2EPHI {
	t.Helper()
	var out []browserE2EPHI
	add := func(what, v string, derived bool) {
		v = strings.TrimSpace(v)
		if len(v) < 4 {
			return // too short to search for in binary data without false hits
		}
		for _, p := range out {
			if p.value == v {
				return
			}
		}
		out = append(out, browserE2EPHI{what, v, derived})
	}
	for _, f := range files {
		ds, err := dicomfile.ReadHeader(f)
		if err != nil {
			t.Fatal(err)
		}
		get := func(g, e uint16) []string { return dicomfile.Strings(ds, tag.Tag{Group: g, Element: e}) }
		for _, pn := range [][2]uint16{{0x0010, 0x0010}, {0x0032, 0x1032}, {0x0008, 0x0090}} {
			for _, v := range get(pn[0], pn[1]) {
				add("person name", strings.TrimRight(v, "^"), false)
				add("person name as text", strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == '^' }), " "), true)
				for _, c := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == '=' || r == ' ' }) {
					if len(c) >= 5 {
						add("name component", c, false)
					}
				}
			}
		}
		for _, id := range [][2]uint16{{0x0010, 0x0020}, {0x0010, 0x1000}, {0x0008, 0x0050}, {0x0020, 0x0010}, {0x0008, 0x0080}, {0x0008, 0x1010}, {0x0018, 0x1000}} {
			for _, v := range get(id[0], id[1]) {
				add(fmt.Sprintf("(%04X,%04X)", id[0], id[1]), v, false)
			}
		}
		if bd := dicomfile.String(ds, tag.Tag{Group: 0x0010, Element: 0x0030}); len(bd) == 8 {
			y, m, d := bd[:4], bd[4:6], bd[6:]
			forms := []string{bd, y + "-" + m + "-" + d, y + "/" + m + "/" + d, m + "/" + d + "/" + y, d + "/" + m + "/" + y, d + "." + m + "." + y}
			if t, err := time.Parse("20060102", bd); err == nil {
				// As the pages and messages write a date, and in American English.
				for _, lang := range i18n.Languages() {
					forms = append(forms, i18n.FormatDate(lang, t))
				}
				forms = append(forms, t.Format("January 2, 2006"))
			}
			for _, form := range forms {
				add("birth date", form, form != bd)
			}
		}
	}
	return out
}

// browserE2EScan reports the PHI values found in body, case-insensitively
// for text and as exact bytes otherwise.
func browserE2EScan(name string, body []byte, phi []browserE2EPHI) []string {
	var hits []string
	text := strings.Contains(name, ".html") || strings.HasSuffix(name, ".txt") || name == "DICOMDIR"
	low := bytes.ToLower(body)
	for _, p := range phi {
		if browserE2EFind(body, []byte(p.value)) || text && browserE2EFind(low, []byte(strings.ToLower(p.value))) {
			hits = append(hits, fmt.Sprintf("%s: %s %q", name, p.what, p.value))
		}
	}
	return hits
}

// browserE2EFind reports whether v occurs in b. A short value (under six
// bytes, e.g. a patient ID "3456") counts only as a whole token: inside a
// 39-digit 2.25 UID or a run of pixel bytes it is chance, not a leak.
func browserE2EFind(b, v []byte) bool {
	if len(v) >= 6 {
		return bytes.Contains(b, v)
	}
	word := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.'
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], v)
		if j < 0 {
			return false
		}
		at := i + j
		before := at == 0 || !word(b[at-1])
		after := at+len(v) == len(b) || !word(b[at+len(v)])
		if before && after {
			return true
		}
		i = at + 1
	}
}

// browserE2EJPEGMeta lists a JPEG's metadata segments other than JFIF APP0
// (COM, APP1 Exif/XMP, …); it fails on a malformed stream.
func browserE2EJPEGMeta(b []byte) ([]string, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, fmt.Errorf("not a JPEG")
	}
	var out []string
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return out, fmt.Errorf("marker expected at %d", i)
		}
		m := b[i+1]
		if m == 0xDA { // start of scan: no metadata after this point
			return out, nil
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		switch {
		case m == 0xFE:
			out = append(out, "COM")
		case m >= 0xE1 && m <= 0xEF:
			out = append(out, fmt.Sprintf("APP%d", m-0xE0))
		}
		i += 2 + n
	}
	return out, fmt.Errorf("no scan")
}

// browserE2EGIFComments counts a GIF's comment extensions (plain text
// extensions included), walking its blocks.
func browserE2EGIFComments(b []byte) (int, error) {
	if len(b) < 13 || !bytes.HasPrefix(b, []byte("GIF8")) {
		return 0, fmt.Errorf("not a GIF")
	}
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1)
	}
	skipSub := func() error {
		for {
			if i >= len(b) {
				return fmt.Errorf("truncated")
			}
			n := int(b[i])
			i++
			if n == 0 {
				return nil
			}
			i += n
		}
	}
	comments := 0
	for i < len(b) {
		switch b[i] {
		case 0x3B:
			return comments, nil
		case 0x21:
			if i+1 >= len(b) {
				return comments, fmt.Errorf("truncated")
			}
			if b[i+1] == 0xFE || b[i+1] == 0x01 {
				comments++
			}
			i += 2
			if err := skipSub(); err != nil {
				return comments, err
			}
		case 0x2C:
			if i+10 > len(b) {
				return comments, fmt.Errorf("truncated")
			}
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			i++ // LZW minimum code size
			if err := skipSub(); err != nil {
				return comments, err
			}
		default:
			return comments, fmt.Errorf("unknown block 0x%02X at %d", b[i], i)
		}
	}
	return comments, fmt.Errorf("no trailer")
}

var browserE2ETo = regexp.MustCompile(`(?m)^To: <?([^>\r\n]+)>?`)

// browserE2ELinksByContact waits for link messages in the outbox (not in
// before) addressed to each of the given contacts and returns the link each
// carries.
func browserE2ELinksByContact(t *testing.T, dataDir string, before map[string]string, wait time.Duration, contacts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	shareE2EWait(wait, func() bool {
		for f, u := range newFiles(before, outboxURLs(t, dataDir)) {
			data, _ := os.ReadFile(filepath.Join(dataDir, "outbox", f))
			if m := browserE2ETo.FindSubmatch(data); m != nil {
				out[string(m[1])] = u
			}
		}
		for _, c := range contacts {
			if out[c] == "" {
				return false
			}
		}
		return true
	})
	for _, c := range contacts {
		if out[c] == "" {
			t.Fatalf("no link message to %s in the outbox (have %v)", c, newFiles(before, outboxURLs(t, dataDir)))
		}
	}
	return out
}

// browserE2EReady waits until link's page (no gates) shows n ready tiles.
func browserE2EReady(t *testing.T, link string, n int) {
	t.Helper()
	var kinds []string
	var pending int
	if !shareE2EWait(60*time.Second, func() bool {
		_, b := shareE2EGet(t, nil, link)
		kinds, pending = shareE2ETiles(string(b))
		return len(kinds) == n && pending == 0
	}) {
		t.Fatalf("page not ready: tiles %v, %d pending (want %d)", kinds, pending, n)
	}
}

// TestE2EBrowser: the patient's pages from the real server in Chromium.
func TestE2EBrowser(t *testing.T) {
	testenv.Long(t, "browser scenario")
	testenv.Tool(t, "chromium") // before sending the studies: skip early
	testenv.Tool(t, "dcmsend")
	testenv.Tool(t, "dcmodify")
	dcmdump := testenv.Tool(t, "dcmdump")
	start := time.Now()
	shots := testenv.Artifacts(t, "e2e-browser")
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

	// The clean study: three de-identifiable ultrasound objects of two
	// (test) patients with their full PHI, under one Study Instance UID.
	samples := testenv.Samples(t)
	cleanSamples := []string{"us/deid-data__GREYSCALE_IMAGE.dcm", "us/deid-data__RGB_IMAGE.dcm", "us/deid-data__GREYSCALE_CINE.dcm"}
	var originals []string
	for _, s := range cleanSamples {
		originals = append(originals, filepath.Join(samples, s))
	}
	phi := append(browserE2EOriginalPHI(t, originals), browserE2EPHI{"contact", "clean.patient@example.com", false})
	const b1, b2 = "1.2.826.0.1.3680043.10.5252.1", "1.2.826.0.1.3680043.10.5252.2"
	var files []string
	for i, s := range cleanSamples {
		files = append(files, shareE2ESample(t, in, s, fmt.Sprintf("b1-%d.dcm", i), false,
			"(0020,000D)="+b1, "(0010,2155)=clean.patient@example.com"))
	}
	// The study with a residual SR (and a clean image to show).
	files = append(files,
		shareE2ESample(t, in, "sr/debian-pydicom__test-SR.dcm", "b2-1.dcm", false, "(0020,000D)="+b2, "(0010,2155)=sr.patient@example.com"),
		shareE2ESample(t, in, "us/deid-data__GREYSCALE_IMAGE.dcm", "b2-2.dcm", true, "(0020,000D)="+b2, "(0010,2155)=sr.patient@example.com"))
	// Positive control: the PHI list is found in the objects as sent.
	for _, p := range phi {
		found := false
		for _, f := range files[:3] {
			data, _ := os.ReadFile(f)
			found = found || bytes.Contains(data, []byte(p.value))
		}
		if !found && !p.derived {
			t.Errorf("control: %s %q not found in the objects sent", p.what, p.value)
		}
	}
	before := outboxURLs(t, dataDir)
	n.send(t, "SONOLINK", files...)
	links := browserE2ELinksByContact(t, dataDir, before, shareE2EStable+5*time.Second, "clean.patient@example.com", "sr.patient@example.com")
	cleanLink, srLink := links["clean.patient@example.com"], links["sr.patient@example.com"]
	browserE2EReady(t, cleanLink, 3)
	t.Logf("studies sent, shared and rendered in %v", time.Since(start).Round(time.Millisecond))

	bctx := testenv.Browser(t)
	netlog := &browserE2ENet{}
	tab := func(t *testing.T) context.Context {
		return testenv.PhoneTab(t, bctx, 60*time.Second, func(ev any) {
			if e, ok := ev.(*network.EventRequestWillBeSent); ok {
				netlog.add(e.Request.URL)
			}
		})
	}
	shot := func(t *testing.T, ctx context.Context, name string) { testenv.Screenshot(t, ctx, shots, name) }
	// visibleTiles waits until n thumbnails are loaded and returns the
	// tiles' kinds.
	visibleTiles := func(t *testing.T, ctx context.Context, n int) []string {
		t.Helper()
		var ok bool
		err := chromedp.Run(ctx,
			chromedp.WaitVisible(`.grid`, chromedp.ByQuery),
			chromedp.Poll(fmt.Sprintf(`(() => { const a = [...document.querySelectorAll('.tile img')];
				return a.length === %d && a.every(i => { i.scrollIntoView(); return i.complete && i.naturalWidth > 0; }); })()`, n), &ok,
				chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil || !ok {
			var got int
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('.tile img').length`, &got))
			t.Fatalf("want %d visible thumbnails, have %d tiles: %v", n, got, err)
		}
		var kinds []string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll('a.tile')].map(a => a.dataset.kind)`, &kinds)); err != nil {
			t.Fatal(err)
		}
		return kinds
	}
	cookiesFor := func(t *testing.T, ctx context.Context, page string) []*http.Cookie {
		t.Helper()
		var cs []*network.Cookie
		if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cs, err = network.GetCookies().WithURLs([]string{page}).Do(ctx)
			return err
		})); err != nil {
			t.Fatal(err)
		}
		var out []*http.Cookie
		for _, c := range cs {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
		return out
	}
	fetch := func(t *testing.T, u string, cookies []*http.Cookie) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", shareE2ERedact(u), err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, body
	}

	var zipBody []byte
	var pageHTML string
	t.Run("landing page, thumbnails, cine, download all", func(t *testing.T) {
		ctx := tab(t)
		if err := chromedp.Run(ctx, chromedp.Navigate(cleanLink)); err != nil {
			t.Fatal(err)
		}
		kinds := visibleTiles(t, ctx, 3)
		sort.Strings(kinds)
		if strings.Join(kinds, ",") != "cine,image,image" {
			t.Errorf("tiles %v, want the loop and two images", kinds)
		}
		if err := chromedp.Run(ctx, chromedp.OuterHTML(`html`, &pageHTML, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(pageHTML, clinic) {
			t.Errorf("the page does not show the clinic's name")
		}
		shot(t, ctx, "landing")

		// Tap the loop: the viewer plays it; the shown frame changes.
		var open bool
		if err := chromedp.Run(ctx,
			chromedp.Click(`a.tile[data-kind=cine]`, chromedp.ByQuery),
			chromedp.Poll(`document.getElementById('viewer').open`, &open, chromedp.WithPollingTimeout(5*time.Second)),
		); err != nil || !open {
			t.Fatalf("viewer did not open: %v", err)
		}
		// With ffmpeg the loop plays its MP4: its time runs. Else the
		// frames do: the shown frame changes.
		var isVideo bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`!document.querySelector('.vvid').hidden`, &isVideo)); err != nil {
			t.Fatal(err)
		}
		if isVideo {
			var playing bool
			if err := chromedp.Run(ctx, chromedp.Poll(`(() => { const v = document.querySelector('.vvid');
				return v.readyState >= 2 && v.currentTime > 0.2 && v.currentSrc.endsWith('/loop.mp4'); })()`,
				&playing, chromedp.WithPollingTimeout(10*time.Second))); err != nil || !playing {
				t.Errorf("the loop's MP4 does not play: %v", err)
			}
		} else {
			seen := map[string]bool{}
			loaded := 0
			deadline := time.Now().Add(6 * time.Second)
			for time.Now().Before(deadline) && len(seen) < 6 {
				var st struct {
					Src    string
					Loaded bool
				}
				if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const i = document.querySelector('.vimg');
					return {Src: i.getAttribute('src'), Loaded: i.complete && i.naturalWidth > 0}; })()`, &st)); err != nil {
					t.Fatal(err)
				}
				if !seen[st.Src] && st.Loaded {
					loaded++
				}
				seen[st.Src] = true
				time.Sleep(50 * time.Millisecond)
			}
			if len(seen) < 6 || loaded < 3 {
				t.Errorf("cine did not play: %d frames shown (%d seen loaded)", len(seen), loaded)
			}
			for s := range seen {
				if !strings.Contains(s, "/frame/") {
					t.Errorf("viewer shows %q, not a frame of the loop", shareE2ERedact(s))
				}
			}
		}
		shot(t, ctx, "viewer-cine")
		if err := chromedp.Run(ctx, chromedp.Click(`[data-act=close]`, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}

		// "Download all", with the browser's session.
		var href string
		if err := chromedp.Run(ctx, chromedp.AttributeValue(`#download-all`, "href", &href, nil, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		st, body := fetch(t, n.httpURL+href, cookiesFor(t, ctx, cleanLink))
		if st != 200 {
			t.Fatalf("download all: %d", st)
		}
		zipBody = body
		dir, names := testenv.Unzip(t, body)
		var images []string
		var dicoms int
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(name, "images/") && strings.HasSuffix(name, ".jpg"):
				if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				images = append(images, "image")
			case strings.HasPrefix(name, "images/") && strings.HasSuffix(name, ".mp4"):
				if len(b) < 12 || string(b[4:8]) != "ftyp" {
					t.Errorf("%s: not an MP4", name)
				}
				images = append(images, "cine")
			case strings.HasPrefix(name, "images/") && strings.HasSuffix(name, ".gif"):
				g, err := gif.DecodeAll(bytes.NewReader(b))
				if err != nil || len(g.Image) < 2 {
					t.Errorf("%s: not an animation (%v)", name, err)
				}
				images = append(images, "cine")
			case strings.HasPrefix(name, "DICOM/"):
				dicoms++
			}
		}
		sort.Strings(images)
		if strings.Join(images, ",") != "cine,image,image" || dicoms != 3 {
			t.Errorf("ZIP holds images %v and %d DICOM files; want the loop, two images and 3 DICOM files", images, dicoms)
		}
		out, err := exec.Command(dcmdump, "-E", filepath.Join(dir, "DICOMDIR")).CombinedOutput()
		if err != nil || strings.Count(string(out), "IMAGE") < 3 {
			t.Errorf("dcmdump DICOMDIR: %v\n%s", err, out)
		}
		for _, m := range regexp.MustCompile(`ReferencedFileID\s*\n?.*?\[([^\]]+)\]`).FindAllStringSubmatch(string(out), -1) {
			ref := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(m[1], `\`, "/")))
			if _, err := os.Stat(ref); err != nil {
				t.Errorf("DICOMDIR refers to %s, not in the ZIP", m[1])
			}
		}
		// The copies are de-identified (no study date); the DICOMDIR must
		// still be a valid Basic Directory, and the README must say so.
		out, _ = exec.Command(testenv.Tool(t, "dciodvfy"), filepath.Join(dir, "DICOMDIR")).CombinedOutput()
		if strings.Contains(string(out), "Error") {
			t.Errorf("dciodvfy DICOMDIR of the de-identified copies:\n%s", out)
		}
		if readme, err := os.ReadFile(filepath.Join(dir, "README.txt")); err != nil || !strings.Contains(string(readme), "de-identified") {
			t.Errorf("README.txt does not say the DICOM files are de-identified copies (%v)", err)
		}
	})

	t.Run("no PHI of the clean study in any response", func(t *testing.T) {
		if pageHTML == "" || zipBody == nil {
			t.Skip("needs the landing page and the ZIP from the previous subtest")
		}
		// Everything the browser loaded, and every file the page offers.
		urls := map[string]bool{cleanLink: true}
		for _, u := range netlog.all() {
			if strings.HasPrefix(u, n.httpURL+"/") {
				urls[u] = true
			}
		}
		for _, m := range regexp.MustCompile(`data-(?:full|download|frames)="([^"]+)"(?: data-count="([0-9]+)")?`).FindAllStringSubmatch(pageHTML, -1) {
			urls[n.httpURL+m[1]] = true
		}
		for _, m := range regexp.MustCompile(`data-frames="([^"]+)" data-count="([0-9]+)"`).FindAllStringSubmatch(pageHTML, -1) {
			var count int
			fmt.Sscan(m[2], &count)
			for k := 1; k <= count; k++ {
				urls[fmt.Sprintf("%s%s%04d.jpg", n.httpURL, m[1], k)] = true
			}
		}
		var hits []string
		var total int64
		jpegs, gifs := 0, 0
		for u := range urls {
			if strings.HasSuffix(u, "/frame/") {
				continue
			}
			st, body := fetch(t, u, nil)
			if st != 200 {
				t.Errorf("GET %s: %d", shareE2ERedact(u), st)
				continue
			}
			total += int64(len(body))
			name := shareE2ERedact(u)
			if u == cleanLink {
				name += ".html"
			}
			hits = append(hits, browserE2EScan(name, body, phi)...)
			switch {
			case bytes.HasPrefix(body, []byte{0xFF, 0xD8}):
				jpegs++
				if meta, err := browserE2EJPEGMeta(body); err != nil || len(meta) > 0 {
					t.Errorf("%s: metadata segments %v (%v)", name, meta, err)
				}
			case bytes.HasPrefix(body, []byte("GIF8")):
				gifs++
				if c, err := browserE2EGIFComments(body); err != nil || c > 0 {
					t.Errorf("%s: %d comment blocks (%v)", name, c, err)
				}
			}
		}
		hits = append(hits, browserE2EScan("all.zip", zipBody, phi)...)
		zr, _ := zip.NewReader(bytes.NewReader(zipBody), int64(len(zipBody)))
		for _, f := range zr.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			total += int64(len(b))
			hits = append(hits, browserE2EScan(f.Name, b, phi)...)
			if strings.HasPrefix(f.Name, "DICOM/IMG") {
				// The patient module of each file holds new values.
				p := filepath.Join(t.TempDir(), "x.dcm")
				os.WriteFile(p, b, 0o600)
				ds, err := dicomfile.ReadHeader(p)
				if err != nil {
					t.Errorf("%s: %v", f.Name, err)
					continue
				}
				if v := dicomfile.String(ds, tag.Tag{Group: 0x0012, Element: 0x0062}); v != "YES" {
					t.Errorf("%s: Patient Identity Removed %q", f.Name, v)
				}
			}
			if strings.HasSuffix(f.Name, ".jpg") {
				if meta, err := browserE2EJPEGMeta(b); err != nil || len(meta) > 0 {
					t.Errorf("%s: metadata segments %v (%v)", f.Name, meta, err)
				}
			}
		}
		if jpegs < 27+2 || gifs < 1 {
			t.Errorf("only %d JPEGs and %d GIFs fetched: the page's files were not all searched", jpegs, gifs)
		}
		for _, h := range hits {
			t.Errorf("PHI reached the patient: %s", h)
		}
		t.Logf("searched %d responses and the ZIP's %d files, %.1f MB, for %d identifying values", len(urls), len(zr.File), float64(total)/1e6, len(phi))
	})

	t.Run("the page speaks the patient's language and records the view", func(t *testing.T) {
		for lang, title := range map[string]string{"sv-SE,sv;q=0.9,en;q=0.5": "Dina ultraljudsbilder", "es-ES,es;q=0.9": "Sus imágenes de ecografía", "de-DE": "Your ultrasound images"} {
			req, _ := http.NewRequest("GET", cleanLink, nil)
			req.Header.Set("Accept-Language", lang)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), title) {
				t.Errorf("Accept-Language %s: %d, want the title %q", lang, res.StatusCode, title)
			}
		}
		// Views are written within a second of the visit.
		var d admin.StudyDetail
		shareE2EWait(3*time.Second, func() bool {
			d = decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", b1, "--json"))
			return len(d.Shares) == 1 && d.Shares[0].Views >= 1
		})
		if len(d.Shares) != 1 || d.Shares[0].Views < 1 {
			t.Errorf("shares of the clean study after visits: %+v", d.Shares)
		}
	})

	t.Run("a link to selected images shows exactly those", func(t *testing.T) {
		d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", b1, "--json"))
		if len(d.Objects) != 3 {
			t.Fatalf("objects %+v", d.Objects)
		}
		before := outboxURLs(t, dataDir)
		pick := d.Objects[0].Label + ", " + d.Objects[2].Label // as the patient page labels them
		res := decodeJSON[admin.SendResult](t, mustCLI(t, 0, dataDir, "send", b1, "--to", "selected@example.com", "--images", pick, "--json"))
		if !slices.Equal(res.Images, []int{1, 3}) {
			t.Errorf("send --images %q reports %v", pick, res.Images)
		}
		sel := browserE2ELinksByContact(t, dataDir, before, 5*time.Second, "selected@example.com")["selected@example.com"]
		ctx := tab(t)
		if err := chromedp.Run(ctx, chromedp.Navigate(sel)); err != nil {
			t.Fatal(err)
		}
		kinds := visibleTiles(t, ctx, 2)
		want := []string{strings.ToLower(d.Objects[0].Kind), strings.ToLower(d.Objects[2].Kind)}
		sort.Strings(kinds)
		sort.Strings(want)
		if !slices.Equal(kinds, want) {
			t.Errorf("tiles %v, want objects 1 and 3 (%v)", kinds, want)
		}
		shot(t, ctx, "selected")
		// The objects the link leaves out are not reachable either.
		var href string
		if err := chromedp.Run(ctx, chromedp.AttributeValue(`#download-all`, "href", &href, nil, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if st, body := fetch(t, n.httpURL+href, nil); st == 200 {
			zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatal(err)
			}
			dicoms := 0
			for _, f := range zr.File {
				if strings.HasPrefix(f.Name, "DICOM/IMG") {
					dicoms++
				}
			}
			if dicoms != 2 {
				t.Errorf("ZIP of the selection holds %d DICOM files, want 2", dicoms)
			}
		} else {
			t.Errorf("ZIP of the selection: %d", st)
		}
		if st, _ := fetch(t, sel+"/i/3/thumb.jpg", nil); st != 404 {
			t.Errorf("a third item of the selection answers %d", st)
		}
	})

	t.Run("link code, then one-time code and password for the SR study", func(t *testing.T) {
		// Both links were issued without a code: setting one leaves them
		// open until the clinic applies it to every link, after a warning.
		if out := mustCLI(t, 0, dataDir, "settings", "set", "link.code", "1234"); !strings.Contains(out.out, "keep opening without one") {
			t.Errorf("settings set link.code does not say which links it affects:\n%s", out)
		}
		if out := mustCLI(t, 0, dataDir, "settings", "set", "link.code_scope", "all"); !strings.Contains(out.out, "tell those patients the code") {
			t.Errorf("settings set link.code_scope all gives no warning:\n%s", out)
		}
		ctx := tab(t)
		var html string
		if err := chromedp.Run(ctx,
			chromedp.Navigate(srLink),
			chromedp.WaitVisible(`#code`, chromedp.ByQuery),
			chromedp.OuterHTML(`html`, &html, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		// The page says which clinic asks for the code, and nothing of the study.
		if !strings.Contains(html, clinic) || strings.Contains(html, `class="grid"`) || strings.Contains(html, "/i/") {
			t.Errorf("the link code page does not name the clinic, or reveals the study:\n%s", html)
		}
		shot(t, ctx, "gate-link-code")
		if err := chromedp.Run(ctx,
			chromedp.SendKeys(`#code`, "1234", chromedp.ByQuery),
			chromedp.Submit(`#code`, chromedp.ByQuery),
			chromedp.WaitVisible(`input[name=contact]`, chromedp.ByQuery),
			chromedp.OuterHTML(`html`, &html, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(html, clinic) || strings.Contains(html, "sr.patient@example.com") {
			t.Errorf("the one-time code page does not name the clinic, or reveals the full contact")
		}
		shot(t, ctx, "gate-contacts")
		seen := shareE2EOutboxFiles(dataDir)
		if err := chromedp.Run(ctx,
			chromedp.Submit(`input[name=contact]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#otp`, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		code := shareE2EOTPCode(t, dataDir, seen)
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
		); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx, chromedp.Submit(`#pw1`, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		visibleTiles(t, ctx, 1)
		if err := chromedp.Run(ctx, chromedp.OuterHTML(`html`, &html, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(html, clinic) {
			t.Errorf("after the gates the page lacks the clinic's name")
		}
		shot(t, ctx, "sr-study-after-password")

		// The clean study's link now asks for the code first, too.
		ctx2 := tab(t)
		if err := chromedp.Run(ctx2, chromedp.Navigate(cleanLink), chromedp.WaitVisible(`#code`, chromedp.ByQuery)); err != nil {
			t.Errorf("clean link after the link code was set: %v", err)
		}
	})

	// Nothing any page did left sonolink.
	srv, _ := url.Parse(n.httpURL)
	all := netlog.all()
	if len(all) < 20 {
		t.Errorf("only %d requests recorded: is the network listener working?", len(all))
	}
	for _, u := range all {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "http" || p.Host != srv.Host {
			t.Errorf("request outside sonolink: %s", shareE2ERedact(u))
		}
	}
	t.Logf("%d browser requests, all to sonolink; screenshots in %s; TestE2EBrowser took %v", len(all), shots, time.Since(start).Round(time.Millisecond))
}
