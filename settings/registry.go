package settings

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"sonolink/anonymize"
	"sonolink/contact"
)

// The clinic's setting keys.
const (
	KeyClinicName = "clinic.name"
	KeyLanguage   = "clinic.language"
	KeyRegion     = "clinic.region"
	// KeyTimeZone: the clinic's time zone (IANA name) for the times and
	// dates patients read; empty: the server's own.
	KeyTimeZone = "clinic.timezone"
	// The clinic's contact details, shown on every page and in every
	// message so a patient who is stuck knows whom to ask.
	KeyClinicPhone  = "clinic.phone"
	KeyClinicWeb    = "clinic.web"
	KeyClinicHours  = "clinic.hours"
	KeyLinkLifetime = "link.lifetime"
	KeyLinkCode     = "link.code"
	// KeyLinkCodeScope: which links ask for the link code, "new" (those
	// issued while a code was set) or "all".
	KeyLinkCodeScope = "link.code_scope"
	// KeyLinkReminder: how long before a link expires the patient is
	// reminded to save what they want to keep; "off" sends none.
	KeyLinkReminder = "link.reminder"
	// KeyLinkSelfRenew: the expired page also offers "send me a new link"
	// to the link's own contacts after a one-time code ("on"/"off").
	KeyLinkSelfRenew = "link.self_renew"
	KeyLogo          = "branding.logo"
	KeyTextPrefix    = "branding.text." // + a message name, e.g. branding.text.sms
	KeyAutoShare     = "autoshare.rule"
	KeyStableTime    = "autoshare.stable_time"
	KeyDeidOptions   = "deid.options"
	// KeyOutboxRetention: how long the files of delivered messages stay in
	// the outbox directory.
	KeyOutboxRetention = "outbox.retention"
	// Retention (see package retention): how long a study is kept after
	// its last link ended (expired or revoked), how long one never shared
	// is kept, and the free space below which the oldest studies that may
	// go are purged first.
	KeyRetainAfterLink = "retention.after_link"
	KeyRetainUnshared  = "retention.unshared"
	KeyFreeFloor       = "retention.free_floor"
	// KeyStorageReserve: free space kept for the databases and logs; below
	// it new objects are refused (A700).
	KeyStorageReserve = "storage.reserve"
)

// MaxLogoBytes is the largest branding logo accepted.
const MaxLogoBytes = 512 << 10

// Config is what the registry needs from the owner of the message
// catalogue and the link code (share).
type Config struct {
	Languages    []string                      // message languages, e.g. en, es, sv
	Messages     []Message                     // texts a clinic may override as branding.text.<name>
	CheckMessage func(name, text string) error // parses and test-renders an override
	HashLinkCode func(code string) string      // the link code's hash, as kept
}

// Message is one overridable message text and the template fields it has.
type Message struct {
	Name   string
	Fields string // e.g. "{{.Clinic}} {{.Link}}"
}

// Setting describes one key: what `sonolink settings` lists.
type Setting struct {
	Key         string
	Default     string // as typed; "" when the default is "none"
	Description string
	// Family is, for a member of a family of keys (branding.text.sms),
	// the family's key (branding.text.); Message and Fields are the
	// member's message name and template fields, which Description names.
	Family, Message, Fields string
}

// Change is a parsed value, ready to keep.
type Change struct {
	Key   string
	Value []byte // what to store; nil removes the key, so the default applies
	Audit string // what the audit log may say about it (never a secret)
}

// Registry is the set of declared settings. It is immutable and safe for
// concurrent use.
type Registry struct {
	cfg  Config
	defs []def
}

// def declares one key, or a family of keys when family is set (key is
// then the prefix, and the members are the catalogue's message names).
type def struct {
	key, dflt, desc string
	family          bool
	// parse checks a non-empty, trimmed value and returns what to store
	// ("" removes the key) and what the audit log may say.
	parse func(r *Registry, key, v string) (stored, audit string, err error)
	// decode sets a stored value (or the default) into v.
	decode func(v *Values, key, stored string) error
	// show is the value as `sonolink settings` lists it.
	show func(v *Values, key string) string
}

