package console

import (
	"cmp"
	"regexp"
	"strconv"
	"strings"

	"sonolink/admin"
	"sonolink/i18n"
)

// The settings page in the clinic's language. The settings registry (as
// admin lists it) is the one home of the keys, their defaults and what a
// value may be; the catalogue holds what each is called and what it does,
// for a clinic administrator, under staff.setting.<key>.label and .desc.
// A family of keys (branding.text.<message>) has one text, with the
// message and its fields filled in.

// settingRow is one setting as the page shows it.
type settingRow struct {
	admin.Setting
	Label, Desc string
	// DefaultText is the default in words ("Default: 90 days").
	DefaultText string
}

// settingGroup is a heading and its settings.
type settingGroup struct {
	Title string
	Rows  []settingRow
}

// settingGroups say under which heading a key goes, by its first part;
// a key of a part not listed goes under "other", last.
var settingGroups = []struct {
	name  string
	parts []string
}{
	{"clinic", []string{"clinic"}},
	{"links", []string{"link"}},
	{"sharing", []string{"autoshare", "deid"}},
	{"storage", []string{"outbox", "retention", "storage"}},
	{"branding", []string{"branding"}},
	{"other", nil},
}

func settingGroupOf(key string) string {
	part, _, _ := strings.Cut(key, ".")
	for _, g := range settingGroups {
		for _, p := range g.parts {
			if p == part {
				return g.name
			}
		}
	}
	return "other"
}

// settingKey is the catalogue's key for a setting's words: its own, or
// its family's.
func settingKey(s admin.Setting, what string) string {
	return "staff.setting." + strings.TrimSuffix(cmp.Or(s.Family, s.Key), ".") + "." + what
}

// settingMessageKey names a message of the branding.text family.
func settingMessageKey(name string) string { return "staff.setting.message." + name }

// scopeLabel is what link.code_scope is called, for the texts that refer
// the administrator to it.
func (v *view) scopeLabel() string { return v.L.T("staff.setting.link.code_scope.label") }

// settingRowOf says a setting in the clinic's language. A key the
// catalogue does not know (the tests keep that from happening) shows as
// its key and the registry's English description.
func (v *view) settingRowOf(s admin.Setting) settingRow {
	row := settingRow{Setting: s, Label: s.Key, Desc: s.Description, DefaultText: v.settingDefault(s.Default)}
	if !v.L.Has(settingKey(s, "label")) || !v.L.Has(settingKey(s, "desc")) {
		return row
	}
	msg := s.Message
	if v.L.Has(settingMessageKey(s.Message)) {
		msg = v.L.T(settingMessageKey(s.Message))
	}
	args := []any{"message", msg, "fields", s.Fields, "scope", v.scopeLabel(), "languages", languageList()}
	row.Label, row.Desc = v.L.T(settingKey(s, "label"), args...), v.L.T(settingKey(s, "desc"), args...)
	return row
}

// languageList names the catalogue's languages as a setting takes them:
// "en (English), es (Español), sv (Svenska)".
func languageList() string {
	var out []string
	for _, l := range i18n.Languages() {
		out = append(out, l+" ("+i18n.Lookup(l).Name()+")")
	}
	return strings.Join(out, ", ")
}

var (
	countedDefault = regexp.MustCompile(`^([0-9]+)([dhms])$`)
	shareDefault   = regexp.MustCompile(`^([0-9]+)%$`)
	unitKeys       = map[string]string{"d": "staff.settings.days", "h": "staff.settings.hours", "m": "staff.settings.minutes", "s": "staff.settings.seconds"}
)

// settingDefault says a default as the registry spells it (90d, 10%, off)
// in words; one it cannot read is shown as it is.
func (v *view) settingDefault(d string) string {
	if d == "" {
		return v.L.T("staff.settings.nodefault")
	}
	value := d
	switch m, sh := countedDefault.FindStringSubmatch(d), shareDefault.FindStringSubmatch(d); {
	case d == "on":
		value = v.L.T("staff.settings.on")
	case d == "off":
		value = v.L.T("staff.settings.off")
	case m != nil:
		if n, err := strconv.Atoi(m[1]); err == nil {
			value = v.L.N(unitKeys[m[2]], n)
		}
	case sh != nil:
		value = v.L.T("staff.settings.diskshare", "n", sh[1])
	}
	return v.L.T("staff.settings.default", "value", value)
}

// settingGroupsOf puts the settings under their headings, in the order of
// settingGroups and, within one, the registry's.
func (v *view) settingGroupsOf(st []admin.Setting) []settingGroup {
	var out []settingGroup
	for _, g := range settingGroups {
		grp := settingGroup{Title: v.L.T("staff.settings.group." + g.name)}
		for _, s := range st {
			if settingGroupOf(s.Key) == g.name {
				grp.Rows = append(grp.Rows, v.settingRowOf(s))
			}
		}
		if len(grp.Rows) > 0 {
			out = append(out, grp)
		}
	}
	return out
}

// reachNote says, after link.code or link.code_scope changed, which
// active links ask for the code (admin's Reach; its Note is the CLI's
// English for the same).
func (v *view) reachNote(r *admin.CodeReach) string {
	if r == nil {
		return ""
	}
	scope := v.scopeLabel()
	var parts []string
	switch {
	case !r.CodeSet:
		parts = append(parts, v.L.T("staff.settings.reach.none"))
		if r.Active > 0 {
			parts = append(parts, v.L.N("staff.settings.reach.open", r.Active))
		}
	case r.ScopeAll:
		if r.Active > 0 {
			parts = append(parts, v.L.N("staff.settings.reach.all", r.Active))
		}
		if before := r.Active - r.WithCode; before > 0 {
			parts = append(parts, v.L.N("staff.settings.reach.before", before, "scope", scope))
		}
		parts = append(parts, v.L.T("staff.settings.reach.future"))
	default:
		if r.Active > 0 {
			parts = append(parts, v.L.N("staff.settings.reach.new", r.AskNow, "active", r.Active))
		}
		if keep := r.Active - r.AskNow; keep > 0 {
			parts = append(parts, v.L.N("staff.settings.reach.keep", keep, "scope", scope))
		}
		parts = append(parts, v.L.T("staff.settings.reach.future"))
	}
	return strings.Join(parts, " ")
}
