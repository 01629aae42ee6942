package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/internal/logid"
	"sonolink/internal/testenv"
	"sonolink/store"
)

// lockedBuffer is a log sink shared by the store, the share service and
// the pipeline.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// One grep for the study's log name finds the pipeline's "link issued" and
// the share service's "link created" and "message delivered": both name the
// study the same way, and neither logs its UID.
func TestOneStudyIDAcrossPipelineAndShare(t *testing.T) {
	dir := t.TempDir()
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	st, sh := openStoreShare(t, dir, log)

	data, err := os.ReadFile(filepath.Join(testenv.Samples(t), "us/debian-pydicom__ExplVR_BigEnd.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(st.SpoolDir(), "a.dcm")
	if err := os.WriteFile(spool, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := st.Ingest(spool, store.Source{CalledAET: "SONOLINK"})
	if err != nil {
		t.Fatal(err)
	}
	studyUID := res.Instance.StudyUID

	p, err := New(Config{Store: st, Share: sh, Secret: make([]byte, 32), StableTime: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p.tracker.arrived(studyUID, "assoc1", "SONOLINK", []string{"pat@example.com"}, time.Now())
	p.tracker.closed("assoc1", time.Now())
	time.Sleep(5 * time.Millisecond)
	for _, ps := range p.tracker.due(time.Now(), time.Millisecond) {
		p.studyComplete(context.Background(), ps)
	}
	if err := sh.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	buf.mu.Lock()
	out := buf.b.String()
	buf.mu.Unlock()
	if strings.Contains(out, studyUID) {
		t.Errorf("the log holds the Study Instance UID itself:\n%s", out)
	}
	want := logid.ID(studyUID)
	found := map[string]string{} // message → component
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["study"] == want {
			msg, _ := rec["msg"].(string)
			comp, _ := rec["component"].(string)
			found[msg] = comp
		}
	}
	for msg, comp := range map[string]string{
		"study complete; link issued": "pipeline",
		"link created":                "share",
		"message delivered":           "share",
	} {
		if got, ok := found[msg]; !ok || got != comp {
			t.Errorf("no %s line %q with study=%s; lines with it: %v\nlog:\n%s", comp, msg, want, found, out)
		}
	}
}
