package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"sonolink/anonymize"
)

// anonymizeExit carries the exit code of `sonolink anonymize`: 1 when an
// object is residual, 2 when an input could not be processed.
type anonymizeExit struct {
	code int
	err  error
}

func (e *anonymizeExit) Error() string { return e.err.Error() }
func (e *anonymizeExit) Unwrap() error { return e.err }
func (e *anonymizeExit) ExitCode() int { return e.code }

// anonymizeLine is one verdict, as printed with --json.
type anonymizeLine struct {
	Input   string   `json:"input"`
	Output  string   `json:"output,omitempty"`
	Clean   bool     `json:"clean"`
	Reasons []string `json:"reasons,omitempty"`
	Error   string   `json:"error,omitempty"`
	Profile string   `json:"profile"`
}

func newAnonymizeCmd() *cobra.Command {
	var outDir, secretFile string
	var asJSON bool
	var options []string
	cmd := &cobra.Command{
		Use:   "anonymize [--out DIR] [--json] [--option NAME]… [--secret-file F] FILE|DIR…",
		Short: "Write de-identified copies of DICOM files and say which are clean",
		Long: `anonymize applies the DICOM Basic Application Level Confidentiality Profile
(PS3.15 Table E.1-1, 2024b) to every file given (directories are walked), blacks
out everything outside the ultrasound regions, re-reads each copy and searches
it for the original's identifying values, and prints one verdict per input:
clean, or residual with the reasons (SR content, PDF, pixels not cleaned,
verification hit…). Copies are written to --out as <new SOP Instance UID>.dcm.

UIDs are replaced by 2.25 UIDs keyed by the installation secret
(<data-dir>/anonymize.secret, created on first use, or --secret-file), so the
same source UID always maps to the same new UID.

Options (--option, repeatable):
  retain-dates          keep dates and times (Retain Full Dates option)
  shift-dates           shift dates by a per-patient number of days (Modified Dates)
  retain-patient-chars  keep age, sex, size, weight… (Patient Characteristics)
  keep-private=CREATOR:GGGGxxEE[;…]  keep these private attributes

Exit status: 0 all clean, 1 any residual, 2 on error.`,
		Example: `  sonolink anonymize --out ./anonymized study/
  sonolink anonymize --json --option retain-dates IMG0001.dcm
  sonolink anonymize --option shift-dates --option retain-patient-chars --secret-file /etc/sonolink/secret exam/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := anonymize.ParseOptions(options)
			if err != nil {
				return &anonymizeExit{code: exitError, err: err}
			}
			if secretFile != "" {
				opts.Secret, err = os.ReadFile(secretFile)
				if err == nil && len(opts.Secret) < 16 {
					err = fmt.Errorf("secret file %s holds %d bytes, want at least 16", secretFile, len(opts.Secret))
				}
			} else {
				dataDir, _ := cmd.Flags().GetString("data-dir")
				if dataDir == "" {
					dataDir = "./sonolink-data"
				}
				opts.Secret, err = anonymize.LoadOrCreateSecret(dataDir)
			}
			if err != nil {
				return &anonymizeExit{code: exitError, err: err}
			}
			a, err := anonymize.New(opts)
			if err != nil {
				return &anonymizeExit{code: exitError, err: err}
			}
			inputs, err := anonymizeInputs(args)
			if err != nil {
				return &anonymizeExit{code: exitError, err: err}
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return &anonymizeExit{code: exitError, err: err}
			}
			var lines []anonymizeLine
			for _, in := range inputs {
				lines = append(lines, anonymizeOne(a, in, outDir))
			}
			if err := printAnonymize(cmd.OutOrStdout(), lines, asJSON); err != nil {
				return err
			}
			return anonymizeStatus(lines)
		},
	}
	cmd.Flags().StringVar(&outDir, "out", "./anonymized", "directory for the de-identified copies")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per input (JSON lines) instead of a table")
	cmd.Flags().StringArrayVar(&options, "option", nil, "profile option: retain-dates, shift-dates, retain-patient-chars, keep-private=CREATOR:GGGGxxEE (repeatable)")
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "file holding the UID/date secret (default: <data-dir>/anonymize.secret, created if missing)")
	return cmd
}

// anonymizeInputs expands directories into the regular files below them.
func anonymizeInputs(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, arg)
			continue
		}
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func anonymizeOne(a *anonymize.Anonymizer, in, outDir string) anonymizeLine {
	line := anonymizeLine{Input: in, Profile: a.Profile()}
	var buf bytes.Buffer
	res, err := a.File(in, &buf)
	if err != nil {
		line.Error = err.Error()
		return line
	}
	out := filepath.Join(outDir, res.SOPInstanceUID+".dcm")
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		line.Error = err.Error()
		return line
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		line.Error = err.Error()
		return line
	}
	line.Output, line.Clean, line.Reasons = out, res.Verdict.Clean, res.Verdict.Reasons
	return line
}

func printAnonymize(w io.Writer, lines []anonymizeLine, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT\tINPUT\tOUTPUT\tREASONS")
	for _, l := range lines {
		verdict, reasons := "residual", strings.Join(l.Reasons, "; ")
		switch {
		case l.Error != "":
			verdict, reasons = "error", l.Error
		case l.Clean:
			verdict = "clean"
		}
		termf(tw, "%s\t%s\t%s\t%s\n", verdict, l.Input, l.Output, reasons)
	}
	return tw.Flush()
}

func anonymizeStatus(lines []anonymizeLine) error {
	errs, residual := 0, 0
	for _, l := range lines {
		switch {
		case l.Error != "":
			errs++
		case !l.Clean:
			residual++
		}
	}
	switch {
	case errs > 0:
		return &anonymizeExit{code: exitError, err: fmt.Errorf("%d of %d inputs could not be de-identified", errs, len(lines))}
	case residual > 0:
		return &anonymizeExit{code: exitFailure, err: fmt.Errorf("%d of %d copies are residual (not certified clean)", residual, len(lines))}
	}
	return nil
}
