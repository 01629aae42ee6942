package admin

import (
	"context"
	"net/http"
	"slices"
	"sort"
)

// Attention lists, however old, every study that needs a technician, each
// once: the patient asked for a new link (StudySummary.RenewalAsked),
// auto-share found no usable contact (NoContact), the delivery of its
// current link failed (DeliveryFailed), or an object of it awaits the
// choice of a version (ChooseVersion). Studies with an open request for a
// new link come first, oldest request first; then the others, latest
// arrival first. It reads the open requests and the attention indexes of
// share.db and index.db, and summarises the studies they name: the work
// grows with what needs attention, not with the archive.
func (s *Service) Attention(ctx context.Context) ([]StudySummary, error) {
	renewals, err := s.be.renewalStudies(ctx)
	if err != nil {
		return nil, s.internal("list requests for new links", err)
	}
	idx, err := s.be.sh.Attention()
	if err != nil {
		return nil, s.internal("read the attention indexes", err)
	}
	conflicts, err := s.be.st.ConflictStudies()
	if err != nil {
		return nil, s.internal("list studies with conflict versions", err)
	}
	out := []StudySummary{}
	seen := map[string]bool{}
	for _, uids := range [][]string{renewals, idx.NoContact, idx.DeliveryFailed, conflicts} {
		for _, uid := range uids {
			if seen[uid] {
				continue
			}
			seen[uid] = true
			r, err := s.be.study(ctx, uid)
			if err != nil {
				continue // purged meanwhile
			}
			sum, err := s.summary(ctx, r)
			if err != nil {
				return nil, err
			}
			// The summary reads the indexes again, in the study's own
			// transactions: a study answered meanwhile drops out.
			if needsAttention(sum) {
				out = append(out, sum)
			}
		}
	}
	asked := func(i int) bool { return !out[i].RenewalAsked.IsZero() }
	sort.SliceStable(out, func(i, j int) bool {
		if asked(i) != asked(j) {
			return asked(i)
		}
		if asked(i) {
			return slices.Index(renewals, out[i].StudyUID) < slices.Index(renewals, out[j].StudyUID)
		}
		return out[i].ReceivedAt.After(out[j].ReceivedAt)
	})
	return out, nil
}

func needsAttention(sum StudySummary) bool {
	return !sum.RenewalAsked.IsZero() || sum.NoContact || sum.DeliveryFailed || sum.ChooseVersion
}

// attention sets what the attention indexes say of one study.
func (b *realBackend) attention(studyUID string, sum *StudySummary) error {
	var err error
	if sum.NoContact, sum.DeliveryFailed, err = b.sh.StudyAttention(studyUID); err != nil {
		return err
	}
	choose, err := b.st.VersionChoicePending(studyUID)
	sum.ChooseVersion = len(choose) > 0
	return err
}

// Attention asks the running server.
func (c *Client) Attention(ctx context.Context) ([]StudySummary, error) {
	var out []StudySummary
	err := c.do(ctx, http.MethodGet, "/v1/attention", nil, &out)
	return out, err
}