// New declares every clinic setting. This is the one place they are listed.
func New(cfg Config) *Registry {
	r := &Registry{cfg: cfg}
	r.defs = []def{
		{
			key: KeyClinicName, dflt: "Sonolink",
			desc:   "the clinic's name, shown in messages and on the landing page",
			parse:  parseClinicName,
			decode: func(v *Values, _, s string) error { v.ClinicName = s; return nil },
			show:   func(v *Values, _ string) string { return v.ClinicName },
		},
		{
			key: KeyLanguage, dflt: "en",
			desc:   "language of messages and the landing page's default: " + strings.Join(cfg.Languages, ", "),
			parse:  parseLanguage,
			decode: func(v *Values, _, s string) error { v.Language = s; return nil },
			show:   func(v *Values, _ string) string { return v.Language },
		},
		{
			key:    KeyClinicPhone,
			desc:   "the clinic's phone number for patients, as it should be written, e.g. +46 31 123 45 67 (at most 40 characters); shown on every page and in every message",
			parse:  parseClinicPhone,
			decode: func(v *Values, _, s string) error { v.ClinicPhone = s; return nil },
			show:   func(v *Values, _ string) string { return v.ClinicPhone },
		},
		{
			key:    KeyClinicWeb,
			desc:   "the clinic's web site for patients, e.g. https://clinic.example (http or https, at most 200 characters); shown on every page and in every message",
			parse:  parseClinicWeb,
			decode: func(v *Values, _, s string) error { v.ClinicWeb = s; return nil },
			show:   func(v *Values, _ string) string { return v.ClinicWeb },
		},
		{
			key:    KeyClinicHours,
			desc:   "when the clinic answers, free text in the clinic's language, e.g. Mon–Fri 8–16 (one line, at most 80 characters); shown with the phone number",
			parse:  parseClinicHours,
			decode: func(v *Values, _, s string) error { v.ClinicHours = s; return nil },
			show:   func(v *Values, _ string) string { return v.ClinicHours },
		},
		{
			key:    KeyRegion,
			desc:   "default country for national phone numbers: ISO 3166 code (SE, ES, US) or calling code (+46)",
			parse:  parseRegion,
			decode: func(v *Values, _, s string) error { v.Region = s; return nil },
			show:   func(v *Values, _ string) string { return v.Region },
		},
		{
			key:    KeyTimeZone,
			desc:   "the clinic's time zone for dates and times patients read (expiry dates, when to try a code again): an IANA name such as Europe/Stockholm; empty: the server's own",
			parse:  parseTimeZone,
			decode: decodeTimeZone,
			show:   func(v *Values, _ string) string { return v.TimeZone },
		},
		{
			key: KeyLinkLifetime, dflt: "90d",
			desc:   "how long a link works after it is sent or resent: e.g. 90d, 30d, 48h (1h to 3650d)",
			parse:  durationIn(time.Hour, 3650*day, "from 1h to 3650d, e.g. 90d, 30d, 48h"),
			decode: func(v *Values, _, s string) (err error) { v.LinkLifetime, err = ParseDuration(s); return err },
			show:   func(v *Values, _ string) string { return FormatDuration(v.LinkLifetime) },
		},
		{
			key:   KeyLinkCode,
			desc:  "clinic patient link code (4 to 64 characters) asked for by links issued while it is set (see link.code_scope); empty or \"clear\" removes it. Each link also keeps accepting the code in force when it was issued",
			parse: parseLinkCode,
			decode: func(v *Values, _, s string) error {
				v.LinkCodeSet, v.LinkCodeHash = s != "", s
				return nil
			},
			show: func(v *Values, _ string) string {
				if v.LinkCodeSet {
					return "set"
				}
				return ""
			},
		},
		{
			key: KeyLinkCodeScope, dflt: "new",
			desc:   "which links ask for the link code: new (links issued while a code is set; patients given a link before were never told it) or all (every active link, including older ones)",
			parse:  parseCodeScope,
			decode: func(v *Values, _, s string) error { v.LinkCodeAll = s == "all"; return nil },
			show: func(v *Values, _ string) string {
				if v.LinkCodeAll {
					return "all"
				}
				return "new"
			},
		},
		{
			key: KeyLinkReminder, dflt: "7d",
			desc:   "how long before a link expires the patient gets one reminder to save what they want to keep: e.g. 7d, 2d (1h to 365d), or off",
			parse:  parseReminder,
			decode: decodeReminder,
			show: func(v *Values, _ string) string {
				if v.LinkReminder == 0 {
					return "off"
				}
				return FormatDuration(v.LinkReminder)
			},
		},
		{
			key: KeyLinkSelfRenew, dflt: "off",
			desc:   "on: an expired link's page also offers \"send me a new link\": after a one-time code sent to one of the link's contacts, a new link goes to the same contacts; off: the patient can only ask the clinic",
			parse:  parseOnOff,
			decode: func(v *Values, _, s string) error { v.LinkSelfRenew = s == "on"; return nil },
			show: func(v *Values, _ string) string {
				if v.LinkSelfRenew {
					return "on"
				}
				return "off"
			},
		},
		{
			key:    KeyLogo,
			desc:   "branding logo: path of a PNG, JPEG, GIF or WebP file (at most 512 KB) readable by the server; empty clears",
			parse:  parseLogoFile,
			decode: decodeLogo,
			show: func(v *Values, _ string) string {
				if len(v.Logo) > 0 {
					return fmt.Sprintf("set (%s, %d KB)", v.LogoType, (len(v.Logo)+1023)/1024)
				}
				return ""
			},
		},
		{
			key: KeyAutoShare, dflt: "all",
			desc:   "auto-share rule: all (every study with a contact), aet:<AE title> (only studies sent to that called AE title), off",
			parse:  parseAutoShareSetting,
			decode: func(v *Values, _, s string) (err error) { v.AutoShare, err = ParseAutoShare(s); return err },
			show:   func(v *Values, _ string) string { return v.AutoShare.String() },
		},
		{
			key: KeyStableTime, dflt: "60s",
			desc:   "a study is complete when no object arrived for this long: e.g. 60s, 2m (1s to 1h)",
			parse:  durationIn(time.Second, time.Hour, "from 1s to 1h, e.g. 60s, 2m"),
			decode: func(v *Values, _, s string) (err error) { v.StableTime, err = ParseDuration(s); return err },
			show:   func(v *Values, _ string) string { return FormatDuration(v.StableTime) },
		},
		{
			key:    KeyDeidOptions,
			desc:   "de-identification options, comma-separated: retain-dates, shift-dates, retain-patient-chars, keep-private=CREATOR:GGGGxxEE; changing them recreates every de-identified copy",
			parse:  parseDeidOptions,
			decode: func(v *Values, _, s string) error { v.DeidOptions = splitList(s); return nil },
			show:   func(v *Values, _ string) string { return strings.Join(v.DeidOptions, ",") },
		},
		{
			key: KeyOutboxRetention, dflt: "30d",
			desc:   "how long the files of delivered messages stay in the outbox directory (they carry contacts and links): e.g. 30d, 7d (1h to 3650d)",
			parse:  durationIn(time.Hour, 3650*day, "from 1h to 3650d, e.g. 30d, 7d"),
			decode: func(v *Values, _, s string) (err error) { v.OutboxRetention, err = ParseDuration(s); return err },
			show:   func(v *Values, _ string) string { return FormatDuration(v.OutboxRetention) },
		},
		{
			key: KeyRetainAfterLink, dflt: "30d",
			desc:   "how long a study is kept after its last link expired or was revoked, then purged (files, copies, renders, links): e.g. 30d, 90d (1h to 3650d), or off to keep such studies",
			parse:  parseRetention,
			decode: func(v *Values, _, s string) (err error) { v.RetainAfterLink, err = decodeRetention(s); return err },
			show:   func(v *Values, _ string) string { return showRetention(v.RetainAfterLink) },
		},
		{
			key: KeyRetainUnshared, dflt: "180d",
			desc:   "how long a study that was never shared is kept after its last object arrived, then purged: e.g. 180d, 365d (1h to 3650d), or off to keep such studies",
			parse:  parseRetention,
			decode: func(v *Values, _, s string) (err error) { v.RetainUnshared, err = decodeRetention(s); return err },
			show:   func(v *Values, _ string) string { return showRetention(v.RetainUnshared) },
		},
		{
			key: KeyFreeFloor, dflt: "10%",
			desc:   "free disk space below which the oldest studies without a live link are purged first, before their time: a share of the disk (10%) or a size (50GB, 500MB), or off",
			parse:  parseSpace,
			decode: func(v *Values, _, s string) (err error) { v.FreeFloor, err = ParseSpace(s); return err },
			show:   func(v *Values, _ string) string { return v.FreeFloor.String() },
		},
		{
			key: KeyStorageReserve, dflt: "2%",
			desc:   "free disk space kept for the databases and logs: below it new objects are refused with A700 (Out of resources) after retention has freed what it may; a share of the disk (2%) or a size (5GB), or off",
			parse:  parseSpace,
			decode: func(v *Values, _, s string) (err error) { v.StorageReserve, err = ParseSpace(s); return err },
			show:   func(v *Values, _ string) string { return v.StorageReserve.String() },
		},
		{
			key: KeyTextPrefix, family: true,
			desc:  "override of the <message> message text (Go template; fields: <fields>); empty restores the translated default",
			parse: parseText,
			decode: func(v *Values, key, s string) error {
				v.Texts[strings.TrimPrefix(key, KeyTextPrefix)] = s
				return nil
			},
			show: func(v *Values, key string) string { return v.Texts[strings.TrimPrefix(key, KeyTextPrefix)] },
		},
	}
	return r
}

