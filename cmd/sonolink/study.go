package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newStudyCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "study STUDY",
		Short: "Show a study's objects and its shares panel",
		Long: `Show one study: its objects numbered 1..N (kind, frames, de-identification
verdict: clean, or residual with the reason), the contacts read from its DICOM
objects, and its shares panel: every link with its id, when it was created and
last sent, its contacts with the delivery status of each, expiry, status
(active, expired, revoked) and number of views.

STUDY is the short id printed by 'sonolink studies', the Study Instance UID,
or the accession number. The object numbers are what 'sonolink send --images'
takes. Exit code 1 when there is no such study.`,
		Example: `  sonolink study 42
  sonolink study 1.2.840.113619.2.55.3.2831164356.781.1600000000.1
  sonolink study ACC12345 --json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStudies,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				d, err := s.ops.StudyDetail(ctx, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), d)
				}
				printStudy(cmd.OutOrStdout(), d)
				return nil
			})
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func printStudy(w io.Writer, d *admin.StudyDetail) {
	date := d.Date
	if d.Time != "" {
		date += " " + d.Time
	}
	termf(w, "Study %s  %s\n", d.ShortID, strings.TrimSpace(date))
	kv := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	termf(kv, "  Patient:\t%s (ID %s)\n", dash(displayName(d.PatientName)), dash(d.PatientID))
	termf(kv, "  Description:\t%s\n", dash(d.Description))
	termf(kv, "  Accession:\t%s\n", dash(d.Accession))
	termf(kv, "  Study UID:\t%s\n", d.StudyUID)
	termf(kv, "  Shared:\t%s\n", dash(d.ShareStatus))
	if len(d.Contacts) > 0 {
		var cs []string
		for _, c := range d.Contacts {
			if c.Valid {
				cs = append(cs, c.Value)
			} else {
				cs = append(cs, fmt.Sprintf("%q (not used: %s)", c.Value, c.Reason))
			}
		}
		termf(kv, "  Contacts in DICOM:\t%s\n", strings.Join(cs, "; "))
	}
	kv.Flush()
	for _, n := range d.Notes {
		termf(w, "  Note: %s\n", n)
	}

	termf(w, "\nObjects (%d):\n", len(d.Objects))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tKIND\tFRAMES\tDE-IDENTIFICATION")
	for _, o := range d.Objects {
		frames := "-"
		if o.Frames > 0 {
			frames = fmt.Sprint(o.Frames)
		}
		verdict := o.Deid
		if len(o.Reasons) > 0 {
			verdict += ": " + strings.Join(o.Reasons, "; ")
		}
		termf(tw, "  %d\t%s\t%s\t%s\n", o.N, o.Kind, frames, verdict)
	}
	tw.Flush()

	termf(w, "\nShares (%d):\n", len(d.Shares))
	if len(d.Shares) == 0 {
		termf(w, "  none; share with: sonolink send %s --to \"name@example.com, +46701234567\"\n", d.ShortID)
		return
	}
	for _, l := range d.Shares {
		printLink(w, &l)
	}
}

// printLink prints one entry of a shares panel.
func printLink(w io.Writer, l *admin.Link) {
	status := l.Status
	if l.Status == "revoked" && l.RevokedReason != "" {
		status += " (" + l.RevokedReason + ")"
	}
	termf(w, "  Link %s  %s\n", l.ID, status)
	kv := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	termf(kv, "    Created:\t%s", fmtTime(l.Created))
	if l.Origin != "" {
		termf(kv, " (%s)", l.Origin)
	}
	fmt.Fprintln(kv)
	termf(kv, "    Last sent:\t%s\n", fmtTime(l.LastSent))
	exp := "Expires:"
	if l.Status == "expired" {
		exp = "Expired:"
	}
	termf(kv, "    %s\t%s\n", exp, fmtTime(l.Expires))
	if l.WholeStudy {
		termf(kv, "    Objects:\tall\n")
	} else {
		termf(kv, "    Objects:\t%s\n", formatRanges(l.Images, len(l.Instances)))
	}
	termf(kv, "    Views:\t%d\n", l.Views)
	if l.LinkCode {
		termf(kv, "    Link code:\trequired\n")
	}
	kv.Flush()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range l.Contacts {
		st := c.Status
		if !c.At.IsZero() {
			st += " " + fmtTime(c.At)
		}
		if c.Reason != "" {
			st += ": " + c.Reason
		}
		termf(tw, "    %s\t%s\t%s\n", c.Channel, c.To, st)
	}
	tw.Flush()
}

// formatRanges prints object numbers compactly: 1,3,5-8.
func formatRanges(ns []int, count int) string {
	if len(ns) == 0 {
		return fmt.Sprintf("%d selected", count)
	}
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		} else {
			parts = append(parts, fmt.Sprint(ns[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// completeStudies offers recent studies' short ids (with the patient's
// description for shells that show it).
func completeStudies(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	_ = withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
		res, err := s.ops.ListStudies(ctx, admin.StudyQuery{Limit: 50})
		if err != nil {
			return err
		}
		for _, st := range res {
			if strings.HasPrefix(st.ShortID, strings.ToUpper(toComplete)) {
				out = append(out, cobra.CompletionWithDesc(st.ShortID, termText(st.Date+" "+st.Description)))
			}
		}
		return nil
	})
	return out, cobra.ShellCompDirectiveNoFileComp
}
