package main

import (
	"context"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newResendCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "resend LINK|STUDY",
		Short: "Send the same link again to the same contacts; its lifetime starts again",
		Long: `Deliver an existing link again, to the contacts it was sent to, and start its
lifetime again (the clinic's link lifetime, from now).

A link that expired or was revoked cannot be resent (exit code 1): issue a new
one with 'sonolink send'. LINK is the id printed by 'sonolink send' and shown
in the shares panel of 'sonolink study'. A STUDY (short id, Study Instance
UID or accession number) will do when it has exactly one active link; with
several, the command lists them and you pick one.

Without sonolink serve running, resend delivers with the same settings as
send (see 'sonolink send --help'), and refuses rather than send a link the
patient cannot open.`,
		Example: `  sonolink resend L7K3F9Q
  sonolink resend 42
  sonolink resend L7K3F9Q --json`,
		Args: exactArgs(1, "one link id (or a study with one active link)", "sonolink resend L7K3F9Q"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				res, err := s.ops.Resend(ctx, admin.LinkRequest{Link: args[0], Actor: actor()})
				if err != nil {
					return err
				}
				res.ThroughServer = s.remote
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				printSent(cmd.OutOrStdout(), s, res, "sent again")
				return nil
			})
		},
	}
	addJSONFlag(cmd, &asJSON)
	addLocalFlags(cmd)
	return cmd
}
