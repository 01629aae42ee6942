// Command sonolink is a DICOM storage node that gives ultrasound patients
// their own images. See README.md.
package main

import (
	"errors"
	"fmt"
	"os"
	// The clinic's time zone (clinic.timezone) must load on a machine
	// without the tzdata package.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"sonolink/internal/buildinfo"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran but the answer is "no" (e.g. residual objects, link expired)
	exitError   = 2 // bad usage, bad input, or an error that stopped the command
)

// exitCoder lets a command choose its exit code through the error it returns.
type exitCoder interface{ ExitCode() int }

func main() {
	root := newRootCmd()
	cmd, err := root.ExecuteC()
	if err == nil {
		return
	}
	reportError(os.Stderr, cmd, err)
	var ec exitCoder
	if errors.As(err, &ec) {
		os.Exit(ec.ExitCode())
	}
	os.Exit(exitError)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sonolink",
		Short: "DICOM node that sends ultrasound patients a link to their own images",
		Long: `sonolink receives ultrasound studies over DICOM, makes de-identified copies,
and sends each patient a link to a landing page with their images.

Every flag can also be set in the config file (key = value, keys are flag
names) or as an environment variable SONOLINK_<FLAG> (dashes become
underscores). Precedence: flag, then environment, then config file, then the
built-in default.`,
		Version:       buildinfo.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(fmt.Sprintf(versionFormat, "{{.Version}}"))
	root.PersistentFlags().String("data-dir", "./sonolink-data", "data directory (store, links, outbox, secrets)")
	root.PersistentFlags().String("config", "", "config file (default: <data-dir>/sonolink.conf when it exists)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		return applyConfig(cmd)
	}
	root.AddCommand(
		// The node.
		newServeCmd(),
		// Technician operations, through the running node's admin socket
		// (or the data directory when no node runs).
		newStudiesCmd(),
		newStudyCmd(),
		newResendCmd(),
		newRevokeCmd(),
		newAuditCmd(),
		newSettingsCmd(),
		newPurgeCmd(),
		newStaffCmd(),
		// Maintenance of the data directory (backup also while a node runs).
		newCheckCmd(),
		newBackupCmd(),
		newRestoreCmd(),
		// DICOM tools that need no node.
		newSendCmd(),
		newEchoCmd(),
		newAnonymizeCmd(),
		// About this installation.
		newVersionCmd(),
		newCompletionCmd(),
	)
	return root
}
