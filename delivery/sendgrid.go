package delivery

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"
)

// SendGridConfig configures the SendGrid provider.
type SendGridConfig struct {
	APIKey  string
	BaseURL string // default https://api.sendgrid.com (tests point it at a local server)
}

// SendGrid sends e-mail through SendGrid's v3 mail/send API with the
// official client. Click and open tracking are switched off: tracking would
// route the patient's link through SendGrid's redirect host.
type SendGrid struct {
	APIKey  string
	BaseURL string
	From    string
	Client  *http.Client // default: 30 s timeout
}

// SendEmail posts m to /v3/mail/send.
func (s *SendGrid) SendEmail(ctx context.Context, m Email) error {
	from := m.From
	if from == "" {
		from = s.From
	}
	msg := sgmail.NewV3Mail()
	msg.SetFrom(sgmail.NewEmail(m.FromName, from))
	msg.Subject = m.Subject
	p := sgmail.NewPersonalization()
	p.AddTos(sgmail.NewEmail("", m.To))
	msg.AddPersonalizations(p)
	msg.AddContent(sgmail.NewContent("text/plain", m.Text))
	if m.HTML != "" {
		msg.AddContent(sgmail.NewContent("text/html", m.HTML))
		if in := m.Inline; in != nil {
			msg.AddAttachment(sgmail.NewAttachment().SetContent(base64.StdEncoding.EncodeToString(in.Data)).
				SetType(in.Type).SetFilename("logo").SetDisposition("inline").SetContentID(in.ContentID))
		}
	}
	msg.SetCustomArg("sonolink_message_id", m.ID)
	msg.SetHeader("Message-ID", m.MessageID())
	msg.SetTrackingSettings(&sgmail.TrackingSettings{
		ClickTracking: sgmail.NewClickTrackingSetting().SetEnable(false).SetEnableText(false),
		OpenTracking:  &sgmail.OpenTrackingSetting{Enable: sgmail.NewSetting(false).Enable},
	})

	base := strings.TrimRight(s.BaseURL, "/")
	req := sendgrid.GetRequest(s.APIKey, "/v3/mail/send", base)
	req.Method = rest.Post
	req.Body = sgmail.GetRequestBody(msg)
	hc := s.Client
	if hc == nil {
		hc = httpClient
	}
	resp, err := (&rest.Client{HTTPClient: hc}).SendWithContext(ctx, req)
	if err != nil {
		return fmt.Errorf("sendgrid: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpStatusError("sendgrid", resp.StatusCode, resp.Body)
	}
	return nil
}
