package contact

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, raw, region string
		emails, phones    []string
		invalid           []string // values expected in Invalid
	}{
		{"SE intl with spaces", "+46 70 123 45 67", "", nil, []string{"+46701234567"}, nil},
		{"SE national with SE default", "070-123 45 67", "SE", nil, []string{"+46701234567"}, nil},
		{"SE 00 prefix", "0046701234567", "ES", nil, []string{"+46701234567"}, nil},
		{"SE national without default", "0701234567", "", nil, nil, []string{"0701234567"}},
		{"SE landline national", "08-123 456 78", "SE", nil, []string{"+46812345678"}, nil},
		{"ES intl", "+34 612 34 56 78", "", nil, []string{"+34612345678"}, nil},
		{"ES national with ES default", "612345678", "es", nil, []string{"+34612345678"}, nil},
		{"ES 00 prefix dotted", "0034.612.34.56.78", "SE", nil, []string{"+34612345678"}, nil},
		{"US intl parentheses", "+1 (201) 555-0123", "SE", nil, []string{"+12015550123"}, nil},
		{"US national with US default", "(201) 555-0123", "US", nil, []string{"+12015550123"}, nil},
		{"UK mobile intl", "+44 7400 123456", "SE", nil, []string{"+447400123456"}, nil},
		{"UK national with GB default", "07400 123456", "GB", nil, []string{"+447400123456"}, nil},
		{"DE national with DE default", "01512 3456789", "DE", nil, []string{"+4915123456789"}, nil},
		{"DE 00 prefix", "0049 1512 3456789", "SE", nil, []string{"+4915123456789"}, nil},
		{"too short", "12345", "SE", nil, nil, []string{"12345"}},
		{"letters", "070abc4567", "SE", nil, nil, []string{"070abc4567"}},
		{"invalid SE number", "+46 12", "SE", nil, nil, []string{"+46 12"}},
		{"invalid country number", "+46 70 123", "SE", nil, nil, []string{"+46 70 123"}},
		{"email plain", "name@example.com", "SE", []string{"name@example.com"}, nil, nil},
		{"email domain lowercased", "Anna.B@Example.SE", "SE", []string{"Anna.B@example.se"}, nil, nil},
		{"email no dot in domain", "name@localhost", "SE", nil, nil, []string{"name@localhost"}},
		{"email two ats", "a@b@c.se", "SE", nil, nil, []string{"a@b@c.se"}},
		{"email no local", "@example.com", "SE", nil, nil, []string{"@example.com"}},
		{"email mailto", "mailto:x@y.es", "SE", []string{"x@y.es"}, nil, nil},
		{"issue example", "name@example.com, +46 70 123 45 67", "SE", []string{"name@example.com"}, []string{"+46701234567"}, nil},
		{"mixed separators", "a@x.se; b@y.es 0701234567", "SE", []string{"a@x.se", "b@y.es"}, []string{"+46701234567"}, nil},
		{"email space phone", "a@b.se 0701234567", "SE", []string{"a@b.se"}, []string{"+46701234567"}, nil},
		{"two phones by space", "0701234567 +34612345678", "SE", nil, []string{"+46701234567", "+34612345678"}, nil},
		{"two spaced phones by space", "+46 70 123 45 67 +34 612 34 56 78", "SE", nil, []string{"+46701234567", "+34612345678"}, nil},
		{"duplicates", "0701234567; +46 70 123 45 67, a@b.se a@b.se", "SE", []string{"a@b.se"}, []string{"+46701234567"}, nil},
		{"label and junk", "Tel: 0701234567, hello", "SE", nil, []string{"+46701234567"}, []string{"hello"}},
		{"empty", "  ,; ", "SE", nil, nil, nil},
		{"newline separated", "a@b.se\n0701234567", "SE", []string{"a@b.se"}, []string{"+46701234567"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Parse(c.raw, c.region)
			if !reflect.DeepEqual(r.Emails, c.emails) {
				t.Errorf("emails = %q, want %q", r.Emails, c.emails)
			}
			if !reflect.DeepEqual(r.Phones, c.phones) {
				t.Errorf("phones = %q, want %q", r.Phones, c.phones)
			}
			var inv []string
			for _, iv := range r.Invalid {
				inv = append(inv, iv.Value)
				if iv.Reason == "" {
					t.Errorf("invalid %q has no reason", iv.Value)
				}
			}
			if !reflect.DeepEqual(inv, c.invalid) {
				t.Errorf("invalid = %+v, want values %q", r.Invalid, c.invalid)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	r := Parse("0701234567", "")
	if len(r.Invalid) != 1 || !strings.Contains(r.Invalid[0].Reason, "default country") {
		t.Fatalf("national without region: %+v", r.Invalid)
	}
	r = Parse("name@localhost", "SE")
	if !strings.Contains(r.Invalid[0].Reason, "domain with a dot") {
		t.Fatalf("reason %q", r.Invalid[0].Reason)
	}
}

func TestParseAllMerges(t *testing.T) {
	r := ParseAll([]string{"a@b.se", "+46701234567", "a@b.se, 0701234567", "x"}, "SE")
	if len(r.Emails) != 1 || len(r.Phones) != 1 || len(r.Invalid) != 1 {
		t.Fatalf("%+v", r)
	}
	if r.Empty() || !(Result{}).Empty() {
		t.Fatal("Empty wrong")
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"name@example.com": "n•••@example.com",
		"+46701234567":     "+46•••••••67",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRegions(t *testing.T) {
	if !ValidRegion("se") || ValidRegion("XX") {
		t.Fatal("ValidRegion")
	}
	if RegionForCallingCode("+46") != "SE" || RegionForCallingCode("34") != "ES" || RegionForCallingCode("abc") != "" {
		t.Fatal("RegionForCallingCode")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("name@example.com, +46 70 123 45 67", "SE")
	f.Add("a@x.se; b@y.es 0701234567", "ES")
	f.Fuzz(func(t *testing.T, raw, region string) {
		if len(raw) > 512 {
			return
		}
		r := Parse(raw, region)
		for _, p := range r.Phones {
			if !strings.HasPrefix(p, "+") {
				t.Fatalf("phone %q not E.164", p)
			}
		}
	})
}

// Contacts are bounded: a huge field or address is refused with a reason
// the technician sees, and never carried whole into a message header.
func TestParseBounds(t *testing.T) {
	long := strings.Repeat("a", 100_000) + "@example.com"
	r := Parse(long, "SE")
	if len(r.Emails) != 0 || len(r.Invalid) != 1 || !strings.Contains(r.Invalid[0].Reason, "at most 1024") || len(r.Invalid[0].Value) > 100 {
		t.Fatalf("100,000-character field: %+v", r)
	}
	for _, tc := range []struct {
		raw, reason string
	}{
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", ""},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "at most 254"},
		{strings.Repeat("a", 65) + "@example.com", "before @ is longer than 64"},
		{"+46 70 123 45 67", ""},
		{"+46-----------------------------70 123 45 67", "too long for a phone number"},
	} {
		r := Parse(tc.raw+", x@example.com", "SE")
		got := ""
		for _, iv := range r.Invalid {
			got += iv.Reason
		}
		if tc.reason == "" && (got != "" || r.Empty()) || tc.reason != "" && !strings.Contains(got, tc.reason) {
			t.Errorf("%d characters: reasons %q, want %q", len(tc.raw), got, tc.reason)
		}
		if len(r.Emails) == 0 || r.Emails[len(r.Emails)-1] != "x@example.com" {
			t.Errorf("%d characters: the other address was lost: %+v", len(tc.raw), r)
		}
	}
}

// A language typed on the scanner as a value of its own is the patient's
// language; other short words are not taken for one.
func TestLanguageTyped(t *testing.T) {
	cases := map[string]string{
		"maria@example.es, +34 612 34 56 78, es": "es",
		"maria@example.es; idioma: ES":           "es",
		"anna@example.se, språk:sv, lang:en":     "sv",
		"lang=en, +46701234567":                  "en",
		"john@example.com":                       "",
		"john@example.com, ok":                   "",
		"john@example.com, xx":                   "",
	}
	for in, want := range cases {
		r := Parse(in, "SE")
		if r.Lang != want {
			t.Errorf("Parse(%q).Lang = %q, want %q", in, r.Lang, want)
		}
		if want != "" && len(r.Invalid) > 0 {
			t.Errorf("Parse(%q): the language was also taken for a bad contact: %v", in, r.Invalid)
		}
	}
	if r := ParseAll([]string{"a@example.com", "sv", "es"}, "SE"); r.Lang != "sv" {
		t.Errorf("ParseAll: first language typed wins, got %q", r.Lang)
	}
}

// A phone number's country gives a language when the country has one.
func TestLanguageOfPhone(t *testing.T) {
	for num, want := range map[string]string{"+34612345678": "es", "+46701234567": "sv", "+447911123456": "en", "+525512345678": "es", "+4915112345678": "de", "garbage": ""} {
		if got := LanguageOfPhone(num); got != want {
			t.Errorf("LanguageOfPhone(%s) = %q, want %q", num, got, want)
		}
	}
}
