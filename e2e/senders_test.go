package e2e

// Issue 13's first "Must show": every sample DCMTK can read is stored with
// Success when sent by DCMTK's dcmsend and by three independent senders, and
// what is stored equals what was sent.
//
// The senders and how each one's Success is read:
//   - dcmsend -nh (DCMTK): its report file counts the successes.
//   - Orthanc as an SCU (Debian orthanc): the samples are uploaded through its
//     REST API, then sent with POST /modalities/{id}/store; its answer counts
//     the instances sent and the failed ones.
//   - pixelmed's StorageSOPClassSCU (Debian libpixelmed-java), driven by a
//     small Java program (below) that prints the status pixelmed reports for
//     each file, because pixelmed's own main prints none and exits 0.
//   - CTN's send_image (Debian ctn): it prints each C-STORE response's status
//     after the name of the file it is sending.
//
// Stored content: the stored original and the sample must hold the same
// data elements after the file meta group, compared by decoded value at
// every depth (ingestCompare: trailing padding, group lengths and Data Set
// Trailing Padding ignored). None of the senders decompresses or compresses
// a sample: each proposes the file's own transfer syntax, so encapsulated
// pixel data is compared fragment by fragment. dcmsend, CTN and pixelmed
// also propose Explicit VR Little Endian for an Implicit VR or Big Endian
// file and sonolink takes it (the first proposed it can decode), so those
// samples arrive re-encoded: their values are compared decoded, and native
// pixel data byte for byte after byte-order normalisation. The test logs
// which samples were re-encoded by each sender.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
	"sonolink/store"
)

// sendersReadable is every sample of the groups a modality sends that
// dcmdump reads without error (fodicom GH364, with a wrong meta group
// length and a stray item, is the one it does not).
func sendersReadable(t *testing.T) []string {
	t.Helper()
	dcmdump := testenv.Tool(t, "dcmdump")
	var out, unreadable []string
	for _, f := range testenv.SampleFiles(t, "us", "sr", "pdf", "sc", "charset") {
		if err := exec.Command(dcmdump, "-q", f).Run(); err != nil {
			unreadable = append(unreadable, filepath.Base(f))
			continue
		}
		out = append(out, f)
	}
	t.Logf("%d samples DCMTK reads; not read: %v", len(out), unreadable)
	return out
}

// sendersByTransferSyntax groups files by their transfer syntax, in a
// stable order (the syntaxes sorted, the files in their given order).
func sendersByTransferSyntax(t *testing.T, files []string) [][]string {
	t.Helper()
	groups := map[string][]string{}
	for _, f := range files {
		ts := ingestHeader(t, f).ts
		groups[ts] = append(groups[ts], f)
	}
	var out [][]string
	for _, ts := range slices.Sorted(func(yield func(string) bool) {
		for k := range groups {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, groups[ts])
	}
	return out
}

// sendersRun runs a sender with a time limit and returns its combined
// output.
func sendersRun(t *testing.T, stdin io.Reader, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s still running after 2 minutes", filepath.Base(name))
	}
}

// A sender sends files to n and returns, for each file, whether the sender
// reports it stored with Success; out is the sender's output for the
// failure message.
type sender struct {
	name string
	send func(t *testing.T, n *ingestNode, files []string) (ok map[string]bool, out string)
}

var senders = []sender{
	{"dcmsend", sendDcmsend},
	{"orthanc", sendOrthanc},
	{"pixelmed", sendPixelmed},
	{"ctn", sendCTN},
}

// dcmsend -nh (no halt on an unsuccessful store), one association, each
// file as it is held (-dn: no decompression offered).
func sendDcmsend(t *testing.T, n *ingestNode, files []string) (map[string]bool, string) {
	report := filepath.Join(t.TempDir(), "report.txt")
	args := append([]string{"-aet", "MODALITY", "-aec", "SONOLINK", "-nh", "-dn", "+crf", report, n.host, n.port}, files...)
	out, err := ingestTool(t, "dcmsend", args...)
	rep, _ := os.ReadFile(report)
	out = fmt.Sprintf("exit: %v\n%s\nreport:\n%s", err, out, rep)
	// The report lists each file ("Filename : ...") with its status
	// ("DIMSE Status : 0x0000 (Success)").
	ok := map[string]bool{}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(rep))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch strings.TrimSpace(k) {
		case "Filename":
			cur = strings.TrimSpace(v)
		case "DIMSE Status":
			ok[cur] = err == nil && strings.TrimSpace(v) == "0x0000 (Success)"
		}
	}
	return ok, out
}

