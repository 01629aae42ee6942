package admin

import (
	"context"
	"net/http"

	"sonolink/retention"
)

// PurgeRequest asks the running server for a retention pass.
type PurgeRequest struct {
	DryRun bool   `json:"dry_run"`
	Actor  string `json:"actor"` // for the audit log
}

// SetRetention lets the socket run retention passes (`sonolink purge`)
// through the server's retention, the one its background job uses.
func (s *Server) SetRetention(r *retention.Retention) {
	s.mu.Lock()
	s.retention = r
	s.mu.Unlock()
}

func (s *Server) purge(ctx context.Context, req PurgeRequest) (*retention.Report, error) {
	s.mu.Lock()
	r := s.retention
	s.mu.Unlock()
	if r == nil {
		return nil, errorf(KindInvalid, "this server does not run retention")
	}
	if req.Actor == "" {
		req.Actor = "cli"
	}
	rep, err := r.Purge(ctx, req.DryRun, req.Actor)
	if err != nil {
		return nil, causef(KindInternal, err, "retention pass failed: %v", err)
	}
	return rep, nil
}

// Purge asks the server for a retention pass (dry: only the list).
func (c *Client) Purge(ctx context.Context, req PurgeRequest) (*retention.Report, error) {
	var out retention.Report
	if err := c.do(ctx, http.MethodPost, "/v1/purge", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
