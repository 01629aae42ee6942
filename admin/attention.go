package admin

import (
	"context"
	"net/http"
)

// ConflictStudies lists every study holding an object received in more
// than one version (the attention list's "choose the version in use"),
// however old, from the store's conflict index.
func (s *Service) ConflictStudies(ctx context.Context) ([]StudySummary, error) {
	uids, err := s.be.st.ConflictStudies()
	if err != nil {
		return nil, s.internal("list studies with conflict versions", err)
	}
	out := []StudySummary{}
	for _, uid := range uids {
		r, err := s.be.study(ctx, uid)
		if err != nil {
			continue // purged meanwhile
		}
		sum, err := s.summary(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// ConflictStudies asks the running server.
func (c *Client) ConflictStudies(ctx context.Context) ([]StudySummary, error) {
	var out []StudySummary
	err := c.do(ctx, http.MethodGet, "/v1/conflict-studies", nil, &out)
	return out, err
}
