package bench

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/internal/testenv"
)

// BenchmarkIngest sends the same corpus of ultrasound studies with dcmsend to
// sonolink serve (fsync on), DCMTK storescp (no fsync) and Orthanc, one
// sender and four senders, and reports MB/s and objects/s for each (median
// of SONOLINK_BENCH_ROUNDS rounds, default 5). storescp is also timed up to
// an fsync of its files and up to a sync(2) after its last object.
//
// The targets (issue 13): with one sender, sonolink's time at most 1.1×
// storescp's up to the flush after its last object (same durability), that
// is a storescp+fsync-ratio (and storescp+sync-ratio) of at least 0.91;
// with four senders, at least as fast as storescp without any flush
// (storescp-ratio ≥ 1).
func BenchmarkIngest(b *testing.B) {
	dcmsend := testenv.Tool(b, "dcmsend")
	storescp := testenv.Tool(b, "storescp")
	orthanc := testenv.Tool(b, "Orthanc")
	sonolink := buildSonolink(b)
	corpus, bytes, files := ingestCorpus(b, 4)
	b.Logf("corpus: %d objects in %d studies, %.1f MB", files, len(corpus), float64(bytes)/1e6)

	var storescpDir string // the running storescp's output directory
	type peer struct {
		name  string
		start func(b *testing.B, port int) func()
		aet   string
	}
	peers := []peer{
		{"sonolink", func(b *testing.B, port int) func() {
			dir := b.TempDir()
			// Default settings (info logs, to a file), plus the retired US
			// classes some samples (and older machines) use.
			return startProc(b, port, sonolink, "serve", "--data-dir", dir, "--dicom-addr", fmt.Sprintf("127.0.0.1:%d", port),
				"--http-addr", "127.0.0.1:0", "--extra-sop-class", retiredUSClasses)
		}, "SONOLINK"},
		{"storescp", func(b *testing.B, port int) func() {
			dir := b.TempDir()
			storescpDir = dir
			// +xa: accept the compressed syntaxes of the corpus as sonolink
			// does; --fork: one process per association, so four senders run
			// in parallel. No fsync (storescp has none).
			return startProc(b, port, storescp, "--fork", "+xa", "-od", dir, "-aet", "STORESCP", strconv.Itoa(port))
		}, "STORESCP"},
		{"orthanc", func(b *testing.B, port int) func() {
			return startOrthanc(b, orthanc, port)
		}, "ORTHANC"},
	}
	// Rounds, each running every peer once in a rotating order; the
	// figures are medians, and the ratios are taken within each round, so a
	// slow minute of the machine does not favour one peer. Before each run
	// every dirty page of the machine is written out (sync), so sonolink's
	// fsyncs do not pay for the corpus just written or for the previous
	// peer's files.
	rounds := benchRounds()
	for _, senders := range []int{1, 4} {
		secs := map[string][]float64{}
		for r := 0; r < rounds; r++ {
			for i := range peers {
				p := peers[(i+r)%len(peers)]
				port := freePort(b)
				stop := p.start(b, port)
				syscall.Sync()
				start := time.Now()
				sendAll(b, dcmsend, port, p.aet, corpus, senders)
				secs[p.name] = append(secs[p.name], time.Since(start).Seconds())
				if p.name == "storescp" {
					// For reference: what putting storescp's files on disk
					// costs, once, after the last one (it never fsyncs):
					// first an fsync of just its files and directories, then
					// a sync(2) of the machine, which also writes whatever
					// else on the machine is dirty (other processes' files).
					fsyncTree(b, storescpDir)
					secs[storescpFsync] = append(secs[storescpFsync], time.Since(start).Seconds())
					syscall.Sync()
					secs[storescpSync] = append(secs[storescpSync], time.Since(start).Seconds())
				}
				stop()
			}
		}
		for _, name := range []string{"sonolink", "storescp", storescpFsync, storescpSync, "orthanc"} {
			med := median(secs[name])
			b.Run(fmt.Sprintf("%s/senders=%d", name, senders), func(b *testing.B) {
				b.ReportMetric(float64(bytes)/1e6/med, "MB/s")
				b.ReportMetric(float64(files)/med, "objects/s")
			})
		}
		// Side by side: sonolink's throughput over each peer's, per round;
		// the metrics are the medians of those ratios.
		b.Run(fmt.Sprintf("sonolink-vs/senders=%d", senders), func(b *testing.B) {
			for _, peer := range []string{"storescp", storescpFsync, storescpSync, "orthanc"} {
				var ratios []float64
				var text []string
				for r := range secs[peer] {
					ratios = append(ratios, secs[peer][r]/secs["sonolink"][r])
					text = append(text, fmt.Sprintf("%.2f", ratios[r]))
				}
				b.ReportMetric(median(ratios), peer+"-ratio")
				b.Logf("sonolink/%s throughput, %d rounds: %s", peer, rounds, strings.Join(text, " "))
			}
		})
	}
}

