package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/internal/testenv"
)

// webhookSink is a provider webhook (delivery.Webhook's JSON) in the test
// process: every message sonolink hands to the e-mail or SMS provider.
type webhookSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	msgs []webhookMsg
}

type webhookMsg struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Body    string `json:"body"`
}

func newWebhookSink(t *testing.T) *webhookSink {
	w := &webhookSink{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m webhookMsg
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &m); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// received returns the messages so far.
func (w *webhookSink) received() []webhookMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]webhookMsg(nil), w.msgs...)
}

// providerArgs configure both channels to the sink, as serve flags.
func (w *webhookSink) providerArgs() []string {
	return []string{"--email-provider", "webhook", "--email-webhook-url", w.srv.URL + "/email",
		"--sms-provider", "webhook", "--sms-webhook-url", w.srv.URL + "/sms"}
}

// providerConf is the same as config file lines.
func (w *webhookSink) providerConf() string {
	return "email-provider = webhook\nemail-webhook-url = " + w.srv.URL + "/email\n" +
		"sms-provider = webhook\nsms-webhook-url = " + w.srv.URL + "/sms\n"
}

// noLocalLinks fails the test if any message (outbox file or webhook) holds
// a link to this machine.
func noLocalLinks(t *testing.T, dataDir string, sink *webhookSink) {
	t.Helper()
	for f, u := range outboxURLs(t, dataDir) {
		if admin.LocalURL(u) {
			t.Errorf("outbox file %s holds a link to this machine: %s", f, shareE2ERedact(u))
		}
	}
	for _, m := range sink.received() {
		if u := urlRE.FindString(m.Body); u == "" || admin.LocalURL(u) {
			t.Errorf("%s message holds no public link: %q", m.Channel, shareE2ERedact(m.Body))
		}
	}
}

// The CLI without a running server: it refuses when nothing is configured,
// uses the config file's base URL and provider, leaves for serve what only
// serve knows how to deliver (serve configured on its own command line), and
// goes through serve when serve runs. Never a link to localhost.
func TestCLIOfflineDelivery(t *testing.T) {
	testenv.Long(t, "end-to-end scenario with serve restarts")
	dir, munoz, _ := prepareData(t)
	sink := newWebhookSink(t)
	const public = "https://images.clinic.example"

	// 1. Nothing configured: refused (exit 2), saying what to configure.
	r := mustCLI(t, 2, dir, "send", munoz.short, "--to", "jose@example.com, +46 70 123 45 67")
	for _, want := range []string{"no public base URL is configured", "base-url", "no e-mail provider", "no SMS provider", "Nothing was sent"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("refusal lacks %q: %s", want, r)
		}
	}
	// A public base URL alone is not enough: the message would only be
	// written to the local outbox.
	writeConf(t, dir, "base-url = "+public+"\n")
	r = mustCLI(t, 2, dir, "send", munoz.short, "--to", "jose@example.com")
	if !strings.Contains(r.err, "no e-mail provider is configured") || strings.Contains(r.err, "base URL") {
		t.Errorf("refusal with a base URL but no provider: %s", r)
	}
	if d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dir, "study", munoz.short, "--json")); len(d.Shares) != 0 {
		t.Fatalf("refused sends issued links: %+v", d.Shares)
	}

	// 2. The config file serve reads has base URL and providers: used.
	writeConf(t, dir, "base-url = "+public+"\n"+sink.providerConf())
	r = mustCLI(t, 0, dir, "send", munoz.short, "--to", "jose@example.com, +46 70 123 45 67")
	if !strings.HasPrefix(r.out, "Link L") || !strings.Contains(r.out, "sent to jose@example.com and +46701234567") ||
		!strings.Contains(r.out, "(sonolink serve is not running: done by this command") {
		t.Errorf("offline send with a configured provider: %s", r)
	}
	id1 := strings.Fields(r.out)[1]
	if got := sink.received(); len(got) != 2 || !strings.Contains(got[0].Body, public+"/p/") || !strings.Contains(got[1].Body, public+"/p/") {
		t.Fatalf("the provider received %+v", got)
	}
	if files := shareE2EOutboxFiles(dir); len(files) != 0 {
		t.Errorf("written to the local outbox although a provider is configured: %v", files)
	}

	// 3. serve started with its settings on its own command line (as a
	// systemd unit would), then stopped; the CLI has no config file.
	os.Remove(filepath.Join(dir, "sonolink.conf"))
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dir, lg, append([]string{"--base-url", public}, sink.providerArgs()...)...)
	// While it runs, the CLI goes through it, and says so.
	res := decodeJSON[admin.SendResult](t, mustCLI(t, 0, dir, "send", munoz.short, "--to", "other@example.com", "--json"))
	if !res.ThroughServer || res.Contacts[0].Status != "sent" || res.Contacts[0].Via != "webhook" {
		t.Errorf("send through serve: %+v", res)
	}
	r = mustCLI(t, 0, dir, "resend", id1)
	if !strings.Contains(r.out, "sent again to jose@example.com and +46701234567") || !strings.Contains(r.out, "(Done by the running sonolink serve.)") {
		t.Errorf("resend through serve: %s", r)
	}
	n.stop(t)
	got := len(sink.received())

	// Without serve, resend takes serve's base URL and leaves the message
	// queued for serve's provider: nothing delivered yet, nothing marked
	// sent, nothing in the local outbox.
	r = mustCLI(t, 0, dir, "resend", id1)
	if !strings.Contains(r.out, "Link "+id1+" renewed") || !strings.Contains(r.out, "queued for sonolink serve, which delivers it") || strings.Contains(r.out, "sent again") {
		t.Errorf("offline resend with serve's settings only: %s", r)
	}
	if len(sink.received()) != got || len(shareE2EOutboxFiles(dir)) != 0 {
		t.Fatalf("delivered without serve: %d webhook messages (had %d), outbox %v", len(sink.received()), got, shareE2EOutboxFiles(dir))
	}
	d := decodeJSON[admin.StudyDetail](t, mustCLI(t, 0, dir, "study", munoz.short, "--json"))
	for _, l := range d.Shares {
		for _, c := range l.Contacts {
			if l.ID == id1 && c.Status != "queued" {
				t.Errorf("link %s to %s is %q before serve delivered it", l.ID, c.To, c.Status)
			}
		}
	}
	// A config file that contradicts serve: refused rather than guessed.
	writeConf(t, dir, "base-url = https://elsewhere.example\n"+sink.providerConf())
	if r := mustCLI(t, 2, dir, "resend", id1); !strings.Contains(r.err, "is not the "+public+" sonolink serve last ran with") {
		t.Errorf("contradicting base URL: %s", r)
	}
	os.Remove(filepath.Join(dir, "sonolink.conf"))

	// serve's next start delivers what was queued for it, with its link.
	shareE2EStart(t, dir, lg, append([]string{"--base-url", public}, sink.providerArgs()...)...)
	if !shareE2EWait(10*time.Second, func() bool { return len(sink.received()) >= got+2 }) {
		t.Fatalf("serve did not deliver the queued resend: %d messages, want %d\n%s", len(sink.received()), got+2, lg)
	}
	if r := mustCLI(t, 0, dir, "study", munoz.short); strings.Contains(r.out, "queued") {
		t.Errorf("still queued after serve delivered:\n%s", r.out)
	}
	noLocalLinks(t, dir, sink)
}