// Declared lists the declarations in order, a family as one row whose key
// ends in <message> (branding.text.<message>): the table the README shows.
func (r *Registry) Declared() []Setting {
	out := make([]Setting, 0, len(r.defs))
	for _, d := range r.defs {
		k := d.key
		if d.family {
			k += "<message>"
		}
		out = append(out, Setting{Key: k, Default: d.dflt, Description: d.desc})
	}
	return out
}

// Keys lists every key that can be set, in declaration order, with each
// family expanded to one key per message.
func (r *Registry) Keys() []Setting {
	var out []Setting
	for _, d := range r.defs {
		if !d.family {
			out = append(out, Setting{Key: d.key, Default: d.dflt, Description: d.desc})
			continue
		}
		for _, m := range r.cfg.Messages {
			desc := strings.NewReplacer("<message>", m.Name, "<fields>", m.Fields).Replace(d.desc)
			out = append(out, Setting{Key: d.key + m.Name, Default: d.dflt, Description: desc, Family: d.key, Message: m.Name, Fields: m.Fields})
		}
	}
	return out
}

// lookup finds the declaration of a key, exactly as the registry spells it.
func (r *Registry) lookup(key string) (*def, bool) {
	for i := range r.defs {
		d := &r.defs[i]
		if !d.family && d.key == key {
			return d, true
		}
		if name, ok := strings.CutPrefix(key, d.key); d.family && ok && slices.ContainsFunc(r.cfg.Messages, func(m Message) bool { return m.Name == name }) {
			return d, true
		}
	}
	return nil, false
}

