package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sonolink/internal/testenv"
)

// TestE2EDICOMTLS: DICOM over TLS as an installer tries it with DCMTK.
// Without --dicom-tls-ca, echoscu +tls and storescu +tls work on the TLS
// port while the plain port keeps working; with it, only a peer with a
// client certificate the CA signed gets an association. Bad TLS files stop
// serve before it opens or binds anything.
func TestE2EDICOMTLS(t *testing.T) {
	testenv.Long(t, "end-to-end scenario")
	dir := shortTempDir(t)
	pki := testenv.NewPKI(t, t.TempDir())
	stranger := testenv.NewPKI(t, t.TempDir())
	serverTLS := []string{"--dicom-tls-cert", pki.ServerCert, "--dicom-tls-key", pki.ServerKey}

	t.Run("bad files stop start-up", func(t *testing.T) {
		data := filepath.Join(dir, "bad")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--dicom-tls-addr", "127.0.0.1:0"}, "--dicom-tls-addr needs --dicom-tls-cert and --dicom-tls-key"},
			{[]string{"--dicom-tls-addr", "127.0.0.1:0", "--dicom-tls-cert", pki.ServerCert, "--dicom-tls-key", pki.ClientKey}, "private key does not match"},
			{[]string{"--dicom-tls-addr", "127.0.0.1:0", "--dicom-tls-cert", pki.ServerCert, "--dicom-tls-key", pki.ServerKey, "--dicom-tls-ca", pki.ServerKey}, "no PEM certificate"},
			{[]string{"--dicom-tls-ca", pki.CA}, "need --dicom-tls-addr"},
		} {
			r := runCLI(t, data, append([]string{"serve", "--http-addr", "127.0.0.1:0", "--dicom-addr", "127.0.0.1:0"}, tc.args...)...)
			if r.code == 0 || !strings.Contains(r.err, tc.want) {
				t.Errorf("serve %v: want a failure saying %q, got %s", tc.args, tc.want, r)
			}
		}
		if entries, _ := os.ReadDir(data); len(entries) > 0 {
			t.Errorf("serve failing on its TLS files left %d entries in the data directory", len(entries))
		}
	})

	t.Run("TLS beside plain", func(t *testing.T) {
		data := filepath.Join(dir, "open")
		lg := &shareE2ELog{}
		tlsAddr := shareE2EFreeAddr(t)
		n := shareE2EStart(t, data, lg, append([]string{"--dicom-tls-addr", tlsAddr}, serverTLS...)...)
		host, port := splitE2E(t, tlsAddr)

		// echoscu +tls with its own certificate, trusting the node's CA.
		if out, err := ingestTool(t, "echoscu", "-v", "+tls", pki.ClientKey, pki.ClientCert, "+cf", pki.CA, "-aec", "SONOLINK", host, port); err != nil || !strings.Contains(out, "Received Echo Response (Success)") {
			t.Fatalf("echoscu +tls: %v\n%s\n%s", err, out, lg)
		}
		// The plain port still answers.
		if out, err := ingestTool(t, "echoscu", "-aec", "SONOLINK", n.dicomHost, n.dicomPort); err != nil {
			t.Fatalf("plain echoscu beside TLS: %v\n%s", err, out)
		}
		// Plain DICOM on the TLS port gets no association.
		if out, err := ingestTool(t, "echoscu", "-to", "5", "-aec", "SONOLINK", host, port); err == nil {
			t.Fatalf("plain echoscu on the TLS port succeeded:\n%s", out)
		}

		sample := shareE2ESample(t, dir, "us/deid-data__GREYSCALE_IMAGE.dcm", "tls.dcm", true)
		out, err := ingestTool(t, "storescu", "-v", "+tls", pki.ClientKey, pki.ClientCert, "+cf", pki.CA, "-aet", "MODALITY", "-aec", "SONOLINK", host, port, sample)
		if err != nil || !strings.Contains(out, "Received Store Response (Success)") {
			t.Fatalf("storescu +tls: %v\n%s\n%s", err, out, lg)
		}
		n.stop(t)
		sop := ingestHeader(t, sample).sop
		found := false
		for _, in := range ingestAllInstances(t, ingestOpenStore(t, data)) {
			found = found || in.SOPInstanceUID == sop
		}
		if !found {
			t.Fatalf("object sent with storescu +tls is not in the store\n%s", lg)
		}
		if !lg.has("association accepted", `tls="TLS 1.`, "calling_aet=MODALITY") {
			t.Errorf("no association accepted over TLS in the log:\n%s", lg)
		}
	})

	t.Run("client certificate required", func(t *testing.T) {
		data := filepath.Join(dir, "ca")
		lg := &shareE2ELog{}
		tlsAddr := shareE2EFreeAddr(t)
		// TLS only: no plain listener.
		shareE2EStart(t, data, lg, append([]string{"--dicom-addr", "", "--dicom-tls-addr", tlsAddr, "--dicom-tls-ca", pki.CA}, serverTLS...)...)
		host, port := splitE2E(t, tlsAddr)

		// Anonymous TLS (no client certificate) is refused.
		if out, err := ingestTool(t, "echoscu", "+tla", "+cf", pki.CA, "-aec", "SONOLINK", host, port); err == nil {
			t.Fatalf("echoscu without a client certificate succeeded:\n%s", out)
		}
		// So is a certificate another CA signed.
		if out, err := ingestTool(t, "echoscu", "+tls", stranger.ClientKey, stranger.ClientCert, "+cf", pki.CA, "-aec", "SONOLINK", host, port); err == nil {
			t.Fatalf("echoscu with another CA's certificate succeeded:\n%s", out)
		}
		if !lg.has("TLS handshake failed", "peer=127.0.0.1:", "didn't provide a certificate") ||
			!lg.has("TLS handshake failed", "peer=127.0.0.1:", "unknown authority") {
			t.Errorf("refusals not logged with peer and reason:\n%s", lg)
		}
		// A certificate the CA signed gets in, and the log names it.
		if out, err := ingestTool(t, "echoscu", "+tls", pki.ClientKey, pki.ClientCert, "+cf", pki.CA, "-aec", "SONOLINK", host, port); err != nil {
			t.Fatalf("echoscu with the CA's client certificate: %v\n%s\n%s", err, out, lg)
		}
		if !lg.has("association accepted", `tls_client="`+pki.ClientSubject+`"`) {
			t.Errorf("accepted association does not name the client certificate:\n%s", lg)
		}
	})
}

func splitE2E(t *testing.T, addr string) (host, port string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[:i], addr[i+1:]
}
