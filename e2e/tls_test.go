package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// TestE2ETLS: with --tls-cert and --tls-key, serve answers the patient's
// link over HTTPS directly, with HSTS, and its session cookies are Secure.
func TestE2ETLS(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir := shortTempDir(t)
	certFile, keyFile, pool := tlsE2ECert(t, dir)
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	data := filepath.Join(dir, "data")
	lg := &shareE2ELog{}
	n := shareE2EStartWith(t, data, lg, client, "--tls-cert", certFile, "--tls-key", keyFile)

	// Plain HTTP on the same port is refused, not served.
	if res, err := http.Get(strings.Replace(n.httpURL, "https://", "http://", 1) + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP served next to HTTPS")
		}
	}

	in := shareE2ESample(t, dir, "us/deid-data__GREYSCALE_IMAGE.dcm", "img.dcm", true,
		"(0010,2155)=name@example.com")
	before := shareE2EOutboxFiles(data)
	n.send(t, "SONOLINK", in)
	link := outboxLink(t, data, before, regexp.MustCompile(`https://[^\s"<>]+/p/[A-Za-z0-9_-]+`), lg)
	if !strings.HasPrefix(link, n.httpURL+"/p/") {
		t.Fatalf("link %q does not start with the HTTPS base URL %s", shareE2ERedact(link), n.httpURL)
	}
	res, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET link over HTTPS: %d", res.StatusCode)
	}
	if h := res.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Errorf("no HSTS over HTTPS: %q", h)
	}
	if h := res.Header.Get("Referrer-Policy"); h != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", h)
	}
	for _, c := range res.Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v", c.Name, c.Secure, c.HttpOnly)
		}
	}
}

// tlsE2ECert writes a self-signed certificate for 127.0.0.1 and returns the
// files and a pool that trusts it.
func tlsE2ECert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sonolink test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
