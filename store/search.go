package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Search index: secondary buckets of index.db, written in the transaction
// that writes the study record (putStudy, deleteStudy), so a search never
// reads every study.
//
//	search_rows    study UID → row: sort key \0 last received (8 bytes) date \0 folded name \0 lower-case patient ID \0 lower-case accession
//	search_date    sort key \0 last received (8 bytes) study UID → ""   (Studies' default order)
//	search_recv    last received (8 bytes) study UID → ""                 (SortReceived)
//	search_terms2  term \0 study number (short id, 8 bytes) → ""          (text candidates)
//	search_meta    "version" → searchVersion
//
// Terms are every suffix of at least minTerm characters of each word of
// the folded patient name, of the lower-case patient ID and of the
// lower-case accession number. Query.Text matches a part of those (see
// Query), so any query word of minTerm characters or more is the start of
// some term: a prefix seek finds every candidate, which is then checked
// against the row exactly as a scan would. Shorter queries walk the order
// bucket and stop when the page is full. A term names its study by the
// study's short id (bShortIDs gives the UID), which keeps the most numerous
// keys short.
//
// An index.db without the current layout gets it in the background
// (buildSearchIndex): Open does not wait, and until the build is done
// Studies answers by reading every study (searchByScan), as it did before
// the index existed.
var (
	bSearchRows  = []byte("search_rows")
	bSearchDate  = []byte("search_date")
	bSearchRecv  = []byte("search_recv")
	bSearchTerms = []byte("search_terms2")
	bSearchMeta  = []byte("search_meta")
	searchBkts   = [][]byte{bSearchRows, bSearchDate, bSearchRecv, bSearchTerms}
	// Buckets of earlier layouts, dropped once the current one is built.
	oldSearchBkts = [][]byte{[]byte("search_terms")}
)

const (
	// searchVersion names the layout. 1: terms of 3 characters or more
	// keyed by study UID; 2: terms of 2 or more keyed by study number.
	searchVersion = "2"
	minTerm       = 2 // characters
)

// maxCandidates: past this many term hits a query is not selective, and
// walking the order bucket fills a page sooner (a variable for tests).
var maxCandidates = 1000

// Sort orders search results.
type Sort int

const (
	// SortDate: newest study date and time first, then latest arrival.
	// Studies without a date are placed by when they first arrived.
	SortDate Sort = iota
	// SortReceived: latest arrival (of any of the study's objects) first.
	SortReceived
)

// Query selects studies.
type Query struct {
	// Text matches any part of the patient name (case and accents folded),
	// any part of the patient ID or accession number (case folded), or a
	// prefix of the Study Instance UID. Empty matches all.
	Text string
	// Include lists studies that match whatever Text is (those the caller
	// found otherwise, e.g. by a contact their links were sent to). The
	// date bounds still apply.
	Include []string
	// From and To bound the study date (inclusive, by calendar day); zero
	// means unbounded. Studies without a date match only unbounded queries.
	From, To time.Time
	Sort     Sort
	Offset   int // matches skipped before the first returned (paging)
	Limit    int // 0 = no limit
}

