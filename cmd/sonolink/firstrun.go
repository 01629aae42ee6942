package main

import (
	"log/slog"
	"time"

	"sonolink/admin"
	"sonolink/settings"
	"sonolink/share"
)

// startupNotes runs once `serve` has opened the data directory. It records
// what serve runs with, for the CLI to use when serve is not running (see
// admin/offline.go), and warns, one line each, about the defaults that
// would surprise a clinic on its first run; each line goes once the thing
// is configured.
func startupNotes(c *serveConfig, sh *share.Service, logger *slog.Logger) {
	d := &c.delivery
	rec := admin.ServeSettings{BaseURL: c.baseURL, EmailProvider: orFile(d.cfg.Email.Provider), SMSProvider: orFile(d.cfg.SMS.Provider),
		EmailFrom: d.cfg.Email.From, Started: time.Now().UTC()}
	if err := admin.RecordServeSettings(c.dataDir, rec); err != nil {
		logger.Warn("cannot record serve's settings for the CLI; without a running serve, send and resend will refuse unless the config file has them", "error", err)
	}

	var local []string
	if rec.EmailProvider == share.ProviderFile && !d.configured("email-provider") {
		local = append(local, "e-mails")
	}
	if rec.SMSProvider == share.ProviderFile && !d.configured("sms-provider") {
		local = append(local, "text messages")
	}
	if len(local) > 0 {
		logger.Warn("first run: "+joinAnd(local)+" to patients are only written to the local outbox, not sent; configure --email-provider (smtp, sendgrid, webhook) and --sms-provider (twilio, webhook)",
			"outbox", sh.OutboxDir())
	}
	if admin.LocalURL(c.baseURL) {
		logger.Warn("first run: patients' links point to "+c.baseURL+", which their phones cannot open; set --base-url to the address patients reach sonolink at",
			"base_url", c.baseURL)
	}
	st, err := sh.Settings()
	if err != nil {
		return // share reports it where it matters
	}
	if st.ClinicName == "Sonolink" {
		logger.Warn(`first run: the clinic name in patients' messages and pages is still "Sonolink"; set it with: sonolink settings set clinic.name "Your clinic"`)
	}
	if set, err := sh.SettingStored(settings.KeyAutoShare); err == nil && !set && st.AutoShare.String() == "all" {
		logger.Warn("first run: every complete study with a contact is shared with the patient automatically (autoshare.rule all); to choose per study, give sonolink a second AE title and: sonolink settings set autoshare.rule aet:<that AE title> (or off; or all to keep this and silence the warning)")
	}
}

func orFile(provider string) string {
	if provider == "" {
		return share.ProviderFile
	}
	return provider
}