// Orthanc stores each sample through its REST API, then sends them to
// sonolink in one C-STORE job (one association). Two pairs of samples share
// a SOP Instance UID, and Orthanc keeps one instance per UID, so files are
// sent in rounds of distinct UIDs, the instances of a round deleted from
// Orthanc before the next is uploaded.
func sendOrthanc(t *testing.T, n *ingestNode, files []string) (map[string]bool, string) {
	o := startOrthanc(t, shareE2EFreeAddr(t), n.addr())
	var rounds [][]string
	seen := []map[string]bool{}
	for _, f := range files {
		sop := ingestHeader(t, f).sop
		i := 0
		for i < len(rounds) && seen[i][sop] {
			i++
		}
		if i == len(rounds) {
			rounds, seen = append(rounds, nil), append(seen, map[string]bool{})
		}
		rounds[i], seen[i][sop] = append(rounds[i], f), true
	}
	ok := map[string]bool{}
	var log strings.Builder
	for _, round := range rounds {
		var ids []string
		for _, f := range round {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var up struct{ ID, Status string }
			code, body := sendersHTTP(t, "POST", o.url+"/instances", b)
			if code != 200 || json.Unmarshal(body, &up) != nil || up.Status != "Success" {
				t.Fatalf("uploading %s to Orthanc: %d %s", filepath.Base(f), code, body)
			}
			ids = append(ids, up.ID)
		}
		req, _ := json.Marshal(map[string]any{"Resources": ids, "Synchronous": true})
		code, body := sendersHTTP(t, "POST", o.url+"/modalities/sonolink/store", req)
		fmt.Fprintf(&log, "store of %d instances: %d %s\n", len(ids), code, body)
		var res struct{ InstancesCount, FailedInstancesCount int }
		if code == 200 && json.Unmarshal(body, &res) == nil && res.FailedInstancesCount == 0 && res.InstancesCount == len(ids) {
			for _, f := range round {
				ok[f] = true
			}
		}
		for _, id := range ids {
			sendersHTTP(t, "DELETE", o.url+"/instances/"+id, nil)
		}
	}
	return ok, log.String() + "Orthanc's log:\n" + o.log.String()
}

