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
)

func TestSettings(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, dir, c, nil)
	st := s.Settings()
	if st.ClinicName != "Sonolink" || st.Language != "en" || st.LinkLifetime != 90*24*time.Hour || st.StableTime != time.Minute || st.AutoShare.String() != "all" || st.LinkCodeSet {
		t.Fatalf("defaults %+v", st)
	}
	ok := map[string]string{
		KeyClinicName: "Clínica Ecografía Norte", KeyLanguage: "ES", KeyRegion: "es", KeyLinkLifetime: "30d",
		KeyStableTime: "2m", KeyAutoShare: "aet:PATIENT", KeyDeidOptions: "shift-dates, retain-patient-chars",
		KeyTextPrefix + "sms": "{{.Clinic}}: {{.Link}}",
	}
	for k, v := range ok {
		if err := s.UpdateSetting(k, v); err != nil {
			t.Fatalf("%s=%s: %v", k, v, err)
		}
	}
	st = s.Settings()
	if st.ClinicName != "Clínica Ecografía Norte" || st.Language != "es" || st.Region != "ES" || st.LinkLifetime != 30*24*time.Hour ||
		st.StableTime != 2*time.Minute || st.AutoShare != (AutoShareRule{Mode: "aet", AET: "PATIENT"}) ||
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
		KeyClinicName: "", KeyLanguage: "xx", KeyRegion: "Sweden", KeyLinkLifetime: "5m", KeyStableTime: "0s",
		KeyAutoShare: "sometimes", KeyLinkCode: "12", KeyLogo: filepath.Join(dir, "missing.png"),
		KeyTextPrefix + "sms": "{{.Patient}}", KeyDeidOptions: "burned-in-ocr",
	}
	for k, v := range bad {
		err := s.UpdateSetting(k, v)
		if !errors.Is(err, ErrInvalidSetting) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	if err := s.UpdateSetting("clinic.colour", "blue"); !errors.Is(err, ErrUnknownSetting) || !strings.Contains(err.Error(), KeyClinicName) {
		t.Fatalf("unknown key: %v", err)
	}
	if err := s.UpdateSetting(KeyTextPrefix+"sms", ""); err != nil || s.Settings().Texts["sms"] != "" {
		t.Fatalf("restoring a text: %v", err)
	}

	// Logo from a file, and cleared.
	var png1 bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{200, 0, 0, 255})
	png.Encode(&png1, img)
	logo := filepath.Join(dir, "logo.png")
	os.WriteFile(logo, png1.Bytes(), 0o644)
	if err := s.UpdateSetting(KeyLogo, logo); err != nil {
		t.Fatal(err)
	}
	if st := s.Settings(); st.LogoType != "image/png" || !bytes.Equal(st.Logo, png1.Bytes()) {
		t.Fatalf("logo %q %d bytes", st.LogoType, len(st.Logo))
	}
	if err := s.SetLogo([]byte("<svg onload=alert(1)>")); !errors.Is(err, ErrInvalidSetting) {
		t.Fatalf("svg logo: %v", err)
	}
	if err := s.UpdateSetting(KeyLogo, "clear"); err != nil || s.Settings().Logo != nil {
		t.Fatalf("clearing logo: %v", err)
	}

	// Settings survive a restart.
	s.Close()
	s2 := open(t, dir, c, nil)
	if st := s2.Settings(); st.Language != "es" || st.AutoShare.AET != "PATIENT" {
		t.Fatalf("after reopen %+v", st)
	}
	keys := SettingKeys()
	if len(keys) < 10 || keys[0].Key != KeyClinicName {
		t.Fatalf("SettingKeys %+v", keys)
	}
	ev, _ := s2.Audit(AuditFilter{})
	for _, e := range ev {
		if e.Type == EventSettingChanged && strings.Contains(e.Detail, KeyLinkCode) && !strings.Contains(e.Detail, "set") && !strings.Contains(e.Detail, "cleared") {
			t.Fatalf("audit holds a link code: %+v", e)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "60s": time.Minute, "1h30m": 90 * time.Minute} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("%s = %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "d", "-1d", "abc", "0s"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if formatDuration(90*24*time.Hour) != "90d" || formatDuration(90*time.Second) != "1m30s" {
		t.Fatal("formatDuration")
	}
}
