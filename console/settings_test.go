package console

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"sonolink/admin"
	"sonolink/i18n"
	"sonolink/share"
)

// TestSettingsHaveWords: every key the settings registry lists has a
// label and a description in the catalogue (a new setting without words
// fails here), every message of a family of keys has a name, every heading
// has a title, the placeholders are all filled, and the catalogue has no
// words for a setting that no longer exists.
func TestSettingsHaveWords(t *testing.T) {
	f := newFixture(t, 1)
	st, err := f.ops.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(st), len(share.Registry().Keys()); got != want || got == 0 {
		t.Fatalf("admin lists %d settings, the registry %d", got, want)
	}
	used := map[string]bool{}
	for _, lang := range i18n.Languages() {
		v := &view{L: i18n.Lookup(lang)}
		for _, s := range st {
			for _, k := range []string{settingKey(s, "label"), settingKey(s, "desc")} {
				used[k] = true
				if !v.L.Has(k) {
					t.Errorf("%s: setting %s has no %q in the catalogue", lang, s.Key, k)
				}
			}
			if s.Family != "" {
				used[settingMessageKey(s.Message)] = true
				if !v.L.Has(settingMessageKey(s.Message)) {
					t.Errorf("%s: message %s (setting %s) has no %q", lang, s.Message, s.Key, settingMessageKey(s.Message))
				}
			}
			row := v.settingRowOf(s)
			for _, text := range []string{row.Label, row.Desc, row.DefaultText} {
				if text == "" || strings.ContainsAny(text, "{}") && !strings.Contains(s.Fields, "{{") {
					t.Errorf("%s: %s reads %q", lang, s.Key, text)
				}
			}
			if strings.Contains(row.Desc, "{message}") || strings.Contains(row.Label, "{message}") || strings.Contains(row.Desc, "{fields}") {
				t.Errorf("%s: %s has a placeholder left: %q / %q", lang, s.Key, row.Label, row.Desc)
			}
		}
		for _, g := range settingGroups {
			if k := "staff.settings.group." + g.name; !v.L.Has(k) {
				t.Errorf("%s: heading %q has no title", lang, k)
			}
		}
	}
	for _, k := range i18n.Keys() {
		if strings.HasPrefix(k, "staff.setting.") && !used[k] {
			t.Errorf("the catalogue has %q, but no setting uses it", k)
		}
	}
	// Every setting goes under a heading of its own, not "other".
	for _, s := range st {
		if settingGroupOf(s.Key) == "other" {
			t.Errorf("setting %s has no heading; add its first part to settingGroups", s.Key)
		}
	}
}

// TestSettingsPageInClinicLanguage: in Swedish and Spanish the settings
// page names and describes each setting in that language, with the key
// beside it as code, the defaults in words and under headings, and none
// of the registry's English descriptions.
func TestSettingsPageInClinicLanguage(t *testing.T) {
	f := newFixture(t, 1)
	cookie, csrf := f.login("boss", adminPW, "10.0.0.1")
	st, err := f.ops.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"sv": {"<h2>Länkar till patienter</h2>", "<h2>Lagring och radering</h2>", "Länkkod för patienter", `<code class="muted">link.code</code>`,
			"Hur länge en länk fungerar", "Standard: 90 dagar", "Standard: 60 sekunder", "Standard: 10 % av disken", "Standard: av",
			"Påminnelse innan en länk slutar gälla", "Meddelandetext: sms med länken", "{{.Clinic}}",
			"Tillgängliga: en (English), es (Español), sv (Svenska).", "med all under ”Vilka länkar som ber om koden”"},
		"es": {"<h2>Enlaces a pacientes</h2>", "<h2>Conservación y almacenamiento</h2>", "Código de enlace para pacientes", `<code class="muted">link.code</code>`,
			"Validez de un enlace", "Predeterminado: 90 días", "Predeterminado: 60 segundos", "Predeterminado: el 10 % del disco",
			"Predeterminado: desactivado", "Texto del mensaje: SMS con el enlace", "Horario telefónico"},
	}
	for _, lang := range []string{"sv", "es"} {
		if w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"clinic.language"}, "value": {lang}}); w.Code != http.StatusOK {
			t.Fatalf("clinic.language %s: %d", lang, w.Code)
		}
		w := f.do("GET", "/settings", "10.0.0.1", cookie, nil)
		body := html.UnescapeString(w.Body.String())
		if w.Code != http.StatusOK {
			t.Fatalf("%s: GET /settings: %d", lang, w.Code)
		}
		for _, s := range want[lang] {
			if !strings.Contains(body, s) {
				t.Errorf("%s: the settings page lacks %q", lang, s)
			}
		}
		for _, s := range st {
			if strings.Contains(body, s.Description) {
				t.Errorf("%s: the settings page has the English description of %s: %q", lang, s.Key, s.Description)
			}
		}
		en := i18n.Lookup("en")
		for _, k := range []string{"staff.setting.link.lifetime.desc", "staff.setting.clinic.name.desc", "staff.settings.group.links"} {
			if strings.Contains(body, en.T(k)) {
				t.Errorf("%s: the settings page has the English %q", lang, en.T(k))
			}
		}
	}
}

