package admin

import (
	"context"
	"net/http"

	"sonolink/settings"
	"sonolink/share"
)

// Clinic is what the staff console shows of the clinic on every page: its
// name, language, time zone and logo (the same settings as the patient
// pages).
type Clinic struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Region   string `json:"region,omitempty"`
	// TimeZone is the IANA name of the clinic's clock: clinic.timezone, or
	// the server's zone when it is not set.
	TimeZone string `json:"time_zone"`
	Logo     []byte `json:"logo,omitempty"`
	LogoType string `json:"logo_type,omitempty"`
}

// CodeReach says, before a patient link code is saved, how many active
// links would ask for it.
type CodeReach struct {
	Active   int  `json:"active"`    // active links
	WithCode int  `json:"with_code"` // of them, issued while a code was set
	AskNow   int  `json:"ask_now"`   // ask for a code now
	CodeSet  bool `json:"code_set"`  // a code is in force
	ScopeAll bool `json:"scope_all"` // link.code_scope all: every active link asks
	// WouldAsk is how many active links ask for the code once one is
	// saved: all of them under link.code_scope all, else those issued
	// while a code was set (and every link issued from then on).
	WouldAsk int `json:"would_ask"`
}

// Clinic returns the clinic's name, language, clock and logo.
func (s *Service) Clinic(ctx context.Context) (*Clinic, error) {
	st, err := s.be.sh.Settings()
	if err != nil {
		return nil, s.internal("read settings", err)
	}
	return &Clinic{Name: st.ClinicName, Language: st.Language, Region: st.Region,
		TimeZone: st.Zone(s.be.sh.Location()).String(), Logo: st.Logo, LogoType: st.LogoType}, nil
}

// LinkCodeReach counts what saving a patient link code would change; it
// changes nothing.
func (s *Service) LinkCodeReach(ctx context.Context) (*CodeReach, error) {
	st, err := s.be.sh.Settings()
	if err != nil {
		return nil, s.internal("read settings", err)
	}
	r, err := s.be.sh.LinkCodeReach()
	if err != nil {
		return nil, s.internal("count the active links", err)
	}
	return codeReach(st, r), nil
}

// codeReach is share's count of the active links under the settings st.
func codeReach(st settings.Values, r share.CodeReach) *CodeReach {
	out := &CodeReach{Active: r.Active, WithCode: r.WithCode, AskNow: r.AskFor, CodeSet: st.LinkCodeSet, ScopeAll: st.LinkCodeAll, WouldAsk: r.WithCode}
	if st.LinkCodeAll {
		out.WouldAsk = r.Active
	}
	return out
}

// Clinic asks the running server.
func (c *Client) Clinic(ctx context.Context) (*Clinic, error) {
	var out Clinic
	if err := c.do(ctx, http.MethodGet, "/v1/clinic", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LinkCodeReach asks the running server.
func (c *Client) LinkCodeReach(ctx context.Context) (*CodeReach, error) {
	var out CodeReach
	if err := c.do(ctx, http.MethodGet, "/v1/link-code-reach", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
