package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testenv"
	"sonolink/settings"
	"sonolink/share"
	"sonolink/store"
)

// testStudy is a study prepared for the CLI tests.
type testStudy struct {
	uid, short string
	sops       []string // SOP Instance UIDs in 'sonolink study' order
}

// prepareData ingests two generated studies through store: "Muñoz^José"
// (three objects, contact in Patient Comments) and "Berg^Anna" (one
// object). Objects are real samples with new UIDs (dcmodify).
func prepareData(t *testing.T) (dataDir string, munoz, berg testStudy) {
	t.Helper()
	dcmodify := testenv.Tool(t, "dcmodify")
	samples := testenv.Samples(t)
	dataDir = filepath.Join(shortTempDir(t), "data")
	st, err := store.Open(dataDir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mk := func(name, comments, studyUID string, files ...string) testStudy {
		ts := testStudy{uid: studyUID}
		for i, f := range files {
			spool := filepath.Join(st.SpoolDir(), fmt.Sprintf("t%d.dcm", i))
			data, err := os.ReadFile(filepath.Join(samples, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(spool, data, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"-nb", "-gin", "-i", "(0008,0005)=ISO_IR 192", "-i", "(0010,0010)=" + name,
				"-i", "(0020,000D)=" + studyUID, "-i", "(0020,0013)=" + fmt.Sprint(i+1), "-i", "(0020,0011)=1",
				"-i", "(0010,4000)=" + comments, "-i", "(0008,0020)=20261120", "-i", "(0008,0030)=101500"}
			if out, err := exec.Command(dcmodify, append(args, spool)...).CombinedOutput(); err != nil {
				t.Fatalf("dcmodify: %v\n%s", err, out)
			}
			res, err := st.Ingest(spool, store.Source{})
			if err != nil {
				t.Fatalf("ingest %s: %v", f, err)
			}
			ts.short = res.StudyShortID
		}
		insts, err := st.Instances(studyUID)
		if err != nil || len(insts) != len(files) {
			t.Fatalf("instances of %s: %d, %v", name, len(insts), err)
		}
		for _, in := range insts {
			ts.sops = append(ts.sops, in.SOPInstanceUID)
		}
		return ts
	}
	munoz = mk("Muñoz^José", "jose@example.com, +46 70 123 45 67", "1.2.826.0.1.3680043.10.1234.1",
		"us/pydicom-data__color-px.dcm", "us/pydicom-data__color-pl.dcm", "us/pydicom-data__OBXXXX1A_rle_2frame.dcm")
	berg = mk("Berg^Anna", "0701", "1.2.826.0.1.3680043.10.1234.2", "us/debian-pydicom__ExplVR_BigEnd.dcm")
	return dataDir, munoz, berg
}

var urlRE = regexp.MustCompile(`https?://[^\s"<>]+/p/[A-Za-z0-9_-]+`)

// outboxURLs returns, per outbox file name, the patient URL it carries.
func outboxURLs(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dataDir, "outbox", "*"))
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), ".") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(data))
		if m := urlRE.FindString(text); m != "" {
			out[filepath.Base(f)] = m
		}
	}
	return out
}

func newFiles(before, after map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			out[k] = v
		}
	}
	return out
}

func tokenOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// writeConf writes the data directory's config file, the one serve reads.
func writeConf(t *testing.T, dataDir, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dataDir, "sonolink.conf"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withShare opens the share service of dataDir in the test (no server may
// be running) and calls fn.
func withShare(t *testing.T, dataDir string, fn func(sh *share.Service)) {
	t.Helper()
	sh, err := share.Open(dataDir, share.Options{NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	fn(sh)
}

func decodeJSON[T any](t *testing.T, r cliResult) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r)
	}
	return v
}

// Without a running server the CLI opens the data directory itself and
// delivers what it queued before exiting.
func TestCLIWithoutServer(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir, munoz, berg := prepareData(t)

	// Search: part of the name, another letter case, no accents.
	for _, q := range []string{"munoz", "MUÑOZ", "jose", "uñ"} {
		r := mustCLI(t, 0, dir, "studies", q)
		if !strings.Contains(r.out, munoz.short) || strings.Contains(r.out, "Berg") {
			t.Errorf("studies %q:\n%s", q, r)
		}
	}
	mustCLI(t, 1, dir, "studies", "nobody-like-this")
	all := decodeJSON[[]admin.StudySummary](t, mustCLI(t, 0, dir, "studies", "--json"))
	if len(all) != 2 {
		t.Fatalf("studies --json: %v", all)
	}
	for _, s := range all {
		if s.ShortID == berg.short && s.ShareStatus != "no contact: invalid phone" {
			t.Errorf("Berg share status %q", s.ShareStatus)
		}
	}

	d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dir, "study", munoz.short, "--json"))
	if len(d.Objects) != 3 || d.Objects[2].Kind != "cine" || d.Objects[2].Frames != 2 {
		t.Fatalf("objects: %+v", d.Objects)
	}
	// Not shared yet: the hint is the ready command, with the contacts
	// read from DICOM.
	if r := mustCLI(t, 0, dir, "study", munoz.uid); !strings.Contains(r.out, `none; share with: sonolink send `+munoz.short+` --to "jose@example.com, +46701234567"`) {
		t.Errorf("study view of an unshared study lacks the ready command:\n%s", r.out)
	}
	// Latest arrival first, with its time.
	if r := mustCLI(t, 0, dir, "studies", "--sort", "received"); !regexp.MustCompile(`^DATE +ID +PATIENT +DESCRIPTION +IMAGES +RECEIVED +SHARE\n.*` + berg.short + `.*\n.*` + munoz.short).MatchString(r.out) {
		t.Errorf("studies --sort received:\n%s", r.out)
	}
	if r := mustCLI(t, 1, dir, "study", "NOPE"); !strings.Contains(r.err, "sonolink studies") {
		t.Errorf("unknown study: %s", r)
	}

	// Nothing configured and no server: refused, saying what to set; no
	// link issued, nothing in the outbox.
	r := mustCLI(t, 2, dir, "send", munoz.short, "--to", "jose@example.com")
	for _, want := range []string{"sonolink serve is not running", "no public base URL is configured", "http://localhost:8080", "base-url", "sonolink.conf", "no e-mail provider is configured", "Nothing was sent"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("refusal lacks %q: %s", want, r)
		}
	}
	if got := outboxURLs(t, dir); len(got) != 0 {
		t.Errorf("outbox after a refused send: %v", got)
	}
	withShare(t, dir, func(sh *share.Service) {
		if l, _ := sh.Shares(munoz.uid); len(l) != 0 {
			t.Errorf("a refused send issued links: %+v", l)
		}
	})
	// The clinic writes messages to the outbox on purpose, with a public
	// base URL: the config file serve reads applies to the CLI too.
	writeConf(t, dir, "base-url = https://images.clinic.example\nemail-provider = file\nsms-provider = file\n")

	// Invalid contact: exit 2 with the reason; nothing sent.
	if r := mustCLI(t, 2, dir, "send", munoz.short, "--to", "jose@example.com, 12"); !strings.Contains(r.err, `"12"`) {
		t.Errorf("invalid contact: %s", r)
	}

	// Send to selected images: the link carries exactly those objects.
	before := outboxURLs(t, dir)
	r = mustCLI(t, 0, dir, "send", munoz.short, "--to", "jose@example.com, +46 70 123 45 67", "--images", "image 1, video 1")
	if !regexp.MustCompile(`^Link L[0-9A-Z]{6} issued; available until \d{4}-\d\d-\d\d\.\nOnly written to the local outbox, NOT sent, for jose@example.com and \+46701234567: .*\n\(sonolink serve is not running: .*\)\n$`).MatchString(r.out) {
		t.Errorf("send confirmation: %q", r.out)
	}
	id1 := strings.Fields(r.out)[1]
	sent1 := newFiles(before, outboxURLs(t, dir))
	if len(sent1) != 2 {
		t.Fatalf("outbox after send: %v", sent1)
	}
	url1 := ""
	for _, u := range sent1 {
		if url1 != "" && u != url1 {
			t.Fatalf("e-mail and SMS carry different links: %v", sent1)
		}
		url1 = u
	}
	if !strings.HasPrefix(url1, "https://images.clinic.example/p/") {
		t.Errorf("link %s does not start with the configured base URL", url1)
	}
	var exp1 time.Time
	withShare(t, dir, func(sh *share.Service) {
		l, err := sh.Link(id1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(l.Instances, []string{munoz.sops[0], munoz.sops[2]}) {
			t.Errorf("link instances %v, want objects 1 and 3 %v", l.Instances, munoz.sops)
		}
		exp1 = l.Expires
	})

	// Resend: same URL, same contacts, lifetime starts again.
	time.Sleep(1100 * time.Millisecond)
	before = outboxURLs(t, dir)
	r = mustCLI(t, 0, dir, "resend", strings.ToLower(id1))
	if !strings.Contains(r.out, "Link "+id1+" renewed") || !strings.Contains(r.out, "Only written to the local outbox, NOT sent, for jose@example.com and +46701234567") {
		t.Errorf("resend: %s", r)
	}
	sent2 := newFiles(before, outboxURLs(t, dir))
	if len(sent2) != 2 {
		t.Fatalf("outbox after resend: %v", sent2)
	}
	for _, u := range sent2 {
		if u != url1 {
			t.Errorf("resend sent %s, want the same link %s", u, url1)
		}
	}
	withShare(t, dir, func(sh *share.Service) {
		l, _ := sh.Link(id1)
		if !l.Expires.After(exp1) {
			t.Errorf("resend did not renew the lifetime: %v then %v", exp1, l.Expires)
		}
	})

	// A new link to other contacts leaves the old one working.
	before = outboxURLs(t, dir)
	r = mustCLI(t, 0, dir, "send", munoz.short, "--to", "other@example.com")
	id2 := strings.Fields(r.out)[1]
	var url2 string
	for _, u := range newFiles(before, outboxURLs(t, dir)) {
		url2 = u
	}
	if id2 == id1 || url2 == "" || url2 == url1 {
		t.Fatalf("second link %s %q", id2, url2)
	}
	withShare(t, dir, func(sh *share.Service) {
		if _, err := sh.Resolve(tokenOf(url1)); err != nil {
			t.Errorf("old link stopped working after a new one: %v", err)
		}
	})

	// The shares panel shows when each link was last sent.
	r = mustCLI(t, 0, dir, "study", munoz.short)
	if !regexp.MustCompile(`Link ` + id1 + `  active\n(.*\n)*?\s+Last sent:\s+\d{4}-\d\d-\d\d \d\d:\d\d`).MatchString(r.out) {
		t.Errorf("shares panel lacks last sent:\n%s", r.out)
	}
	for _, want := range []string{"sms", "+46701234567", "local outbox only, NOT sent", "Objects:", "Image 1, Video 1", "Views:", "was only written to the local outbox"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("study view lacks %q:\n%s", want, r.out)
		}
	}
	if r := mustCLI(t, 0, dir, "studies", "+46701234567"); !strings.Contains(r.out, munoz.short) || !strings.Contains(r.out, "local outbox only, not sent 20") {
		t.Errorf("search by contact:\n%s", r)
	}

	// Revoke stops the link at once; it cannot be resent.
	mustCLI(t, 0, dir, "revoke", id1, "--reason", "wrong address")
	withShare(t, dir, func(sh *share.Service) {
		if _, err := sh.Resolve(tokenOf(url1)); !errors.Is(err, share.ErrRevoked) {
			t.Errorf("revoked link resolves: %v", err)
		}
		if _, err := sh.Resolve(tokenOf(url2)); err != nil {
			t.Errorf("other link stopped by the revoke: %v", err)
		}
	})
	r = mustCLI(t, 1, dir, "resend", id1)
	if !strings.Contains(r.err, "revoked") || !strings.Contains(r.err, "use `sonolink send` to issue a new link") {
		t.Errorf("resend after revoke: %s", r)
	}
	mustCLI(t, 1, dir, "resend", "LZZZZZZ")

	// Settings and audit.
	mustCLI(t, 0, dir, "settings", "set", "clinic-name", "Ultraljud Söder")
	if r := mustCLI(t, 0, dir, "settings"); !strings.Contains(r.out, "Ultraljud Söder") {
		t.Errorf("settings:\n%s", r.out)
	}
	mustCLI(t, 2, dir, "settings", "set", "no-such-key", "x")
	mustCLI(t, 2, dir, "settings", "set", "link.lifetime", "forever")
	// Every key can be cleared back to its default, the clinic name too.
	if r := mustCLI(t, 0, dir, "settings", "clear", "clinic.name"); !strings.Contains(r.out, "clinic.name cleared (now Sonolink)") {
		t.Errorf("settings clear clinic.name: %s", r)
	}
	// "clear" is a word for the logo, not a file name beside the CLI.
	mustCLI(t, 0, dir, "settings", "set", "branding.logo", "clear")
	ev := decodeJSON[[]admin.AuditEvent](t, mustCLI(t, 0, dir, "audit", "--link", id1, "--json"))
	var kinds []string
	for _, e := range ev {
		kinds = append(kinds, e.Event)
	}
	if !slices.Contains(kinds, share.EventLinkRevoked) || !slices.Contains(kinds, share.EventLinkResent) {
		t.Errorf("audit of %s: %v", id1, kinds)
	}
}

