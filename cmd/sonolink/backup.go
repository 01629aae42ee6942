package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"sonolink/admin"
)

func newBackupCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Write a consistent backup of the data directory into DIR, while serve runs",
		Long: `Copy everything a restored node needs into DIR, a new (or empty) directory,
preferably on another disk: the index and the share database (each as one
transaction saw it), every received object and its de-identified copy and
renders, and the secrets (anonymize.secret, share.key; keep the backup as
private as the data directory). DIR also gets manifest.json (versions,
counts) and SHA256SUMS (checked by 'sonolink restore', or by sha256sum -c).

When sonolink serve runs, it writes the backup itself (asked through its
admin socket) and keeps receiving meanwhile; otherwise this command opens
the data directory. The backup holds every object acknowledged before it
started; objects that arrive while it runs are in the next one. The files
are written beside DIR and renamed into place once they are all on disk.

Exit code 1 when indexed files were missing (they are marked missing in
the backup), 2 when no backup was written.`,
		Example: `  sonolink backup /mnt/backup/sonolink-2026-12-02
  sonolink backup --json /mnt/backup/$(date +%F)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return usageErr(err)
			}
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				m, err := s.ops.Backup(ctx, admin.BackupRequest{Dir: dir})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					if err := printJSON(out, m); err != nil {
						return err
					}
				} else {
					printManifest(out, "Backup written to "+dir, m)
				}
				if m.Store.Missing > 0 {
					return noErr("%d indexed object files were missing (marked missing in the backup; the log names them); run sonolink check", m.Store.Missing)
				}
				return nil
			})
		},
	}
	addLocalFlags(cmd)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func printManifest(out io.Writer, title string, m *admin.Manifest) {
	termf(out, "%s (%s).\n", title, sizeText(m.Bytes))
	termf(out, "  made by sonolink %s at %s; schema versions index %d, share %d\n", m.Sonolink, fmtTime(m.Created), m.IndexSchema, m.ShareSchema)
	termf(out, "  studies %d, objects %d (%d conflict versions), links %d\n", m.Store.Studies, m.Store.Instances, m.Store.Conflicts, m.Share.Links)
	termf(out, "  files %d: %d object files, %d de-identified copies and renders\n", m.Files, m.Store.Objects, m.Store.Derived)
	if m.Store.Purged > 0 {
		termf(out, "  %d objects deleted while the backup ran (kept as missing entries)\n", m.Store.Purged)
	}
	if m.Store.Redo > 0 {
		termf(out, "  %d objects whose copies and renders changed meanwhile: a restored node makes them again\n", m.Store.Redo)
	}
	if m.Took != "" {
		termf(out, "  took %s\n", m.Took)
	}
}

func sizeText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
