package anonymize

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// SecretFile is the name of the installation secret inside the data
// directory.
const SecretFile = "anonymize.secret"

// SecretSize is the length in bytes of the installation secret.
const SecretSize = 32

// LoadOrCreateSecret returns the installation secret kept in
// dataDir/anonymize.secret, creating it (32 random bytes, mode 0600,
// fsynced, directory fsynced) at first use. A file of the wrong size is an
// error, never silently replaced: replacing it would change every UID.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	p := filepath.Join(dataDir, SecretFile)
	b, err := os.ReadFile(p)
	if err == nil {
		if len(b) != SecretSize {
			return nil, fmt.Errorf("anonymize: secret %s holds %d bytes, want %d", p, len(b), SecretSize)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("anonymize: read secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("anonymize: create data directory: %w", err)
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("anonymize: random secret: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".anonymize.secret-*")
	if err != nil {
		return nil, fmt.Errorf("anonymize: create secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("anonymize: create secret: %w", err)
	}
	if _, err := tmp.Write(secret); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("anonymize: write secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("anonymize: sync secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("anonymize: close secret: %w", err)
	}
	// Link, not rename: when two processes race, the first secret wins and
	// the loser reads it instead of overwriting it.
	if err := os.Link(tmp.Name(), p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateSecret(dataDir)
		}
		return nil, fmt.Errorf("anonymize: install secret: %w", err)
	}
	if d, err := os.Open(dataDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return secret, nil
}

// wellKnownUIDRoot is the root of the UIDs DICOM itself registers (SOP
// classes, transfer syntaxes, coding schemes…): never replaced.
const wellKnownUIDRoot = "1.2.840.10008."

// mapUID returns the replacement of an identifying UID: "2.25." followed by
// the decimal value of the first 128 bits of HMAC-SHA256(secret, uid).
// Well-known UIDs and empty values are returned unchanged.
func (a *Anonymizer) mapUID(u string) string {
	u = strings.TrimRight(u, " \x00")
	if u == "" || strings.HasPrefix(u, wellKnownUIDRoot) {
		return u
	}
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("uid\x00"))
	m.Write([]byte(u))
	sum := m.Sum(nil)
	return "2.25." + new(big.Int).SetBytes(sum[:16]).String()
}

// dayShift returns the per-patient date offset in days (negative: dates
// move into the past by 1 to 3650 days), derived from the secret, the
// Patient ID and the Patient's Name, so that every object of a patient
// shifts alike and no one without the secret can undo it.
func (a *Anonymizer) dayShift(patientID, patientName string) int {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("dateshift\x00"))
	m.Write([]byte(strings.TrimSpace(patientID)))
	m.Write([]byte{0})
	m.Write([]byte(strings.ToUpper(strings.TrimSpace(patientName))))
	sum := m.Sum(nil)
	return -int(1 + binary.BigEndian.Uint32(sum[:4])%3650)
}

// fingerprint names the secret without revealing it (for Profile).
func (a *Anonymizer) fingerprint() string {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("sonolink profile fingerprint"))
	return fmt.Sprintf("%x", m.Sum(nil)[:4])
}
