package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sonolink/internal/testenv"
)

// BenchmarkConsoleStudyPage measures the staff console's page of one study
// of 30 objects (BenchmarkLanding's study: 27 images and three 60-frame
// loops, sent with dcmsend to `sonolink serve --staff-addr`), under 10
// concurrent staff members, each with their own session, for 10 s; and,
// side by side in the same run, the patient landing page of the same study
// under 10 concurrent returning patients, each with their own session. Both
// are the HTML alone (thumbnails are separate requests), fetched by the
// same Go client loop, so the ratio is meaningful on a busy machine.
func BenchmarkConsoleStudyPage(b *testing.B) {
	dcmsend := testenv.Tool(b, "dcmsend")
	dcmodify := testenv.Tool(b, "dcmodify")
	bin := buildSonolink(b)
	files, _ := landingStudy(b, dcmodify, 30)
	const staff = 10
	const dur = 10 * time.Second

	for i := 0; i < b.N; i++ {
		staffPort := freePort(b)
		node := shareStartServe(b, bin, "--stable-time", "1s", "--staff-addr", fmt.Sprintf("127.0.0.1:%d", staffPort))
		console := fmt.Sprintf("http://127.0.0.1:%d", staffPort)
		watch := shareWatchOutbox(filepath.Join(node.dir, "outbox"))
		shareSend(b, dcmsend, node.dicomPort, "LANDING", files)
		if !watch.waitFor(2, 60*time.Second) {
			b.Fatalf("no link message in the outbox after 60 s (%d files)", watch.count())
		}
		watch.stop()
		link := watch.first(regexp.MustCompile(regexp.QuoteMeta(node.base) + `/p/[A-Za-z0-9_\-]+`))
		if link == "" {
			b.Fatal("no link URL in the outbox messages")
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * staff}, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

		// Wait until every object is rendered, as the patient page shows it.
		patients := make([]string, staff)
		for k := range patients {
			patients[k] = landingSession(b, client, link)
		}
		deadline := time.Now().Add(5 * time.Minute)
		for {
			_, body := landingGet(b, client, link, patients[0])
			if strings.Count(body, `class="tile"`) >= len(files) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("objects not ready after 5 min")
			}
			time.Sleep(100 * time.Millisecond)
		}

		// Ten staff accounts, each logged in once.
		sessions := make([]string, staff)
		for k := range sessions {
			name := fmt.Sprintf("staff%d", k)
			cmd := exec.Command(bin, "staff", "add", name, "--data-dir", node.dir)
			cmd.Stdin = strings.NewReader("bench-password-" + name + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("staff add: %v\n%s", err, out)
			}
			sessions[k] = consoleLogin(b, client, console, name, "bench-password-"+name)
		}
		_, list := landingGet(b, client, console+"/studies", sessions[0])
		m := regexp.MustCompile(`href="(/study/[^"/]+)"`).FindStringSubmatch(list)
		if m == nil {
			b.Fatalf("no study on the console's studies page:\n%s", list)
		}
		studyPage := console + m[1]
		if _, body := landingGet(b, client, studyPage, sessions[0]); strings.Count(body, `/thumb/`) < 30 {
			b.Fatalf("the console's study page shows %d thumbnails, want 30", strings.Count(body, `/thumb/`))
		}

		// Alternated (ABBA…) for landingRounds rounds, each reporting its
		// median p99: one 10 s p99 on a shared machine moves with whatever
		// else runs.
		var cons, lands []consoleLatency
		for r := 0; r < landingRounds; r++ {
			if r%2 == 0 {
				cons = append(cons, consoleLoad(b, client, studyPage, sessions, dur))
				lands = append(lands, consoleLoad(b, client, link, patients, dur))
			} else {
				lands = append(lands, consoleLoad(b, client, link, patients, dur))
				cons = append(cons, consoleLoad(b, client, studyPage, sessions, dur))
			}
			b.Logf("round %d: console p99 %s, landing p99 %s", r+1, shareMS(cons[r].p99), shareMS(lands[r].p99))
		}
		con, land := consoleMedian(cons), consoleMedian(lands)
		b.ReportMetric(con.p99.Seconds()/land.p99.Seconds(), "console/landing-p99")
		b.ReportMetric(con.p50.Seconds()*1000, "console-p50-ms")
		b.ReportMetric(con.p99.Seconds()*1000, "console-p99-ms")
		b.ReportMetric(land.p50.Seconds()*1000, "landing-p50-ms")
		b.ReportMetric(land.p99.Seconds()*1000, "landing-p99-ms")
		node.stop()
		b.Logf("30-object study, %d concurrent clients each with their own session, %s each, same Go client, median of %d rounds:\n"+
			"                                   %9s %9s %9s %9s %9s\n"+
			"  console study page (staff)       %9s %9s %9s %9.0f %9d\n"+
			"  landing page (returning patient) %9s %9s %9s %9.0f %9d",
			staff, dur, landingRounds, "p50", "p90", "p99", "req/s", "requests",
			shareMS(con.p50), shareMS(con.p90), shareMS(con.p99), con.rps, con.n,
			shareMS(land.p50), shareMS(land.p90), shareMS(land.p99), land.rps, land.n)
	}
}

// consoleMedian is the round with the median p99.
func consoleMedian(ls []consoleLatency) consoleLatency {
	s := slices.Clone(ls)
	slices.SortFunc(s, func(a, b consoleLatency) int { return int(a.p99 - b.p99) })
	return s[len(s)/2]
}

// consoleLogin logs a staff member in and returns "name=value" of the
// session cookie.
func consoleLogin(b *testing.B, c *http.Client, console, name, pw string) string {
	req, _ := http.NewRequest("POST", console+"/login", strings.NewReader(url.Values{"name": {name}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", console)
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.Fatalf("console login %s: %s", name, res.Status)
	}
	for _, ck := range res.Cookies() {
		return ck.Name + "=" + ck.Value
	}
	b.Fatal("console login set no cookie")
	return ""
}

type consoleLatency struct {
	p50, p90, p99 time.Duration
	rps           float64
	n             int
}

// consoleLoad GETs u from len(cookies) goroutines, each with its own
// session, back to back for d, and returns the latency distribution.
func consoleLoad(b *testing.B, c *http.Client, u string, cookies []string, d time.Duration) consoleLatency {
	var mu sync.Mutex
	var all []time.Duration
	var failed int
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, ck := range cookies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Cookie", ck)
				t0 := time.Now()
				res, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s", res.Status)
					}
				}
				if err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if failed > 0 {
		b.Errorf("%s: %d failed requests", u, failed)
	}
	if len(all) == 0 {
		b.Fatalf("%s: no successful request", u)
	}
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	return consoleLatency{p50: q(.50), p90: q(.90), p99: q(.99), rps: float64(len(all)) / d.Seconds(), n: len(all)}
}