// storescpSync is storescp's run up to the end of a sync(2) after the last
// object: the price of durability put beside sonolink's, which fsyncs every
// object before answering it. On a shared machine the sync also writes
// other processes' dirty pages; storescpFsync does not.
const storescpSync = "storescp+sync"

// storescpFsync is storescp's run up to the end of an fsync of each file
// it wrote and of its directories, after the last object: the same
// durability as sonolink's, without the rest of the machine's dirty pages
// that a sync(2) writes too.
const storescpFsync = "storescp+fsync"

// fsyncTree fsyncs every file under dir, a few at a time so the disk sees
// them together as it would with one sync, then every directory.
func fsyncTree(b *testing.B, dir string) {
	var files, dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	syncAll := func(paths []string) {
		var wg sync.WaitGroup
		work := make(chan string)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for p := range work {
					f, err := os.Open(p)
					if err == nil {
						err = f.Sync()
						f.Close()
					}
					if err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for _, p := range paths {
			work <- p
		}
		close(work)
		wg.Wait()
	}
	syncAll(files)
	syncAll(dirs)
}

// benchRounds is SONOLINK_BENCH_ROUNDS, default 5.
func benchRounds() int {
	if v, err := strconv.Atoi(os.Getenv("SONOLINK_BENCH_ROUNDS")); err == nil && v > 0 {
		return v
	}
	return 5
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// retiredUSClasses are the retired US Image and US Multi-frame SOP classes;
// two samples of the corpus use the first.
const retiredUSClasses = "1.2.840.10008.5.1.4.1.1.6,1.2.840.10008.5.1.4.1.1.3"

// BenchmarkIngestPeakRSS reports how much sonolink's resident memory grows
// while it receives one 300 MB multi-frame object.
func BenchmarkIngestPeakRSS(b *testing.B) {
	dcmsend := testenv.Tool(b, "dcmsend")
	sonolink := buildSonolink(b)
	big := filepath.Join(b.TempDir(), "big.dcm")
	writeBigUS(b, big, 300<<20)
	for i := 0; i < b.N; i++ {
		port := freePort(b)
		dir := b.TempDir()
		cmd, stop := startProcCmd(b, port, sonolink, "serve", "--data-dir", dir, "--dicom-addr", fmt.Sprintf("127.0.0.1:%d", port),
			"--http-addr", "127.0.0.1:0", "--stable-time", "1h")
		time.Sleep(500 * time.Millisecond)
		idle := procStatusKB(b, cmd.Process.Pid, "VmRSS")
		sendAll(b, dcmsend, port, "SONOLINK", [][]string{{big}}, 1)
		peak := procStatusKB(b, cmd.Process.Pid, "VmHWM")
		stop()
		b.ReportMetric(float64(idle)/1024, "idle-MB")
		b.ReportMetric(float64(peak)/1024, "peak-MB")
		b.ReportMetric(float64(peak-idle)/1024, "peak-above-idle-MB")
	}
}

var buildOnce struct {
	sync.Once
	path string
	err  error
}

func buildSonolink(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sonolink-bench-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "sonolink")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "sonolink/cmd/sonolink").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		b.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// ingestCorpus makes n copies of the ultrasound samples, each copy a study
// of its own with fresh Study, Series and SOP Instance UIDs, and returns the
// files grouped by study.
func ingestCorpus(b *testing.B, n int) (studies [][]string, total int64, count int) {
	dcmodify := testenv.Tool(b, "dcmodify")
	var src []string
	for _, f := range testenv.SampleFiles(b, "us") {
		base := filepath.Base(f)
		// JPEG 2000 and JPEG-LS are not among the transfer syntaxes sonolink
		// accepts by default; the peers would be compared on different work.
		if strings.Contains(base, "J2K") || strings.Contains(base, "GH364") {
			continue
		}
		src = append(src, f)
	}
	root := b.TempDir()
	for s := 0; s < n; s++ {
		dir := filepath.Join(root, fmt.Sprintf("study%02d", s))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		var files []string
		for i, f := range src {
			dst := filepath.Join(dir, fmt.Sprintf("%03d.dcm", i))
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				b.Fatal(err)
			}
			files = append(files, dst)
			total += int64(len(data))
		}
		args := append([]string{"-nb", "-q", "-m", "(0020,000D)=" + randomUID(), "-gse", "-gin"}, files...)
		if out, err := exec.Command(dcmodify, args...).CombinedOutput(); err != nil {
			b.Fatalf("dcmodify: %v\n%s", err, out)
		}
		studies = append(studies, files)
		count += len(files)
	}
	return studies, total, count
}