func (r *Registry) unknown(key string) error {
	var names []string
	for _, k := range r.Keys() {
		names = append(names, k.Key)
	}
	return fmt.Errorf("%w %q; known settings: %s", ErrUnknown, key, strings.Join(names, ", "))
}

// Lookup describes one key.
func (r *Registry) Lookup(key string) (Setting, bool) {
	for _, s := range r.Keys() {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Resolve accepts a key as the registry spells it (link.code) or as a
// person may type it: link-code, link_code, code, stable-time. It returns
// the registry's spelling, or an error wrapping ErrUnknown that lists the
// keys (or the candidates, when the input is ambiguous).
func (r *Registry) Resolve(in string) (string, error) {
	keys := r.Keys()
	canon := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, s)
	}
	want := canon(in)
	var exact, partial []string
	for _, k := range keys {
		switch c := canon(k.Key); {
		case strings.EqualFold(k.Key, strings.TrimSpace(in)) || c == want:
			exact = append(exact, k.Key)
		case want != "" && (strings.HasSuffix(c, want) || strings.HasPrefix(c, want)):
			partial = append(partial, k.Key)
		}
	}
	if len(exact) == 1 {
		return exact[0], nil
	}
	if len(exact) == 0 && len(partial) == 1 {
		return partial[0], nil
	}
	if len(partial) > 1 {
		return "", ambiguousError(fmt.Sprintf("setting %q is ambiguous: %s", in, strings.Join(partial, ", ")))
	}
	var all []string
	for _, k := range keys {
		all = append(all, k.Key)
	}
	sort.Strings(all)
	return "", fmt.Errorf("%w %q; settings are: %s", ErrUnknown, in, strings.Join(all, ", "))
}

