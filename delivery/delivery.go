// Package delivery hands messages to e-mail and SMS providers: a local
// outbox directory (the default, no account needed), SendGrid, SMTP, Twilio
// and a generic HTTP webhook. It knows nothing of links or patients; the
// share package renders messages and keeps the persistent outbox that calls
// these senders, retrying with backoff.
//
// Every message carries an ID that is stable across retries; providers use it
// as an idempotency key where they can (file names, Message-ID headers,
// SendGrid custom args, webhook payloads).
package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// Email is one e-mail message.
type Email struct {
	ID       string // stable message ID (idempotency key)
	FromName string // display name, e.g. the clinic's name
	From     string // envelope and header address; Config.Email.From when empty
	To       string
	Subject  string
	Text     string // text/plain body
	HTML     string // optional text/html alternative
	// Inline is an image the HTML shows as cid:<ContentID> (the clinic's
	// logo); it travels with the HTML part, never as a link to fetch.
	Inline *Inline
	Date   time.Time
}

// Inline is an image attached for the HTML part to show.
type Inline struct {
	ContentID string // without angle brackets, e.g. "logo@sonolink"
	Type      string // image/png, image/jpeg, image/gif or image/webp
	Data      []byte
}

// SMS is one text message.
type SMS struct {
	ID   string // stable message ID (idempotency key)
	To   string // E.164
	Body string
}

// EmailSender sends e-mail.
type EmailSender interface {
	SendEmail(ctx context.Context, m Email) error
}

// SMSSender sends text messages.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// PermanentError marks a failure that retrying cannot fix (a rejected
// recipient, bad credentials); the outbox stops retrying it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is (or wraps) a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Config chooses and configures the providers. The zero value writes both
// kinds of message to the outbox directory.
type Config struct {
	Email EmailConfig
	SMS   SMSConfig
}

// EmailConfig configures e-mail delivery.
type EmailConfig struct {
	Provider string // "file" (default), "sendgrid", "smtp" or "webhook"
	From     string // sender address; default "sonolink@localhost"
	SendGrid SendGridConfig
	SMTP     SMTPConfig
	Webhook  WebhookConfig
}

// SMSConfig configures SMS delivery.
type SMSConfig struct {
	Provider string // "file" (default), "twilio" or "webhook"
	Twilio   TwilioConfig
	Webhook  WebhookConfig
}

// New builds the configured senders. outboxDir is where the file provider
// writes (DATA/outbox).
func New(cfg Config, outboxDir string) (EmailSender, SMSSender, error) {
	from := cfg.Email.From
	if from == "" {
		from = "sonolink@localhost"
	}
	var es EmailSender
	switch cfg.Email.Provider {
	case "", "file":
		es = &FileOutbox{Dir: outboxDir, From: from}
	case "sendgrid":
		c := cfg.Email.SendGrid
		if c.APIKey == "" {
			return nil, nil, errors.New("e-mail provider sendgrid needs an API key")
		}
		es = &SendGrid{APIKey: c.APIKey, BaseURL: c.BaseURL, From: from}
	case "smtp":
		c := cfg.Email.SMTP
		if c.Host == "" {
			return nil, nil, errors.New("e-mail provider smtp needs a host")
		}
		if c.From == "" {
			c.From = from
		}
		s := SMTP(c)
		es = &s
	case "webhook":
		if cfg.Email.Webhook.URL == "" {
			return nil, nil, errors.New("e-mail provider webhook needs a URL")
		}
		w := Webhook(cfg.Email.Webhook)
		es = &w
	default:
		return nil, nil, fmt.Errorf("unknown e-mail provider %q (file, sendgrid, smtp or webhook)", cfg.Email.Provider)
	}
	var ss SMSSender
	switch cfg.SMS.Provider {
	case "", "file":
		ss = &FileOutbox{Dir: outboxDir, From: from}
	case "twilio":
		c := cfg.SMS.Twilio
		if c.AccountSID == "" || c.AuthToken == "" || (c.From == "" && c.MessagingServiceSID == "") {
			return nil, nil, errors.New("SMS provider twilio needs an account SID, an auth token and a From number or messaging service SID")
		}
		t := Twilio(c)
		ss = &t
	case "webhook":
		if cfg.SMS.Webhook.URL == "" {
			return nil, nil, errors.New("SMS provider webhook needs a URL")
		}
		w := Webhook(cfg.SMS.Webhook)
		ss = &w
	default:
		return nil, nil, fmt.Errorf("unknown SMS provider %q (file, twilio or webhook)", cfg.SMS.Provider)
	}
	return es, ss, nil
}

// DefaultOutboxDir is the file provider's directory inside a data directory.
func DefaultOutboxDir(dataDir string) string { return filepath.Join(dataDir, "outbox") }

// httpStatusError turns a provider's HTTP status into an error: 4xx other
// than 408/429 are permanent (the request itself is wrong), the rest retry.
func httpStatusError(provider string, code int, body string) error {
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	err := fmt.Errorf("%s answered %d %s: %s", provider, code, http.StatusText(code), body)
	if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return Permanent(err)
	}
	return err
}

var httpClient = &http.Client{Timeout: 30 * time.Second}