func randomUID() string {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return "2.25." + n.String()
}

// sendAll sends every study with dcmsend, spreading studies over senders
// concurrent dcmsend processes, and fails on any unsuccessful transfer.
func sendAll(b *testing.B, dcmsend string, port int, aet string, studies [][]string, senders int) {
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	dir := b.TempDir()
	for s := 0; s < senders; s++ {
		var files []string
		for i := s; i < len(studies); i += senders {
			files = append(files, studies[i]...)
		}
		if len(files) == 0 {
			continue
		}
		wg.Add(1)
		go func(s int, files []string) {
			defer wg.Done()
			// dcmsend exits 0 even when the peer refuses an object: count
			// the successes in its report.
			report := filepath.Join(dir, fmt.Sprintf("report%d.txt", s))
			args := append([]string{"-q", "-aec", aet, "-aet", "BENCH", "+crf", report, "127.0.0.1", strconv.Itoa(port)}, files...)
			cmd := exec.Command(dcmsend, args...)
			cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("dcmsend: %v\n%s", err, out)
				return
			}
			rep, _ := os.ReadFile(report)
			if m := successRE.FindSubmatch(rep); m == nil || string(m[1]) != strconv.Itoa(len(files)) {
				errs <- fmt.Errorf("dcmsend: not every one of %d objects was stored with success:\n%s", len(files), rep)
			}
		}(s, files)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

var successRE = regexp.MustCompile(`with status SUCCESS\s*:\s*(\d+)`)

func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startProc(b *testing.B, port int, name string, args ...string) func() {
	_, stop := startProcCmd(b, port, name, args...)
	return stop
}

// startProcCmd starts a DICOM peer and waits until its port accepts. Its
// output goes to a file (kept out of the benchmark output); DCMTK peers get
// TCP_NODELAY=1 like the senders, or Nagle's algorithm delays each response.
func startProcCmd(b *testing.B, port int, name string, args ...string) (*exec.Cmd, func()) {
	cmd := exec.Command(name, args...)
	logf, err := os.Create(filepath.Join(b.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
	}
	// A failing benchmark (b.Fatal) must not leave the peer running.
	b.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return cmd, stop
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("%s did not listen on %d", filepath.Base(name), port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startOrthanc(b *testing.B, orthanc string, port int) func() {
	dir := b.TempDir()
	httpPort := freePort(b)
	cfg := map[string]any{
		"Name": "bench", "StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"DicomAet": "ORTHANC", "DicomPort": port, "HttpPort": httpPort, "HttpServerEnabled": true,
		"RemoteAccessAllowed": false, "AuthenticationEnabled": false, "DicomCheckCalledAet": false,
		"Plugins": []string{}, "StorageCompression": false, "ConcurrentJobs": 2,
		"DicomThreadsCount": 4,
	}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	stop := startProc(b, port, orthanc, "--logdir="+dir, path)
	// Orthanc opens its DICOM port before it is fully ready on slow starts.
	for i := 0; i < 50; i++ {
		if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/system", httpPort)); err == nil {
			r.Body.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return stop
}

func procStatusKB(b *testing.B, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == field {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// writeBigUS writes an Explicit VR Little Endian Ultrasound Multi-frame
// object of about size bytes (8-bit gray 800×600 frames); testdicom streams
// the pixel data so the benchmark itself stays small.
func writeBigUS(b *testing.B, path string, size int64) {
	const rows, cols = 600, 800
	testdicom.WriteFile(b, path, testdicom.Spec{SOPClassUID: "1.2.840.10008.5.1.4.1.1.3.1",
		SOPUID: randomUID(), StudyUID: randomUID(), SeriesUID: randomUID(), PatientName: "BENCH^BIG", PatientID: "BIG1",
		Rows: rows, Columns: cols, Frames: int(size / (rows * cols)), FrameTimeMS: 33.3})
}
