package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sonolink/share"
)

// When no server runs, the CLI opens the data directory itself. What it
// may then deliver is decided here, once, so that a technician's `send`
// or `resend` never produces a link the patient cannot open, nor a
// message only written to the local outbox that is then shown as sent:
//
//   - The link's base URL and each channel's provider are what the
//     command was configured with (flag, SONOLINK_* environment, config
//     file: the same sources as `sonolink serve`). What the command left
//     at its default is taken from what serve last ran with, recorded in
//     the data directory at every start (ServeSettings), since serve may
//     be configured where the technician's shell cannot see it (a systemd
//     unit's environment, serve's own command line).
//   - A base URL on this machine (localhost, 127.0.0.1, ::1) is refused:
//     nothing is sent, and the message says what to configure.
//   - A channel with no provider configured anywhere is refused as well
//     (the message would only be written to DATA/outbox); a provider set
//     explicitly, "file" included, is used.
//   - A channel whose provider only serve knows (its settings are not in
//     the command's configuration) is not delivered by the command: the
//     link is issued and its message stays queued in the outbox, and
//     serve delivers it with its own provider when it next starts.
//   - When the command and serve name different base URLs or providers,
//     the command refuses rather than guess which is right.

// ServeSettings is what `sonolink serve` last started with, as far as the
// CLI needs it: no secrets.
type ServeSettings struct {
	BaseURL       string    `json:"base_url"`
	EmailProvider string    `json:"email_provider"`
	EmailFrom     string    `json:"email_from,omitempty"`
	SMSProvider   string    `json:"sms_provider"`
	Started       time.Time `json:"started"`
}

const serveSettingsFile = "serve-settings.json"

// RecordServeSettings keeps s in dataDir for the CLI (see LastServeSettings).
func RecordServeSettings(dataDir string, s ServeSettings) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, serveSettingsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LastServeSettings returns what serve last started with in dataDir; nil
// when it never recorded it.
func LastServeSettings(dataDir string) (*ServeSettings, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, serveSettingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s ServeSettings
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", serveSettingsFile, err)
	}
	return &s, nil
}

// Configured says which of LocalOptions.Share's settings the command was
// given (flag, environment or config file) rather than left at defaults,
// and where its config file is, for the messages.
type Configured struct {
	BaseURL, EmailProvider, EmailFrom, SMSProvider bool
	ConfigFile                                     string // the file serve and the CLI read
}

// KindNotConfigured: the command cannot deliver without sonolink serve
// because something is not configured (exit code 2).
const KindNotConfigured = "not_configured"

// offlinePlan is what a Service opened in the CLI's process may do with
// a new message.
type offlinePlan struct {
	refuse map[string]string // channel ("" for any) → what is wrong and what to set
	queue  map[string]string // channel → serve's provider, which delivers it
	where  string            // the config file, for the message
}

// planOffline decides base URL and providers for opts (see the comment
// at the top of this file). It may change opts.Share.
func planOffline(dataDir string, opts *LocalOptions) offlinePlan {
	cfg := opts.Configured
	p := offlinePlan{refuse: map[string]string{}, queue: map[string]string{}, where: cfg.ConfigFile}
	if p.where == "" {
		p.where = "the config file"
	}
	served, err := LastServeSettings(dataDir)
	if err != nil {
		served = nil // unreadable: as if serve never recorded it
	}
	so := &opts.Share
	switch {
	case cfg.BaseURL && served != nil && trimURL(served.BaseURL) != trimURL(so.BaseURL):
		p.refuse[""] = fmt.Sprintf("this command's base URL %s is not the %s sonolink serve last ran with: make base-url the same for both", so.BaseURL, served.BaseURL)
	case !cfg.BaseURL && served != nil:
		so.BaseURL = served.BaseURL
	}
	if _, bad := p.refuse[""]; !bad && localURL(so.BaseURL) {
		p.refuse[""] = fmt.Sprintf("no public base URL is configured: the link would start with %s, which the patient's phone cannot open; set base-url = https://… (the address patients reach sonolink at)", orDefault(so.BaseURL, "http://localhost:8080"))
	}
	if !cfg.EmailFrom && served != nil && served.EmailFrom != "" {
		so.Delivery.Email.From = served.EmailFrom
	}
	channel := func(ch, what, key, choices string, set bool, mine *string, theirs string) {
		mineP := orDefault(*mine, share.ProviderFile)
		switch {
		case set && served != nil && mineP != theirs:
			p.refuse[ch] = fmt.Sprintf("this command's %s provider %s is not the %s sonolink serve last ran with: make %s the same for both", what, mineP, theirs, key)
		case set:
		case served != nil && theirs != share.ProviderFile:
			p.queue[ch] = theirs
		default:
			p.refuse[ch] = fmt.Sprintf("no %s provider is configured: the message would only be written to the local outbox, not sent; set %s (%s; file writes to the outbox on purpose)", what, key, choices)
		}
	}
	var servedEmail, servedSMS string
	if served != nil {
		servedEmail, servedSMS = orDefault(served.EmailProvider, share.ProviderFile), orDefault(served.SMSProvider, share.ProviderFile)
	}
	channel(share.ChannelEmail, "e-mail", "email-provider", "smtp, sendgrid or webhook", cfg.EmailProvider, &so.Delivery.Email.Provider, servedEmail)
	channel(share.ChannelSMS, "SMS", "sms-provider", "twilio or webhook", cfg.SMSProvider, &so.Delivery.SMS.Provider, servedSMS)
	return p
}

// check returns why messages on these channels cannot be sent without the
// server (nil: they can), and whether they are left queued for it.
func (p offlinePlan) check(channels ...string) (queueForServer bool, err error) {
	var why []string
	if w, ok := p.refuse[""]; ok {
		why = append(why, w)
	}
	for _, ch := range channels {
		if w, ok := p.refuse[ch]; ok {
			why = append(why, w)
		}
		if _, ok := p.queue[ch]; ok {
			queueForServer = true
		}
	}
	if len(why) > 0 {
		return false, &Error{Kind: KindNotConfigured, Message: fmt.Sprintf("sonolink serve is not running, and this command cannot send the link itself: %s. Put these settings in %s, which sonolink serve reads too (or SONOLINK_* variables), or start sonolink serve and run this again. Nothing was sent.",
			strings.Join(why, "; "), p.where)}
	}
	return queueForServer, nil
}

func trimURL(u string) string { return strings.TrimRight(strings.TrimSpace(u), "/") }

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}

// localURL reports whether u points at this machine (or is no URL at all),
// so that a patient's phone cannot open it.
func localURL(u string) bool {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || p.Host == "" {
		return true
	}
	h := strings.ToLower(p.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// LocalURL reports whether links starting with u could not be opened by a
// patient (localhost, a loopback address); serve warns about it.
func LocalURL(u string) bool { return localURL(u) }
