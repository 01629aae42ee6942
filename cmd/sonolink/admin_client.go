package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sonolink/admin"
	"sonolink/contact"
)

// Helpers shared by the technician's commands (studies, study, send, resend,
// revoke, settings, audit). They reach the admin operations through the
// running server's socket, or open the data directory themselves when no
// server runs (admin.Connect decides).

// cliSession is an open connection to the admin operations.
type cliSession struct {
	ops        admin.Ops
	remote     bool   // talking to a running sonolink serve
	configFile string // the config file this command read (or would have)
}

// withAdmin connects, runs fn, and closes. Closing the in-process service
// delivers what was queued, once.
func withAdmin(cmd *cobra.Command, fn func(ctx context.Context, s *cliSession) error) error {
	dataDir, _ := cmd.Flags().GetString("data-dir")
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	opts, err := localOptions(cmd)
	if err != nil {
		return usageErr(err)
	}
	ops, closeFn, err := admin.Connect(ctx, dataDir, opts)
	if err != nil {
		return err
	}
	_, remote := ops.(*admin.Client)
	err = fn(ctx, &cliSession{ops: ops, remote: remote, configFile: opts.Local.Configured.ConfigFile})
	if cerr := closeFn(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// localOptions configures the in-process service used when no server runs.
// The logger writes warnings only, to stderr, and never patient data.
// It takes serve's settings that matter here (base URL, delivery providers,
// contact tags) from hidden flags, so the shared config file and SONOLINK_*
// variables apply to both.
//
// What was configured rather than left at its default (Changed: a flag, or
// applyConfig's environment and config file) tells admin what it may
// deliver without a server; see admin/offline.go.
func localOptions(cmd *cobra.Command) (admin.ConnectOptions, error) {
	o := admin.ConnectOptions{Logger: quietLogger()}
	flags := cmd.Flags()
	if f := flags.Lookup("base-url"); f != nil {
		o.Local.Share.BaseURL = f.Value.String()
		o.Local.Configured.BaseURL = f.Changed
	}
	if d := localDelivery[cmd]; d != nil {
		o.Local.Share.Delivery = d.cfg
		o.Local.Configured.EmailProvider = flags.Changed("email-provider")
		o.Local.Configured.EmailFrom = flags.Changed("email-from")
		o.Local.Configured.SMSProvider = flags.Changed("sms-provider")
	}
	o.Local.Configured.ConfigFile, _ = configPath(flags)
	if abs, err := filepath.Abs(o.Local.Configured.ConfigFile); err == nil {
		o.Local.Configured.ConfigFile = abs
	}
	if tags, err := cmd.Flags().GetStringSlice("contact-tags"); err == nil {
		t, err := parseTags(tags)
		if err != nil {
			return o, err
		}
		o.Local.ContactTags = t
	}
	return o, nil
}

// localDelivery holds each command's hidden delivery flags.
var localDelivery = map[*cobra.Command]*deliveryFlags{}

// addLocalFlags registers the serve settings the in-process fallback needs,
// hidden (they normally come from the shared config file or environment).
func addLocalFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("base-url", "http://localhost:8080", "public URL patients' links start with (as for serve)")
	f.StringSlice("contact-tags", contact.DefaultTagStrings(), "tags the patient's e-mail/phone are read from (as for serve)")
	d := &deliveryFlags{}
	d.register(f)
	localDelivery[cmd] = d
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "json" && fl.Name != "help" && !fl.Hidden && fl.Usage != "" && isLocalFlag(fl.Name) {
			fl.Hidden = true
		}
	})
}

// isLocalFlag reports whether a flag is one of serve's, registered hidden.
func isLocalFlag(name string) bool {
	if name == "base-url" || name == "contact-tags" {
		return true
	}
	probe := pflag.NewFlagSet("probe", pflag.ContinueOnError)
	(&deliveryFlags{}).register(probe)
	return probe.Lookup(name) != nil
}

// exactArgs is cobra.ExactArgs with the command's own message: what to
// give, and an example, instead of "accepts 1 arg(s), received 0".
func exactArgs(n int, what, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return usageErr(fmt.Errorf("%s takes %s; e.g. %s", cmd.CommandPath(), what, example))
	}
}

// actor names the person at the terminal for the audit log.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return fmt.Sprintf("cli:uid-%d", os.Getuid())
}

// cliError carries an exit code for errors the CLI itself detects.
type cliError struct {
	code int
	err  error
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }
func (e *cliError) ExitCode() int { return e.code }

func usageErr(err error) error { return &cliError{code: exitError, err: err} }
func noErr(format string, args ...any) error {
	return &cliError{code: exitFailure, err: fmt.Errorf(format, args...)}
}

// addJSONFlag registers --json on a command.
func addJSONFlag(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "json", false, "print the result as JSON (for scripts)")
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseDate accepts 2026-11-20, 20261120, "today" and "yesterday" (local time).
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	now := time.Now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.Local)
	switch strings.ToLower(s) {
	case "today":
		return today, nil
	case "yesterday":
		return today.AddDate(0, 0, -1), nil
	}
	for _, layout := range []string{"2006-01-02", "20060102"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: use YYYY-MM-DD (e.g. 2026-11-20), today or yesterday", s)
}

// parseSince accepts a date (as parseDate), an RFC 3339 time, or a duration
// back from now: 90m, 24h, 7d.
func parseSince(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n {
			return time.Now().AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := parseDate(s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: use a date (2026-11-20), a time (2026-11-20T14:00:00+01:00) or a duration back from now (90m, 24h, 7d)", s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func fmtDay(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02")
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// quietLogger is the in-process service's logger: warnings and errors only,
// on stderr (the technician's own terminal).
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
