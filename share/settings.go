package share

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"net/http"
	"os"
	"slices"
	"sonolink/anonymize"
	"strconv"
	"strings"
	"text/template"
	"time"

	bolt "go.etcd.io/bbolt"

	"sonolink/contact"
)

// Setting keys (see SettingKeys for descriptions and defaults).
const (
	KeyClinicName   = "clinic.name"
	KeyLanguage     = "clinic.language"
	KeyRegion       = "clinic.region"
	KeyLinkLifetime = "link.lifetime"
	KeyLinkCode     = "link.code"
	KeyLogo         = "branding.logo"
	KeyTextPrefix   = "branding.text." // + a message name, e.g. branding.text.sms
	KeyAutoShare    = "autoshare.rule"
	KeyStableTime   = "autoshare.stable_time"
	KeyDeidOptions  = "deid.options"
)

// Settings are the clinic's settings, read from share.db on every call, so a
// change made by `sonolink settings set` applies at once.
type Settings struct {
	ClinicName   string
	Language     string        // message language: en, sv, es (Languages())
	Region       string        // ISO 3166 alpha-2 for national phone numbers, e.g. "SE"
	LinkLifetime time.Duration // default 90 days
	LinkCodeSet  bool          // a clinic patient link code is in force
	Logo         []byte        // branding logo, nil if none
	LogoType     string        // its content type (image/png, image/jpeg, image/gif, image/webp)
	Texts        map[string]string
	AutoShare    AutoShareRule
	StableTime   time.Duration // default 60 s
	DeidOptions  []string      // opaque to share; for the de-identification side

	linkCodeHash string
}

// AutoShareRule says which complete studies get a link automatically.
type AutoShareRule struct {
	Mode string // "all" (every study with a contact), "aet" (only studies sent to AET) or "off"
	AET  string
}

// String is the rule as the setting spells it: all, off or aet:<AE>.
func (r AutoShareRule) String() string {
	if r.Mode == "aet" {
		return "aet:" + r.AET
	}
	return r.Mode
}

// Matches reports whether a study sent to the given called AE titles is
// shared automatically.
func (r AutoShareRule) Matches(calledAETs []string) bool {
	switch r.Mode {
	case "all":
		return true
	case "aet":
		for _, a := range calledAETs {
			if strings.EqualFold(strings.TrimSpace(a), r.AET) {
				return true
			}
		}
	}
	return false
}

// SettingKey describes one setting.
type SettingKey struct {
	Key         string
	Default     string
	Description string
}

// SettingKeys lists every key UpdateSetting accepts, with its default.
func SettingKeys() []SettingKey {
	keys := []SettingKey{
		{KeyClinicName, "Sonolink", "the clinic's name, shown in messages and on the landing page"},
		{KeyLanguage, "en", "language of messages and the landing page's default: " + strings.Join(Languages(), ", ")},
		{KeyRegion, "", "default country for national phone numbers: ISO 3166 code (SE, ES, US) or calling code (+46)"},
		{KeyLinkLifetime, "90d", "how long a link works after it is sent or resent: e.g. 90d, 30d, 48h (1h to 3650d)"},
		{KeyLinkCode, "", "clinic patient link code required to open links (4 to 64 characters); empty or \"clear\" removes it. Each link also keeps accepting the code in force when it was issued"},
		{KeyLogo, "", "branding logo: path of a PNG, JPEG, GIF or WebP file (at most 512 KB) readable by the server; empty clears"},
		{KeyAutoShare, "all", "auto-share rule: all (every study with a contact), aet:<AE title> (only studies sent to that called AE title), off"},
		{KeyStableTime, "60s", "a study is complete when no object arrived for this long: e.g. 60s, 2m (1s to 1h)"},
		{KeyDeidOptions, "", "de-identification options, comma-separated: retain-dates, shift-dates, retain-patient-chars, keep-private=CREATOR:GGGGxxEE; changing them recreates every de-identified copy"},
	}
	for _, n := range messageNames {
		keys = append(keys, SettingKey{KeyTextPrefix + n, "", "override of the " + n + " message text (Go template; fields: " + messageFields[n] + "); empty restores the translated default"})
	}
	return keys
}

const maxLogoBytes = 512 << 10

func defaultSettings() Settings {
	return Settings{ClinicName: "Sonolink", Language: "en", LinkLifetime: 90 * 24 * time.Hour,
		AutoShare: AutoShareRule{Mode: "all"}, StableTime: 60 * time.Second, Texts: map[string]string{}}
}

// Settings returns the current settings.
func (s *Service) Settings() Settings {
	st := defaultSettings()
	s.db.View(func(tx *bolt.Tx) error { st = readSettings(tx); return nil })
	return st
}

