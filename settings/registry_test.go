package settings

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRegistry() *Registry {
	return New(Config{
		Languages: []string{"en", "es", "sv"},
		Messages:  []Message{{"sms", "{{.Clinic}} {{.Link}}"}, {"email_subject", "{{.Clinic}}"}},
		CheckMessage: func(name, text string) error {
			if strings.Contains(text, "{{.Patient}}") {
				return errors.New(`template: ` + name + `: can't evaluate field Patient`)
			}
			return nil
		},
		HashLinkCode: func(code string) string { return "hash:" + code },
	})
}

func pngFile(t *testing.T) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b.Bytes()
}

// link.reminder takes off as well as a duration, and refuses nonsense.
func TestReminderSetting(t *testing.T) {
	r := testRegistry()
	if d := r.Defaults().LinkReminder; d != 7*24*time.Hour {
		t.Fatalf("default reminder %v", d)
	}
	c, err := r.Parse(KeyLinkReminder, "Off")
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Decode(map[string][]byte{c.Key: c.Value})
	if err != nil || v.LinkReminder != 0 || r.Format(v, KeyLinkReminder) != "off" {
		t.Fatalf("off: %+v %v", v.LinkReminder, err)
	}
	for _, bad := range []string{"soon", "10m", "400d"} {
		if _, err := r.Parse(KeyLinkReminder, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, tz := range []string{"Local", "Mars/Olympus", "/etc/localtime", "../../etc/passwd"} {
		if _, err := r.Parse(KeyTimeZone, tz); !errors.Is(err, ErrInvalid) {
			t.Errorf("time zone %q: %v", tz, err)
		}
	}
	if _, err := r.Parse(KeyLinkCodeScope, "some"); !errors.Is(err, ErrInvalid) {
		t.Errorf("scope some: %v", err)
	}
}

// Every key: a value a person types is parsed, stored, decoded and shown,
// and what is shown parses back to what was stored.
func TestRoundTrip(t *testing.T) {
	r := testRegistry()
	logo, _ := pngFile(t)
	cases := map[string]struct{ in, shown string }{
		KeyClinicName:                   {" Ultraljud Söder ", "Ultraljud Söder"},
		KeyLanguage:                     {"SV", "sv"},
		KeyRegion:                       {"+46", "SE"},
		KeyClinicPhone:                  {" +46 31-123 45 67 ", "+46 31-123 45 67"},
		KeyClinicWeb:                    {"ultraljud.example/kontakt", "https://ultraljud.example/kontakt"},
		KeyClinicHours:                  {"Mån–fre 8–16", "Mån–fre 8–16"},
		KeyTimeZone:                     {"Europe/Stockholm", "Europe/Stockholm"},
		KeyLinkLifetime:                 {"48h", "2d"},
		KeyLinkCode:                     {"ab-12 cd", "set"},
		KeyLinkCodeScope:                {"ALL", "all"},
		KeyLinkReminder:                 {"168h", "7d"},
		KeyLinkSelfRenew:                {"On", "on"},
		KeyLogo:                         {logo, "set (image/png, 1 KB)"},
		KeyAutoShare:                    {"AET:PATIENT", "aet:PATIENT"},
		KeyStableTime:                   {"90s", "1m30s"},
		KeyDeidOptions:                  {"shift-dates; retain-patient-chars, shift-dates", "shift-dates,retain-patient-chars"},
		KeyOutboxRetention:              {"1w", "7d"},
		KeyRetainAfterLink:              {"2w", "14d"},
		KeyRetainUnshared:               {"OFF", "off"},
		KeyFreeFloor:                    {"1500 mb", "1500MB"},
		KeyStorageReserve:               {"2.5%", "2.5%"},
		KeyTextPrefix + "sms":           {"{{.Clinic}}: {{.Link}}", "{{.Clinic}}: {{.Link}}"},
		KeyTextPrefix + "email_subject": {"Bilder från {{.Clinic}}", "Bilder från {{.Clinic}}"},
	}
	for _, k := range r.Keys() {
		tc, ok := cases[k.Key]
		if !ok {
			t.Errorf("%s has no round-trip case", k.Key)
			continue
		}
		c, err := r.Parse(k.Key, tc.in)
		if err != nil || c.Key != k.Key || c.Value == nil || c.Audit == "" {
			t.Errorf("%s=%q: %+v %v", k.Key, tc.in, c, err)
			continue
		}
		v, err := r.Decode(map[string][]byte{k.Key: c.Value})
		if err != nil {
			t.Errorf("%s: decoding %q: %v", k.Key, c.Value, err)
			continue
		}
		if got := r.Format(v, k.Key); got != tc.shown {
			t.Errorf("%s=%q shows as %q, want %q", k.Key, tc.in, got, tc.shown)
		}
		if tc.shown == "set" || strings.HasPrefix(tc.shown, "set (") {
			continue // secrets and files are shown, not typed back
		}
		again, err := r.Parse(k.Key, tc.shown)
		if err != nil || !bytes.Equal(again.Value, c.Value) {
			t.Errorf("%s: shown %q parses to %q (%v), stored %q", k.Key, tc.shown, again.Value, err, c.Value)
		}
	}
	v, _ := r.Decode(map[string][]byte{KeyLinkCode: []byte("hash:AB12CD")})
	if !v.LinkCodeSet || v.LinkCodeHash != "hash:AB12CD" {
		t.Errorf("link code decodes to %+v", v)
	}
	if c, _ := r.Parse(KeyLinkCode, "ab-12 cd"); string(c.Value) != "hash:AB12CD" || c.Audit != "set" {
		t.Errorf("link code is stored as %q, audited as %q", c.Value, c.Audit)
	}
}

// A default is what a person could type: it parses, and typing it gives
// the values Defaults has when nothing is stored.
func TestDefaults(t *testing.T) {
	r := testRegistry()
	d := r.Defaults()
	for _, k := range r.Keys() {
		if k.Default == "" {
			if got := r.Format(d, k.Key); got != "" {
				t.Errorf("%s shows %q with nothing stored and no default", k.Key, got)
			}
			continue
		}
		c, err := r.Parse(k.Key, k.Default)
		if err != nil {
			t.Errorf("default of %s: %v", k.Key, err)
			continue
		}
		typed, err := r.Decode(map[string][]byte{k.Key: c.Value})
		if err != nil || r.Format(typed, k.Key) != r.Format(d, k.Key) {
			t.Errorf("%s: typing the default %q shows %q, the default shows %q (%v)", k.Key, k.Default, r.Format(typed, k.Key), r.Format(d, k.Key), err)
		}
	}
	if d.ClinicName != "Sonolink" || d.Language != "en" || d.LinkLifetime != 90*day || d.StableTime != time.Minute ||
		d.AutoShare != (AutoShareRule{Mode: "all"}) || d.LinkCodeSet || d.Logo != nil || d.Texts == nil {
		t.Errorf("defaults %+v", d)
	}
}

// An empty value clears every key; the link code and logo also take
// "clear" and "none".
func TestClear(t *testing.T) {
	r := testRegistry()
	for _, k := range r.Keys() {
		if c, err := r.Parse(k.Key, "  "); err != nil || c.Value != nil || c.Audit == "" {
			t.Errorf("clearing %s: %+v %v", k.Key, c, err)
		}
	}
	for _, k := range []string{KeyLinkCode, KeyLogo} {
		for _, w := range []string{"clear", "NONE"} {
			if c, err := r.Parse(k, w); err != nil || c.Value != nil || c.Audit != "cleared" {
				t.Errorf("%s %s: %+v %v", k, w, c, err)
			}
		}
	}
	if c, _ := r.Parse(KeyTextPrefix+"sms", ""); c.Audit != "restored default" {
		t.Errorf("clearing a text is audited as %q", c.Audit)
	}
}

// A refused value names the key and says what is allowed.
func TestInvalid(t *testing.T) {
	r := testRegistry()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	os.WriteFile(big, make([]byte, MaxLogoBytes+1), 0o644)
	svg := filepath.Join(dir, "logo.svg")
	os.WriteFile(svg, []byte("<svg onload=alert(1)>"), 0o644)
	cases := []struct{ key, in, allowed string }{
		{KeyClinicName, strings.Repeat("x", 81), "1 to 80 characters"},
		{KeyLanguage, "de", "choose one of en, es, sv"},
		{KeyRegion, "Sweden", "ISO 3166 code"},
		{KeyClinicPhone, "call us", "digits, spaces"},
		{KeyClinicPhone, "+46 " + strings.Repeat("1", 40), "3 to 40"},
		{KeyClinicWeb, "javascript:alert(1)", "https://clinic.example"},
		{KeyClinicWeb, "https://a.example/\"><script>", "https://clinic.example"},
		{KeyClinicWeb, "https://user:pw@a.example", "https://clinic.example"},
		{KeyClinicHours, "Mon–Fri\n8–16", "one line"},
		{KeyClinicHours, strings.Repeat("x", 81), "at most 80"},
		{KeyRegion, "+999", "calling code"},
		{KeyLinkLifetime, "5m", "from 1h to 3650d"},
		{KeyLinkLifetime, "forever", "from 1h to 3650d"},
		{KeyStableTime, "0s", "from 1s to 1h"},
		{KeyStableTime, "2h", "from 1s to 1h"},
		{KeyLinkCode, "12", "4 to 64 characters"},
		{KeyLogo, filepath.Join(dir, "missing.png"), "cannot read logo file"},
		{KeyLogo, big, "at most 512 KB"},
		{KeyLogo, svg, "PNG, JPEG, GIF or WebP"},
		{KeyAutoShare, "sometimes", "all, off or aet:<AE title>"},
		{KeyAutoShare, "aet:" + strings.Repeat("A", 17), "1 to 16 characters"},
		{KeyDeidOptions, "burned-in-ocr", "burned-in-ocr"},
		{KeyTextPrefix + "sms", "{{.Patient}}", "Patient"},
	}
	for _, tc := range cases {
		_, err := r.Parse(tc.key, tc.in)
		var ie *InvalidError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || ie.Key != tc.key ||
			!strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.allowed) {
			t.Errorf("%s=%q: %v (want the key and %q)", tc.key, tc.in, err, tc.allowed)
		}
	}
	if _, err := r.Parse(KeyLogo, filepath.Join(dir, "missing.png")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing logo file loses its cause: %v", err)
	}
	if _, err := r.ParseLogo([]byte("<svg onload=alert(1)>")); !errors.Is(err, ErrInvalid) {
		t.Errorf("svg logo bytes: %v", err)
	}
}

func TestUnknown(t *testing.T) {
	r := testRegistry()
	for _, k := range []string{"clinic.colour", "branding.text.fax", "branding.text.", "link-code"} {
		_, err := r.Parse(k, "x")
		if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), KeyClinicName) || !strings.Contains(err.Error(), KeyTextPrefix+"sms") {
			t.Errorf("%s: %v", k, err)
		}
	}
	if _, ok := r.Lookup(KeyTextPrefix + "sms"); !ok {
		t.Error("a family member is not found")
	}
}