// Studies returns the studies matching q in q.Sort order. The order is
// total (ties go to the greater Study Instance UID), so Offset pages are
// stable while no study arrives.
func (s *Store) Studies(q Query) ([]Study, error) {
	if !s.searchReady.Load() {
		return s.searchByScan(q)
	}
	m := newMatcher(q)
	var out []Study
	err := s.db.View(func(tx *bolt.Tx) error {
		uids, err := m.search(tx)
		if err != nil {
			return err
		}
		sb := tx.Bucket(bStudies)
		out = make([]Study, 0, len(uids))
		for _, uid := range uids {
			var st Study
			if ok, err := getJSON(sb, uid, &st); err != nil {
				return err
			} else if ok {
				out = append(out, st)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// matcher is a query made ready to test search rows.
type matcher struct {
	q               Query
	text, fold, low string
	from, to        string // YYYYMMDD or ""
	include         map[string]bool
}

func newMatcher(q Query) *matcher {
	m := &matcher{q: q, text: strings.TrimSpace(q.Text)}
	m.fold, m.low = FoldName(m.text), strings.ToLower(m.text)
	if !q.From.IsZero() {
		m.from = q.From.Format("20060102")
	}
	if !q.To.IsZero() {
		m.to = q.To.Format("20060102")
	}
	if len(q.Include) > 0 {
		m.include = map[string]bool{}
		for _, u := range q.Include {
			m.include[u] = true
		}
	}
	return m
}

// row is a decoded search_rows value.
type row struct {
	sortKey, received         []byte
	date, name, id, accession string
}

func (m *matcher) match(uid []byte, r *row) bool {
	if m.from != "" && (r.date == "" || r.date < m.from) {
		return false
	}
	if m.to != "" && (r.date == "" || r.date > m.to) {
		return false
	}
	if m.text == "" || m.include[string(uid)] {
		return true
	}
	return (m.fold != "" && strings.Contains(r.name, m.fold)) ||
		strings.Contains(r.id, m.low) ||
		(r.accession != "" && strings.Contains(r.accession, m.low)) ||
		strings.HasPrefix(string(uid), m.text)
}

// search returns the UIDs of the page of matching studies, in order.
func (m *matcher) search(tx *bolt.Tx) ([][]byte, error) {
	if m.text != "" {
		if cands, ok := m.candidates(tx); ok {
			return m.sorted(tx, cands)
		}
	}
	return m.walk(tx)
}

// candidates returns the studies the term index and the UID prefix can
// match, or false when the query is too short for the index or names too
// many studies to be worth sorting.
func (m *matcher) candidates(tx *bolt.Tx) (map[string]bool, bool) {
	var seeks []string
	if m.fold != "" {
		longest := ""
		for _, w := range strings.Fields(m.fold) {
			if utf8.RuneCountInString(w) > utf8.RuneCountInString(longest) {
				longest = w
			}
		}
		if utf8.RuneCountInString(longest) < minTerm {
			return nil, false
		}
		seeks = append(seeks, longest)
	}
	if utf8.RuneCountInString(m.low) < minTerm {
		return nil, false
	}
	seeks = append(seeks, m.low)
	cands := map[string]bool{}
	for _, u := range m.q.Include {
		cands[u] = true
	}
	c := tx.Bucket(bSearchTerms).Cursor()
	ids := tx.Bucket(bShortIDs)
	for _, t := range seeks {
		p := []byte(t)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) != i+9 {
				continue
			}
			short := strconv.FormatUint(binary.BigEndian.Uint64(k[i+1:]), 10)
			if uid := ids.Get([]byte(short)); uid != nil {
				cands[string(uid)] = true
			}
			if len(cands) > maxCandidates {
				return nil, false
			}
		}
	}
	p := []byte(m.text)
	sc := tx.Bucket(bStudies).Cursor()
	for k, _ := sc.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = sc.Next() {
		cands[string(k)] = true
		if len(cands) > maxCandidates {
			return nil, false
		}
	}
	return cands, true
}

// sorted checks the candidates and returns the page of those that match.
func (m *matcher) sorted(tx *bolt.Tx, cands map[string]bool) ([][]byte, error) {
	rb := tx.Bucket(bSearchRows)
	keys := make([][]byte, 0, len(cands))
	for uid := range cands {
		raw := rb.Get([]byte(uid))
		if raw == nil {
			continue
		}
		r, err := decodeRow(raw)
		if err != nil {
			return nil, err
		}
		if m.match([]byte(uid), &r) {
			keys = append(keys, orderKey(m.q.Sort, &r, uid))
		}
	}
	slices.SortFunc(keys, func(a, b []byte) int { return bytes.Compare(b, a) })
	keys = m.page(keys)
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = uidOf(m.q.Sort, k)
	}
	return out, nil
}

func (m *matcher) page(keys [][]byte) [][]byte {
	if m.q.Offset > 0 {
		keys = keys[min(m.q.Offset, len(keys)):]
	}
	if m.q.Limit > 0 && len(keys) > m.q.Limit {
		keys = keys[:m.q.Limit]
	}
	return keys
}

// walk goes through the order bucket newest first, checking each row,
// until the page is full. In date order it starts at the To bound and
// stops at the From bound.
func (m *matcher) walk(tx *bolt.Tx) ([][]byte, error) {
	bkt := bSearchDate
	if m.q.Sort == SortReceived {
		bkt = bSearchRecv
	}
	c := tx.Bucket(bkt).Cursor()
	rb := tx.Bucket(bSearchRows)
	var k []byte
	if m.q.Sort == SortDate && m.to != "" {
		// Every key of a study dated on or before To sorts below To+"\xff".
		if k, _ = c.Seek([]byte(m.to + "\xff")); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	} else {
		k, _ = c.Last()
	}
	var out [][]byte
	skip := m.q.Offset
	for ; k != nil; k, _ = c.Prev() {
		if m.q.Sort == SortDate && m.from != "" && string(k[:min(len(k), len(m.from))]) < m.from {
			break
		}
		uid := uidOf(m.q.Sort, k)
		raw := rb.Get(uid)
		if raw == nil {
			continue
		}
		r, err := decodeRow(raw)
		if err != nil {
			return nil, err
		}
		if !m.match(uid, &r) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, append([]byte(nil), uid...))
		if m.q.Limit > 0 && len(out) >= m.q.Limit {
			break
		}
	}
	return out, nil
}

// orderKey is the key of a study in the order bucket of srt.
func orderKey(srt Sort, r *row, uid string) []byte {
	var k []byte
	if srt == SortDate {
		k = append(append(k, r.sortKey...), 0)
	}
	k = append(k, r.received...)
	return append(k, uid...)
}

// uidOf returns the study UID at the end of an order key.
func uidOf(srt Sort, k []byte) []byte {
	if srt == SortDate {
		i := bytes.IndexByte(k, 0)
		return k[i+1+8:]
	}
	return k[8:]
}

// receivedKey encodes t so that byte order is time order.
func receivedKey(t time.Time) []byte {
	var b [8]byte
	if !t.IsZero() {
		binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano())^(1<<63))
	}
	return b[:]
}

