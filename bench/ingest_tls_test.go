package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"sonolink/dicom/dicomfile"
	"sonolink/internal/testenv"
)

// BenchmarkIngestTLS is BenchmarkIngest over DICOM TLS: the same corpus
// sent with storescu +tls (dcmsend has no TLS) to sonolink serve
// --dicom-tls-addr (fsync on) and DCMTK storescp +tls (no fsync), one
// sender and four, reporting MB/s, objects/s and sonolink's throughput over
// storescp's (medians of SONOLINK_BENCH_ROUNDS rounds, default 5). Both
// peers run the BCP 195 profiles and neither asks for a client certificate.
func BenchmarkIngestTLS(b *testing.B) {
	storescu := testenv.Tool(b, "storescu")
	storescp := testenv.Tool(b, "storescp")
	sonolink := buildSonolink(b)
	corpus, bytes, files := ingestCorpus(b, 4)
	pki := testenv.NewPKI(b, b.TempDir())
	b.Logf("corpus: %d objects in %d studies, %.1f MB", files, len(corpus), float64(bytes)/1e6)

	peers := []struct {
		name, aet string
		start     func(b *testing.B, port int) func()
	}{
		{"sonolink-tls", "SONOLINK", func(b *testing.B, port int) func() {
			return startProc(b, port, sonolink, "serve", "--data-dir", b.TempDir(), "--dicom-addr", "",
				"--dicom-tls-addr", fmt.Sprintf("127.0.0.1:%d", port), "--dicom-tls-cert", pki.ServerCert, "--dicom-tls-key", pki.ServerKey,
				"--http-addr", "127.0.0.1:0", "--extra-sop-class", retiredUSClasses)
		}},
		{"storescp-tls", "STORESCP", func(b *testing.B, port int) func() {
			// -ic: no client certificate checked, as sonolink without
			// --dicom-tls-ca.
			return startProc(b, port, storescp, "--fork", "+xa", "-od", b.TempDir(), "-aet", "STORESCP",
				"+tls", pki.ServerKey, pki.ServerCert, "-ic", strconv.Itoa(port))
		}},
	}
	rounds := benchRounds()
	tls := []string{"+tls", pki.ClientKey, pki.ClientCert, "+cf", pki.CA}
	for _, senders := range []int{1, 4} {
		secs := map[string][]float64{}
		for r := 0; r < rounds; r++ {
			for i := range peers {
				p := peers[(i+r)%len(peers)]
				port := freePort(b)
				stop := p.start(b, port)
				syscall.Sync()
				start := time.Now()
				sendAllStorescu(b, storescu, tls, port, p.aet, corpus, senders)
				secs[p.name] = append(secs[p.name], time.Since(start).Seconds())
				stop()
			}
		}
		for _, p := range peers {
			med := median(secs[p.name])
			b.Run(fmt.Sprintf("%s/senders=%d", p.name, senders), func(b *testing.B) {
				b.ReportMetric(float64(bytes)/1e6/med, "MB/s")
				b.ReportMetric(float64(files)/med, "objects/s")
			})
		}
		b.Run(fmt.Sprintf("sonolink-tls-vs/senders=%d", senders), func(b *testing.B) {
			var ratios []float64
			var text []string
			for r := range secs["storescp-tls"] {
				ratios = append(ratios, secs["storescp-tls"][r]/secs["sonolink-tls"][r])
				text = append(text, fmt.Sprintf("%.2f", ratios[r]))
			}
			b.ReportMetric(median(ratios), "storescp-tls-ratio")
			b.Logf("sonolink/storescp throughput over TLS, %d rounds: %s", rounds, strings.Join(text, " "))
		})
	}
}

// storescuOption makes storescu propose a file's compressed transfer
// syntax (it proposes uncompressed ones only by default, one -x option per
// run); "-x=" is every uncompressed one.
var storescuOption = map[string]string{
	"1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.70": "-xs", "1.2.840.10008.1.2.5": "-xr",
}

// sendAllStorescu sends every study with storescu and the given TLS
// options, spreading studies over senders concurrent senders; each sender
// runs storescu once per transfer syntax group (one association each). It
// fails unless every object got a Success response.
func sendAllStorescu(b *testing.B, storescu string, tlsArgs []string, port int, aet string, studies [][]string, senders int) {
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := 0; s < senders; s++ {
		groups := map[string][]string{}
		for i := s; i < len(studies); i += senders {
			for _, f := range studies[i] {
				opt := storescuOption[transferSyntax(b, f)]
				if opt == "" {
					opt = "-x="
				}
				groups[opt] = append(groups[opt], f)
			}
		}
		wg.Go(func() {
			for opt, files := range groups {
				args := append(append([]string{"-v", "-R", opt, "-aec", aet, "-aet", "BENCH"}, tlsArgs...), "127.0.0.1", strconv.Itoa(port))
				cmd := exec.Command(storescu, append(args, files...)...)
				cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
				out, err := cmd.CombinedOutput()
				if n := strings.Count(string(out), "Received Store Response (Success)"); err != nil || n != len(files) {
					errs <- fmt.Errorf("storescu %s: %d of %d objects stored with success (%v):\n%s", opt, n, len(files), err, out)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func transferSyntax(b *testing.B, path string) string {
	ds, err := dicomfile.ReadHeader(path)
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return dicomfile.String(ds, tag.TransferSyntaxUID)
}