func readSettings(tx *bolt.Tx) Settings {
	st := defaultSettings()
	b := tx.Bucket(bktSettings)
	get := func(k string) (string, bool) {
		v := b.Get([]byte(k))
		return string(v), v != nil
	}
	if v, ok := get(KeyClinicName); ok {
		st.ClinicName = v
	}
	if v, ok := get(KeyLanguage); ok {
		st.Language = v
	}
	if v, ok := get(KeyRegion); ok {
		st.Region = v
	}
	if v, ok := get(KeyLinkLifetime); ok {
		if d, err := parseDuration(v); err == nil {
			st.LinkLifetime = d
		}
	}
	if v, ok := get(KeyLinkCode); ok && v != "" {
		st.LinkCodeSet, st.linkCodeHash = true, v
	}
	if v, ok := get(KeyLogo); ok && v != "" {
		var l struct {
			Type string
			Data []byte
		}
		if json.Unmarshal([]byte(v), &l) == nil {
			st.Logo, st.LogoType = l.Data, l.Type
		}
	}
	if v, ok := get(KeyAutoShare); ok {
		if r, err := parseAutoShare(v); err == nil {
			st.AutoShare = r
		}
	}
	if v, ok := get(KeyStableTime); ok {
		if d, err := parseDuration(v); err == nil {
			st.StableTime = d
		}
	}
	if v, ok := get(KeyDeidOptions); ok && v != "" {
		st.DeidOptions = splitList(v)
	}
	c := b.Cursor()
	for k, v := c.Seek([]byte(KeyTextPrefix)); k != nil && bytes.HasPrefix(k, []byte(KeyTextPrefix)); k, v = c.Next() {
		st.Texts[strings.TrimPrefix(string(k), KeyTextPrefix)] = string(v)
	}
	return st
}

// UpdateSetting validates and stores one setting; it applies at once.
// Errors wrap ErrUnknownSetting or ErrInvalidSetting and say what is accepted.
func (s *Service) UpdateSetting(key, value string) error {
	key = strings.TrimSpace(strings.ToLower(key))
	value = strings.TrimSpace(value)
	stored, audit, err := s.validateSetting(key, value)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSettings)
		if stored == nil {
			if err := b.Delete([]byte(key)); err != nil {
				return err
			}
		} else if err := b.Put([]byte(key), stored); err != nil {
			return err
		}
		return s.audit(tx, AuditEvent{Type: EventSettingChanged, Detail: key + ": " + audit})
	})
	if err != nil {
		return fmt.Errorf("share: saving setting %s: %w", key, err)
	}
	s.log.Info("setting changed", "key", key)
	return nil
}

// SetLogo stores the branding logo from bytes (PNG, JPEG, GIF or WebP, at
// most 512 KB); nil clears it.
func (s *Service) SetLogo(data []byte) error {
	stored, audit, err := logoValue(data)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSettings)
		if stored == nil {
			b.Delete([]byte(KeyLogo))
		} else if err := b.Put([]byte(KeyLogo), stored); err != nil {
			return err
		}
		return s.audit(tx, AuditEvent{Type: EventSettingChanged, Detail: KeyLogo + ": " + audit})
	})
}

func invalid(key, format string, a ...any) error {
	return fmt.Errorf("%w for %s: %w", ErrInvalidSetting, key, fmt.Errorf(format, a...))
}

