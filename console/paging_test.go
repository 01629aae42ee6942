package console

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sonolink/internal/testdicom"
	"sonolink/store"
)

// TestStudiesPaging: more studies than a page holds are listed a hundred
// at a time, newest arrival first, with Older and Newer links that keep
// the search (it stays in the session, not in the URL).
func TestStudiesPaging(t *testing.T) {
	const extra = 205
	f := newFixtureWith(t, 1, func(st *store.Store) {
		for i := 1; i <= extra; i++ {
			sp := testdicom.Spec{PatientName: fmt.Sprintf("Paging^P%03d", i), PatientID: fmt.Sprintf("PG%d", i),
				StudyUID: fmt.Sprintf("1.9.%d", i), SeriesUID: fmt.Sprintf("1.9.%d.1", i), SOPUID: fmt.Sprintf("1.9.%d.1.1", i),
				InstanceNumber: 1, StudyDate: "20261115", SeriesNumber: "1"}
			p := filepath.Join(st.SpoolDir(), fmt.Sprintf("pg%d.dcm", i))
			testdicom.WriteFile(t, p, sp)
			if _, err := st.Ingest(p, store.Source{CalledAET: "SONOLINK"}); err != nil {
				t.Fatal(err)
			}
		}
	}, nil)
	const client = "10.0.0.1"
	cookie, csrf := f.login("tech", techPW, client)
	row := regexp.MustCompile(`<tr>\s*<td><a href="/study/[^"]+">([^<]+)</a>`)
	page := func(path string) (names []string, body string) {
		t.Helper()
		w := f.do("GET", path, client, cookie, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, w.Code)
		}
		body = html.UnescapeString(w.Body.String())
		for _, m := range row.FindAllStringSubmatch(body, -1) {
			names = append(names, m[1])
		}
		return names, body
	}

	// Everything: 3 fixture studies and 205 more, the newest first.
	seen := map[string]bool{}
	var order []string
	for p, want := range []int{100, 100, 8} {
		names, body := page(fmt.Sprintf("/studies?page=%d", p+1))
		if len(names) != want {
			t.Fatalf("page %d has %d studies, want %d", p+1, len(names), want)
		}
		if hasNext := strings.Contains(body, fmt.Sprintf(`href="/studies?page=%d"`, p+2)); hasNext != (p < 2) {
			t.Errorf("page %d: next link %v", p+1, hasNext)
		}
		if hasPrev := p > 0 && strings.Contains(body, fmt.Sprintf(`href="/studies?page=%d"`, p)); hasPrev != (p > 0) {
			t.Errorf("page %d: previous link %v", p+1, hasPrev)
		}
		if !strings.Contains(body, fmt.Sprintf("Studies %d–%d", p*100+1, p*100+want)) {
			t.Errorf("page %d does not say which studies it shows", p+1)
		}
		for _, n := range names {
			if seen[n] {
				t.Errorf("%s on two pages", n)
			}
			seen[n] = true
		}
		order = append(order, names...)
	}
	if order[0] != "Paging, P205" || order[extra-1] != "Paging, P001" {
		t.Errorf("not newest arrival first: %s … %s", order[0], order[extra-1])
	}

	// A search pages too, and the next page keeps it.
	if w := f.do("POST", "/studies", client, cookie, url.Values{"csrf": {csrf}, "q": {"paging"}}); w.Code != http.StatusSeeOther {
		t.Fatalf("search: %d", w.Code)
	}
	total := 0
	for p := 1; p <= 3; p++ {
		names, _ := page(fmt.Sprintf("/studies?page=%d", p))
		for _, n := range names {
			if !strings.HasPrefix(n, "Paging, ") {
				t.Errorf("page %d of the search shows %s", p, n)
			}
		}
		total += len(names)
	}
	if total != extra {
		t.Errorf("the search's pages show %d studies, want %d", total, extra)
	}
}
