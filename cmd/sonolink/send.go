package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"sonolink/admin"
	"sonolink/i18n"
)

func newSendCmd() *cobra.Command {
	var to, images, lang string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   `send STUDY --to "EMAIL, PHONE" [--images 1,3,5-8]`,
		Short: "Send the patient a new link to a study or to selected images",
		Long: `Issue a new link for a study (or for the objects selected with --images,
numbered as 'sonolink study' prints them) and deliver it to the given
contacts, by e-mail and/or SMS: the same link on every channel.

--to takes e-mail addresses and phone numbers separated by commas, semicolons
or spaces, with the same rules as contacts read from DICOM: phone numbers with
"+" and a country code are used as given, national numbers get the clinic's
default country code (sonolink settings). An invalid contact stops the command
(exit code 2) with the reason; nothing is sent.

The patient's messages and page are in --lang when given; else in a language
typed with the contacts ("maria@example.es, +34 612 345 678, es"), else in the
language of the phone number's country when sonolink speaks it, else in the
clinic's language. The page also follows the phone's own language setting.

Links issued earlier for the study keep working. STUDY is a short id, a Study
Instance UID or an accession number.`,
		Example: `  sonolink send 42 --to "name@example.com, +46 70 123 45 67"
  sonolink send 42 --to 070-123 45 67 --images 1,3,5-8
  sonolink send 42 --to "maria@example.es" --lang es
  sonolink send ACC12345 --to name@example.com --json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeStudies,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(to) == "" {
				return usageErr(fmt.Errorf(`--to is required: the patient's e-mail and/or phone, e.g. --to "name@example.com, +46701234567"`))
			}
			if images != "" {
				if _, err := admin.ParseImages(images, 0); err != nil {
					return usageErr(err)
				}
			}
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				res, err := s.ops.Send(ctx, admin.SendRequest{Study: args[0], To: to, Images: images, Actor: actor(), Lang: lang})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				printSent(cmd.OutOrStdout(), s, res, "sent")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", `the patient's contacts: "email, phone" (required)`)
	cmd.Flags().StringVar(&images, "images", "", "only these objects, numbered as 'sonolink study' prints them: 1,3,5-8 (default: the whole study)")
	cmd.Flags().StringVar(&lang, "lang", "", "the patient's language for the messages and the page: "+strings.Join(i18n.Languages(), ", ")+" (default: typed with --to, else the phone's country's, else the clinic's)")
	addJSONFlag(cmd, &asJSON)
	addLocalFlags(cmd)
	return cmd
}

// printSent confirms a send or resend: "Link L7K3F9Q sent to a@b and +46…;
// available until 2027-02-20." and says what happens to messages not
// delivered yet.
func printSent(w io.Writer, s *cliSession, res *admin.SendResult, verb string) {
	var sent, pending, failed []string
	for _, c := range res.Contacts {
		switch c.Status {
		case "sent":
			sent = append(sent, c.To)
		case "failed":
			r := c.To
			if c.Reason != "" {
				r += " (" + c.Reason + ")"
			}
			failed = append(failed, r)
		default:
			pending = append(pending, c.To)
		}
	}
	until := fmtDay(res.Expires)
	switch {
	case len(sent) == len(res.Contacts):
		termf(w, "Link %s %s to %s; available until %s.\n", res.ID, verb, joinAnd(sent), until)
	case len(sent) > 0:
		termf(w, "Link %s %s to %s; available until %s.\n", res.ID, verb, joinAnd(sent), until)
	default:
		termf(w, "Link %s issued; available until %s.\n", res.ID, until)
	}
	if len(pending) > 0 || len(failed) > 0 {
		not := append(append([]string{}, pending...), failed...)
		if s.remote {
			termf(w, "Not delivered yet to %s; queued: sonolink serve keeps retrying (see 'sonolink study %s').\n", joinAnd(not), studyRef(res))
		} else {
			termf(w, "Not delivered yet to %s; queued; will be delivered when sonolink serve runs.\n", joinAnd(not))
		}
	}
}

func studyRef(res *admin.SendResult) string {
	if res.StudyID != "" {
		return res.StudyID
	}
	return res.StudyUID
}
