package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sonolink/dimse"
)

func newEchoCmd() *cobra.Command {
	var aet, called string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "echo [--aet X] [--called-aet Y] HOST:PORT",
		Short: "Check a DICOM peer with C-ECHO (verification)",
		Example: `  sonolink echo localhost:11112
  sonolink echo --called-aet PACS pacs.clinic.local:104`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			start := time.Now()
			if err := dimse.Echo(ctx, args[0], aet, called); err != nil {
				return fmt.Errorf("C-ECHO to %s (called AE %q) failed: %w", args[0], called, err)
			}
			termf(cmd.OutOrStdout(), "C-ECHO to %s (called AE %q): success in %s\n", args[0], called, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&aet, "aet", "SONOLINK_ECHO", "our (calling) AE title")
	cmd.Flags().StringVar(&called, "called-aet", "SONOLINK", "the peer's (called) AE title")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	return cmd
}
