package contact

import (
	"strings"
	"testing"
)

// TestInvalidHasCode: every refused value says why as a code too, so a
// console can say it in the clinic's language.
func TestInvalidHasCode(t *testing.T) {
	for _, c := range []struct{ raw, region, code string }{
		{strings.Repeat("a", MaxFieldLength+1), "SE", CodeFieldTooLong},
		{"hello", "SE", CodeNotContact},
		{strings.TrimSpace(strings.Repeat("1 ", 25)), "SE", CodeTooManyWords},
		{"0701", "SE", CodePhoneTooShort},
		{"070123", "", CodeNoRegion},
		{"+1 555 000", "SE", CodePhoneCountry},
		{"0001234567", "SE", CodePhoneInvalid},
		{"0123456", "SE", CodePhoneRegion},
		{"012345678901234567890", "SE", CodePhoneTooLong},
		{strings.Repeat("a", MaxEmailLength) + "@example.com", "SE", CodeEmailTooLong},
		{strings.Repeat("a", MaxLocalLength+1) + "@example.com", "SE", CodeEmailLocalTooLong},
		{"a@@b.se", "SE", CodeEmailInvalid},
		{"name@example", "SE", CodeEmailNoDot},
		{"name@exa_mple.com", "SE", CodeEmailBadDomain},
	} {
		r := Parse(c.raw, c.region)
		if len(r.Invalid) != 1 {
			t.Errorf("%.40q: %d invalid values %+v, want one", c.raw, len(r.Invalid), r.Invalid)
			continue
		}
		if iv := r.Invalid[0]; iv.Code != c.code || iv.Reason == "" {
			t.Errorf("%.40q: code %q (%q), want %q", c.raw, iv.Code, iv.Reason, c.code)
		}
	}
}
