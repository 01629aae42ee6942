package store

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// TestCrashChild is the helper process of TestKill9: it ingests objects in
// a loop and prints "ACK <uid> <hash>" only after Ingest returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SONOLINK_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process of TestKill9 (runs only when SONOLINK_CRASH_DIR is set)")
	}
	round, _ := strconv.Atoi(os.Getenv("SONOLINK_CRASH_ROUND"))
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	rng := rand.New(rand.NewSource(int64(round)))
	var sent []obj
	for i := 0; ; i++ {
		o := obj{SOP: fmt.Sprintf("8.%d.%d", round, i), Study: fmt.Sprintf("8.%d", round%3), Series: fmt.Sprintf("8.%d.0", round),
			Name: "Crash^Test", Pixels: 20_000 + rng.Intn(300_000), Fill: byte(i), InstNo: i + 1}
		if len(sent) > 0 && rng.Intn(5) == 0 {
			o = sent[rng.Intn(len(sent))] // a re-send: must stay a duplicate
		} else {
			sent = append(sent, o)
		}
		p := spool(t, s, o.bytes())
		res, err := s.Ingest(p, Source{AssociationID: "crash"})
		if err != nil {
			fmt.Fprintln(os.Stderr, "ingest:", err)
			os.Exit(4)
		}
		// One write per line: a kill cannot split a line we then trust.
		os.Stdout.WriteString("ACK " + o.SOP + " " + res.Instance.Hash + "\n")
	}
}

// TestKill9 kills an ingesting process with SIGKILL at random moments, then
// checks that the reopened store holds everything acknowledged, that every
// indexed entry has its file with the indexed content, and that no
// temporary or spool files remain.
func TestKill9(t *testing.T) {
	testenv.Long(t, "kill -9 scenario over 16 child processes")
	dir := t.TempDir()
	acked := map[string]string{} // SOP UID → hash
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const rounds = 16
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SONOLINK_CRASH_DIR="+dir, "SONOLINK_CRASH_ROUND="+strconv.Itoa(round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		n := 0
		record := func(l string) {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "ACK" {
				if h, ok := acked[f[1]]; ok && h != f[2] {
					t.Errorf("round %d: %s acknowledged with two hashes", round, f[1])
				}
				acked[f[1]] = f[2]
				n++
			}
		}
		// Odd rounds: kill at a random moment from the start (possibly
		// during Open's recovery). Even rounds: after a few
		// acknowledgements, at a random moment.
		deadline := time.After(time.Duration(20+rng.Intn(300)) * time.Millisecond)
		if round%2 == 0 {
			want := 1 + rng.Intn(10)
			timeout := time.After(20 * time.Second)
		wait:
			for n < want {
				select {
				case l, ok := <-lines:
					if !ok {
						break wait
					}
					record(l)
				case <-timeout:
					t.Fatalf("round %d: child made no progress; stderr: %s", round, stderr.String())
				}
			}
			deadline = time.After(time.Duration(rng.Intn(200)) * time.Millisecond)
		}
	run:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break run
				}
				record(l)
			case <-deadline:
				break run
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for l := range lines {
			record(l)
		}
		werr := cmd.Wait()
		if ee, ok := werr.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: child ended on its own (%v); stderr: %s", round, werr, stderr.String())
		}
		t.Logf("round %d: %d acknowledged (total %d)", round, n, len(acked))

		s, err := Open(dir, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		verifyConsistent(t, s, acked, fmt.Sprintf("round %d", round))
		s.Close()
	}
	if len(acked) < rounds {
		t.Errorf("only %d objects acknowledged in %d rounds: the test did not exercise much", len(acked), rounds)
	}
}

func verifyConsistent(t *testing.T, s *Store, acked map[string]string, where string) {
	t.Helper()
	t.Logf("%s: start-up check %+v", where, s.Recovery())
	// Open alone keeps every acknowledged object.
	for sop, h := range acked {
		inst, err := s.Instance(sop)
		if err != nil {
			t.Errorf("%s: acknowledged %s not indexed: %v", where, sop, err)
			continue
		}
		if inst.Hash != h {
			t.Errorf("%s: %s indexed with hash %s, acknowledged %s", where, sop, inst.Hash, h)
		}
	}
	// The scrub indexes what was renamed into place but never committed
	// (never acknowledged) and finds nothing wrong.
	r, err := s.Scrub(t.Context(), ScrubOptions{})
	if err != nil || r.Unreadable != 0 || r.Missing != 0 {
		t.Errorf("%s: scrub %+v %v", where, r, err)
	}
	t.Logf("%s: scrub %+v", where, r)
	studies, err := s.Studies(Query{})
	if err != nil {
		t.Fatal(err)
	}
	indexed := map[string]bool{}
	for _, st := range studies {
		insts, err := s.Instances(st.StudyUID)
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) != st.NumInstances {
			t.Errorf("%s: study %s lists %d instances, counts %d", where, st.ShortID, len(insts), st.NumInstances)
		}
		for i := range insts {
			in := &insts[i]
			indexed[in.File] = true
			if in.Missing {
				t.Errorf("%s: %s marked missing", where, in.SOPInstanceUID)
			}
			if _, err := os.Stat(s.ObjectPath(in)); err != nil {
				t.Errorf("%s: indexed %s has no file: %v", where, in.SOPInstanceUID, err)
				continue
			}
			if got := datasetHash(t, s.ObjectPath(in)); got != in.Hash {
				t.Errorf("%s: %s file content does not match its index entry", where, in.SOPInstanceUID)
			}
			if in.Conflicts != 0 {
				t.Errorf("%s: %s has conflict versions after identical re-sends", where, in.SOPInstanceUID)
			}
		}
	}
	// Every file in objects/ is indexed, no temp files, empty spool.
	_ = filepath.WalkDir(filepath.Join(s.Dir(), objectsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(s.Dir(), p)
		if !indexed[filepath.ToSlash(rel)] {
			t.Errorf("%s: file %s is not indexed", where, rel)
		}
		return nil
	})
	if tf := tempFiles(t, s.Dir()); len(tf) != 0 {
		t.Errorf("%s: temporary files remain: %v", where, tf)
	}
	if n := dirEntries(t, s.SpoolDir()); n != 0 {
		t.Errorf("%s: %d spool files remain", where, n)
	}
}
