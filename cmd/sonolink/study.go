package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newStudyCmd() *cobra.Command {
	var asJSON bool
	var useVersion string
	cmd := &cobra.Command{
		Use:   "study STUDY",
		Short: "Show a study's objects and its shares panel",
		Long: `Show one study: its objects, labelled as the patient's page labels them
("Image 1", "Video 1", "Report 1", in the clinic's language), with kind,
frames and de-identification verdict (clean, or residual with the reason);
the contacts read from its DICOM objects; and its shares panel: every link
with its id, when it was created and last sent, its contacts with the
delivery status of each (a message only written to the local outbox, with
no provider configured, is marked so: it was not sent), expiry, status
(active, expired, revoked) and number of views.

STUDY is the short id printed by 'sonolink studies', the Study Instance UID,
or the accession number. The labels are what 'sonolink send --images'
takes. Exit code 1 when there is no such study.

When a different object arrived under the SOP Instance UID of one already
stored (a modality that reused a UID, or an object corrected and sent
again), both are kept and the study lists them as versions of that object;
the first received is in use until you choose one with --use-version
OBJECT:VERSION, OBJECT as labelled (image2:2), or just VERSION when one
object has versions. Under each version are the facts that differ between
the versions (patient name, ID, birth date, sex, study date and time,
accession, contact, frames, series and instance number, de-identification).
The patient's link and pages then show the chosen one, and the study takes
the chosen version's patient and study fields (the most recent choice
names the study), so it is listed and found under a corrected name.
Until someone chooses (keeping the first is a choice too), the object is
flagged here and the study is in the staff console's attention list.`,
		Example: `  sonolink study 42
  sonolink study 1.2.840.113619.2.55.3.2831164356.781.1600000000.1
  sonolink study ACC12345 --json
  sonolink study 42 --use-version image2:2`,
		Args:              exactArgs(1, "one study: its short id from 'sonolink studies', Study Instance UID or accession number", "sonolink study 42"),
		ValidArgsFunction: completeStudies,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				if useVersion != "" {
					if err := chooseVersion(ctx, s, args[0], useVersion); err != nil {
						return err
					}
				}
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
	cmd.Flags().StringVar(&useVersion, "use-version", "", "serve this version of an object: OBJECT:VERSION with OBJECT as labelled (image2:2), or VERSION when one object has versions")
	return cmd
}

// chooseVersion applies --use-version: "image2:2" is Image 2's version 2;
// "2" names the version of the only object that has versions.
func chooseVersion(ctx context.Context, s *cliSession, study, spec string) error {
	req := admin.VersionRequest{Study: study, Actor: actor()}
	objPart, verPart, hasObj := strings.Cut(strings.TrimSpace(spec), ":")
	if !hasObj {
		objPart, verPart = "", objPart
	}
	var err error
	if req.Version, err = strconv.Atoi(strings.TrimSpace(verPart)); err != nil {
		return usageErr(fmt.Errorf("--use-version %q: want OBJECT:VERSION, e.g. image2:2", spec))
	}
	d, err := s.ops.StudyDetail(ctx, study)
	if err != nil {
		return err
	}
	if hasObj {
		idx, err := admin.SelectObjects(objPart, d.Objects)
		if err != nil || len(idx) != 1 {
			return usageErr(fmt.Errorf("--use-version %q: want OBJECT:VERSION with one object as 'sonolink study' labels it, e.g. image2:2", spec))
		}
		req.Object = d.Objects[idx[0]].N
	} else {
		var with []admin.Object
		for _, o := range d.Objects {
			if len(o.Versions) > 0 {
				with = append(with, o)
			}
		}
		switch len(with) {
		case 0:
			return usageErr(fmt.Errorf("no object of study %s has more than one version", d.ShortID))
		case 1:
			req.Object = with[0].N
		default:
			var names []string
			for _, o := range with {
				names = append(names, objectName(o))
			}
			return usageErr(fmt.Errorf("%s have versions; say which: --use-version OBJECT:%d, e.g. %s", joinAnd(names), req.Version, versionArg(with[0], req.Version)))
		}
	}
	_, err = s.ops.UseVersion(ctx, req)
	return err
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
	fmt.Fprintln(tw, "  LABEL\tKIND\tFRAMES\tDE-IDENTIFICATION")
	for _, o := range d.Objects {
		frames := "-"
		if o.Frames > 0 {
			frames = fmt.Sprint(o.Frames)
		}
		verdict := o.Deid
		if len(o.Reasons) > 0 {
			verdict += ": " + strings.Join(o.Reasons, "; ")
		}
		label := o.Label
		if label == "" {
			label = "(not shown)"
		}
		termf(tw, "  %s\t%s\t%s\t%s\n", label, o.Kind, frames, verdict)
	}
	tw.Flush()
	printVersions(w, d)

	termf(w, "\nShares (%d):\n", len(d.Shares))
	if len(d.Shares) == 0 {
		var to []string
		for _, c := range d.Contacts {
			if c.Valid {
				to = append(to, c.Value)
			}
		}
		termf(w, "  none; share with: %s\n", admin.SendCommand(d.ShortID, to))
		return
	}
	for _, l := range d.Shares {
		printLink(w, &l)
	}
}

// printVersions lists the versions of the objects that have several, and
// how to choose one: flagged while no one has chosen (the attention list
// names the study until then).
func printVersions(w io.Writer, d *admin.StudyDetail) {
	for _, o := range d.Objects {
		if len(o.Versions) == 0 {
			continue
		}
		termf(w, "\n%s has %d versions (different objects received under one SOP Instance UID):\n", objectName(o), len(o.Versions))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, v := range o.Versions {
			use := ""
			if v.InUse {
				use = "in use"
			}
			termf(tw, "  v%d\t%s\treceived %s\tfrom %s\t%s\t%s\tsha256 %.12s\n", v.Version, dash(use), fmtTime(v.ReceivedAt),
				dash(v.CallingAET), plural(v.Frames, "frame"), fmt.Sprintf("%d KB", (v.Size+1023)/1024), v.SHA256)
			for _, f := range v.Differs {
				val := f.Value
				if f.Field == "patient_name" {
					val = displayName(val)
				}
				termf(tw, "  \t\t%s: %s\n", versionFieldNames[f.Field], dash(val))
			}
		}
		tw.Flush()
		if o.VersionsAlike {
			termf(w, "  The versions have the same patient, study and numbers; their pixel data or other attributes differ.\n")
		}
		if o.ChooseVersion {
			termf(w, "  ! No version chosen yet; the first received is in use. Choose: sonolink study %s --use-version %s\n", d.ShortID, versionArg(o, 0))
		} else {
			termf(w, "  Use another: sonolink study %s --use-version %s\n", d.ShortID, versionArg(o, 0))
		}
	}
}

// versionFieldNames name admin.VersionFields in the study view.
var versionFieldNames = map[string]string{
	"patient_name": "patient name", "patient_id": "patient ID", "birth_date": "birth date", "sex": "sex",
	"study_date": "study date", "study_time": "study time", "accession": "accession", "contact": "contact",
	"frames": "frames", "series_number": "series number", "instance_number": "instance number", "deid": "de-identification",
}

// objectName is how the study view names an object: its label, else its
// place in the study.
func objectName(o admin.Object) string {
	if o.Label != "" {
		return o.Label
	}
	return fmt.Sprintf("Object #%d", o.N)
}

// versionArg is the --use-version value for one of o's versions (0: the
// word VERSION).
func versionArg(o admin.Object, v int) string {
	ver := "VERSION"
	if v > 0 {
		ver = fmt.Sprint(v)
	}
	if o.Number > 0 {
		return fmt.Sprintf("%s%d:%s", map[string]string{"image": "i", "cine": "v", "report": "r"}[o.Group], o.Number, ver)
	}
	return ver
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
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
	switch {
	case l.WholeStudy:
		termf(kv, "    Objects:\tall\n")
	case len(l.Labels) > 0:
		termf(kv, "    Objects:\t%s\n", strings.Join(l.Labels, ", "))
	default:
		termf(kv, "    Objects:\t%s\n", formatRanges(l.Images, len(l.Instances)))
	}
	termf(kv, "    Views:\t%d\n", l.Views)
	if l.LinkCode {
		termf(kv, "    Link code:\trequired\n")
	}
	if !l.RenewalAsked.IsZero() {
		termf(kv, "    Attention:\tpatient asked for a new link on %s\n", fmtTime(l.RenewalAsked))
	}
	kv.Flush()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range l.Contacts {
		st := c.Status
		if st == admin.StatusOutbox {
			st = "local outbox only, NOT sent"
		}
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
