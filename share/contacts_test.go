package share

import (
	"context"
	"strings"
	"testing"
)

// A contact of 100,000 characters is refused with a short reason, not
// carried into a message header.
func TestCreateRefusesHugeContact(t *testing.T) {
	s := open(t, t.TempDir(), newClock(), nil)
	_, _, err := s.Create(context.Background(), CreateRequest{StudyUID: "1", Emails: []string{strings.Repeat("a", 100_000) + "@example.com"}})
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("huge address: %.300v", err)
	}
}
