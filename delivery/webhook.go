package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// WebhookConfig configures the generic HTTP webhook provider.
type WebhookConfig struct {
	URL    string
	Header map[string]string // extra headers, e.g. Authorization
}

// Webhook posts each message as JSON to a URL; any 2xx answer is success.
// SMS: {"id","channel":"sms","to","body"}; e-mail:
// {"id","channel":"email","to","from","subject","body","html","inline"}.
type Webhook WebhookConfig

type webhookPayload struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	To      string `json:"to"`
	From    string `json:"from,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
	HTML    string `json:"html,omitempty"`
	// Inline is the image the HTML shows as cid:<content_id>; data is
	// base64.
	Inline *webhookInline `json:"inline,omitempty"`
}

type webhookInline struct {
	ContentID string `json:"content_id"`
	Type      string `json:"type"`
	Data      []byte `json:"data"`
}

// SendSMS posts m.
func (w *Webhook) SendSMS(ctx context.Context, m SMS) error {
	return w.post(ctx, webhookPayload{ID: m.ID, Channel: "sms", To: m.To, Body: m.Body})
}

// SendEmail posts m.
func (w *Webhook) SendEmail(ctx context.Context, m Email) error {
	p := webhookPayload{ID: m.ID, Channel: "email", To: m.To, From: m.From, Subject: m.Subject, Body: m.Text, HTML: m.HTML}
	if in := m.Inline; in != nil {
		p.Inline = &webhookInline{ContentID: in.ContentID, Type: in.Type, Data: in.Data}
	}
	return w.post(ctx, p)
}

func (w *Webhook) post(ctx context.Context, p webhookPayload) error {
	data, _ := json.Marshal(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(data))
	if err != nil {
		return Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", p.ID)
	for k, v := range w.Header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpStatusError("webhook", resp.StatusCode, string(body))
	}
	return nil
}
