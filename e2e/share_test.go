package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testenv"
	"sonolink/share"
)

// The e2e_share tests run the real `sonolink serve` binary, send studies to
// it with DCMTK's dcmsend, and follow the patient's link through the HTTP
// server: issue 4 (auto-share, delivery, revoke, expiry) end to end.

// shareE2EStable is the --stable-time every e2e server runs with.
const shareE2EStable = 2 * time.Second

// shareE2ENode is one running `sonolink serve`.
type shareE2ENode struct {
	dataDir   string
	dicomHost string
	dicomPort string
	httpURL   string       // also the --base-url
	client    *http.Client // trusts the node's certificate when it serves HTTPS
	cmd       *exec.Cmd
	log       *shareE2ELog
	exited    chan struct{}
}

// shareE2ELog collects the server's log lines (stderr) across restarts.
type shareE2ELog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *shareE2ELog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// has reports whether one log line contains every part.
func (l *shareE2ELog) has(parts ...string) bool {
	for _, line := range strings.Split(l.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (l *shareE2ELog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// shareE2EFreeAddr returns a loopback address with a port free right now.
func shareE2EFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// shareE2EStart runs `sonolink serve` on fresh loopback ports against
// dataDir, appending its log to lg, and waits until /healthz answers.
// The server is stopped when the test ends (or earlier with stop).
func shareE2EStart(t *testing.T, dataDir string, lg *shareE2ELog, extra ...string) *shareE2ENode {
	return shareE2EStartWith(t, dataDir, lg, http.DefaultClient, extra...)
}

// shareE2EStartWith is shareE2EStart with the HTTP client that reaches the
// node; a client with TLS configured makes the node's URLs https.
func shareE2EStartWith(t *testing.T, dataDir string, lg *shareE2ELog, client *http.Client, extra ...string) *shareE2ENode {
	t.Helper()
	dicom, web := shareE2EFreeAddr(t), shareE2EFreeAddr(t)
	host, port, _ := net.SplitHostPort(dicom)
	scheme := "http://"
	if tr, ok := client.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		scheme = "https://"
	}
	n := &shareE2ENode{dataDir: dataDir, dicomHost: host, dicomPort: port, httpURL: scheme + web, client: client, log: lg, exited: make(chan struct{})}
	args := append([]string{"--data-dir", dataDir, "serve",
		"--dicom-addr", dicom, "--http-addr", web, "--base-url", n.httpURL,
		"--stable-time", shareE2EStable.String(), "--log-format", "text"}, extra...)
	n.cmd = exec.Command(sonolinkBin, args...)
	n.cmd.Env = cleanEnv()
	n.cmd.Stdout, n.cmd.Stderr = lg, lg
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() { n.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := n.client.Get(n.httpURL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				// serve logs "sonolink serving" after every start-up line
				// and before it serves; the line reaches lg through a pipe
				// and a copying goroutine, which may lag the answer. Once
				// it is in lg, so is every start-up line before it.
				if !shareE2EWait(10*time.Second, func() bool { return lg.has("sonolink serving") }) {
					t.Fatalf("sonolink serve answered /healthz but its start-up line never arrived:\n%s", lg)
				}
				return n
			}
		}
		select {
		case <-n.exited:
			t.Fatalf("sonolink serve exited at start:\n%s", lg)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sonolink serve not healthy after 20 s:\n%s", lg)
		}
	}
}

// stop ends the server with SIGTERM (as systemd would) and waits for it.
func (n *shareE2ENode) stop(t *testing.T) {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		t.Errorf("sonolink serve did not stop within 30 s of SIGTERM")
	}
	if st, ok := n.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		t.Errorf("sonolink serve killed by %v instead of exiting", st.Signal())
	}
}

