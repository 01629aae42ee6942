package main

import (
	"github.com/spf13/pflag"

	"sonolink/delivery"
)

// deliveryFlags configures the e-mail and SMS providers. With none set,
// every message is written to <data-dir>/outbox/ (.eml and .sms files).
// Put API keys and passwords in the config file or SONOLINK_* environment
// variables rather than on the command line, where `ps` shows them.
type deliveryFlags struct {
	cfg   delivery.Config
	flags *pflag.FlagSet // where they are registered
}

// configured reports whether flag name was given (flag, environment or
// config file: applyConfig sets them) rather than left at its default.
func (d *deliveryFlags) configured(name string) bool {
	return d.flags != nil && d.flags.Changed(name)
}

func (d *deliveryFlags) register(f *pflag.FlagSet) {
	d.flags = f
	e, s := &d.cfg.Email, &d.cfg.SMS
	f.StringVar(&e.Provider, "email-provider", "file", "e-mail provider: file (outbox directory), smtp, sendgrid or webhook")
	f.StringVar(&e.From, "email-from", "sonolink@localhost", "sender address of patient e-mails")
	f.StringVar(&e.SMTP.Host, "smtp-host", "", "SMTP server host")
	f.IntVar(&e.SMTP.Port, "smtp-port", 0, "SMTP server port (default 587 for starttls, 465 for tls, 25 for none)")
	f.StringVar(&e.SMTP.Security, "smtp-security", "starttls", "SMTP transport security: starttls, tls or none")
	f.StringVar(&e.SMTP.User, "smtp-user", "", "SMTP user (AUTH PLAIN)")
	f.StringVar(&e.SMTP.Password, "smtp-password", "", "SMTP password")
	f.StringVar(&e.SendGrid.APIKey, "sendgrid-api-key", "", "SendGrid API key")
	f.StringVar(&e.Webhook.URL, "email-webhook-url", "", "URL that receives each e-mail as JSON (provider webhook)")
	f.StringVar(&s.Provider, "sms-provider", "file", "SMS provider: file (outbox directory), twilio or webhook")
	f.StringVar(&s.Twilio.AccountSID, "twilio-account-sid", "", "Twilio account SID")
	f.StringVar(&s.Twilio.AuthToken, "twilio-auth-token", "", "Twilio auth token")
	f.StringVar(&s.Twilio.From, "twilio-from", "", "Twilio sender number (E.164) or alphanumeric sender ID")
	f.StringVar(&s.Twilio.MessagingServiceSID, "twilio-messaging-service-sid", "", "Twilio messaging service SID (instead of --twilio-from)")
	f.StringVar(&s.Webhook.URL, "sms-webhook-url", "", "URL that receives each SMS as JSON {to, body} (provider webhook)")
}