// testClock is a clock the test moves forward.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// With a server holding the data directory, the CLI goes through the admin
// socket: settings apply to the running service, expiry is reported, and
// the stale-lock case fails fast.
func TestCLIWithServer(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir, munoz, _ := prepareData(t)
	log := slog.New(slog.DiscardHandler)

	// The database held by a process without the socket: fail fast, say why.
	st, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := mustCLI(t, 2, dir, "studies")
	if !strings.Contains(r.err, "in use by another sonolink process") || time.Since(start) > 10*time.Second {
		t.Errorf("locked data directory: %s (after %v)", r, time.Since(start))
	}

	clock := &testClock{}
	sh, err := share.Open(dir, share.Options{Logger: log, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer(admin.New(st, sh, nil, log), admin.SocketPath(dir), log)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer func() {
		srv.Close()
		sh.Close()
		st.Close()
	}()

	// Settings change without restart: the running service sees the value.
	mustCLI(t, 0, dir, "settings", "set", "clinic.name", "Clínica Sur")
	current := func() settings.Values {
		t.Helper()
		v, err := sh.Settings()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := current().ClinicName; got != "Clínica Sur" {
		t.Errorf("running service sees clinic name %q", got)
	}
	if r := mustCLI(t, 0, dir, "settings", "set", "link.code", "4711"); !strings.HasPrefix(r.out, "link.code set; the running sonolink serve applies it from now on.\n") ||
		!strings.Contains(r.out, "It affects 0 of the 0 active links") {
		t.Errorf("settings set link.code: %s", r)
	}
	if !current().LinkCodeSet {
		t.Error("link code not in force")
	}
	if r := mustCLI(t, 0, dir, "settings", "clear", "link-code"); current().LinkCodeSet {
		t.Errorf("link code not cleared: %s", r)
	}

	// Search and send through the socket; the server's worker delivers.
	if r := mustCLI(t, 0, dir, "studies", "munoz"); !strings.Contains(r.out, munoz.short) {
		t.Errorf("studies over the socket:\n%s", r)
	}
	res := decodeJSON[admin.SendResult](t, mustCLI(t, 0, dir, "send", munoz.short, "--to", "jose@example.com", "--images", "image 2", "--json"))
	if !slices.Equal(res.Instances, []string{munoz.sops[1]}) || len(res.Images) != 1 || res.Images[0] != 2 || !res.ThroughServer {
		t.Errorf("send over the socket: %+v", res)
	}
	links, _ := sh.Shares(munoz.uid)
	if len(links) != 1 || !slices.Equal(links[0].Instances, []string{munoz.sops[1]}) {
		t.Errorf("Shares: %+v", links)
	}

	// Resend after expiry fails with the documented message, exit 1.
	clock.advance(91 * 24 * time.Hour)
	r = mustCLI(t, 1, dir, "resend", res.ID)
	if !regexp.MustCompile(`link ` + res.ID + ` expired on \d{4}-\d\d-\d\d; use ` + "`sonolink send`" + ` to issue a new link`).MatchString(r.err) {
		t.Errorf("resend after expiry: %s", r)
	}
	if r := mustCLI(t, 0, dir, "study", munoz.short); !strings.Contains(r.out, "expired") {
		t.Errorf("expired link not shown as expired:\n%s", r.out)
	}
}
