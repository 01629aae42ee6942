package dimse

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// sampleGroups are the sample directories a modality may send.
var sampleGroups = []string{"us", "sr", "pdf", "sc", "charset"}

// extraTestConfig widens the defaults so that every shared sample can be
// received as sent: the samples include a Computed Radiography object (in
// charset/) and JPEG 2000, JPEG-LS and big endian files. Production keeps
// the defaults; this shows the "more by configuration" path.
func extraTestConfig() Config {
	return Config{
		SOPClasses: append(DefaultSOPClasses(), "1.2.840.10008.5.1.4.1.1.1", // CR
			"1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.3"), // US and US multi-frame (retired)
		TransferSyntaxes: append(DefaultTransferSyntaxes(),
			"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", // JPEG 2000
			"1.2.840.10008.1.2.4.80", // JPEG-LS lossless
			"1.2.840.10008.1.2.2",    // Explicit VR Big Endian (retired)
		),
	}
}

func TestEchoscuAgainstServer(t *testing.T) {
	echoscu := testenv.Tool(t, "echoscu")
	ts := startServer(t, Config{}, nil)
	out, err := runTool(t, echoscu, "-aet", "MODALITY", "-aec", "SONOLINK", ts.host, ts.port)
	if err != nil {
		t.Fatalf("echoscu: %v\n%s", err, out)
	}
}

