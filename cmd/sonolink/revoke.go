package main

import (
	"context"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newRevokeCmd() *cobra.Command {
	var reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "revoke LINK [--reason TEXT]",
		Short: "Stop a link at once (e.g. sent to a wrong address)",
		Long: `Revoke a link: from this moment its page answers "not found", and it can never
be resent. Other links of the study are not affected; to give the patient
access again, issue a new link with 'sonolink send'.

The reason is kept in the audit log and shown in the shares panel.
Revoking a revoked link changes nothing and says when it was revoked.
Exit code 1 when there is no such link.`,
		Example: `  sonolink revoke L7K3F9Q --reason "wrong e-mail address"
  sonolink revoke L7K3F9Q --json`,
		Args: exactArgs(1, "one link id, as 'sonolink study' shows it", `sonolink revoke L7K3F9Q --reason "wrong address"`),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				l, err := s.ops.Revoke(ctx, admin.LinkRequest{Link: args[0], Reason: reason, Actor: actor()})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), l)
				}
				var to []string
				for _, c := range l.Contacts {
					to = append(to, c.To)
				}
				study := l.StudyID
				if study == "" {
					study = l.StudyUID
				}
				if l.AlreadyRevoked {
					why := ""
					if l.RevokedReason != "" {
						why = " (" + l.RevokedReason + ")"
					}
					termf(cmd.OutOrStdout(), "Link %s was already revoked on %s%s; nothing changed.\n", l.ID, fmtTime(l.RevokedAt), why)
				} else {
					termf(cmd.OutOrStdout(), "Link %s revoked; it no longer opens.\n", l.ID)
				}
				termf(cmd.OutOrStdout(), "To share the study again: %s\n", admin.SendCommand(study, to))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log), e.g. \"wrong address\"")
	addJSONFlag(cmd, &asJSON)
	return cmd
}
