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
		Use:   `send STUDY --to "EMAIL, PHONE" [--images "image 1, video 1"]`,
		Short: "Send the patient a new link to a study or to selected images",
		Long: `Issue a new link for a study (or for the objects selected with --images,
named as 'sonolink study' labels them, which is how the patient's page
names them too) and deliver it to the given contacts, by e-mail and/or SMS:
the same link on every channel.

--images takes labels separated by commas: "image 1, image 3-5, video 1",
"report 1", or short i1,i3-5,v1,r1. In a study with images only, plain
numbers are the images' numbers (--images 1,3,5-8).

With sonolink serve running, the command goes through it. Without it, the
command sends the link itself with the settings serve uses (config file,
SONOLINK_* variables; what it does not find there, it takes from what serve
last started with): with no public --base-url, or no e-mail/SMS provider
configured, it refuses (exit code 2) and says what to set, rather than send
a link the patient cannot open; when only serve knows the provider, the
message is queued for serve to deliver when it next starts.

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
  sonolink send 42 --to 070-123 45 67 --images "image 1, image 3-5, video 1"
  sonolink send 42 --to "maria@example.es" --lang es
  sonolink send ACC12345 --to name@example.com --json`,
		Args:              exactArgs(1, "one study (quote the contacts: --to \"email, phone\")", `sonolink send 42 --to "name@example.com, +46 70 123 45 67"`),
		ValidArgsFunction: completeStudies,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(to) == "" {
				return usageErr(fmt.Errorf(`--to is required: the patient's e-mail and/or phone, e.g. --to "name@example.com, +46701234567"`))
			}
			if images != "" {
				if err := admin.CheckImages(images); err != nil {
					return usageErr(err)
				}
			}
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				res, err := s.ops.Send(ctx, admin.SendRequest{Study: args[0], To: to, Images: images, Actor: actor(), Lang: lang})
				if err != nil {
					return err
				}
				res.ThroughServer = s.remote
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				printSent(cmd.OutOrStdout(), s, res, "sent")
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", `the patient's contacts: "email, phone" (required)`)
	cmd.Flags().StringVar(&images, "images", "", `only these objects, as 'sonolink study' labels them: "image 1, image 3-5, video 1" or i1,i3-5,v1 (default: the whole study)`)
	cmd.Flags().StringVar(&lang, "lang", "", "the patient's language for the messages and the page: "+strings.Join(i18n.Languages(), ", ")+" (default: typed with --to, else the phone's country's, else the clinic's)")
	addJSONFlag(cmd, &asJSON)
	addLocalFlags(cmd)
	return cmd
}

// printSent confirms a send or resend: "Link L7K3F9Q sent to a@b and +46…;
// available until 2027-02-20.", says what happens to messages not
// delivered yet, and whether a running sonolink serve did it.
func printSent(w io.Writer, s *cliSession, res *admin.SendResult, verb string) {
	var sent, outbox, pending, failed []string
	for _, c := range res.Contacts {
		switch c.Status {
		case "sent":
			sent = append(sent, c.To)
		case admin.StatusOutbox:
			outbox = append(outbox, c.To)
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
	if len(sent) > 0 {
		termf(w, "Link %s %s to %s; available until %s.\n", res.ID, verb, joinAnd(sent), until)
	} else if verb == "sent" {
		termf(w, "Link %s issued; available until %s.\n", res.ID, until)
	} else {
		termf(w, "Link %s renewed; available until %s.\n", res.ID, until)
	}
	if len(outbox) > 0 {
		termf(w, "Only written to the local outbox, NOT sent, for %s: the provider is file (email-provider, sms-provider). The patient has not received it.\n", joinAnd(outbox))
	}
	if len(failed) > 0 {
		termf(w, "Delivery failed to %s; see 'sonolink study %s'.\n", joinAnd(failed), studyRef(res))
	}
	if len(pending) > 0 {
		switch {
		case s.remote:
			termf(w, "Not delivered yet to %s; queued: sonolink serve keeps retrying (see 'sonolink study %s').\n", joinAnd(pending), studyRef(res))
		case res.QueuedForServer:
			termf(w, "Not sent yet to %s: queued for sonolink serve, which delivers it with its own e-mail/SMS settings when it next starts.\n", joinAnd(pending))
		default:
			termf(w, "Not delivered yet to %s; queued; sonolink serve retries when it runs.\n", joinAnd(pending))
		}
	}
	printThrough(w, s)
}

// printThrough says whether a running sonolink serve did the work.
func printThrough(w io.Writer, s *cliSession) {
	if s.remote {
		termf(w, "(Done by the running sonolink serve.)\n")
		return
	}
	termf(w, "(sonolink serve is not running: done by this command, with the settings of %s and SONOLINK_* variables, and those sonolink serve last started with.)\n", s.configFile)
}

func studyRef(res *admin.SendResult) string {
	if res.StudyID != "" {
		return res.StudyID
	}
	return res.StudyUID
}