// validateSetting returns the value to store (nil deletes, i.e. default) and
// what the audit log may say about it.
func (s *Service) validateSetting(key, v string) ([]byte, string, error) {
	switch key {
	case KeyClinicName:
		if v == "" || len([]rune(v)) > 80 {
			return nil, "", invalid(key, "give a name of 1 to 80 characters")
		}
		return []byte(v), strconv.Quote(v), nil
	case KeyLanguage:
		v = strings.ToLower(v)
		if !slices.Contains(Languages(), v) {
			return nil, "", invalid(key, "%q is not available; choose one of %s", v, strings.Join(Languages(), ", "))
		}
		return []byte(v), v, nil
	case KeyRegion:
		if v == "" {
			return nil, "cleared", nil
		}
		r := strings.ToUpper(v)
		if strings.HasPrefix(v, "+") || (len(v) > 0 && v[0] >= '0' && v[0] <= '9') {
			r = contact.RegionForCallingCode(v)
		}
		if r == "" || !contact.ValidRegion(r) {
			return nil, "", invalid(key, "%q is not a country: give an ISO 3166 code such as SE, ES, US, GB, DE, or a calling code such as +46", v)
		}
		return []byte(r), r, nil
	case KeyLinkLifetime:
		d, err := parseDuration(v)
		if err != nil || d < time.Hour || d > 3650*24*time.Hour {
			return nil, "", invalid(key, "%q: give a duration from 1h to 3650d, e.g. 90d, 30d, 48h", v)
		}
		return []byte(formatDuration(d)), formatDuration(d), nil
	case KeyStableTime:
		d, err := parseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			return nil, "", invalid(key, "%q: give a duration from 1s to 1h, e.g. 60s, 2m", v)
		}
		return []byte(formatDuration(d)), formatDuration(d), nil
	case KeyLinkCode:
		if v == "" || strings.EqualFold(v, "clear") || strings.EqualFold(v, "none") {
			return nil, "cleared", nil
		}
		if n := len([]rune(v)); n < 4 || n > 64 {
			return nil, "", invalid(key, "a link code has 4 to 64 characters (or \"clear\" to remove it)")
		}
		return []byte(hashSecret(normalizeCode(v))), "set", nil
	case KeyLogo:
		if v == "" || strings.EqualFold(v, "clear") || strings.EqualFold(v, "none") {
			return nil, "cleared", nil
		}
		fi, err := os.Stat(v)
		if err != nil {
			return nil, "", invalid(key, "cannot read logo file: %w", err)
		}
		if fi.Size() > maxLogoBytes {
			return nil, "", invalid(key, "logo is %d KB; at most %d KB", fi.Size()>>10, maxLogoBytes>>10)
		}
		data, err := os.ReadFile(v)
		if err != nil {
			return nil, "", invalid(key, "cannot read logo file: %w", err)
		}
		return logoValue(data)
	case KeyAutoShare:
		r, err := parseAutoShare(v)
		if err != nil {
			return nil, "", invalid(key, "%w", err)
		}
		return []byte(r.String()), r.String(), nil
	case KeyDeidOptions:
		l := splitList(v)
		if len(l) == 0 {
			return nil, "cleared", nil
		}
		if _, err := anonymize.ParseOptions(l); err != nil {
			return nil, "", invalid(key, "%w", err)
		}
		return []byte(strings.Join(l, ",")), strings.Join(l, ","), nil
	}
	if name, ok := strings.CutPrefix(key, KeyTextPrefix); ok && slices.Contains(messageNames, name) {
		if v == "" {
			return nil, "restored default", nil
		}
		if err := checkTemplate(name, v); err != nil {
			return nil, "", invalid(key, "%w", err)
		}
		return []byte(v), "set", nil
	}
	var names []string
	for _, k := range SettingKeys() {
		names = append(names, k.Key)
	}
	return nil, "", fmt.Errorf("%w %q; known settings: %s", ErrUnknownSetting, key, strings.Join(names, ", "))
}

func logoValue(data []byte) ([]byte, string, error) {
	if len(data) == 0 {
		return nil, "cleared", nil
	}
	if len(data) > maxLogoBytes {
		return nil, "", invalid(KeyLogo, "logo is %d KB; at most %d KB", len(data)>>10, maxLogoBytes>>10)
	}
	ct := http.DetectContentType(data)
	switch ct {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
	default:
		return nil, "", invalid(KeyLogo, "logo must be PNG, JPEG, GIF or WebP, not %s", ct)
	}
	stored, _ := json.Marshal(struct {
		Type string
		Data []byte
	}{ct, data})
	return stored, fmt.Sprintf("%s, %d bytes", ct, len(data)), nil
}

func parseAutoShare(v string) (AutoShareRule, error) {
	lv := strings.ToLower(v)
	switch {
	case lv == "all" || lv == "off":
		return AutoShareRule{Mode: lv}, nil
	case strings.HasPrefix(lv, "aet:"):
		aet := strings.TrimSpace(v[4:])
		if aet == "" || len(aet) > 16 || strings.ContainsAny(aet, "\\") {
			return AutoShareRule{}, fmt.Errorf("%q: an AE title has 1 to 16 characters", aet)
		}
		return AutoShareRule{Mode: "aet", AET: aet}, nil
	}
	return AutoShareRule{}, fmt.Errorf("%q: give all, off or aet:<AE title> (e.g. aet:PATIENT)", v)
}

// parseDuration accepts Go durations (90s, 2h30m) and days/weeks (90d, 2w).
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("bad duration %q", v)
			}
			return time.Duration(f * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}

func formatDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '\n' }) {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// normalizeCode makes link codes forgiving: case, spaces and dashes are
// ignored ("ab12-cd" == "AB12CD").
func normalizeCode(c string) string {
	c = strings.ToUpper(c)
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, c)
}

// checkTemplate parses an override and renders it with sample data.
func checkTemplate(name, text string) error {
	var err error
	if strings.HasSuffix(name, "_html") {
		var t *htmltemplate.Template
		if t, err = htmltemplate.New(name).Option("missingkey=error").Parse(text); err == nil {
			err = t.Execute(&bytes.Buffer{}, sampleData)
		}
	} else {
		var t *template.Template
		if t, err = template.New(name).Option("missingkey=error").Parse(text); err == nil {
			err = t.Execute(&bytes.Buffer{}, sampleData)
		}
	}
	return err
}