func sendersHTTP(t *testing.T, method, url string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// pixelmedSend drives pixelmed's StorageSOPClassSCU: arguments are host,
// port, called and calling AE title, then files, "--" ending one
// association's set. It prints "STORED file" or "FAILED file" as pixelmed
// reports each C-STORE response.
const pixelmedSend = `import com.pixelmed.dicom.SetOfDicomFiles;
import com.pixelmed.network.MultipleInstanceTransferStatusHandlerWithFileName;
import com.pixelmed.network.StorageSOPClassSCU;

public class PixelmedSend {
    public static void main(String[] args) throws Exception {
        MultipleInstanceTransferStatusHandlerWithFileName report = new MultipleInstanceTransferStatusHandlerWithFileName() {
            public void updateStatus(int remaining, int completed, int failed, int warning, String sop, String file, boolean ok) {
                System.out.println((ok ? "STORED " : "FAILED ") + file);
            }
        };
        SetOfDicomFiles set = new SetOfDicomFiles();
        for (int i = 4; i <= args.length; i++) {
            if (i < args.length && !args[i].equals("--")) {
                set.add(args[i]);
                continue;
            }
            if (!set.isEmpty()) {
                new StorageSOPClassSCU(args[0], Integer.parseInt(args[1]), args[2], args[3], set, 0, report, null, 0);
            }
            set = new SetOfDicomFiles();
        }
    }
}
`

// pixelmed, one association per transfer syntax: given files of several
// syntaxes in one set it proposes a context per syntax and class, then
// picks a context for a file by class alone, so an uncompressed image went
// out on the JPEG 2000 context still native (sonolink refused it, C000:
// pixel data does not match the transfer syntax) and pixelmed aborted.
func sendPixelmed(t *testing.T, n *ingestNode, files []string) (map[string]bool, string) {
	java := testenv.Tool(t, "java")
	// java runs the program from source with the JDK's compiler.
	testenv.Tool(t, "javac")
	// Where Debian's libpixelmed-java puts it.
	const jar = "/usr/share/java/pixelmed.jar"
	if _, err := os.Stat(jar); err != nil {
		testenv.Tool(t, "pixelmed.jar (libpixelmed-java)")
	}
	src := filepath.Join(t.TempDir(), "PixelmedSend.java")
	if err := os.WriteFile(src, []byte(pixelmedSend), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-cp", jar, src, n.host, n.port, "SONOLINK", "MODALITY"}
	for _, g := range sendersByTransferSyntax(t, files) {
		args = append(append(args, g...), "--")
	}
	out, err := sendersRun(t, nil, java, args...)
	ok := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f, found := strings.CutPrefix(sc.Text(), "STORED "); found && err == nil {
			ok[f] = true
		}
	}
	return ok, fmt.Sprintf("exit: %v\n%s", err, out)
}

// CTN's send_image, one run per transfer syntax: within a run it keeps an
// association while the SOP class stays the same and sends the next file on
// it whatever its syntax (a native image went out on a JPEG 2000 context).
// -Z reads files whose VRs differ from CTN's dictionary (an AE-typed
// element in the deid samples), -r stops at a failure status.
func sendCTN(t *testing.T, n *ingestNode, files []string) (map[string]bool, string) {
	bin := testenv.Tool(t, "send_image")
	ok := map[string]bool{}
	var all strings.Builder
	for _, g := range sendersByTransferSyntax(t, files) {
		out, err := sendersRun(t, nil, bin, append([]string{"-Z", "-r", "-a", "MODALITY", "-c", "SONOLINK", n.host, n.port}, g...)...)
		fmt.Fprintf(&all, "exit: %v\n%s\n", err, out)
		// The name of each file, then its responses, each with a
		// "Status: XXXX" line.
		statuses := map[string][]string{}
		cur := ""
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if slices.Contains(g, line) {
				cur = line
			} else if s, found := strings.CutPrefix(line, "Status:"); found && cur != "" {
				statuses[cur] = append(statuses[cur], strings.Fields(s)[0])
			}
		}
		for _, f := range g {
			st := statuses[f]
			ok[f] = err == nil && len(st) > 0 && !slices.ContainsFunc(st, func(s string) bool { return s != "0000" })
		}
	}
	return ok, all.String()
}

func TestE2ESendersStoreEverySample(t *testing.T) {
	testenv.Long(t, "end-to-end scenario with four DICOM senders")
	t.Parallel()
	files := sendersReadable(t)
	for _, s := range senders {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			log := &shareE2ELog{}
			n := ingestStart(t, shortTempDir(t), log)
			start := time.Now()
			ok, out := s.send(t, n, files)
			var failed []string
			for _, f := range files {
				if !ok[f] {
					failed = append(failed, filepath.Base(f))
				}
			}
			if len(failed) > 0 {
				t.Errorf("%s did not report Success for %d of %d samples: %v\n%s", s.name, len(failed), len(files), failed, out)
			}
			t.Logf("%s sent %d samples in %v", s.name, len(files)-len(failed), time.Since(start).Round(time.Millisecond))
			n.stop()
			st := ingestOpenStore(t, n.dataDir)
			ingestVerify(t, st, files)
			// Which comparison applied: a sample stored in another
			// transfer syntax than its file's was re-encoded by the sender.
			// (Two samples sharing a SOP Instance UID are two versions.)
			var reencoded []string
			for _, f := range files {
				h := ingestHeader(t, f)
				in, err := st.Instance(h.sop)
				if err != nil {
					continue // ingestVerify said so
				}
				cv, _ := st.ConflictVersions(h.sop)
				var stored []string
				for _, v := range append([]store.Instance{*in}, cv...) {
					stored = append(stored, v.TransferSyntax)
				}
				if !slices.Contains(stored, h.ts) {
					reencoded = append(reencoded, fmt.Sprintf("%s (%s as %s)", filepath.Base(f), h.ts, strings.Join(stored, "/")))
				}
			}
			t.Logf("%s: %d samples stored in the syntax they were held in; re-encoded by the sender: %v", s.name, len(files)-len(reencoded), reencoded)
			all := ingestAllInstances(t, st)
			ingestCheckFiles(t, st, all)
			if len(all) != len(files) {
				t.Errorf("index holds %d versions for %d samples", len(all), len(files))
			}
			if t.Failed() {
				t.Logf("sonolink's log:\n%s", log)
			}
			ingestNoPHI(t, log)
		})
	}
}