// Parse checks a value for a key and returns what to keep. The key is
// taken as the registry spells it (case and surrounding space aside); an
// empty value clears the key back to its default. Errors wrap ErrUnknown
// or are an *InvalidError.
func (r *Registry) Parse(key, value string) (Change, error) {
	key = strings.TrimSpace(strings.ToLower(key))
	value = strings.TrimSpace(value)
	d, ok := r.lookup(key)
	if !ok {
		return Change{}, r.unknown(key)
	}
	if value == "" {
		if d.family {
			return Change{Key: key, Audit: "restored default"}, nil
		}
		return Change{Key: key, Audit: "cleared"}, nil
	}
	stored, audit, err := d.parse(r, key, value)
	return change(key, stored, audit, err)
}

// ParseLogo checks logo bytes (PNG, JPEG, GIF or WebP, at most
// MaxLogoBytes) and returns what to keep; empty clears the logo.
func (r *Registry) ParseLogo(data []byte) (Change, error) {
	stored, audit, err := logoValue(data)
	return change(KeyLogo, stored, audit, err)
}

// change is a parser's result as a Change: stored "" removes the key.
func change(key, stored, audit string, err error) (Change, error) {
	if err != nil {
		return Change{}, err
	}
	c := Change{Key: key, Audit: audit}
	if stored != "" {
		c.Value = []byte(stored)
	}
	return c, nil
}

// Defaults are the values when nothing is stored.
func (r *Registry) Defaults() Values {
	v, err := r.Decode(nil)
	if err != nil {
		panic(fmt.Sprintf("settings: a default does not decode: %v", err)) // a declaration bug; the tests catch it
	}
	return v
}

// Decode reads stored values (key → what a Change said to store) over the
// defaults. Keys the registry does not declare are ignored, so a newer
// version's settings do not stop an older one. A stored value that cannot
// be read is a *StoredError naming the key.
func (r *Registry) Decode(stored map[string][]byte) (Values, error) {
	v := Values{Texts: map[string]string{}}
	for _, d := range r.defs {
		if !d.family && d.dflt != "" {
			if err := d.decode(&v, d.key, d.dflt); err != nil {
				return Values{}, &StoredError{Key: d.key, Err: err}
			}
		}
	}
	keys := make([]string, 0, len(stored))
	for k := range stored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d, ok := r.lookup(k)
		if !ok {
			continue
		}
		if err := d.decode(&v, k, string(stored[k])); err != nil {
			return Values{}, &StoredError{Key: k, Err: err}
		}
	}
	return v, nil
}

// Format is a key's value as `sonolink settings` shows it; secrets only
// as "set". An undeclared key shows as "".
func (r *Registry) Format(v Values, key string) string {
	d, ok := r.lookup(key)
	if !ok {
		return ""
	}
	return d.show(&v, key)
}

// --- parsers ---

func parseClinicName(_ *Registry, key, v string) (string, string, error) {
	if len([]rune(v)) > 80 {
		return "", "", invalid(key, "give a name of 1 to 80 characters")
	}
	return v, strconv.Quote(v), nil
}

