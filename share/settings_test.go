package share

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"sonolink/settings"
)

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, dir, c, nil)
	st := currentSettings(t, s)
	if st.ClinicName != "Sonolink" || st.Language != "en" || st.LinkLifetime != 90*24*time.Hour || st.StableTime != time.Minute || st.AutoShare.String() != "all" || st.LinkCodeSet {
		t.Fatalf("defaults %+v", st)
	}
	ok := map[string]string{
		settings.KeyClinicName: "Clínica Ecografía Norte", settings.KeyLanguage: "ES", settings.KeyRegion: "es", settings.KeyLinkLifetime: "30d",
		settings.KeyStableTime: "2m", settings.KeyAutoShare: "aet:PATIENT", settings.KeyDeidOptions: "shift-dates, retain-patient-chars",
		settings.KeyTextPrefix + "sms": "{{.Clinic}}: {{.Link}}",
	}
	for k, v := range ok {
		if err := s.UpdateSetting(k, v); err != nil {
			t.Fatalf("%s=%s: %v", k, v, err)
		}
	}
	st = currentSettings(t, s)
	if st.ClinicName != "Clínica Ecografía Norte" || st.Language != "es" || st.Region != "ES" || st.LinkLifetime != 30*24*time.Hour ||
		st.StableTime != 2*time.Minute || st.AutoShare != (settings.AutoShareRule{Mode: "aet", AET: "PATIENT"}) ||
		strings.Join(st.DeidOptions, "|") != "shift-dates|retain-patient-chars" || st.Texts["sms"] != "{{.Clinic}}: {{.Link}}" {
		t.Fatalf("after update %+v", st)
	}
	if !st.AutoShare.Matches([]string{"SONOLINK", "patient "}) || st.AutoShare.Matches([]string{"SONOLINK"}) {
		t.Fatal("aet rule matching")
	}
	// The lifetime applies to the next link at once, without a restart.
	l, _, err := s.Create(context.Background(), CreateRequest{StudyUID: "1", Phones: []string{"612 34 56 78"}})
	if err != nil || l.Phones[0] != "+34612345678" || !l.Expires.Equal(c.Now().Add(30*24*time.Hour)) {
		t.Fatalf("link under new settings: %+v %v", l, err)
	}
	waitFor(t, "sms", func() bool { return len(outboxFiles(t, s, ".sms")) == 1 })
	if sms := outboxFiles(t, s, ".sms")[0]; !strings.Contains(sms, "Clinica Ecografia Norte: http") {
		t.Fatalf("override and GSM folding not applied: %q", sms)
	}

	bad := map[string]string{
		settings.KeyClinicName: strings.Repeat("x", 81), settings.KeyLanguage: "xx", settings.KeyRegion: "Sweden", settings.KeyLinkLifetime: "5m", settings.KeyStableTime: "0s",
		settings.KeyAutoShare: "sometimes", settings.KeyLinkCode: "12", settings.KeyLogo: filepath.Join(dir, "missing.png"),
		settings.KeyTextPrefix + "sms": "{{.Patient}}", settings.KeyDeidOptions: "burned-in-ocr",
	}
	for k, v := range bad {
		err := s.UpdateSetting(k, v)
		if !errors.Is(err, ErrInvalidSetting) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	if err := s.UpdateSetting("clinic.colour", "blue"); !errors.Is(err, ErrUnknownSetting) || !strings.Contains(err.Error(), settings.KeyClinicName) {
		t.Fatalf("unknown key: %v", err)
	}
	if err := s.UpdateSetting(settings.KeyTextPrefix+"sms", ""); err != nil || currentSettings(t, s).Texts["sms"] != "" {
		t.Fatalf("restoring a text: %v", err)
	}

	// Logo from a file, and cleared.
	var png1 bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{200, 0, 0, 255})
	png.Encode(&png1, img)
	logo := filepath.Join(dir, "logo.png")
	os.WriteFile(logo, png1.Bytes(), 0o644)
	if err := s.UpdateSetting(settings.KeyLogo, logo); err != nil {
		t.Fatal(err)
	}
	if st := currentSettings(t, s); st.LogoType != "image/png" || !bytes.Equal(st.Logo, png1.Bytes()) {
		t.Fatalf("logo %q %d bytes", st.LogoType, len(st.Logo))
	}
	if err := s.SetLogo([]byte("<svg onload=alert(1)>")); !errors.Is(err, ErrInvalidSetting) {
		t.Fatalf("svg logo: %v", err)
	}
	if err := s.UpdateSetting(settings.KeyLogo, "clear"); err != nil || currentSettings(t, s).Logo != nil {
		t.Fatalf("clearing logo: %v", err)
	}

	// Settings survive a restart.
	s.Close()
	s2 := open(t, dir, c, nil)
	if st := currentSettings(t, s2); st.Language != "es" || st.AutoShare.AET != "PATIENT" {
		t.Fatalf("after reopen %+v", st)
	}
	keys := Registry().Keys()
	if len(keys) < 10 || keys[0].Key != settings.KeyClinicName {
		t.Fatalf("registry keys %+v", keys)
	}
	ev, _ := s2.Audit(AuditFilter{})
	for _, e := range ev {
		if e.Type == EventSettingChanged && strings.Contains(e.Detail, settings.KeyLinkCode) && !strings.Contains(e.Detail, "set") && !strings.Contains(e.Detail, "cleared") {
			t.Fatalf("audit holds a link code: %+v", e)
		}
	}
}

