package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"sonolink/store"
)

// checkReport is what `sonolink check --json` prints.
type checkReport struct {
	Startup  store.Recovery    `json:"startup"`
	Scrub    store.ScrubResult `json:"scrub"`
	Problems int               `json:"problems"`
	Repaired int               `json:"repaired"`
}

func newCheckCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the whole store: every index entry against its file and every file against the index",
		Long: `Run a full scrub of the data directory now, at full speed, and print what it
found. 'sonolink serve' runs the same scrub in the background at low
priority (its findings: the log and the sonolink_store_scrub_* metrics);
check is for an operator who wants the answer now, e.g. after restoring a
backup. It needs the data directory to itself: stop serve first.

Entries whose file is gone are kept and marked missing; a file that comes
back is unmarked; files nobody indexed are indexed (or removed when they are
not whole: never acknowledged); leftover temporary files are removed.
Exit code 0 when nothing is wrong (repairs included), 1 when entries without
a file or unreadable files remain, 2 when the check could not run.`,
		Example: `  sonolink check
  sonolink check --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir, _ := cmd.Flags().GetString("data-dir")
			if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
				return usageErr(fmt.Errorf("no data directory at %s (--data-dir)", dataDir))
			}
			s, err := store.Open(dataDir, store.Options{Logger: quietLogger(), LockTimeout: 200 * time.Millisecond})
			if errors.Is(err, store.ErrInUse) {
				return usageErr(errors.New("sonolink serve holds the data directory: stop serve or wait for the background scrub (see the log and the sonolink_store_scrub_* metrics)"))
			}
			if err != nil {
				return err
			}
			defer s.Close()
			t0 := time.Now()
			r, err := s.Scrub(cmd.Context(), store.ScrubOptions{Restart: true})
			if err != nil {
				return fmt.Errorf("check stopped after %d entries and files (the background scrub resumes from there): %w", r.Checked, err)
			}
			rep := checkReport{Startup: s.Recovery(), Scrub: r, Problems: r.Problems(), Repaired: r.Repaired()}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printJSON(out, rep); err != nil {
					return err
				}
			} else {
				termf(out, "Checked %d index entries and files in %s.\n", r.Checked, time.Since(t0).Round(time.Millisecond))
				termf(out, "  missing files (entries kept, marked):  %d\n", r.Missing)
				termf(out, "  unreadable unindexed files (left):     %d\n", r.Unreadable)
				termf(out, "  files back (unmarked):                 %d\n", r.Found)
				termf(out, "  unindexed files indexed:               %d\n", r.Reindexed)
				termf(out, "  unindexed torn files removed:          %d\n", r.Incomplete)
				termf(out, "  temporary files removed:               %d\n", r.TempRemoved+rep.Startup.TempRemoved)
			}
			if rep.Problems > 0 {
				return &cliError{code: exitFailure, err: fmt.Errorf("%d problems remain (see above; the log names the objects)", rep.Problems)}
			}
			if !asJSON {
				termf(out, "No problems.\n")
			}
			return nil
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}
