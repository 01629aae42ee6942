package admin

import (
	"strings"
	"testing"

	"sonolink/share"
)

// TestOfflinePlan: what the CLI may deliver without a server, from its own
// configuration and what serve last ran with.
func TestOfflinePlan(t *testing.T) {
	public := "https://images.clinic.example"
	served := &ServeSettings{BaseURL: public, EmailProvider: "smtp", SMSProvider: "file", EmailFrom: "clinic@example.com"}
	for _, c := range []struct {
		name     string
		served   *ServeSettings
		base     string
		email    string
		cfg      Configured
		wantErr  string // part of the refusal; "" none
		wantHold bool
		wantBase string
	}{
		{name: "nothing configured anywhere", wantErr: "no public base URL is configured"},
		{name: "nothing configured: provider named too", base: public, cfg: Configured{BaseURL: true}, wantErr: "no e-mail provider is configured"},
		{name: "localhost configured", base: "http://127.0.0.1:8080", email: "smtp", cfg: Configured{BaseURL: true, EmailProvider: true}, wantErr: "no public base URL"},
		{name: "all configured here", base: public, email: "smtp", cfg: Configured{BaseURL: true, EmailProvider: true}, wantBase: public},
		{name: "file on purpose", base: public, email: "file", cfg: Configured{BaseURL: true, EmailProvider: true}, wantBase: public},
		{name: "serve's settings only: queued for serve", served: served, wantHold: true, wantBase: public},
		{name: "same as serve", served: served, base: public, email: "smtp", cfg: Configured{BaseURL: true, EmailProvider: true}, wantBase: public},
		{name: "base URL differs from serve's", served: served, base: "https://other.example", cfg: Configured{BaseURL: true}, wantErr: "not the https://images.clinic.example sonolink serve last ran with"},
		{name: "provider differs from serve's", served: served, email: "file", cfg: Configured{EmailProvider: true}, wantErr: "e-mail provider file is not the smtp"},
		{name: "serve ran with defaults", served: &ServeSettings{BaseURL: "http://localhost:8080", EmailProvider: "file", SMSProvider: "file"}, wantErr: "http://localhost:8080"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.served != nil {
				if err := RecordServeSettings(dir, *c.served); err != nil {
					t.Fatal(err)
				}
			}
			opts := LocalOptions{Share: share.Options{BaseURL: c.base}, Configured: c.cfg}
			opts.Share.Delivery.Email.Provider = c.email
			p := planOffline(dir, &opts)
			hold, err := p.check("email")
			switch {
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || KindOf(err) != KindNotConfigured):
				t.Fatalf("want a refusal with %q, got %v", c.wantErr, err)
			case c.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.wantErr == "" && (hold != c.wantHold || opts.Share.BaseURL != c.wantBase):
				t.Fatalf("hold %v base %q, want %v %q", hold, opts.Share.BaseURL, c.wantHold, c.wantBase)
			}
			if err != nil && !strings.HasSuffix(err.Error(), "Nothing was sent.") {
				t.Errorf("refusal does not say nothing was sent: %v", err)
			}
			if c.served != nil && !c.cfg.EmailFrom && opts.Share.Delivery.Email.From != c.served.EmailFrom {
				t.Errorf("e-mail sender %q, want serve's %q", opts.Share.Delivery.Email.From, c.served.EmailFrom)
			}
		})
	}
	for _, u := range []string{"http://localhost:8080", "http://127.0.0.1", "http://[::1]:80/x", "", "nonsense", "http://app.localhost"} {
		if !LocalURL(u) {
			t.Errorf("%q is not called local", u)
		}
	}
	for _, u := range []string{"https://images.clinic.example", "http://10.0.0.5:8080", "https://x.example/sonolink"} {
		if LocalURL(u) {
			t.Errorf("%q is called local", u)
		}
	}
}
