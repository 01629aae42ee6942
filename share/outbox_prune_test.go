package share

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"sonolink/settings"
)

// Files of delivered messages leave the outbox directory once older than
// outbox.retention (30 days unless the clinic says otherwise); younger ones,
// and other directories' files, stay. The clock is the test's.
func TestPruneOutbox(t *testing.T) {
	s := open(t, t.TempDir(), newClock(), func(o *Options) { o.NoWorker = true })
	dir := s.OutboxDir()
	if err := os.MkdirAll(filepath.Join(dir, "keep"), 0o750); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	write := func(name string, age time.Duration) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("To: +46701234567\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	day := 24 * time.Hour
	write("M-old.eml", 31*day)
	write("M-old.sms", 30*day+time.Minute)
	write(".M-crashed-1.tmp", 40*day)
	write("M-week.eml", 8*day)
	write("M-new.sms", time.Hour)
	write("keep/M-nested.eml", 90*day)
	left := func() []string {
		var out []string
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}

	n, err := s.PruneOutbox(now)
	if err != nil || n != 3 {
		t.Fatalf("default retention: removed %d, %v; want 3", n, err)
	}
	if got, want := left(), []string{"M-new.sms", "M-week.eml", "keep"}; !slices.Equal(got, want) {
		t.Errorf("after 30 days: %v, want %v", got, want)
	}
	if err := s.UpdateSetting(settings.KeyOutboxRetention, "7d"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOutbox(now); err != nil || n != 1 {
		t.Fatalf("7d retention: removed %d, %v; want 1", n, err)
	}
	if got, want := left(), []string{"M-new.sms", "keep"}; !slices.Equal(got, want) {
		t.Errorf("after 7 days: %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep", "M-nested.eml")); err != nil {
		t.Errorf("a file in a subdirectory was touched: %v", err)
	}
}

// The outbox worker prunes when it starts, so a node that restarts daily
// still does.
func TestOutboxWorkerPrunes(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newClock(), func(o *Options) { o.NoWorker = true })
	old := filepath.Join(s.OutboxDir(), "M-old.eml")
	if err := os.MkdirAll(s.OutboxDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-45 * 24 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	s.Close()
	open(t, dir, newClock(), nil) // with its worker
	waitFor(t, "the old file to go", func() bool {
		_, err := os.Stat(old)
		return os.IsNotExist(err)
	})
}