func studyRow(st *Study) row {
	return row{
		sortKey: []byte(noNUL(sortKey(*st))), received: receivedKey(st.LastReceived),
		date: noNUL(st.Date), name: noNUL(st.NameKey),
		id: noNUL(strings.ToLower(st.Patient.ID)), accession: noNUL(strings.ToLower(st.Accession)),
	}
}

func noNUL(s string) string { return strings.ReplaceAll(s, "\x00", "") }

func (r *row) encode() []byte {
	b := append(append([]byte(nil), r.sortKey...), 0)
	b = append(b, r.received...)
	return append(b, strings.Join([]string{r.date, r.name, r.id, r.accession}, "\x00")...)
}

func decodeRow(b []byte) (row, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 || len(b) < i+1+8 {
		return row{}, fmt.Errorf("%w: corrupt search row", ErrStorage)
	}
	r := row{sortKey: b[:i], received: b[i+1 : i+9]}
	f := strings.Split(string(b[i+9:]), "\x00")
	if len(f) != 4 {
		return row{}, fmt.Errorf("%w: corrupt search row", ErrStorage)
	}
	r.date, r.name, r.id, r.accession = f[0], f[1], f[2], f[3]
	return r, nil
}

// terms returns the search terms of r (see the package's search index).
func (r *row) terms() []string {
	var out []string
	add := func(w string) {
		rs := []rune(w)
		for i := 0; i+minTerm <= len(rs); i++ {
			out = append(out, string(rs[i:]))
		}
	}
	for _, w := range strings.Fields(r.name) {
		add(w)
	}
	add(r.id)
	add(r.accession)
	slices.Sort(out)
	return slices.Compact(out)
}

