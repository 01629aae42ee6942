package share

import (
	"sonolink/i18n"

	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"

	bolt "go.etcd.io/bbolt"

	"sonolink/settings"
)

// registry declares the clinic's settings, with share's message catalogue
// and link code hash. share keeps the stored values in share.db.
var registry = settings.New(settings.Config{
	Languages:    i18n.Languages(),
	Messages:     messageCatalogue(),
	CheckMessage: checkTemplate,
	HashLinkCode: hashSecret,
})

// Registry is the clinic settings registry UpdateSetting and Settings use.
func Registry() *settings.Registry { return registry }

func messageCatalogue() []settings.Message {
	out := make([]settings.Message, 0, len(messageNames))
	for _, n := range messageNames {
		out = append(out, settings.Message{Name: n, Fields: messageFields[n]})
	}
	return out
}

// Settings returns the current settings, read from share.db on every call,
// so a change made by `sonolink settings set` applies at once. An error
// reading share.db, or a stored value that cannot be read, is returned;
// it is never replaced by defaults.
//
// The values are kept in memory between changes: every page view reads
// them, and only this process writes share.db (bbolt's lock). Treat the
// maps and slices in them as read-only.
func (s *Service) Settings() (settings.Values, error) {
	gen := s.settingsGen.Load()
	if c := s.settingsCache.Load(); c != nil && c.gen == gen {
		return c.values, nil
	}
	var st settings.Values
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = readSettings(tx)
		return err
	})
	if err == nil {
		s.settingsCache.Store(&cachedSettings{gen: gen, values: st})
	}
	return st, err
}

// cachedSettings are the settings as read when the generation was gen; a
// change bumps the generation after its transaction commits, so values read
// before it are never served after it.
type cachedSettings struct {
	gen    uint64
	values settings.Values
}

func readSettings(tx *bolt.Tx) (settings.Values, error) {
	stored := map[string][]byte{}
	err := tx.Bucket(bktSettings).ForEach(func(k, v []byte) error {
		stored[string(k)] = v
		return nil
	})
	if err == nil {
		var st settings.Values
		if st, err = registry.Decode(stored); err == nil {
			return st, nil
		}
	}
	return settings.Values{}, fmt.Errorf("share: reading settings: %w", err)
}

// UpdateSetting validates and stores one setting; it applies at once. An
// empty value clears the setting back to its default. Errors wrap
// ErrUnknownSetting or ErrInvalidSetting and say what is accepted.
func (s *Service) UpdateSetting(key, value string) error { return s.UpdateSettingAs(key, value, "") }

// UpdateSettingAs is UpdateSetting with the person who asked named in the
// audit log (e.g. "cli:anna", "staff:anna").
func (s *Service) UpdateSettingAs(key, value, actor string) error {
	c, err := registry.Parse(key, value)
	if err != nil {
		return err
	}
	return s.saveSetting(c, actor)
}

// SetLogo stores the branding logo from bytes (PNG, JPEG, GIF or WebP, at
// most 512 KB); nil clears it.
func (s *Service) SetLogo(data []byte) error {
	c, err := registry.ParseLogo(data)
	if err != nil {
		return err
	}
	return s.saveSetting(c, "")
}

// saveSetting keeps a parsed change and audits it in one transaction.
func (s *Service) saveSetting(c settings.Change, actor string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSettings)
		if c.Value == nil {
			if err := b.Delete([]byte(c.Key)); err != nil {
				return err
			}
		} else if err := b.Put([]byte(c.Key), c.Value); err != nil {
			return err
		}
		return s.audit(tx, AuditEvent{Type: EventSettingChanged, Actor: actor, Detail: c.Key + ": " + c.Audit})
	})
	s.settingsGen.Add(1)
	if err != nil {
		return fmt.Errorf("share: saving setting %s: %w", c.Key, err)
	}
	s.log.Info("setting changed", "key", c.Key)
	return nil
}

// checkTemplate parses a message text and renders it with sample data.
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

// SettingsGeneration changes whenever a setting does: a reader may keep what
// it derived from the settings while it stays the same.
func (s *Service) SettingsGeneration() uint64 { return s.settingsGen.Load() }