// The longest clinic phone number, web address and hours accepted: the clinic's phone (40), web address (200) and
// enough for any real one, and a page and an SMS keep their shape.
const (
	maxPhone = 40
	maxWeb   = 200
	maxHours = 80
)

func parseClinicPhone(_ *Registry, key, v string) (string, string, error) {
	digits := 0
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case strings.ContainsRune(" +-()./", c):
		default:
			return "", "", invalid(key, "%q: a phone number has digits, spaces and + - ( ) . / only", v)
		}
	}
	if digits < 3 || len(v) > maxPhone {
		return "", "", invalid(key, "give a phone number of 3 to %d characters, e.g. +46 31 123 45 67", maxPhone)
	}
	return v, strconv.Quote(v), nil
}

func parseClinicWeb(_ *Registry, key, v string) (string, string, error) {
	if !strings.Contains(v, "://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(v, " \t\r\n\"'<>") || len(v) > maxWeb {
		return "", "", invalid(key, "%q: give the web address as https://clinic.example (at most %d characters)", v, maxWeb)
	}
	return u.String(), u.String(), nil
}

func parseClinicHours(_ *Registry, key, v string) (string, string, error) {
	if len([]rune(v)) > maxHours || strings.ContainsFunc(v, unicode.IsControl) {
		return "", "", invalid(key, "give the opening hours on one line of at most %d characters, e.g. Mon–Fri 8–16", maxHours)
	}
	return v, strconv.Quote(v), nil
}

func parseLanguage(r *Registry, key, v string) (string, string, error) {
	v = strings.ToLower(v)
	if !slices.Contains(r.cfg.Languages, v) {
		return "", "", invalid(key, "%q is not available; choose one of %s", v, strings.Join(r.cfg.Languages, ", "))
	}
	return v, v, nil
}

func parseRegion(_ *Registry, key, v string) (string, string, error) {
	reg := strings.ToUpper(v)
	if strings.HasPrefix(v, "+") || (v[0] >= '0' && v[0] <= '9') {
		reg = contact.RegionForCallingCode(v)
	}
	if reg == "" || !contact.ValidRegion(reg) {
		return "", "", invalid(key, "%q is not a country: give an ISO 3166 code such as SE, ES, US, GB, DE, or a calling code such as +46", v)
	}
	return reg, reg, nil
}

func parseTimeZone(_ *Registry, key, v string) (string, string, error) {
	// time.LoadLocation also takes "Local" and file paths; only IANA
	// names are a clinic's zone.
	if v == "Local" || strings.HasPrefix(v, "/") || strings.Contains(v, "..") {
		return "", "", invalid(key, "%q is not a time zone: give an IANA name such as Europe/Stockholm, Europe/Madrid or UTC", v)
	}
	if _, err := loadZone(v); err != nil {
		return "", "", invalid(key, "%q is not a time zone: give an IANA name such as Europe/Stockholm, Europe/Madrid or UTC", v)
	}
	return v, v, nil
}

func decodeTimeZone(v *Values, _, s string) error {
	loc, err := loadZone(s)
	if err != nil {
		return err
	}
	v.TimeZone, v.Location = s, loc
	return nil
}

// zones caches loaded time zones: time.LoadLocation reads the zone data
// each time, and settings are decoded often.
var zones sync.Map // name → *time.Location

func loadZone(name string) (*time.Location, error) {
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

func durationIn(lo, hi time.Duration, allowed string) func(*Registry, string, string) (string, string, error) {
	return func(_ *Registry, key, v string) (string, string, error) {
		d, err := ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return "", "", invalid(key, "%q: give a duration %s", v, allowed)
		}
		return FormatDuration(d), FormatDuration(d), nil
	}
}

// isClearWord reports the words that also clear a key whose value is a
// thing rather than text (the link code, the logo).
func isClearWord(v string) bool { return strings.EqualFold(v, "clear") || strings.EqualFold(v, "none") }

