package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/store"
)

// check exits 0 on a sound store, 1 when an entry has lost its file, and
// 2 when another process holds the data directory.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var insts []*store.Instance
	for _, sop := range []string{"1.2.3.1", "1.2.3.2"} {
		p := filepath.Join(s.SpoolDir(), sop+".dcm")
		testdicom.WriteFile(t, p, testdicom.Spec{SOPUID: sop, StudyUID: "1.2.3", SeriesUID: "1.2.3.0", PatientName: "A^B"})
		r, err := s.Ingest(p, store.Source{})
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, r.Instance)
	}

	check := func(args ...string) (string, int) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"check", "--data-dir", dir}, args...))
		err := root.Execute()
		var ec exitCoder
		switch {
		case err == nil:
			return out.String(), exitOK
		case errors.As(err, &ec):
			return out.String() + err.Error(), ec.ExitCode()
		}
		return out.String() + err.Error(), exitError
	}
	if out, code := check(); code != exitError || !bytes.Contains([]byte(out), []byte("stop serve or wait for the background scrub")) {
		t.Errorf("with the store open elsewhere: exit %d, %s", code, out)
	}
	s.Close()

	if out, code := check(); code != exitOK {
		t.Errorf("sound store: exit %d, %s", code, out)
	}
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(insts[1].File))); err != nil {
		t.Fatal(err)
	}
	out, code := check("--json")
	var rep checkReport
	if code != exitFailure || json.Unmarshal([]byte(out[:bytes.LastIndexByte([]byte(out), '}')+1]), &rep) != nil ||
		rep.Scrub.Missing != 1 || rep.Problems != 1 || rep.Scrub.Checked != 3 {
		t.Errorf("lost file: exit %d, %+v\n%s", code, rep, out)
	}
}