// send runs dcmsend (TCP_NODELAY=1, as a modality would) to the node's
// called AE title aec and fails the test unless every object was accepted.
func (n *shareE2ENode) send(t *testing.T, aec string, files ...string) {
	t.Helper()
	dcmsend := testenv.Tool(t, "dcmsend")
	args := append([]string{"-aet", "E2EMODALITY", "-aec", aec, n.dicomHost, n.dicomPort}, files...)
	cmd := exec.Command(dcmsend, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcmsend to %s: %v\n%s", aec, err, out)
	}
}

// shareE2ESample copies a shared sample into dir as name and sets DICOM
// attributes with dcmodify ("(gggg,eeee)=value"); with newUID the copy gets
// a new SOP Instance UID, so one sample can appear in several studies.
func shareE2ESample(t *testing.T, dir, sample, name string, newUID bool, set ...string) string {
	t.Helper()
	dcmodify := testenv.Tool(t, "dcmodify")
	data, err := os.ReadFile(filepath.Join(testenv.Samples(t), sample))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-nb"}
	if newUID {
		args = append(args, "-gin")
	}
	for _, s := range set {
		args = append(args, "-i", s)
	}
	if out, err := exec.Command(dcmodify, append(args, p)...).CombinedOutput(); err != nil {
		t.Fatalf("dcmodify %s: %v\n%s", sample, err, out)
	}
	return p
}

// shareE2EWait polls cond every 50 ms until it holds or d has passed.
func shareE2EWait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shareE2EGet fetches u with client (nil: a fresh one) and returns the
// status and body.
func shareE2EGet(t *testing.T, client *http.Client, u string) (int, []byte) {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", shareE2ERedact(u), err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", shareE2ERedact(u), err)
	}
	return res.StatusCode, body
}

// shareE2ERedact keeps tokens out of test output.
func shareE2ERedact(u string) string {
	return regexp.MustCompile(`/p/[A-Za-z0-9_-]+`).ReplaceAllString(u, "/p/…")
}

// shareE2EWithBase puts a link's token under another server's base URL
// (after a restart on other ports).
func shareE2EWithBase(link, base string) string { return base + "/p/" + tokenOf(link) }

var (
	shareE2ECSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	shareE2ETile = regexp.MustCompile(`<a class="tile" href="[^"]*" data-kind="([a-z]+)"`)
	shareE2EOTP  = regexp.MustCompile(`one-time code is ([0-9]{6})|([0-9]{6}) is your one-time code`)
)

// shareE2EPost submits the current gate form of page: the CSRF token is
// read from the page first. It returns the page the server redirects to.
func shareE2EPost(t *testing.T, client *http.Client, page, action string, v url.Values) (int, string) {
	t.Helper()
	_, body := shareE2EGet(t, client, page)
	m := shareE2ECSRF.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no form on the page before POST %s:\n%s", action, body)
	}
	v.Set("csrf", string(m[1]))
	res, err := client.PostForm(page+action, v)
	if err != nil {
		t.Fatalf("POST %s: %v", action, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// shareE2EOTPCode waits for a one-time code message in the outbox that is
// not in seen, and returns its code.
func shareE2EOTPCode(t *testing.T, dataDir string, seen map[string]bool) string {
	t.Helper()
	var code string
	ok := shareE2EWait(10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(dataDir, "outbox", "*"))
		for _, f := range files {
			if seen[f] || strings.HasPrefix(filepath.Base(f), ".") {
				continue
			}
			data, _ := os.ReadFile(f)
			text := strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(data))
			if m := shareE2EOTP.FindStringSubmatch(text); m != nil {
				code = m[1] + m[2]
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatal("no one-time code in the outbox within 10 s")
	}
	return code
}

// shareE2EOutboxFiles lists the outbox's message files.
func shareE2EOutboxFiles(dataDir string) map[string]bool {
	files, _ := filepath.Glob(filepath.Join(dataDir, "outbox", "*"))
	out := map[string]bool{}
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), ".") {
			out[f] = true
		}
	}
	return out
}

