package retention

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/internal/testdicom"
	"sonolink/settings"
	"sonolink/share"
	"sonolink/store"
)

const day = 24 * time.Hour

// clock is the test's clock for share and retention.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a data directory with a store and a share service.
type env struct {
	t     *testing.T
	dir   string
	clock *clock
	store *store.Store
	share *share.Service
	busy  map[string]string
	disk  Disk
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: time.Now()}, busy: map[string]string{}}
	e.open()
	return e
}

func (e *env) open() {
	t := e.t
	var err error
	if e.store, err = store.Open(e.dir, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	if e.share, err = share.Open(e.dir, share.Options{Now: e.clock.Now, NoWorker: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
}

func (e *env) close() {
	if e.share != nil {
		e.share.Close()
		e.store.Close()
		e.share, e.store = nil, nil
	}
}

// settle reopens the databases: the store's markers of objects just
// stored (which make a study busy for up to a second) are flushed.
func (e *env) settle() {
	e.close()
	e.open()
}

func (e *env) retention() *Retention {
	return New(Config{Store: e.store, Share: e.share, Now: e.clock.Now, Disk: e.disk,
		Busy: func(uid string) string { return e.busy[uid] }})
}

// study stores n small objects of a study with identifying patient data.
func (e *env) study(uid string, n int) {
	for i := range n {
		b := testdicom.Bytes(testdicom.Spec{SOPUID: uid + "." + string(rune('1'+i)), StudyUID: uid, SeriesUID: uid + ".0",
			PatientName: "Secret^Name" + uid, PatientID: "PID" + uid, AccessionNumber: "ACC" + uid, StudyDate: "20260101",
			InstanceNumber: i + 1, Rows: 2, Columns: 4})
		p := filepath.Join(e.store.SpoolDir(), "t.dcm")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			e.t.Fatal(err)
		}
		res, err := e.store.Ingest(p, store.Source{})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.store.PutDerived(res.Instance.SOPInstanceUID, store.DeidName, func(w io.Writer) error {
			_, err := w.Write([]byte("copy"))
			return err
		}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// link issues a link to a study and returns its ID and token.
func (e *env) link(uid string) (string, string) {
	l, url, err := e.share.Create(context.Background(), share.CreateRequest{StudyUID: uid, Emails: []string{"pat@example.com"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.ID, url[strings.LastIndex(url, "/p/")+3:]
}

func (e *env) set(key, value string) {
	if err := e.share.UpdateSetting(key, value); err != nil {
		e.t.Fatal(err)
	}
}

func uids(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.StudyUID)
	}
	slices.Sort(out)
	return out
}

// The eligibility rules: a live link keeps a study, an ended link keeps it
// retention.after_link longer, an unshared study goes after
// retention.unshared, and busy studies (being received or processed, a
// commitment pending) stay whatever their age. The dry run lists exactly
// what the real run then purges; purged studies are gone with their
// files, links and tokens, and audited without patient data.
func TestEligibility(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, uid := range []string{"1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"} {
		e.study(uid, 2)
	}
	e.link("1.2")                  // expires at +90d
	revoked, tokC := e.link("1.3") // revoked at once
	if _, err := e.share.Revoke(ctx, revoked, "wrong", "tech"); err != nil {
		t.Fatal(err)
	}
	_, tokB := e.link("1.2")
	e.clock.Add(150 * day)
	e.link("1.1") // live until +240d
	lateRevoked, _ := e.link("1.7")
	e.clock.Add(40 * day)
	if _, err := e.share.Revoke(ctx, lateRevoked, "done", "tech"); err != nil { // 10 days before the pass
		t.Fatal(err)
	}
	e.clock.Add(10 * day) // now +200d
	e.busy["1.5"] = "being received or processed"
	e.busy["1.6"] = "storage commitment pending"
	// 1.4: never shared, last object 200 days ago.
	e.settle()

	r := e.retention()
	dry, err := r.Purge(ctx, true, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.2", "1.3", "1.4"}
	if got := uids(dry.Items); !slices.Equal(got, want) {
		t.Fatalf("dry run lists %v, want %v (report %+v)", got, want, dry)
	}
	if dry.Kept["live-link"] != 1 || dry.Kept["busy"] != 2 || dry.Kept["recent"] != 1 {
		t.Errorf("kept: %v", dry.Kept)
	}
	reasons := map[string]string{}
	for _, it := range dry.Items {
		reasons[it.StudyUID] = it.Reason
		if it.Objects != 2 || it.Bytes <= 0 || it.Purged || it.Why == "" {
			t.Errorf("dry item %+v", it)
		}
	}
	if reasons["1.2"] != ReasonLinkEnded || reasons["1.3"] != ReasonLinkEnded || reasons["1.4"] != ReasonUnshared {
		t.Errorf("reasons %v", reasons)
	}
	for _, uid := range want {
		if _, err := e.store.Study(uid); err != nil {
			t.Errorf("dry run removed %s: %v", uid, err)
		}
	}

	real, err := r.Purge(ctx, false, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	if got := uids(real.Items); !slices.Equal(got, want) || real.Purged != 3 || real.Objects != 6 {
		t.Fatalf("real run: %v, purged %d, objects %d", got, real.Purged, real.Objects)
	}
	for _, uid := range want {
		if _, err := e.store.Study(uid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s still indexed: %v", uid, err)
		}
		if links, _ := e.share.StudyLinks(uid); len(links) != 0 {
			t.Errorf("%s keeps %d links", uid, len(links))
		}
	}
	for _, uid := range []string{"1.1", "1.5", "1.6", "1.7"} {
		if st, err := e.store.Study(uid); err != nil || st.NumInstances != 2 {
			t.Errorf("%s should be kept: %v", uid, err)
		}
	}
	for _, tok := range []string{tokB, tokC} {
		if _, err := e.share.Resolve(tok); !errors.Is(err, share.ErrNotFound) {
			t.Errorf("old link after purge: %v", err)
		}
	}
	if n := countFiles(t, filepath.Join(e.dir, "objects")); n != 8 {
		t.Errorf("%d object files left, want 8 (4 studies kept)", n)
	}
	if n := countDirs(t, filepath.Join(e.dir, "derived")); n != 8 {
		t.Errorf("%d derived directories left, want 8", n)
	}
	checkAudit(t, e.share, want, "cli:test")
	// Nothing more to do.
	if again, err := r.Purge(ctx, false, "retention"); err != nil || len(again.Items) != 0 {
		t.Errorf("second pass: %+v %v", again, err)
	}
}

// checkAudit finds one purge entry per study, with no patient data.
func checkAudit(t *testing.T, s *share.Service, studies []string, actor string) {
	t.Helper()
	ev, err := s.Audit(share.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range ev {
		if e.Type != share.EventStudyPurged {
			continue
		}
		n[e.StudyUID]++
		raw, _ := json.Marshal(e)
		for _, phi := range []string{"Secret", "PID", "ACC", "pat@", "p•"} {
			if strings.Contains(string(raw), phi) {
				t.Errorf("audit entry carries patient data (%s): %s", phi, raw)
			}
		}
		if e.Actor != actor || !strings.Contains(e.Detail, "objects") {
			t.Errorf("audit entry %s", raw)
		}
	}
	for _, uid := range studies {
		if n[uid] != 1 {
			t.Errorf("study %s has %d purge entries, want 1", uid, n[uid])
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func countDirs(t *testing.T, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A crash after a study left the index (injected failure) leaves it
// invisible; after a restart Resume removes its files and tokens and
// audits it once.
func TestCrashMidPurge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.study("2.1", 3)
	e.study("2.2", 1)
	_, tok := e.link("2.1")
	e.settle()
	e.clock.Add(200 * day)
	r := e.retention()
	r.cfg.afterMark = func(uid string) error { return errors.New("injected crash") }
	rep, err := r.Purge(ctx, false, "retention")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Purged != 0 || len(rep.Items) != 2 || rep.Items[0].Error == "" {
		t.Fatalf("report: %+v", rep)
	}
	e.close()

	e.open()
	for _, uid := range []string{"2.1", "2.2"} {
		if _, err := e.store.Study(uid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s visible after the crash: %v", uid, err)
		}
	}
	if got, _ := e.store.Studies(store.Query{}); len(got) != 0 {
		t.Errorf("search lists %d studies after the crash", len(got))
	}
	if n := countFiles(t, filepath.Join(e.dir, "objects")); n != 4 {
		t.Fatalf("%d object files before resume, want 4", n)
	}
	r = e.retention()
	n, err := r.Resume()
	if err != nil || n != 2 {
		t.Fatalf("Resume: %d %v", n, err)
	}
	if n := countFiles(t, filepath.Join(e.dir, "objects")); n != 0 {
		t.Errorf("%d object files after resume", n)
	}
	if n := countDirs(t, filepath.Join(e.dir, "derived")); n != 0 {
		t.Errorf("%d derived directories after resume", n)
	}
	if _, err := e.share.Resolve(tok); !errors.Is(err, share.ErrNotFound) {
		t.Errorf("old link after resume: %v", err)
	}
	if p, _ := e.store.PendingPurges(); len(p) != 0 {
		t.Errorf("pending purges left: %+v", p)
	}
	checkAudit(t, e.share, []string{"2.1", "2.2"}, "retention")
}

// fakeDisk reports a disk of total bytes whose free space is limit minus
// what the data directory's objects take.
type fakeDisk struct {
	total, limit uint64
}

func (d fakeDisk) Space(dir string) (uint64, uint64, error) {
	var used uint64
	_ = filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			if fi, err := de.Info(); err == nil {
				used += uint64(fi.Size())
			}
		}
		return nil
	})
	if used > d.limit {
		return 0, d.total, nil
	}
	return d.limit - used, d.total, nil
}

// Below the free-space floor the oldest studies that may go are purged
// before their time, as many as bring the free space back over the floor;
// a study with a live link never is.
func TestFreeFloor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.study("3.1", 1) // oldest, live link
	e.link("3.1")
	e.clock.Add(day)
	e.study("3.2", 1)
	e.clock.Add(day)
	e.study("3.3", 1)
	e.clock.Add(day)
	e.study("3.4", 1)
	e.settle()
	one, err := e.store.PurgeInfo("3.2")
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(one.Bytes)
	// Floor 10% of 100 objects' worth; free: a bit more than 8 objects'
	// worth: two studies must go.
	e.set(settings.KeyFreeFloor, "10%")
	e.disk = fakeDisk{total: 100 * size, limit: 4*size + 8*size + size/2}
	rep, err := e.retention().Purge(ctx, false, "retention")
	if err != nil {
		t.Fatal(err)
	}
	// Received at real times a few ms apart: the clock moved only for links.
	if got := uids(rep.Items); len(got) != 2 || slices.Contains(got, "3.1") {
		t.Fatalf("purged %v (report %+v)", got, rep)
	}
	for _, it := range rep.Items {
		if it.Reason != ReasonFreeSpace || !it.Purged {
			t.Errorf("item %+v", it)
		}
	}
	if _, err := e.store.Study("3.1"); err != nil {
		t.Errorf("the study with a live link went: %v", err)
	}
}

// Below the reserve Admit first purges what may go; when nothing may, it
// refuses with a DiskFullError and Health says why. Above, both are nil.
func TestAdmit(t *testing.T) {
	e := newEnv(t)
	e.study("4.1", 2) // unshared, may go for free space
	e.settle()
	info, err := e.store.PurgeInfo("4.1")
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(info.Bytes)
	e.set(settings.KeyStorageReserve, "1000B")
	e.set(settings.KeyFreeFloor, "off")
	// Free: 999+size once 4.1 is gone, 999 before.
	e.disk = fakeDisk{total: 1 << 40, limit: 999 + size}
	r := e.retention()
	if err := r.Health(); err == nil {
		t.Fatal("Health is nil below the reserve")
	}
	if err := r.Admit(); err != nil {
		t.Fatalf("Admit after a purge pass freed enough: %v", err)
	}
	if _, err := e.store.Study("4.1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the purge pass kept 4.1: %v", err)
	}
	if err := r.Health(); err != nil {
		t.Errorf("Health: %v", err)
	}
	// Now a study with a live link and a disk short of space.
	e.study("4.2", 1)
	e.link("4.2")
	e.settle()
	e.disk = fakeDisk{total: 1 << 40, limit: 500}
	r = e.retention()
	err = r.Admit()
	var df *DiskFullError
	if !errors.As(err, &df) || !errors.Is(err, ErrDiskFull) || df.Reserve != 1000 {
		t.Fatalf("Admit on a full disk: %v", err)
	}
	if err := r.Health(); err == nil || !strings.Contains(err.Error(), "reserve") {
		t.Errorf("Health on a full disk: %v", err)
	}
	if _, err := e.store.Study("4.2"); err != nil {
		t.Errorf("a study with a live link went: %v", err)
	}
	// The reserve off: nothing is refused.
	e.set(settings.KeyStorageReserve, "off")
	time.Sleep(settingsAge + 50*time.Millisecond)
	if err := r.Admit(); err != nil {
		t.Errorf("reserve off: %v", err)
	}
}
