package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newAuditCmd() *cobra.Command {
	var study, link, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [--study STUDY] [--link LINK] [--since WHEN]",
		Short: "Show the audit log (links created, sent, revoked, deliveries, page visits)",
		Long: `Show the append-only audit log, oldest first: links created, sent, resent and
revoked (and by whom), delivery results, one-time codes and password events,
setting changes, and each visit of a landing page (time, address, browser).

--since takes a date (2026-11-20), a time (RFC 3339) or a duration back from
now (90m, 24h, 7d).`,
		Example: `  sonolink audit --since 24h
  sonolink audit --study 42
  sonolink audit --link L7K3F9Q --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := admin.AuditQuery{Study: study, Link: link, Limit: limit}
			if since != "" {
				t, err := parseSince(since)
				if err != nil {
					return usageErr(err)
				}
				q.Since = t
			}
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				res, err := s.ops.Audit(ctx, q)
				if err != nil {
					return err
				}
				if res == nil {
					res = []admin.AuditEvent{}
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TIME\tEVENT\tLINK\tACTOR\tDETAIL")
				for _, e := range res {
					termf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Event, dash(e.Link), dash(e.Actor), e.Detail)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&study, "study", "", "only events of this study (short id, UID or accession)")
	cmd.Flags().StringVar(&link, "link", "", "only events of this link")
	cmd.Flags().StringVar(&since, "since", "", "only events since WHEN (2026-11-20, 24h, 7d)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most the last N events (0: all)")
	addJSONFlag(cmd, &asJSON)
	return cmd
}
