package console

import (
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/admin"
	"sonolink/contact"
	"sonolink/delivery"
	"sonolink/i18n"
	"sonolink/internal/testdicom"
	"sonolink/share"
	"sonolink/store"
)

// TestCatalogueHasEveryKey: every staff.* key the console names, in its
// templates and its code, is in the catalogue (a missing key would show as
// the key itself), and so are the keys it builds from a value.
func TestCatalogueHasEveryKey(t *testing.T) {
	re := regexp.MustCompile(`"(staff\.[a-z.]*[a-z])"`)
	keys := map[string]bool{}
	read := func(b []byte) {
		for _, m := range re.FindAllSubmatch(b, -1) {
			keys[string(m[1])] = true
		}
	}
	if err := fs.WalkDir(files, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		read(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	gos, _ := filepath.Glob("*.go")
	for _, p := range gos {
		if b, err := os.ReadFile(p); err == nil && filepath.Base(p) != "i18n_test.go" {
			read(b)
		}
	}
	delete(keys, "staff.db") // the accounts file's name, not a text
	for _, v := range []string{"clean", "residual", "pending", "missing"} {
		keys["staff.deid."+v] = true
	}
	for _, v := range []string{"active", "expired", "revoked"} {
		keys["staff.status."+v] = true
	}
	built := map[string][]string{
		"staff.share.": {admin.ShareNotShared, admin.ShareNoContact, admin.ShareRevoked, admin.ShareExpired, admin.ShareFailed,
			admin.ShareQueued, admin.ShareOutbox, admin.ShareSent, admin.ShareSentSomeFailed, "more"},
		"staff.channel.":      {share.ChannelEmail, share.ChannelSMS},
		"staff.origin.":       {share.OriginAuto, share.OriginTechnician},
		"staff.objkind.":      {"image", "cine", "sr", "pdf", "other"},
		"staff.delivery.":     {"queued", "retrying", "sending", "sent", "failed", "cancelled", admin.StatusOutbox},
		"staff.delivery.why.": {admin.DeliveryResent, admin.DeliveryRevoked},
		"staff.contact.why.": {contact.CodeFieldTooLong, contact.CodeNotContact, contact.CodeTooManyWords, contact.CodePhoneTooLong,
			contact.CodePhoneTooShort, contact.CodeNoRegion, contact.CodePhoneInvalid, contact.CodePhoneCountry, contact.CodePhoneRegion,
			contact.CodeEmailTooLong, contact.CodeEmailLocalTooLong, contact.CodeEmailInvalid, contact.CodeEmailDisplayName,
			contact.CodeEmailNoDot, contact.CodeEmailBadDomain},
		"staff.deid.why.": {admin.DeidSR, admin.DeidPDF, admin.DeidDocument, admin.DeidVideo, admin.DeidNoRegions, admin.DeidSCNoRegions,
			admin.DeidEncoding, admin.DeidPixels, admin.DeidCannot, admin.DeidFailed, admin.DeidInternal, admin.DeidMissing, admin.DeidFoundUnknown},
	}
	for _, k := range admin.DeidFoundKinds() {
		built["staff.deid.why."] = append(built["staff.deid.why."], admin.DeidFoundPrefix+k)
	}
	for prefix, vals := range built {
		for _, v := range vals {
			keys[prefix+v] = true
		}
	}
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the scan is broken", len(keys))
	}
	for _, lang := range i18n.Languages() {
		l := i18n.Lookup(lang)
		for k := range keys {
			if !l.Has(k) {
				t.Errorf("%s: the catalogue has no %q", lang, k)
			}
		}
	}
}

// TestStatusWordsInClinicLanguage: a Swedish or Spanish clinic's console
// says every status admin gives (a study's share status, a link's and a
// delivery's, a contact's problem, a de-identification verdict and its
// reasons) in its language; only technical detail in English (a
// provider's error, an unknown reason) is shown, marked lang="en", beside
// a translated phrase.
func TestStatusWordsInClinicLanguage(t *testing.T) {
	for _, lang := range []string{"sv", "es"} {
		t.Run(lang, func(t *testing.T) { statusWordsIn(t, lang) })
	}
}

// languageWant is what each language must show: on the studies list (by
// patient), the study page and the attention list.
var languageWant = map[string]struct {
	rows           map[string]string
	study, attends []string
	refused        string // the send form's error for "0701, hello"
}{
	"sv": {
		rows: map[string]string{
			"Muñoz, José": "Skickad ", "Muñoz, José ": "leveransen misslyckades till några kontakter (+1 länk till)",
			"Berg, Anna": "Ingen kontakt: ogiltigt telefonnummer", "Sand, Siv": "Ingen kontakt: varken en e-postadress eller ett telefonnummer",
			"Ek, Olle": "Gick ut ", "Lind, Lars": "Återkallad (skickad ", "Holm, Hans": "Leveransen misslyckades", "Versions, Vera": "Inte delad",
		},
		study: []string{"Återkallad", "Utgången", "Aktiv", "E-post", "Sms", "Skickad", "Misslyckades — leverantörens svar:",
			"skickad av personalen", "Kan visa patientuppgifter", "Avidentifierad", "Kunde inte avidentifieras helt",
			"Inga ultraljudsområden: inbränd text i bilden kunde inte tas bort", "Patient-id:t hittades i den avidentifierade kopian"},
		attends: []string{"Leveransen misslyckades", "Ingen användbar kontakt", "Ingen kontakt: ogiltigt telefonnummer"},
		refused: "Kontaktuppgiften kan inte användas: 0701 (för kort för ett telefonnummer); hello (varken en e-postadress eller ett telefonnummer). Inget skickades.",
	},
	"es": {
		rows: map[string]string{
			"Muñoz, José": "Enviado el ", "Muñoz, José ": "la entrega falló a algunos contactos (+1 enlace más)",
			"Berg, Anna": "Sin contacto: teléfono no válido", "Sand, Siv": "Sin contacto: no es un correo ni un número de teléfono",
			"Ek, Olle": "Caducó el ", "Lind, Lars": "Revocado (enviado el ", "Holm, Hans": "La entrega falló", "Versions, Vera": "No compartido",
		},
		study: []string{"Revocado", "Caducado", "Activo", "Correo", "SMS", "Enviado", "Falló — respuesta del proveedor:",
			"enviado por el personal", "Puede mostrar datos del paciente", "Anonimizada", "No se pudo anonimizar por completo",
			"Sin regiones de ecografía: no se pudo eliminar el texto incrustado en la imagen", "Se encontró el ID del paciente en la copia anonimizada"},
		attends: []string{"La entrega falló", "Sin contacto utilizable", "Sin contacto: teléfono no válido"},
		refused: "Contacto no utilizable: 0701 (demasiado corto para un número de teléfono); hello (no es un correo ni un número de teléfono). No se envió nada.",
	},
}

// englishWords are status words admin writes in English; none may show
// on a Swedish or Spanish page outside a lang="en" detail.
var englishWords = regexp.MustCompile(`(?i)\b(sent|not shared|shared|no contact|delivery|failed|revoked|expired|queued|outbox|links?|` +
	`invalid|phone|e-?mail|cancelled|retrying|clean|residual|pending|de-identified|burned-in|verification|found|pixels|regions|` +
	`image|cine|technician|auto)\b`)

func statusWordsIn(t *testing.T, lang string) {
	mail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer mail.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/sms"
	ln.Close()
	opts := func(now func() time.Time) func(o *admin.LocalOptions) {
		return func(o *admin.LocalOptions) {
			o.Share.Now = now
			o.Share.Delivery = delivery.Config{
				Email: delivery.EmailConfig{Provider: "webhook", From: "clinic@example.com", Webhook: delivery.WebhookConfig{URL: mail.URL}},
				SMS:   delivery.SMSConfig{Provider: "webhook", Webhook: delivery.WebhookConfig{URL: closed}},
			}
			o.Share.Backoff = share.Backoff{MaxAttempts: 1}
			o.Configured.EmailFrom = true
		}
	}
	f := newFixtureWith(t, 5, func(st *store.Store) {
		// Object 2 is residual for reasons anonymize gives (object 3's is
		// one the console does not know).
		if err := st.SetDeid("1.2.3.2", store.Deid{Reasons: []string{"pixels not cleaned: no ultrasound regions", "verification: patient ID found"}}); err != nil {
			t.Fatal(err)
		}
		for i, p := range []struct{ name, contact string }{
			{"Ek^Olle", "olle@example.com"}, {"Lind^Lars", "lars@example.com"}, {"Holm^Hans", "+46701234568"}, {"Sand^Siv", "hello"},
		} {
			uid := fmt.Sprintf("1.2.%d", 6+i)
			sp := testdicom.Spec{PatientName: p.name, PatientID: fmt.Sprintf("Q%d", i), StudyUID: uid, SeriesUID: uid + ".0", SOPUID: uid + ".1",
				InstanceNumber: 1, StudyDate: "20261122", SeriesNumber: "1", Extra: []testdicom.Element{{Group: 0x0010, Element: 0x2155, VR: "LT", Value: p.contact}}}
			path := filepath.Join(st.SpoolDir(), uid+".dcm")
			testdicom.WriteFile(t, path, sp)
			if _, err := st.Ingest(path, store.Source{CalledAET: "SONOLINK"}); err != nil {
				t.Fatal(err)
			}
			if err := st.SetDeid(uid+".1", store.Deid{Clean: true}); err != nil {
				t.Fatal(err)
			}
		}
	}, opts(time.Now))
	ctx := t.Context()
	send := func(ops *admin.Service, study, to string) *admin.SendResult {
		t.Helper()
		res, err := ops.Send(ctx, admin.SendRequest{Study: study, To: to, Actor: "staff:tech"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	short := func(uid string) string {
		d, err := f.ops.StudyDetail(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		return d.ShortID
	}
	ek := short("1.2.6")
	// Links sent now have expired a hundred days later.
	send(f.ops, f.study, "jose@example.com")
	send(f.ops, ek, "olle@example.com")
	f.ops.Close()

	later := func() time.Time { return time.Now().Add(100 * 24 * time.Hour) }
	lo := admin.LocalOptions{Share: share.Options{BaseURL: "https://images.clinic.example", Location: time.UTC},
		Configured: admin.Configured{BaseURL: true, EmailProvider: true, SMSProvider: true}}
	opts(later)(&lo)
	ops, err := admin.Open(ctx, f.dir, lo, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ops.Close() })
	f.ops = ops
	send(ops, f.study, "jose.m@example.com")             // another active link
	send(ops, f.study, "jose@example.com, +46701234567") // the latest: e-mail sent, SMS failed
	gone := send(ops, f.study, "jose@example.com")
	if _, err := ops.Revoke(ctx, admin.LinkRequest{Link: gone.ID, Reason: "fel patient", Actor: "staff:tech"}); err != nil {
		t.Fatal(err)
	}
	lind := send(ops, short("1.2.7"), "lars@example.com")
	if _, err := ops.Revoke(ctx, admin.LinkRequest{Link: lind.ID, Reason: "fel patient", Actor: "staff:tech"}); err != nil {
		t.Fatal(err)
	}
	send(ops, short("1.2.8"), "+46701234568") // fails
	if _, err := ops.SetSetting(ctx, admin.SettingRequest{Key: "clinic.language", Value: lang}); err != nil {
		t.Fatal(err)
	}
	if f.srv, err = New(Config{Ops: ops, Accounts: NewAccounts(AccountsPath(f.dir)), Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	want := languageWant[lang]

	page := func(path string) string {
		t.Helper()
		w := f.do("GET", path, "10.0.0.1", cookie, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, w.Code)
		}
		body := html.UnescapeString(w.Body.String())
		if !strings.Contains(body, `<html lang="`+lang+`">`) {
			t.Fatalf("%s is not in %s", path, lang)
		}
		return body
	}
	// english checks the page's visible text, details marked as English
	// left out.
	english := func(path, body string) {
		t.Helper()
		text := regexp.MustCompile(`<span[^>]*lang="en"[^>]*>[^<]*</span>`).ReplaceAllString(body, "")
		text = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(text, " ")
		text = strings.ReplaceAll(text, "example.com", "") // the patients' addresses
		if os.Getenv("DUMP") != "" {
			t.Log(path, text)
		}
		if m := englishWords.FindAllString(text, -1); len(m) > 0 {
			t.Errorf("%s %s shows English status words %q:\n%s", lang, path, m, text)
		}
		if isoStamp.MatchString(text) {
			t.Errorf("%s %s shows an ISO date: %q", lang, path, isoStamp.FindString(text))
		}
	}

	studies := page("/studies")
	english("/studies", studies)
	for who, w := range want.rows {
		if row := rowOf(studies, strings.TrimSpace(who)); !strings.Contains(row, w) {
			t.Errorf("%s studies list, %s: no %q in\n%s", lang, who, w, row)
		}
	}

	study := page("/study/" + f.study)
	english("/study", study)
	for _, w := range want.study {
		if !strings.Contains(study, w) {
			t.Errorf("%s study page lacks %q", lang, w)
		}
	}
	// The reasons the console does not know, and the provider's error,
	// are kept as technical detail.
	for _, w := range []string{`lang="en">burned-in text outside the regions</span>`, `lang="en">`} {
		if !strings.Contains(study, w) {
			t.Errorf("%s study page lacks the detail %q", lang, w)
		}
	}

	attention := page("/attention")
	english("/attention", attention)
	for _, w := range want.attends {
		if !strings.Contains(attention, w) {
			t.Errorf("%s attention list lacks %q", lang, w)
		}
	}

	// Contacts admin refuses to send to: each one and why.
	w := f.do("POST", "/study/"+f.study+"/send", "10.0.0.1", cookie, url.Values{"csrf": {csrf}, "to": {"0701, hello"}})
	refused := html.UnescapeString(w.Body.String())
	english("/send", refused)
	if !strings.Contains(refused, want.refused) {
		t.Errorf("%s send form: no %q in\n%s", lang, want.refused, refused)
	}
}

// TestOperationErrorInClinicLanguage: a refused operation (resending a
// withdrawn link) reads in the clinic's language, with admin's exact
// message beside it, marked as English.
func TestOperationErrorInClinicLanguage(t *testing.T) {
	f := newFixture(t, 3)
	ctx := t.Context()
	if _, err := f.ops.SetSetting(ctx, admin.SettingRequest{Key: "clinic.language", Value: "sv"}); err != nil {
		t.Fatal(err)
	}
	f.srv.forgetClinic()
	res, err := f.ops.Send(ctx, admin.SendRequest{Study: f.study, To: "jose@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ops.Revoke(ctx, admin.LinkRequest{Link: res.ID, Reason: "fel adress"}); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := f.login("tech", techPW, "10.0.0.1")
	w := f.do("POST", "/link/"+res.ID+"/resend", "10.0.0.1", cookie, url.Values{"csrf": {csrf}})
	body := w.Body.String()
	if w.Code != http.StatusConflict || !strings.Contains(body, "Länken har dragits tillbaka") ||
		!regexp.MustCompile(`<span class="muted detail" lang="en">[^<]*revoked`).MatchString(body) {
		t.Fatalf("resend of a revoked link: %d\n%s", w.Code, body)
	}
}
