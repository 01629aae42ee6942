package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"sonolink/internal/buildinfo"
)

// versionFormat is the line both `sonolink version` and `sonolink --version`
// print.
const versionFormat = "sonolink %s\n"

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print which build of sonolink this is",
		Long: `Print the version of this build: the git description it was built from
(make build), else the module version or VCS revision the go command
recorded, else "dev". --json adds the revision, the Go version and the
platform.`,
		Args: cobra.NoArgs,
		// The version does not depend on the configuration: a broken
		// config file must not hide which build is installed.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			info := buildinfo.Get()
			if !asJSON {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), versionFormat, info.Version)
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build information as JSON")
	return cmd
}
