package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newStudiesCmd() *cobra.Command {
	var from, to, sortBy string
	var limit, page int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "studies [QUERY]",
		Short: "Find studies by patient, ID, accession, date or contact",
		Long: `List stored studies, newest first, one line each: date, short id, patient,
description, number of objects, when its last object arrived and share status.
With --sort received, the studies that arrived last come first ("what I just
sent"). --limit studies are shown at a time; --page 2 shows the next ones.

QUERY matches any part of the patient's name (letter case and accents do not
matter: "munoz" finds "Muñoz^José"), the patient ID, the accession number, a
study date (2026-11-20), or a contact (e-mail or phone) the study's links were
sent to or that was read from its DICOM objects. Without QUERY, the latest
studies are listed.

A study whose patient asked for a new link on an expired link's page is
marked "! new link asked" and, without QUERY or dates, listed first however
old it is, until a new link is sent (or the link is resent or revoked).

Use the short id (second column) with 'sonolink study' and 'sonolink send'.
Exit code 1 when nothing matches.`,
		Example: `  sonolink studies
  sonolink studies munoz
  sonolink studies --from 2026-11-01 --to 2026-11-30
  sonolink studies --sort received --limit 10
  sonolink studies munoz --page 2
  sonolink studies "+46701234567" --json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := admin.StudyQuery{Text: strings.TrimSpace(strings.Join(args, " ")), Limit: limit}
			var err error
			if from != "" {
				if q.From, err = parseDate(from); err != nil {
					return usageErr(fmt.Errorf("--from: %w", err))
				}
			}
			if to != "" {
				if q.To, err = parseDate(to); err != nil {
					return usageErr(fmt.Errorf("--to: %w", err))
				}
			}
			if limit < 0 {
				return usageErr(fmt.Errorf("--limit must be 0 (no limit) or more"))
			}
			switch sortBy {
			case admin.SortDate, admin.SortReceived:
				q.Sort = sortBy
			default:
				return usageErr(fmt.Errorf("--sort %q: use %s or %s", sortBy, admin.SortDate, admin.SortReceived))
			}
			if page < 1 {
				return usageErr(fmt.Errorf("--page must be 1 (default) or more"))
			}
			if page > 1 && limit == 0 {
				return usageErr(fmt.Errorf("--page needs a --limit"))
			}
			q.Offset = (page - 1) * limit
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				res, err := s.ops.ListStudies(ctx, q)
				if err != nil {
					return err
				}
				if res == nil {
					res = []admin.StudySummary{}
				}
				if asJSON {
					if err := printJSON(cmd.OutOrStdout(), res); err != nil {
						return err
					}
				} else if len(res) > 0 {
					printStudies(cmd, res)
				}
				if len(res) == 0 {
					if q.Text == "" && q.From.IsZero() && q.To.IsZero() {
						return noErr("no studies stored yet; send one from the modality to sonolink serve")
					}
					return noErr("no study matches; try part of the name, the patient ID, the accession number or a wider --from/--to")
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "only studies on or after this date (YYYY-MM-DD, today, yesterday)")
	cmd.Flags().StringVar(&to, "to", "", "only studies on or before this date (YYYY-MM-DD, today, yesterday)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many studies (0: no limit)")
	cmd.Flags().IntVar(&page, "page", 1, "show the n-th --limit studies (1: the first)")
	cmd.Flags().StringVar(&sortBy, "sort", admin.SortDate, "order: date (newest study date first) or received (latest arrival first)")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func printStudies(cmd *cobra.Command, res []admin.StudySummary) {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tID\tPATIENT\tDESCRIPTION\tIMAGES\tRECEIVED\tSHARE")
	for _, st := range res {
		date := st.Date
		if date == "" {
			date = fmtDay(st.ReceivedAt)
		}
		status := dash(st.ShareStatus)
		if st.Attention != "" {
			status = "! " + st.Attention + "; " + status
		}
		if !st.RenewalAsked.IsZero() {
			status = "! new link asked " + fmtTime(st.RenewalAsked) + "; " + status
		}
		termf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", date, st.ShortID, dash(displayName(st.PatientName)),
			dash(clip(st.Description, 40)), st.Images, fmtReceived(st.ReceivedAt), status)
	}
	tw.Flush()
	if n := attention(res); n > 0 {
		termf(cmd.OutOrStdout(), "\n! %s asked for a new link: see 'sonolink study ID'.\n", plural(n, "patient"))
	}
	if n := discontinued(res); n > 0 {
		termf(cmd.OutOrStdout(), "\n! %s discontinued on the scanner and not shared: see 'sonolink study ID'.\n", plural(n, "exam"))
	}
}

// attention counts the studies whose patient asked for a new link.
func attention(res []admin.StudySummary) int {
	n := 0
	for _, st := range res {
		if !st.RenewalAsked.IsZero() {
			n++
		}
	}
	return n
}

// discontinued counts the studies held back because their exam was
// discontinued on the scanner.
func discontinued(res []admin.StudySummary) int {
	n := 0
	for _, st := range res {
		if st.Attention != "" {
			n++
		}
	}
	return n
}

// displayName turns a DICOM person name (Family^Given^Middle^Prefix^Suffix)
// into "Family, Given Middle".
func displayName(pn string) string {
	if pn == "" {
		return ""
	}
	if i := strings.IndexByte(pn, '='); i >= 0 { // keep the alphabetic group
		pn = pn[:i]
	}
	parts := strings.Split(pn, "^")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	family := parts[0]
	var given []string
	for _, p := range parts[1:min(len(parts), 3)] {
		if p != "" {
			given = append(given, p)
		}
	}
	if len(given) == 0 {
		return family
	}
	if family == "" {
		return strings.Join(given, " ")
	}
	return family + ", " + strings.Join(given, " ")
}

// fmtReceived shows an arrival time, to the minute.
func fmtReceived(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
