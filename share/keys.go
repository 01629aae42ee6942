package share

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"sonolink/internal/phc"
)

// keys are derived from the 32-byte secret in DATA/share.key (mode 0600).
//
// Why a key file: a link's token is stored only as its SHA-256 so share.db
// cannot answer "what is the URL of link L…". Resend must repeat the same
// URL, so the token is also kept sealed with AES-256-GCM (sealKey) in the
// link record, and so are queued message bodies (they hold the URL or a
// one-time code). A copy of share.db alone (a backup, a support bundle)
// then reveals no working link; the key file is needed too. The sealed token
// is deleted when the link is revoked. One-time codes, being 6 digits, are
// stored as HMACs under otpKey rather than plain hashes, which a copy of the
// database could reverse by trying all million codes.
type keys struct {
	seal cipher.AEAD
	otp  []byte
}

func loadKeys(path string) (keys, error) {
	secret, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return keys{}, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return keys{}, fmt.Errorf("share: creating key file: %w", err)
		}
		_, werr := f.Write(secret)
		serr := f.Sync()
		if err := errors.Join(werr, serr, f.Close()); err != nil {
			os.Remove(path)
			return keys{}, fmt.Errorf("share: writing key file: %w", err)
		}
	} else if err != nil {
		return keys{}, fmt.Errorf("share: reading key file: %w", err)
	}
	if len(secret) != 32 {
		return keys{}, fmt.Errorf("share: key file %s is damaged (%d bytes, want 32); restore it from backup (without it, issued links cannot be resent)", path, len(secret))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		os.Chmod(path, 0o600)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("sonolink share " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return keys{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keys{}, err
	}
	return keys{seal: aead, otp: derive("otp")}, nil
}

// sealBytes encrypts p bound to context ad (e.g. the link ID).
func (k keys) sealBytes(p []byte, ad string) []byte {
	nonce := make([]byte, k.seal.NonceSize())
	rand.Read(nonce)
	return k.seal.Seal(nonce, nonce, p, []byte(ad))
}

func (k keys) openBytes(c []byte, ad string) ([]byte, error) {
	n := k.seal.NonceSize()
	if len(c) < n {
		return nil, errors.New("sealed value too short")
	}
	p, err := k.seal.Open(nil, c[:n], c[n:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("sealed value cannot be opened (was share.key replaced?): %w", err)
	}
	return p, nil
}

func (k keys) otpMAC(linkID, code string) []byte {
	m := hmac.New(sha256.New, k.otp)
	m.Write([]byte(linkID + "\x00" + code))
	return m.Sum(nil)
}

// newToken returns a link token: 32 bytes from crypto/rand, base64url
// without padding (43 characters).
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// argon2id parameters (OWASP's second recommended set: 19 MiB, 2 passes).
var argonParams = phc.Params{Time: 2, Memory: 19 * 1024, Threads: 1}

// hashSecret returns a PHC-style argon2id string (package phc).
func hashSecret(secret string) string { return phc.Hash(secret, argonParams) }

// verifySecret checks secret against a hashSecret string, using the
// parameters recorded in it.
func verifySecret(encoded, secret string) bool { return phc.Verify(encoded, secret) }