func TestEchoAgainstStorescp(t *testing.T) {
	storescp := testenv.Tool(t, "storescp")
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(storescp, "-od", dir, "--aetitle", "DCMTKSCP", port)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	mustf(t, cmd.Start(), "start storescp")
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr := "127.0.0.1:" + port
	waitListening(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Echo(ctx, addr, "SONOLINK", "DCMTKSCP"); err != nil {
		t.Fatalf("Echo to storescp: %v\n%s", err, out.String())
	}
	// Our StoreFile client against storescp as well.
	src := filepath.Join(testenv.Samples(t), "us/pydicom-data__OBXXXX1A.dcm")
	st, err := StoreFile(ctx, addr, "SONOLINK", "DCMTKSCP", src)
	if err != nil || st != StatusSuccess {
		t.Fatalf("StoreFile to storescp: %v %v\n%s", st, err, out.String())
	}
}

// checkReceived asserts every sample arrived as a parseable Part 10 file
// with the same SOP Instance UID.
func checkReceived(t *testing.T, h *testHandler, files []string) {
	t.Helper()
	dcmdump := testenv.Tool(t, "dcmdump")
	// Two samples (OBXXXX1A and its RLE derivative) share a SOP Instance UID
	// with different SOP classes; for those only the UID is compared.
	seen := map[string]int{}
	for _, f := range files {
		seen[sampleMeta(t, f).SOPInstanceUID]++
	}
	for _, f := range files {
		m := sampleMeta(t, f)
		got := filepath.Join(h.dir, m.SOPInstanceUID+".dcm")
		if _, err := os.Stat(got); err != nil {
			t.Errorf("%s: not received (%v)", filepath.Base(f), err)
			continue
		}
		gm := sampleMeta(t, got)
		if gm.SOPInstanceUID != m.SOPInstanceUID || (seen[m.SOPInstanceUID] == 1 && gm.SOPClassUID != m.SOPClassUID) {
			t.Errorf("%s: received as %s / %s", filepath.Base(f), gm.SOPClassUID, gm.SOPInstanceUID)
		}
		// dcmdump parses the whole file (exit status) and prints the UID.
		out, err := runTool(t, dcmdump, "-q", "+P", "0008,0018", got)
		if err != nil || !strings.Contains(out, m.SOPInstanceUID) {
			t.Errorf("%s: dcmdump of the received file: %v\n%s", filepath.Base(f), err, out)
		}
	}
}

// readableSamples drops the samples DCMTK itself cannot read (it is the
// sender here): fodicom GH364 has a wrong meta group length and a stray item.
func readableSamples(t *testing.T) []string {
	var out []string
	for _, f := range testenv.SampleFiles(t, sampleGroups...) {
		if strings.Contains(f, "fodicom__GH364") {
			continue
		}
		out = append(out, f)
	}
	return out
}

// storescuTSOption is the storescu option that proposes a compressed
// transfer syntax (storescu proposes only uncompressed ones by default, and
// one -x option per run).
var storescuTSOption = map[string]string{
	"1.2.840.10008.1.2.4.50": "-xy",
	"1.2.840.10008.1.2.4.70": "-xs",
	"1.2.840.10008.1.2.5":    "-xr",
	"1.2.840.10008.1.2.4.90": "-xv",
	"1.2.840.10008.1.2.4.91": "-xw",
	"1.2.840.10008.1.2.4.80": "-xt",
	"1.2.840.10008.1.2.2":    "-xb",
}

func TestStorescuSendsAllSamples(t *testing.T) {
	testenv.Long(t, "long storescu run over every sample")
	storescu := testenv.Tool(t, "storescu")
	ts := startServer(t, extraTestConfig(), nil)
	files := readableSamples(t)
	groups := map[string][]string{}
	for _, f := range files {
		opt := storescuTSOption[sampleMeta(t, f).TransferSyntaxUID]
		groups[opt] = append(groups[opt], f)
	}
	for opt, group := range groups {
		args := []string{"-aet", "MODALITY", "-aec", "SONOLINK", "-nh", "-R", "-v"}
		if opt != "" {
			args = append(args, opt)
		}
		args = append(append(args, ts.host, ts.port), group...)
		out, err := runTool(t, storescu, args...)
		if err != nil {
			t.Errorf("storescu %s: %v\n%s", opt, err, out)
		}
		if n := strings.Count(out, "Received Store Response (Success)"); n != len(group) {
			t.Errorf("storescu %s: %d success responses for %d files\n%s", opt, n, len(group), out)
		}
	}
	checkReceived(t, ts.h, files)
}

func TestDcmsendSendsAllSamples(t *testing.T) {
	testenv.Long(t, "long dcmsend run over every sample")
	dcmsend := testenv.Tool(t, "dcmsend")
	ts := startServer(t, extraTestConfig(), nil)
	files := readableSamples(t)
	report := filepath.Join(t.TempDir(), "report.txt")
	args := append([]string{"-aet", "MODALITY", "-aec", "SONOLINK", "+crf", report, ts.host, ts.port}, files...)
	out, err := runTool(t, dcmsend, args...)
	rep, _ := os.ReadFile(report)
	if err != nil {
		t.Fatalf("dcmsend: %v\n%s\n%s", err, out, rep)
	}
	if n := strings.Count(string(rep), "(Success)"); n != len(files) {
		t.Errorf("dcmsend report: %d successes for %d files\n%s", n, len(files), rep)
	}
	if ts.h.count() != len(files) {
		t.Errorf("received %d objects of %d\n%s", ts.h.count(), len(files), rep)
	}
	checkReceived(t, ts.h, files)
}

func TestWrongCalledAEWithDCMTK(t *testing.T) {
	echoscu := testenv.Tool(t, "echoscu")
	ts := startServer(t, Config{}, nil)
	out, err := runTool(t, echoscu, "-aec", "NOTUS", ts.host, ts.port)
	if err == nil {
		t.Fatalf("echoscu with a wrong called AE succeeded:\n%s", out)
	}
	if !strings.Contains(strings.ToLower(out), "called ae title not recognized") {
		t.Errorf("echoscu output lacks the reason:\n%s", out)
	}
	out, err = runTool(t, echoscu, "-aec", "SONOLINK", ts.host, ts.port)
	if err != nil {
		t.Fatalf("echo after rejection: %v\n%s", err, out)
	}
}

// With the SOP classes narrowed to an ultrasound study's, the contexts
// storescu proposes for other classes are refused one by one and the rest
// of the association proceeds.
func TestUnknownSOPClassRefusedPerContext(t *testing.T) {
	storescu := testenv.Tool(t, "storescu")
	ts := startServer(t, Config{SOPClasses: UltrasoundSOPClasses()}, nil)
	unknown := filepath.Join(testenv.Samples(t), "odd/orthanc__UnknownSopClassUid.dcm")
	known := filepath.Join(testenv.Samples(t), "sc/orthanc__ColorTestMalaterre.dcm")
	out, _ := runTool(t, storescu, "-aec", "SONOLINK", "-nh", "+v", "-v", ts.host, ts.port, unknown, known)
	if !regexp.MustCompile(`(?i)abstract syntax not supported`).MatchString(out) {
		t.Errorf("storescu did not report the context refused with 'abstract syntax not supported':\n%s", out)
	}
	if !strings.Contains(out, "Received Store Response (Success)") {
		t.Errorf("the known object was not stored on the same association:\n%s", out)
	}
	if ts.h.count() != 1 {
		t.Errorf("received %d objects, want 1", ts.h.count())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mustf(t, Echo(ctx, ts.addr, "X", "SONOLINK"), "echo afterwards")
}

func TestFourConcurrentDcmsend(t *testing.T) {
	testenv.Long(t, "long concurrent dcmsend run")
	dcmsend := testenv.Tool(t, "dcmsend")
	ts := startServer(t, extraTestConfig(), nil)
	files := readableSamples(t)
	var wg sync.WaitGroup
	errs := make([]string, 4)
	start := time.Now()
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append([]string{"-aet", fmt.Sprintf("SENDER%d", i), "-aec", "SONOLINK", ts.host, ts.port}, files...)
			out, err := runTool(t, dcmsend, args...)
			if err != nil {
				errs[i] = fmt.Sprintf("sender %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	if got, want := ts.h.count(), 4*len(files); got != want {
		t.Errorf("handler saw %d objects, want %d", got, want)
	}
	t.Logf("4 senders x %d objects in %v", len(files), time.Since(start))
	checkReceived(t, ts.h, files)
}

func TestHandlerFailureReachesDCMTK(t *testing.T) {
	storescu := testenv.Tool(t, "storescu")
	h := newTestHandler(t)
	h.status = func(*Object) Status { return StatusOutOfResources }
	ts := startServer(t, Config{}, h)
	src := filepath.Join(testenv.Samples(t), "us/pydicom-data__OBXXXX1A.dcm")
	out, _ := runTool(t, storescu, "-aec", "SONOLINK", "-v", ts.host, ts.port, src)
	if strings.Contains(out, "Store Response (Success)") || !regexp.MustCompile(`(?i)0xa700|out ?of ?resources`).MatchString(out) {
		t.Errorf("storescu should report A700:\n%s", out)
	}
}

func TestOversizeObjectWithDCMTK(t *testing.T) {
	dcmsend := testenv.Tool(t, "dcmsend")
	ts := startServer(t, Config{MaxObjectSize: 1 << 20}, nil)
	big := filepath.Join(testenv.Samples(t), "us/deid-data__GREYSCALE_CINE.dcm")
	small := filepath.Join(testenv.Samples(t), "us/pydicom-data__OBXXXX1A.dcm")
	report := filepath.Join(t.TempDir(), "report.txt")
	out, err := runTool(t, dcmsend, "-aec", "SONOLINK", "-v", "+crf", report, ts.host, ts.port, big, small)
	rep, _ := os.ReadFile(report)
	// dcmsend exits 0 even when an instance is refused; its report tells.
	if err != nil {
		t.Errorf("dcmsend: %v\n%s", err, out)
	}
	if !strings.Contains(string(rep), "with status REFUSED  : 1") || !strings.Contains(string(rep), "with status SUCCESS  : 1") {
		t.Errorf("dcmsend report should show one refused and one successful instance:\n%s", rep)
	}
	if !regexp.MustCompile(`(?i)0xa700|out ?of ?resources`).Match(append([]byte(out), rep...)) {
		t.Errorf("dcmsend does not show A700:\n%s\n%s", out, rep)
	}
	if ts.h.count() != 1 {
		t.Errorf("handler saw %d objects, want only the small one", ts.h.count())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mustf(t, Echo(ctx, ts.addr, "X", "SONOLINK"), "echo afterwards")
}
