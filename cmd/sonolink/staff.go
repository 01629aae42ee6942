package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"sonolink/admin"
	"sonolink/console"
)

const staffLong = `Staff accounts of the web console (sonolink serve --staff-addr). They are
kept in <data-dir>/staff.db and take effect at once, also in a running serve.

Roles: technician (find studies, send, resend, revoke) and admin (also the
clinic settings). Passwords are read from the terminal without echo, or from
the first line of standard input when it is not a terminal; never from a
flag, where ps would show them.`

func newStaffCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "staff",
		Short: "Manage the staff console's accounts",
		Long:  staffLong,
		Example: `  sonolink staff add anna --role admin
  sonolink staff add erik
  sonolink staff list
  echo "$NEW_PASSWORD" | sonolink staff passwd erik
  sonolink staff disable erik`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newStaffAddCmd(), newStaffListCmd(), newStaffPasswdCmd(), newStaffDisableCmd())
	return cmd
}

func staffAccounts(cmd *cobra.Command) *console.Accounts {
	dir, _ := cmd.Flags().GetString("data-dir")
	return console.NewAccounts(console.AccountsPath(dir))
}

// auditStaff records an account change in the audit log, naming who made
// it. The change itself is already made; a failure to record it is said on
// stderr, not turned into a failure of the command.
func auditStaff(cmd *cobra.Command, event, detail string) {
	dir, _ := cmd.Flags().GetString("data-dir")
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := admin.RecordStaffEvent(ctx, dir, admin.StaffEvent{Event: event, Actor: actor(), Detail: detail}); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: the change is made but not in the audit log: %v\n", err)
	}
}

// staffErr maps the account store's errors onto exit codes.
func staffErr(err error) error {
	switch {
	case errors.Is(err, console.ErrNoAccount):
		return noErr("%v; see 'sonolink staff list'", err)
	case errors.Is(err, console.ErrExists), errors.Is(err, console.ErrBadName), errors.Is(err, console.ErrBadRole), errors.Is(err, console.ErrWeakPassword):
		return usageErr(err)
	}
	return err
}

func newStaffAddCmd() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:     "add NAME",
		Short:   "Add a staff account (asks for its password)",
		Example: "  sonolink staff add anna --role admin\n  printf '%s\\n' \"$PASSWORD\" | sonolink staff add erik",
		Args:    staffArgs(1, "give the new account's name, e.g. sonolink staff add anna"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readNewPassword(cmd)
			if err != nil {
				return err
			}
			a, err := staffAccounts(cmd).Add(args[0], role, pw)
			if err != nil {
				return staffErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s); the audit log names their actions staff:%s\n", a.Name, a.Role, a.Name)
			auditStaff(cmd, admin.StaffAdded, fmt.Sprintf("account %s (%s)", a.Name, a.Role))
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", console.RoleTechnician, "technician or admin (admins also change the clinic settings)")
	return cmd
}

func newStaffListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the staff accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := staffAccounts(cmd).List()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no staff accounts; add one with: sonolink staff add NAME --role admin")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tPASSWORD SET")
			for _, a := range list {
				state := "active"
				if a.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, a.Role, state, fmtTime(a.Changed))
			}
			return tw.Flush()
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func newStaffPasswdCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a staff account's password (and enable it again)",
		Long:  "Set a new password; the account's open sessions end. A disabled account is enabled again.",
		Args:  staffArgs(1, "give the account's name, e.g. sonolink staff passwd anna"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readNewPassword(cmd)
			if err != nil {
				return err
			}
			a, err := staffAccounts(cmd).SetPassword(args[0], pw)
			if err != nil {
				return staffErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s set; their open sessions have ended\n", a.Name)
			auditStaff(cmd, admin.StaffPasswordSet, "account "+a.Name)
			return nil
		},
	}
}

func newStaffDisableCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disable NAME",
		Short: "Disable a staff account (its sessions end at once)",
		Long:  "Disable an account: it can no longer log in and its open sessions end. 'sonolink staff passwd NAME' enables it again.",
		Args:  staffArgs(1, "give the account's name, e.g. sonolink staff disable erik"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := staffAccounts(cmd).Disable(args[0])
			if err != nil {
				return staffErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s disabled; their open sessions have ended\n", a.Name)
			auditStaff(cmd, admin.StaffDisabled, "account "+a.Name)
			return nil
		},
	}
}

// staffArgs is cobra.ExactArgs with the command's own message.
func staffArgs(n int, msg string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr(errors.New(msg))
		}
		return nil
	}
}

// readNewPassword asks twice on a terminal (no echo), or reads one line
// of standard input otherwise.
func readNewPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		pw, err := promptNoEcho(f, cmd.ErrOrStderr(), "Password: ")
		if err != nil {
			return "", err
		}
		again, err := promptNoEcho(f, cmd.ErrOrStderr(), "Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", usageErr(errors.New("the two passwords differ; nothing was changed"))
		}
		return pw, checkLen(pw)
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageErr(errors.New("no password on standard input; type it at the prompt, or pipe it in: printf '%s\\n' \"$PASSWORD\" | sonolink staff add NAME"))
	}
	return pw, checkLen(pw)
}

func checkLen(pw string) error {
	if len([]rune(pw)) < console.MinPasswordLen {
		return usageErr(console.ErrWeakPassword)
	}
	return nil
}

func promptNoEcho(f *os.File, w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	restore, err := echoOff(f)
	if err != nil {
		return "", err
	}
	line, rerr := bufio.NewReader(f).ReadString('\n')
	restore()
	fmt.Fprintln(w)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return "", rerr
	}
	return strings.TrimRight(line, "\r\n"), nil
}
