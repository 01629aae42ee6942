package main

import (
	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newRestoreCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "restore BACKUP",
		Short: "Restore a backup into a new or empty data directory",
		Long: `Copy a backup made by 'sonolink backup' into the data directory (--data-dir),
which must not exist yet or be empty: restore never overwrites a data
directory. Every file is checked against the backup's SHA256SUMS, and
SHA256SUMS against its manifest; a damaged or incomplete backup stops the
restore. Until the restore has finished, the directory holds a marker and
sonolink serve refuses it; running restore again finishes it.

A backup made by a newer sonolink is refused. One made by an older sonolink
is restored as it is, and serve upgrades it at its first start. Then start
sonolink serve on the directory ('sonolink check' first gives a summary of
the index against the files).`,
		Example: `  sonolink restore /mnt/backup/sonolink-2026-12-02 --data-dir /var/lib/sonolink
  sonolink restore BACKUP --data-dir ./sonolink-data --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir, _ := cmd.Flags().GetString("data-dir")
			m, err := admin.Restore(cmd.Context(), args[0], dataDir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, m)
			}
			printManifest(out, "Restored "+args[0]+" into "+dataDir, m)
			termf(out, "Start sonolink serve on it (--data-dir %s).\n", dataDir)
			return nil
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}