// putStudy writes st's record and keeps the search index in step.
func putStudy(tx *bolt.Tx, st *Study) error {
	sb := tx.Bucket(bStudies)
	var old *Study
	if raw := sb.Get([]byte(st.StudyUID)); raw != nil {
		old = new(Study)
		if err := json.Unmarshal(raw, old); err != nil {
			old = nil // a damaged record has no trustworthy index entries; a rebuild clears them
		}
	}
	if err := putJSON(sb, []byte(st.StudyUID), st); err != nil {
		return err
	}
	return reindexStudy(tx, old, st)
}

// deleteStudy removes st's record and its search entries.
func deleteStudy(tx *bolt.Tx, st *Study) error {
	if err := tx.Bucket(bStudies).Delete([]byte(st.StudyUID)); err != nil {
		return err
	}
	return reindexStudy(tx, st, nil)
}

// reindexStudy replaces the search entries of old (nil: none) by those of
// nw (nil: none); the two are the same study.
func reindexStudy(tx *bolt.Tx, old, nw *Study) error {
	var or, nr *row
	if old != nil {
		r := studyRow(old)
		or = &r
	}
	if nw != nil {
		r := studyRow(nw)
		nr = &r
	}
	if or != nil && nr != nil && bytes.Equal(or.encode(), nr.encode()) {
		return nil
	}
	rows, dates, recvs, terms := tx.Bucket(bSearchRows), tx.Bucket(bSearchDate), tx.Bucket(bSearchRecv), tx.Bucket(bSearchTerms)
	var oldTerms, newTerms []string
	if or != nil {
		uid := old.StudyUID
		if err := dates.Delete(orderKey(SortDate, or, uid)); err != nil {
			return err
		}
		if err := recvs.Delete(orderKey(SortReceived, or, uid)); err != nil {
			return err
		}
		oldTerms = or.terms()
	}
	if nr != nil {
		uid := nw.StudyUID
		if err := rows.Put([]byte(uid), nr.encode()); err != nil {
			return err
		}
		if err := dates.Put(orderKey(SortDate, nr, uid), nil); err != nil {
			return err
		}
		if err := recvs.Put(orderKey(SortReceived, nr, uid), nil); err != nil {
			return err
		}
		newTerms = nr.terms()
	} else if err := rows.Delete([]byte(old.StudyUID)); err != nil {
		return err
	}
	for _, t := range oldTerms {
		if _, keep := slices.BinarySearch(newTerms, t); !keep {
			if err := terms.Delete(termKey(t, old)); err != nil {
				return err
			}
		}
	}
	for _, t := range newTerms {
		if _, had := slices.BinarySearch(oldTerms, t); !had {
			if err := terms.Put(termKey(t, nw), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// termKey is the search_terms2 key of term t of study st: t \0 the study's
// number (its short id) in 8 bytes.
func termKey(t string, st *Study) []byte {
	n, _ := strconv.ParseUint(st.ShortID, 10, 64) // always a number (indexInstance)
	k := append([]byte(t), 0)
	return binary.BigEndian.AppendUint64(k, n)
}

// searchByScan is the search without the index: every study read and
// matched, as before the index existed. Studies uses it until the index is
// built; tests hold the index to it.
func (s *Store) searchByScan(q Query) ([]Study, error) {
	m := newMatcher(q)
	var out []Study
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bStudies).ForEach(func(k, v []byte) error {
			var st Study
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("%w: corrupt study entry: %w", ErrStorage, err)
			}
			if r := studyRow(&st); m.match([]byte(st.StudyUID), &r) {
				out = append(out, st)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Study) int {
		if q.Sort == SortDate {
			if c := strings.Compare(sortKey(b), sortKey(a)); c != 0 {
				return c
			}
		}
		if c := b.LastReceived.Compare(a.LastReceived); c != 0 {
			return c
		}
		return strings.Compare(b.StudyUID, a.StudyUID)
	})
	out = out[min(q.Offset, len(out)):]
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// openSearchIndex makes sure the search buckets exist (so putStudy can
// keep them in step from the first ingest), and says whether they need
// buildSearchIndex (startSearchBuild) because they do not hold the current
// layout yet. A new, empty archive needs no build.
func (s *Store) openSearchIndex() (build bool, err error) {
	current, empty := false, false
	if err := s.db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bSearchMeta); meta != nil {
			current = string(meta.Get([]byte("version"))) == searchVersion
		}
		for _, b := range searchBkts {
			current = current && tx.Bucket(b) != nil
		}
		return nil
	}); err != nil {
		return false, fmt.Errorf("%w: opening the search index: %w", ErrStorage, err)
	}
	if current {
		s.searchReady.Store(true)
		metricSearchReady.Set(1)
		return false, nil
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bSearchMeta)
		if err != nil {
			return err
		}
		for _, b := range searchBkts {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		current = string(meta.Get([]byte("version"))) == searchVersion
		if k, _ := tx.Bucket(bStudies).Cursor().First(); k == nil && !current {
			empty = true
			return meta.Put([]byte("version"), []byte(searchVersion))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%w: opening the search index: %w", ErrStorage, err)
	}
	if current || empty {
		s.searchReady.Store(true)
		metricSearchReady.Set(1)
		return false, nil
	}
	metricSearchReady.Set(0)
	return true, nil
}

// startSearchBuild runs buildSearchIndex in the background until it is
// done or the store closes.
func (s *Store) startSearchBuild() {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.buildSearchIndex(s.bgCtx, searchBuildPause); err != nil && s.bgCtx.Err() == nil {
			s.log.Error("search index build failed; searches read every study until the next start", "err", err)
		}
	}()
}

// searchBuildPause is the rest between batches of the background build
// (which also waits while objects arrive, as the scrub does).
var searchBuildPause = 5 * time.Millisecond

// buildSearchIndex is the migration of the search index to the current
// layout (searchVersion): it fills the search buckets from the study
// records in small batches at low priority, records the version, marks
// the index ready and drops the buckets of earlier layouts. Ingest keeps
// the entries of the studies it writes in step meanwhile (putStudy), and
// writing a study's entries twice is harmless, so the build and ingest
// may interleave. Interrupted (Close), it starts again at the next Open.
func (s *Store) buildSearchIndex(ctx context.Context, pause time.Duration) error {
	start := time.Now()
	s.log.Info("search index: building in the background; searches read every study until it is done", "version", searchVersion)
	const batch = 1000
	var after []byte
	n := 0
	lastLog := time.Now()
	for done := false; !done; {
		if err := s.scrubRest(ctx, pause); err != nil {
			return err
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			c := tx.Bucket(bStudies).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for i := 0; ; i++ {
				if k == nil {
					done = true
					return tx.Bucket(bSearchMeta).Put([]byte("version"), []byte(searchVersion))
				}
				if i == batch {
					return nil
				}
				var st Study
				if err := json.Unmarshal(v, &st); err != nil {
					// Unsearchable, as it is to the scan.
					s.log.Warn("search index: skipping a damaged study record", "err", err)
				} else if err := reindexStudy(tx, nil, &st); err != nil {
					return err
				}
				after = append(after[:0], k...)
				n++
				k, v = c.Next()
			}
		})
		if err != nil {
			return fmt.Errorf("%w: building the search index: %w", ErrStorage, err)
		}
		metricSearchBuilt.Set(float64(n))
		if time.Since(lastLog) > 10*time.Second {
			s.log.Info("search index: building", "studies_done", n, "elapsed", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
	}
	s.searchReady.Store(true)
	metricSearchReady.Set(1)
	s.log.Info("search index built", "studies", n, "took", time.Since(start).Round(time.Millisecond))
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range oldSearchBkts {
			if tx.Bucket(b) != nil {
				if err := tx.DeleteBucket(b); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		s.log.Warn("search index: dropping the previous layout's buckets failed; they stay unused", "err", err)
	}
	return nil
}
