package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"sonolink/admin"
	"sonolink/pipeline"
	"sonolink/retention"
	"sonolink/share"
	"sonolink/store"
)

func newPurgeCmd() *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "purge [--dry-run]",
		Short: "Purge the studies the clinic's retention settings no longer keep (--dry-run: list them)",
		Long: `Run a retention pass now: purge every study whose time is up, and list what
went and why. 'sonolink serve' runs the same pass hourly in the background.

A study goes retention.after_link after its last link expired or was revoked,
retention.unshared after its last object arrived when it was never shared,
and earlier, oldest first, while the free disk space is below
retention.free_floor (see 'sonolink settings'). A study with a live link,
one still being received or processed, or one whose Storage Commitment is
pending is never purged. Purging removes the received files, de-identified
copies, renders, index entries, links, tokens and outbox records; each purge
is in the audit log (study number, reason, age, size; no patient data).

With serve running, the pass runs in serve (through its admin socket);
otherwise here, on the data directory. Exit code 0 when everything listed
was purged, 1 when a study could not be purged after all (see ERROR),
2 when the pass could not run.`,
		Example: `  sonolink purge --dry-run
  sonolink purge
  sonolink purge --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir, _ := cmd.Flags().GetString("data-dir")
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			rep, err := runPurge(ctx, dataDir, dryRun)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if rep.Items == nil {
					rep.Items = []retention.Item{}
				}
				if err := printJSON(out, rep); err != nil {
					return err
				}
			} else if err := printPurge(out, rep); err != nil {
				return err
			}
			for _, it := range rep.Items {
				if it.Error != "" {
					return &cliError{code: exitFailure, err: errors.New("some studies could not be purged (see ERROR)")}
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be purged and why")
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// runPurge runs the pass in serve when it answers on its admin socket,
// else on the data directory here.
func runPurge(ctx context.Context, dataDir string, dryRun bool) (*retention.Report, error) {
	sock := admin.SocketPath(dataDir)
	if _, err := os.Lstat(sock); err == nil {
		c := admin.NewClient(sock)
		defer c.Close()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		perr := c.Ping(pctx)
		cancel()
		if perr == nil {
			return c.Purge(ctx, admin.PurgeRequest{DryRun: dryRun, Actor: actor()})
		}
	}
	if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
		return nil, usageErr(fmt.Errorf("no data directory at %s (--data-dir)", dataDir))
	}
	logger := quietLogger()
	s, err := store.Open(dataDir, store.Options{Logger: logger, LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, store.ErrInUse) {
		return nil, errors.New("the data directory is in use by a process without an admin socket; stop it or try again")
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sh, err := share.Open(dataDir, share.Options{Logger: logger, NoWorker: true})
	if err != nil {
		return nil, err
	}
	defer sh.Close()
	// Storage Commitment requests a stopped serve left unreported.
	commit, err := pipeline.NewCommitments(pipeline.CommitConfig{Store: s, Dir: filepath.Join(s.Dir(), "commitments"), Logger: logger})
	if err != nil {
		return nil, err
	}
	r := retention.New(retention.Config{Store: s, Share: sh, Logger: logger, Busy: func(uid string) string {
		if commit.Pending(uid) {
			return "storage commitment pending"
		}
		return ""
	}})
	return r.Purge(ctx, dryRun, actor())
}

func printPurge(out io.Writer, rep *retention.Report) error {
	verb := "Purged"
	if rep.DryRun {
		verb = "Would purge"
	}
	var objects int
	var bytes int64
	for _, it := range rep.Items {
		if rep.DryRun || it.Purged {
			objects += it.Objects
			bytes += it.Bytes
		}
	}
	n := rep.Purged
	if rep.DryRun {
		n = len(rep.Items)
	}
	if rep.Resumed > 0 {
		termf(out, "Finished %d purges a stop had interrupted.\n", rep.Resumed)
	}
	termf(out, "%s %d of %d studies (%d objects, %s).\n", verb, n, rep.Studies, objects, humanBytes(bytes))
	if len(rep.Items) > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STUDY\tPATIENT\tDATE\tREASON\tAGE\tOBJECTS\tSIZE\tWHY\tERROR")
		for _, it := range rep.Items {
			termf(tw, "%s\t%s\t%s\t%s\t%dd\t%d\t%s\t%s\t%s\n", it.Study, dash(it.Patient), dash(it.Date), it.Reason, it.AgeDays, it.Objects, humanBytes(it.Bytes), it.Why, dash(it.Error))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	termf(out, "Kept: %d with a live link, %d being received, processed or committed, %d not yet due.\n",
		rep.Kept["live-link"], rep.Kept["busy"], rep.Kept["recent"])
	if rep.TotalBytes > 0 {
		termf(out, "Free space: %s of %s (floor %s).\n", humanBytes(int64(rep.FreeBytes)), humanBytes(int64(rep.TotalBytes)), humanBytes(int64(rep.FloorBytes)))
	}
	return nil
}

// humanBytes is a size in decimal units, as disks are sold.
func humanBytes(n int64) string {
	switch {
	case n >= 1e12:
		return fmt.Sprintf("%.1f TB", float64(n)/1e12)
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