// `serve` with defaults warns once each about what would surprise a clinic;
// once configured, it does not.
func TestServeFirstRunWarnings(t *testing.T) {
	testenv.Long(t, "starts serve twice")
	dir := filepath.Join(shortTempDir(t), "data")
	warnings := []string{
		"only written to the local outbox, not sent",
		"patients' links point to http://127.0.0.1",
		`the clinic name in patients' messages and pages is still \"Sonolink\"`,
		"every complete study with a contact is shared with the patient automatically",
	}
	lg := &shareE2ELog{}
	n := shareE2EStart(t, dir, lg)
	n.stop(t)
	for _, w := range warnings {
		if c := strings.Count(lg.String(), w); c != 1 || !lg.has("level=WARN", "first run: ", w) {
			t.Errorf("with defaults, warning %q appears %d times (want once, level WARN):\n%s", w, c, lg)
		}
	}
	if c := strings.Count(lg.String(), "first run: "); c != len(warnings) {
		t.Errorf("%d first-run warnings, want %d:\n%s", c, len(warnings), lg)
	}

	// Configured: the clinic's name and rule, a public base URL, providers.
	mustCLI(t, 0, dir, "settings", "set", "clinic.name", "Ultraljud Söder")
	mustCLI(t, 0, dir, "settings", "set", "autoshare.rule", "aet:PATIENT")
	sink := newWebhookSink(t)
	lg2 := &shareE2ELog{}
	shareE2EStart(t, dir, lg2, append([]string{"--base-url", "https://images.clinic.example"}, sink.providerArgs()...)...).stop(t)
	if strings.Contains(lg2.String(), "first run: ") {
		t.Errorf("first-run warnings once configured:\n%s", lg2)
	}
	if !lg2.has("sonolink serving") {
		t.Errorf("serve did not start:\n%s", lg2)
	}
}
