package anonymize

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// TestCoverageVsGdcmanon runs sonolink and gdcmanon (GDCM's Basic Profile,
// -e with a throwaway certificate) on the planted corpus and prints a
// markdown table: how many planted Table E.1-1 attributes each removes, and
// which planted values each leaves behind. sonolink must leave none.
func TestCoverageVsGdcmanon(t *testing.T) {
	testenv.Long(t, "long gdcmanon comparison over every sample")
	gdcmanon := testenv.Tool(t, "gdcmanon")
	dir := t.TempDir()
	cert := testCert(t, dir)
	a := newTest(t, Options{})
	type tally struct {
		attrs, attrsLeft int
		left             map[string]int
		refused          int
	}
	sl, gd := tally{left: map[string]int{}}, tally{left: map[string]int{}}
	planted := 0
	for i, o := range corpusObjects {
		ds, p, _ := buildCorpusObject(o, string(rune('a'+i)))
		in := writeCorpusObject(t, dir, ds, o.name)
		planted += len(p.planted)
		var buf bytes.Buffer
		if _, err := a.File(in, &buf); err != nil {
			t.Fatal(err)
		}
		gout := filepath.Join(dir, o.name+".gdcm.dcm")
		msg, err := exec.Command(gdcmanon, "-e", "-c", cert, "-i", in, "-o", gout).CombinedOutput()
		gbytes, rerr := os.ReadFile(gout)
		if err != nil || rerr != nil {
			t.Logf("gdcmanon refused %s: %v %s", o.name, err, bytes.TrimSpace(msg))
			gd.refused++
			gbytes = nil
		}
		count := func(tl *tally, out []byte) {
			left := map[string]bool{}
			if out != nil {
				for _, pl := range leftovers(out, p) {
					left[pl.where] = true
				}
			} else {
				return
			}
			for _, pl := range p.planted {
				if strings.ContainsAny(pl.where, "> ") {
					continue // nested or private: counted in the leftovers list only
				}
				tl.attrs++
				if left[pl.where] {
					tl.attrsLeft++
				}
			}
			for w := range left {
				tl.left[w]++
			}
		}
		count(&sl, buf.Bytes())
		count(&gd, gbytes)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "\n| tool | planted top-level Table E.1-1 attributes removed | planted values left (of %d, %d objects) | objects refused |\n|---|---|---|---|\n", planted, len(corpusObjects))
	row := func(name string, tl tally) {
		n := 0
		for _, c := range tl.left {
			n += c
		}
		fmt.Fprintf(&md, "| %s | %d / %d | %d | %d |\n", name, tl.attrs-tl.attrsLeft, tl.attrs, n, tl.refused)
	}
	row("sonolink", sl)
	row("gdcmanon -e", gd)
	var names []string
	for w := range gd.left {
		names = append(names, w)
	}
	sort.Strings(names)
	fmt.Fprintf(&md, "\nLeft behind by gdcmanon (attribute path: objects): %s\n", strings.Join(func() []string {
		var out []string
		for _, w := range names {
			out = append(out, fmt.Sprintf("%s: %d", w, gd.left[w]))
		}
		return out
	}(), ", "))
	t.Log(md.String())
	if len(sl.left) > 0 {
		t.Errorf("sonolink left planted values: %v", sl.left)
	}
}

func testCert(t *testing.T, dir string) string {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sonolink test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