// Every key can be cleared back to its default, the clinic name too.
func TestClearSetting(t *testing.T) {
	s := open(t, t.TempDir(), newClock(), nil)
	for _, k := range Registry().Keys() {
		if err := s.UpdateSetting(k.Key, ""); err != nil {
			t.Errorf("clearing %s: %v", k.Key, err)
		}
	}
	if err := s.UpdateSetting(settings.KeyClinicName, "Klinik Norr"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSetting(settings.KeyClinicName, ""); err != nil {
		t.Fatal(err)
	}
	if got := currentSettings(t, s).ClinicName; got != "Sonolink" {
		t.Fatalf("clinic name after clearing: %q", got)
	}
	ev, _ := s.Audit(AuditFilter{})
	if last := ev[len(ev)-1]; last.Detail != settings.KeyClinicName+": cleared" {
		t.Fatalf("audit of the clear: %+v", last)
	}
}

// A setting that cannot be read is an error for the caller, never the
// default in its place.
func TestSettingsReadError(t *testing.T) {
	s := open(t, t.TempDir(), newClock(), nil)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktSettings).Put([]byte(settings.KeyLinkLifetime), []byte("forever"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.settingsGen.Add(1) // written behind saveSetting's back: drop what Settings keeps
	if st, err := s.Settings(); err == nil || !strings.Contains(err.Error(), settings.KeyLinkLifetime) {
		t.Fatalf("unreadable stored value: %+v, %v", st, err)
	}
	if _, _, err := s.Create(context.Background(), CreateRequest{StudyUID: "1", Emails: []string{"a@example.com"}}); err == nil {
		t.Fatal("a link was created under unreadable settings")
	}
	if _, err := s.NeedsLinkCode(&Link{}); err == nil {
		t.Fatal("NeedsLinkCode answered under unreadable settings")
	}

	s.Close()
	if _, err := s.Settings(); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Fatalf("settings of a closed database: %v", err)
	}
}

func currentSettings(t *testing.T, s *Service) settings.Values {
	t.Helper()
	st, err := s.Settings()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func needsLinkCode(t *testing.T, s *Service, l *Link) bool {
	t.Helper()
	need, err := s.NeedsLinkCode(l)
	if err != nil {
		t.Fatal(err)
	}
	return need
}