// A stored value that does not decode is an error naming the key; keys
// the registry does not know are left alone.
func TestDecodeStored(t *testing.T) {
	r := testRegistry()
	for k, v := range map[string]string{KeyLinkLifetime: "forever", KeyStableTime: "", KeyAutoShare: "maybe", KeyLogo: "{"} {
		_, err := r.Decode(map[string][]byte{k: []byte(v)})
		var se *StoredError
		if !errors.As(err, &se) || se.Key != k || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	v, err := r.Decode(map[string][]byte{"clinic.colour": []byte("blue"), KeyTextPrefix + "fax": []byte("x")})
	if err != nil || len(v.Texts) != 0 {
		t.Errorf("undeclared stored keys: %+v %v", v, err)
	}
}

func TestResolve(t *testing.T) {
	r := testRegistry()
	for in, want := range map[string]string{
		"link.code": KeyLinkCode, "Link-Code": KeyLinkCode, "code": KeyLinkCode, "stable-time": KeyStableTime,
		"clinic_name": KeyClinicName, "branding-text-sms": KeyTextPrefix + "sms", "deid": KeyDeidOptions,
	} {
		if got, err := r.Resolve(in); err != nil || got != want {
			t.Errorf("%q resolves to %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := r.Resolve("branding"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous key: %v", err)
	}
	if _, err := r.Resolve("colour"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), KeyLinkCode) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * day, "2w": 14 * day, "60s": time.Minute, "1h30m": 90 * time.Minute, "1.5d": 36 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s = %v %v", in, got, err)
		}
		if back, err := ParseDuration(FormatDuration(got)); err != nil || back != got {
			t.Errorf("%s formats as %q, which reads back as %v %v", in, FormatDuration(got), back, err)
		}
	}
	for _, in := range []string{"", "d", "-1d", "abc", "0s"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	for d, want := range map[time.Duration]string{0: "", 90 * day: "90d", 48 * time.Hour: "2d", 36 * time.Hour: "36h", 2 * time.Minute: "2m", 90 * time.Second: "1m30s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