// shareE2EPassPassword takes an HTTP client through the patient password
// gates of link: one-time code to the first contact (read back from the
// outbox), then a new password. It returns the landing page.
func shareE2EPassPassword(t *testing.T, client *http.Client, dataDir, link, password string) string {
	t.Helper()
	seen := shareE2EOutboxFiles(dataDir)
	if st, body := shareE2EPost(t, client, link, "/otp", url.Values{"contact": {"0"}}); st != 200 || !strings.Contains(body, `id="otp"`) {
		t.Fatalf("requesting a one-time code: %d\n%s", st, body)
	}
	code := shareE2EOTPCode(t, dataDir, seen)
	if st, body := shareE2EPost(t, client, link, "/otp/verify", url.Values{"code": {code}}); st != 200 || !strings.Contains(body, `id="pw1"`) {
		t.Fatalf("entering the one-time code: %d\n%s", st, body)
	}
	st, body := shareE2EPost(t, client, link, "/password", url.Values{"password": {password}, "password2": {password}})
	if st != 200 || !strings.Contains(body, `class="grid"`) {
		t.Fatalf("setting the password: %d\n%s", st, body)
	}
	return body
}

// shareE2ETiles returns the kinds of the page's ready tiles and how many
// are still being prepared.
func shareE2ETiles(page string) (kinds []string, pending int) {
	for _, m := range shareE2ETile.FindAllStringSubmatch(page, -1) {
		kinds = append(kinds, m[1])
	}
	return kinds, strings.Count(page, `class="tile pending"`)
}

// shareE2EShortHash is how the pipeline names a study in its log lines.
func shareE2EShortHash(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(h[:6])
}

// shareE2ELinks returns the patient URLs in outbox files not in before,
// failing unless every such file carries the same URL; "" when none.
func shareE2ENewLink(t *testing.T, dataDir string, before map[string]string) (link string, files []string) {
	t.Helper()
	for f, u := range newFiles(before, outboxURLs(t, dataDir)) {
		if link != "" && u != link {
			t.Fatalf("new outbox messages carry different links: %v", newFiles(before, outboxURLs(t, dataDir)))
		}
		link = u
		files = append(files, f)
	}
	return link, files
}

