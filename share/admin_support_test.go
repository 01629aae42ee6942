package share

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// scanStudiesWithContact is StudiesWithContact as it was before the
// contact index: every link read. The reference the index must agree with.
func scanStudiesWithContact(s *Service, emails, phones []string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktLinks).ForEach(func(_, v []byte) error {
			var l Link
			if json.Unmarshal(v, &l) != nil || slices.Contains(out, l.StudyUID) {
				return nil
			}
			hit := slices.ContainsFunc(l.Emails, func(e string) bool {
				return slices.ContainsFunc(emails, func(q string) bool { return strings.EqualFold(q, e) })
			}) || slices.ContainsFunc(l.Phones, func(p string) bool { return slices.Contains(phones, p) })
			if hit {
				out = append(out, l.StudyUID)
			}
			return nil
		})
	})
	return out, err
}

// TestContactIndexMatchesScan: links with random contacts, found by
// contact through the index as the scan finds them, also after an Open
// that builds the index for a share.db written without it.
func TestContactIndexMatchesScan(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newClock(), nil)
	rng := rand.New(rand.NewPCG(5, 6))
	email := func() string { return fmt.Sprintf("Person%d@Example.com", rng.IntN(15)) }
	phone := func() string { return fmt.Sprintf("+4670123%04d", rng.IntN(15)) }
	for i := range 60 {
		req := CreateRequest{StudyUID: fmt.Sprintf("1.2.%d", rng.IntN(30))}
		for range rng.IntN(3) {
			req.Emails = append(req.Emails, email())
		}
		for range 1 + rng.IntN(2) {
			req.Phones = append(req.Phones, phone())
		}
		if _, _, err := s.Create(context.Background(), req); err != nil {
			t.Fatalf("link %d: %v", i, err)
		}
	}
	compare := func(s *Service) {
		t.Helper()
		hits := 0
		for range 200 {
			var emails, phones []string
			if rng.IntN(2) == 0 {
				emails = append(emails, strings.ToLower(email()))
			}
			if rng.IntN(2) == 0 {
				phones = append(phones, phone())
			}
			want, err := scanStudiesWithContact(s, emails, phones)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.StudiesWithContact(emails, phones)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%v %v: got %v, want %v", emails, phones, got, want)
			}
			hits += len(got)
		}
		if hits == 0 {
			t.Fatal("no query found a study: the comparison proves nothing")
		}
	}
	compare(s)

	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bktLinkContacts) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	compare(open(t, dir, newClock(), nil))
}
