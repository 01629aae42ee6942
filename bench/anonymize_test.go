package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sonolink/anonymize"
	"sonolink/internal/testenv"
)

// BenchmarkAnonymize de-identifies the same files with sonolink's engine
// and with gdcmanon (GDCM's PS3.15 Basic Profile, -e with a certificate),
// in one run, and reports objects/s and MB/s for each:
//
//   - header: SR, PDF, SC, charset and small US samples without regions
//     (no pixel cleaning; sonolink still re-reads and verifies each copy)
//   - jpeg-cine: a 34-frame JPEG Baseline cine (decode, mask, re-encode)
//   - native-cine: a 27-frame 800×600 uncompressed cine
//
// gdcmanon never touches pixel data, so its pixel figures measure header
// work only; sonolink's include blacking out every frame.
func BenchmarkAnonymize(b *testing.B) {
	root := testenv.Samples(b)
	sets := []struct {
		name  string
		files []string
	}{
		{"header", anonHeaderSet(b, root)},
		{"jpeg-cine", []string{filepath.Join(root, "us", "orthanc__Issue16.dcm")}},
		{"native-cine", []string{filepath.Join(root, "us", "deid-data__GREYSCALE_CINE.dcm")}},
	}
	secret := make([]byte, 32)
	a, err := anonymize.New(anonymize.Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	gdcmanon, haveGDCM := "", false
	if p, err := exec.LookPath("gdcmanon"); err == nil {
		gdcmanon, haveGDCM = p, true
	} else if testenv.CI() {
		b.Fatal("gdcmanon required under CI")
	}
	cert := anonCert(b)
	for _, set := range sets {
		var size int64
		for _, f := range set.files {
			st, err := os.Stat(f)
			if err != nil {
				b.Skipf("sample missing: %v", err)
			}
			size += st.Size()
		}
		b.Run("sonolink/"+set.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, f := range set.files {
					if _, err := a.File(f, io.Discard); err != nil {
						b.Fatalf("%s: %v", filepath.Base(f), err)
					}
				}
			}
			anonReport(b, len(set.files))
		})
		if !haveGDCM {
			continue
		}
		b.Run("gdcmanon/"+set.name, func(b *testing.B) {
			in := b.TempDir()
			for _, f := range set.files {
				if err := os.Symlink(f, filepath.Join(in, filepath.Base(f))); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(size)
			b.ResetTimer()
			done := 0
			for i := 0; i < b.N; i++ {
				out := b.TempDir()
				cmd := exec.Command(gdcmanon, "-e", "--continue", "-c", cert, "-i", in, "-o", out)
				msg, err := cmd.CombinedOutput()
				made, _ := filepath.Glob(filepath.Join(out, "*"))
				if err != nil && len(made) == 0 {
					b.Fatalf("gdcmanon: %v\n%s", err, msg)
				}
				if err != nil && i == 0 {
					b.Logf("gdcmanon refused %d of %d files: %s", len(set.files)-len(made), len(set.files), msg)
				}
				done = len(made)
			}
			anonReport(b, done)
		})
	}
}

func anonReport(b *testing.B, files int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(files*b.N)/s, "objects/s")
	}
}

// anonHeaderSet: the SR, PDF, SC and charset samples plus the small US
// samples without ultrasound regions: header work only, no pixel cleaning.
func anonHeaderSet(b *testing.B, root string) []string {
	var out []string
	for _, g := range []string{"sr", "pdf", "sc", "charset"} {
		m, _ := filepath.Glob(filepath.Join(root, g, "*.dcm"))
		out = append(out, m...)
	}
	for _, f := range []string{"debian-pydicom__ExplVR_BigEnd.dcm", "pydicom-data__US1_J2KI.dcm", "pydicom-data__US1_J2KR.dcm", "orthanc__TransferSyntaxes_1.2.840.10008.1.2.4.50.dcm"} {
		out = append(out, filepath.Join(root, "us", f))
	}
	if len(out) == 0 {
		b.Skip("no samples")
	}
	return out
}

// anonCert writes a throwaway self-signed certificate for gdcmanon -e
// (it encrypts the original attributes to it).
func anonCert(b *testing.B) string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sonolink bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(b.TempDir(), "cert.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}