// TestE2EShare: issue 4 end to end against the real binary.
func TestE2EShare(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	testenv.Tool(t, "dcmsend")
	testenv.Tool(t, "dcmodify")
	start := time.Now()
	dataDir := filepath.Join(shortTempDir(t), "data")
	in := t.TempDir()
	lg := &shareE2ELog{}
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", lg)
		}
	}()
	n := shareE2EStart(t, dataDir, lg, "--ae-title", "SONOLINK,PATIENT")
	t.Logf("server up after %v", time.Since(start).Round(time.Millisecond))

	// A British mobile: the patient's language is English (a Swedish number
	// would make the messages Swedish; TestE2EPatientLanguage covers that).
	const contactTag = "(0010,2155)=name@example.com, +44 7911 123456"
	const s1 = "1.2.826.0.1.3680043.10.5151.1"
	study := func(uid string) string { return "(0020,000D)=" + uid }

	var link1 string
	t.Run("auto-share delivers one link by e-mail and SMS", func(t *testing.T) {
		files := []string{
			shareE2ESample(t, in, "us/deid-data__GREYSCALE_IMAGE.dcm", "s1-1.dcm", false, study(s1), contactTag),
			shareE2ESample(t, in, "us/deid-data__RGB_IMAGE.dcm", "s1-2.dcm", false, study(s1), contactTag),
			shareE2ESample(t, in, "sr/debian-pydicom__test-SR.dcm", "s1-3.dcm", false, study(s1), contactTag),
		}
		before := outboxURLs(t, dataDir)
		n.send(t, "SONOLINK", files...)
		sent := time.Now()
		var msgs []string
		ok := shareE2EWait(shareE2EStable+2*time.Second, func() bool {
			link1, msgs = shareE2ENewLink(t, dataDir, before)
			return len(msgs) == 2
		})
		took := time.Since(sent)
		if !ok {
			t.Fatalf("outbox after %v: %v (want an .eml and an .sms within stable time + 2 s)", took, msgs)
		}
		t.Logf("link in the outbox %v after dcmsend returned (stable time %v)", took.Round(time.Millisecond), shareE2EStable)
		exts := map[string]bool{}
		for _, f := range msgs {
			exts[filepath.Ext(f)] = true
		}
		if !exts[".eml"] || !exts[".sms"] {
			t.Errorf("messages %v: want one .eml and one .sms", msgs)
		}
		if !strings.HasPrefix(link1, n.httpURL+"/p/") || len(tokenOf(link1)) < 22 {
			t.Errorf("link %s does not start with the base URL or its token is short", shareE2ERedact(link1))
		}
		if st, _ := shareE2EGet(t, nil, link1); st != 200 {
			t.Errorf("link answers %d, want 200", st)
		}
		// The messages name the clinic and the expiry, never the patient
		// or the study.
		for _, f := range msgs {
			data, err := os.ReadFile(filepath.Join(dataDir, "outbox", f))
			if err != nil {
				t.Fatal(err)
			}
			text := strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(data))
			// An SMS has room for the expiry or for what the page will
			// ask for (a gated study), not both; an e-mail says both.
			if !strings.Contains(text, "available until") && (strings.HasSuffix(f, ".eml") || !strings.Contains(text, "code")) {
				t.Errorf("%s says neither until when the link works nor what it will ask for:\n%s", f, text)
			}
			for _, phi := range []string{"ZZZ", "PATIENTFIVE", "DOWNTIME", "2020202020202", "40404040404", "104111149", "120907058",
				"CLEVELAND", "19510829", "Test^S", "OFFIS", "1.2.826.0.1.3680043.10.5151"} {
				if strings.Contains(text, phi) {
					t.Errorf("%s contains %q", f, phi)
				}
			}
		}
	})
	if link1 == "" {
		t.FailNow()
	}

	t.Run("a late object joins the link", func(t *testing.T) {
		before := outboxURLs(t, dataDir)
		n.send(t, "SONOLINK", shareE2ESample(t, in, "us/deid-data__GREYSCALE_CINE.dcm", "s1-4.dcm", false, study(s1), contactTag))
		sent := time.Now()

		// The study carries a residual SR: the page asks for the password
		// before showing anything.
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		st, body := shareE2EGet(t, client, link1)
		if st != 200 || !strings.Contains(string(body), `name="contact"`) || strings.Contains(string(body), `class="tile`) {
			t.Fatalf("residual study without the password: %d, want the one-time code page\n%s", st, body)
		}
		page := shareE2EPassPassword(t, client, dataDir, link1, "correct horse battery")

		// After processing, the page shows the loop with the two images.
		var kinds []string
		var pending int
		ok := shareE2EWait(30*time.Second, func() bool {
			_, b := shareE2EGet(t, client, link1)
			page = string(b)
			kinds, pending = shareE2ETiles(page)
			return len(kinds) == 3 && pending == 0
		})
		if !ok || strings.Join(kinds, ",") != "image,image,cine" && strings.Join(kinds, ",") != "cine,image,image" {
			t.Fatalf("page after the late loop: tiles %v, %d pending (want the loop and two images)", kinds, pending)
		}
		t.Logf("late loop shown %v after dcmsend returned", time.Since(sent).Round(time.Millisecond))

		// The study became complete again: still no second message.
		if d := shareE2EStable + time.Second - time.Since(sent); d > 0 {
			time.Sleep(d)
		}
		if !shareE2EWait(5*time.Second, func() bool {
			return lg.has("study="+shareE2EShortHash(s1), "new objects joined the existing link")
		}) {
			t.Errorf("the pipeline did not report the late object joining the link")
		}
		if l, f := shareE2ENewLink(t, dataDir, before); len(f) > 0 {
			t.Errorf("the late object sent another link message: %v (%s)", f, shareE2ERedact(l))
		}
		d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", s1, "--json"))
		if len(d.Shares) != 1 || len(d.Objects) != 4 {
			t.Errorf("study after the late object: %d objects, %d links (want 4 and 1)", len(d.Objects), len(d.Shares))
		}
	})

	t.Run("auto-share rule aet:PATIENT and invalid contacts", func(t *testing.T) {
		mustCLI(t, 0, dataDir, "settings", "set", "autoshare.rule", "aet:PATIENT")
		defer mustCLI(t, 0, dataDir, "settings", "set", "autoshare.rule", "all")
		const s2, s3, s4 = "1.2.826.0.1.3680043.10.5151.2", "1.2.826.0.1.3680043.10.5151.3", "1.2.826.0.1.3680043.10.5151.4"
		small := "us/debian-pydicom__ExplVR_BigEnd.dcm"
		f2 := shareE2ESample(t, in, small, "s2.dcm", true, study(s2), "(0010,2155)=two@example.com")
		f3 := shareE2ESample(t, in, small, "s3.dcm", true, study(s3), "(0010,2155)=three@example.com")
		f4 := shareE2ESample(t, in, small, "s4.dcm", true, study(s4), "(0010,4000)=not-an-address, 12")
		before := outboxURLs(t, dataDir)
		n.send(t, "SONOLINK", f2)
		n.send(t, "PATIENT", f3, f4)

		// Wait until the pipeline has judged all three studies complete.
		decided := func(uid, what string) bool { return lg.has("study="+shareE2EShortHash(uid), what) }
		if !shareE2EWait(shareE2EStable+5*time.Second, func() bool {
			return decided(s2, "auto-share rule does not apply") && decided(s3, "link issued") && decided(s4, "no usable patient contact")
		}) {
			t.Fatalf("the pipeline did not decide on the three studies")
		}
		if !shareE2EWait(2*time.Second, func() bool { _, f := shareE2ENewLink(t, dataDir, before); return len(f) == 1 }) {
			t.Fatalf("messages after the three studies: %v", newFiles(before, outboxURLs(t, dataDir)))
		}
		for name, uid := range map[string]string{"sent to SONOLINK": s2, "sent to PATIENT": s3, "with an invalid contact": s4} {
			d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", uid, "--json"))
			if want := uid == s3; (len(d.Shares) == 1) != want || len(d.Shares) > 1 {
				t.Errorf("study %s has %d links", name, len(d.Shares))
			}
		}
		for f := range newFiles(before, outboxURLs(t, dataDir)) {
			data, _ := os.ReadFile(filepath.Join(dataDir, "outbox", f))
			if !bytes.Contains(data, []byte("three@example.com")) {
				t.Errorf("message %s is not to the PATIENT study's contact", f)
			}
		}

		// The technician sees why nothing was sent.
		d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", s4, "--json"))
		if !strings.HasPrefix(d.ShareStatus, "no contact: ") || !strings.Contains(d.ShareStatus, "not an e-mail address") {
			t.Errorf("share status of the study with an invalid contact: %q", d.ShareStatus)
		}
		var reasons []string
		for _, c := range d.Contacts {
			if c.Valid || c.Reason == "" {
				t.Errorf("contact %+v of the invalid study", c)
			}
			reasons = append(reasons, c.Reason)
		}
		if len(d.Contacts) != 2 {
			t.Errorf("contacts read from DICOM: %+v (want both invalid values with reasons)", d.Contacts)
		}
		human := mustCLI(t, 0, dataDir, "study", s4).out
		for _, want := range append([]string{"not-an-address", "12"}, reasons...) {
			if !strings.Contains(human, want) {
				t.Errorf("`sonolink study` lacks %q:\n%s", want, human)
			}
		}
	})

	var link2 string
	var link2ID string
	t.Run("revoke through the admin socket answers 410 at once", func(t *testing.T) {
		d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dataDir, "study", s1, "--json"))
		if len(d.Shares) != 1 {
			t.Fatalf("shares of the first study: %+v", d.Shares)
		}
		// A second link to the same study, for the expiry test.
		before := outboxURLs(t, dataDir)
		res := decodeJSON[admin.SendResult](t, mustCLI(t, 0, dataDir, "send", s1, "--to", "other@example.com", "--json"))
		link2ID = res.ID
		if !shareE2EWait(5*time.Second, func() bool { link2, _ = shareE2ENewLink(t, dataDir, before); return link2 != "" }) {
			t.Fatal("the second link was not delivered")
		}

		mustCLI(t, 0, dataDir, "revoke", d.Shares[0].ID, "--reason", "wrong address")
		// The patient holds a real link: the page says the clinic
		// withdrew it. An unknown token stays a neutral 404.
		st, revoked := shareE2EGet(t, nil, link1)
		if st != 410 || !strings.Contains(string(revoked), "withdrew this link") {
			t.Errorf("revoked link answers %d, want 410 saying the clinic withdrew it\n%s", st, revoked)
		}
		st, unknown := shareE2EGet(t, nil, n.httpURL+"/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		if st != 404 || bytes.Contains(unknown, []byte("withdrew")) {
			t.Errorf("unknown link: %d\n%s", st, unknown)
		}
		if st, _ := shareE2EGet(t, nil, link2); st != 200 {
			t.Errorf("the other link answers %d after the revoke, want 200", st)
		}
	})
	if link2 == "" {
		t.FailNow()
	}

	t.Run("expired link answers 410", func(t *testing.T) {
		n.stop(t)
		// Renew the second link's lifetime at a clock 100 days back: it
		// then ends 10 days ago. This is share's own API, used as the
		// resend command would, only with another clock.
		past := func() time.Time { return time.Now().Add(-100 * 24 * time.Hour) }
		sh, err := share.Open(dataDir, share.Options{Now: past, NoWorker: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := sh.Resend(context.Background(), link2ID, "e2e test")
		sh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !l.Expires.Before(time.Now()) {
			t.Fatalf("link expires %v, not in the past", l.Expires)
		}
		before := outboxURLs(t, dataDir)
		n = shareE2EStart(t, dataDir, lg, "--ae-title", "SONOLINK,PATIENT")
		restarted := time.Now()
		st, body := shareE2EGet(t, nil, shareE2EWithBase(link2, n.httpURL))
		if st != 410 || !strings.Contains(string(body), "expired") {
			t.Errorf("expired link: %d, want 410 with a page that says it expired\n%s", st, body)
		}
		if st, _ := shareE2EGet(t, nil, shareE2EWithBase(link1, n.httpURL)); st != 410 {
			t.Errorf("revoked link after a restart: %d, want 410", st)
		}
		r := mustCLI(t, 1, dataDir, "resend", link2ID)
		if !strings.Contains(r.err, "expired on") || !strings.Contains(r.err, "sonolink send") {
			t.Errorf("resend of the expired link: %s", r)
		}

		// Studies decided before the restart stay decided: the one sent
		// to SONOLINK under aet:PATIENT gets no link now that the rule is
		// back to "all", and the invalid contact sends nothing. The only
		// messages are the resent second link's.
		if d := shareE2EStable + time.Second - time.Since(restarted); d > 0 {
			time.Sleep(d)
		}
		for f, u := range newFiles(before, outboxURLs(t, dataDir)) {
			if tokenOf(u) != tokenOf(link2) {
				t.Errorf("after the restart, %s carries a new link", f)
			}
		}
	})

	// Nothing went wrong on the server's side, and no patient data or
	// token reached its log lines.
	logText := lg.String()
	for _, line := range strings.Split(logText, "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("server logged an error: %s", line)
		}
	}
	for _, secret := range []string{"name@example.com", "+447911123456", "7911 123456", "three@example.com", "not-an-address",
		"ZZZ", "PATIENTFIVE", "DOWNTIME", "19510829", "2020202020202", "104111149", "CLEVELAND", tokenOf(link1), tokenOf(link2)} {
		if strings.Contains(logText, secret) {
			t.Errorf("server log contains %q", secret)
		}
	}
	t.Logf("TestE2EShare took %v", time.Since(start).Round(time.Millisecond))
}
