package delivery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// TwilioConfig configures the Twilio SMS provider.
type TwilioConfig struct {
	AccountSID          string
	AuthToken           string
	From                string // sender number (E.164) or alphanumeric sender ID
	MessagingServiceSID string // used instead of From when set
	BaseURL             string // default https://api.twilio.com (tests point it at a local server)
}

// Twilio is a small client of Twilio's Messages REST API:
// POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded, HTTP
// basic auth with the account SID and auth token.
type Twilio TwilioConfig

// SendSMS sends one message.
func (t *Twilio) SendSMS(ctx context.Context, m SMS) error {
	base := strings.TrimRight(t.BaseURL, "/")
	if base == "" {
		base = "https://api.twilio.com"
	}
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if t.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.MessagingServiceSID)
	} else {
		form.Set("From", t.From)
	}
	u := base + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return Permanent(fmt.Errorf("twilio: %w", err))
	}
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// Twilio has no idempotency key for Messages; the ID helps correlate logs.
	req.Header.Set("X-Sonolink-Message-Id", m.ID)
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("twilio: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpStatusError("twilio", resp.StatusCode, string(body))
	}
	return nil
}