// TestSettingChangeNote: saving link.code or link.code_scope says, in the
// clinic's language, how many active links ask for the code, from the
// numbers admin gives beside the CLI's English note.
func TestSettingChangeNote(t *testing.T) {
	f := newFixture(t, 1)
	for _, to := range []string{"jose@example.com", "+46701234567"} {
		if _, err := f.ops.Send(t.Context(), admin.SendRequest{Study: f.study, To: to}); err != nil {
			t.Fatal(err)
		}
	}
	cookie, csrf := f.login("boss", adminPW, "10.0.0.1")
	set := func(key, value string) (int, string) {
		w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {key}, "value": {value}})
		_, flash, _ := strings.Cut(html.UnescapeString(w.Body.String()), `<p class="flash" role="status">`)
		flash, _, _ = strings.Cut(flash, "</p>")
		return w.Code, flash
	}
	if code, _ := set("clinic.language", "sv"); code != http.StatusOK {
		t.Fatalf("clinic.language sv: %d", code)
	}
	steps := []struct {
		key, value string
		want       []string
	}{
		{"link.code", "4711", []string{"Sparat: Länkkod för patienter.", "0 av de 2 aktiva länkarna ber om koden nu",
			"2 aktiva länkar öppnas fortfarande utan kod; med all under ”Vilka länkar som ber om koden”", "Alla länkar som skickas från och med nu ber om koden."}},
		{"link.code_scope", "all", []string{"Sparat: Vilka länkar som ber om koden.", "Alla 2 aktiva länkar ber nu om koden.",
			"2 av de aktiva länkarna skickades innan någon kod var inställd: berätta koden för de patienterna"}},
		{"link.code", "", []string{"Länkkod för patienter: tillbaka till standard.", "Ingen länk ber om kod nu. Alla 2 aktiva länkar öppnas utan kod."}},
	}
	for _, s := range steps {
		code, flash := set(s.key, s.value)
		if code != http.StatusOK {
			t.Fatalf("%s %q: %d", s.key, s.value, code)
		}
		for _, w := range s.want {
			if !strings.Contains(flash, w) {
				t.Errorf("%s %q: the confirmation lacks %q:\n%s", s.key, s.value, w, flash)
			}
		}
		if strings.Contains(flash, "active link") {
			t.Errorf("%s %q: the confirmation has admin's English note: %s", s.key, s.value, flash)
		}
	}
	// The CLI's English stays as it was.
	res, err := f.ops.SetSetting(t.Context(), admin.SettingRequest{Key: "link.code", Value: "4711"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Note, "it affects all 2 active links") || res.Reach == nil || res.Reach.Active != 2 || !res.Reach.CodeSet || !res.Reach.ScopeAll {
		t.Errorf("admin's note: %q, reach %+v", res.Note, res.Reach)
	}
}

// TestSettingInvalidValue: a value the registry refuses reads as a
// sentence in the clinic's language naming the setting, with admin's
// exact English reason beside it, marked as English; nothing is saved.
func TestSettingInvalidValue(t *testing.T) {
	f := newFixture(t, 1)
	cookie, csrf := f.login("boss", adminPW, "10.0.0.1")
	if w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"clinic.language"}, "value": {"es"}}); w.Code != http.StatusOK {
		t.Fatalf("clinic.language es: %d", w.Code)
	}
	w := f.do("POST", "/settings", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "key": {"link.lifetime"}, "value": {"forever"}})
	body := html.UnescapeString(w.Body.String())
	if w.Code != http.StatusConflict {
		t.Fatalf("an invalid value: %d", w.Code)
	}
	_, alert, _ := strings.Cut(body, `<p class="alert" role="alert">`)
	alert, _, _ = strings.Cut(alert, "</p>")
	if !strings.HasPrefix(alert, "«Validez de un enlace» no se ha guardado: el valor no es válido. ") ||
		!strings.Contains(alert, `<span class="muted detail" lang="en">`) || !strings.Contains(alert, `"forever": give a duration from 1h to 3650d`) {
		t.Errorf("the error: %q", alert)
	}
	if strings.Contains(body, `class="flash"`) {
		t.Error("an invalid value is confirmed as saved")
	}
	st, err := f.ops.Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(st, func(s admin.Setting) bool { return s.Key == "link.lifetime" }); i < 0 || st[i].Value != "90d" {
		t.Errorf("link.lifetime after an invalid value: %+v", st[i])
	}
}