func parseLinkCode(r *Registry, key, v string) (string, string, error) {
	if isClearWord(v) {
		return "", "cleared", nil
	}
	if n := len([]rune(v)); n < 4 || n > 64 {
		return "", "", invalid(key, "a link code has 4 to 64 characters (or \"clear\" to remove it)")
	}
	return r.cfg.HashLinkCode(NormalizeCode(v)), "set", nil
}

func parseCodeScope(_ *Registry, key, v string) (string, string, error) {
	switch v = strings.ToLower(v); v {
	case "new", "all":
		return v, v, nil
	}
	return "", "", invalid(key, "%q: give new (only links issued while a code is set ask for it) or all", v)
}

func parseOnOff(_ *Registry, key, v string) (string, string, error) {
	switch v = strings.ToLower(v); v {
	case "on", "off":
		return v, v, nil
	}
	return "", "", invalid(key, "%q: give on or off", v)
}

func parseReminder(_ *Registry, key, v string) (string, string, error) {
	if strings.EqualFold(v, "off") {
		return "off", "off", nil
	}
	return durationIn(time.Hour, 365*day, "from 1h to 365d, e.g. 7d, 2d, or off")(nil, key, v)
}

func decodeReminder(v *Values, _, s string) (err error) {
	if s == "off" {
		v.LinkReminder = 0
		return nil
	}
	v.LinkReminder, err = ParseDuration(s)
	return err
}

func parseLogoFile(_ *Registry, key, v string) (string, string, error) {
	if isClearWord(v) {
		return "", "cleared", nil
	}
	fi, err := os.Stat(v)
	if err != nil {
		return "", "", invalid(key, "cannot read logo file: %w", err)
	}
	if fi.Size() > MaxLogoBytes {
		return "", "", invalid(key, "logo is %d KB; at most %d KB", fi.Size()>>10, MaxLogoBytes>>10)
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return "", "", invalid(key, "cannot read logo file: %w", err)
	}
	return logoValue(data)
}

// storedLogo is how a logo is kept.
type storedLogo struct {
	Type string
	Data []byte
}

func logoValue(data []byte) (string, string, error) {
	if len(data) == 0 {
		return "", "cleared", nil
	}
	if len(data) > MaxLogoBytes {
		return "", "", invalid(KeyLogo, "logo is %d KB; at most %d KB", len(data)>>10, MaxLogoBytes>>10)
	}
	ct := http.DetectContentType(data)
	switch ct {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
	default:
		return "", "", invalid(KeyLogo, "logo must be PNG, JPEG, GIF or WebP, not %s", ct)
	}
	stored, err := json.Marshal(storedLogo{ct, data})
	if err != nil {
		return "", "", err
	}
	return string(stored), fmt.Sprintf("%s, %d bytes", ct, len(data)), nil
}

func decodeLogo(v *Values, _, s string) error {
	var l storedLogo
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return err
	}
	v.Logo, v.LogoType = l.Data, l.Type
	return nil
}

func parseAutoShareSetting(_ *Registry, key, v string) (string, string, error) {
	rule, err := ParseAutoShare(v)
	if err != nil {
		return "", "", invalid(key, "%w", err)
	}
	return rule.String(), rule.String(), nil
}

// ParseAutoShare reads an auto-share rule: all, off or aet:<AE title>.
func ParseAutoShare(v string) (AutoShareRule, error) {
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

func parseDeidOptions(_ *Registry, key, v string) (string, string, error) {
	l := splitList(v)
	if len(l) == 0 {
		return "", "cleared", nil
	}
	if _, err := anonymize.ParseOptions(l); err != nil {
		return "", "", invalid(key, "%w", err)
	}
	return strings.Join(l, ","), strings.Join(l, ","), nil
}

func parseText(r *Registry, key, v string) (string, string, error) {
	if err := r.cfg.CheckMessage(strings.TrimPrefix(key, KeyTextPrefix), v); err != nil {
		return "", "", invalid(key, "%w", err)
	}
	return v, "set", nil
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

// NormalizeCode makes link codes forgiving: case, spaces and dashes are
// ignored ("ab12-cd" == "AB12CD"). A code is hashed, and checked, in this form.
func NormalizeCode(c string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToUpper(c))
}
