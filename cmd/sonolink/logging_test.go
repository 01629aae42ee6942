package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// jsonLines fails unless every line of out is a JSON object, and returns
// their messages.
func jsonLines(t *testing.T, out string) []string {
	t.Helper()
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("not a JSON line: %q", l)
			continue
		}
		m, _ := rec["msg"].(string)
		msgs = append(msgs, m)
	}
	return msgs
}

func TestStandardLogGoesThroughSlog(t *testing.T) {
	defer slog.SetDefault(slog.Default())
	defer log.SetFlags(log.Flags())
	var buf bytes.Buffer
	logger, err := newLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	useLogger(logger)
	log.Print("a library speaks")
	slog.Info("a package without a logger")
	if msgs := jsonLines(t, buf.String()); !slices.Equal(msgs, []string{"a library speaks", "a package without a logger"}) {
		t.Errorf("messages %q", msgs)
	}
}

func TestReportErrorInLogFormat(t *testing.T) {
	cmd := &cobra.Command{Use: "serve"}
	cmd.Flags().String("log-format", "json", "")
	var buf bytes.Buffer
	reportError(&buf, cmd, errors.New("HTTP listen on :8080: address already in use"))
	if msgs := jsonLines(t, buf.String()); len(msgs) != 1 || !strings.Contains(msgs[0], "address already in use") {
		t.Errorf("error record %q", buf.String())
	}
	buf.Reset()
	reportError(&buf, &cobra.Command{Use: "studies"}, errors.New("no node"))
	if buf.String() != "Error: no node\n" {
		t.Errorf("command without --log-format: %q", buf.String())
	}
}

func TestWorldReadableConfigWithSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	run := func(path string) *exposedConfig {
		var got *exposedConfig
		root := &cobra.Command{Use: "x", SilenceUsage: true, SilenceErrors: true}
		root.PersistentFlags().String("data-dir", dir, "")
		root.PersistentFlags().String("config", "", "")
		root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error { return applyConfig(cmd) }
		sub := &cobra.Command{Use: "serve", RunE: func(cmd *cobra.Command, args []string) error {
			got = exposedConfigOf(cmd)
			return nil
		}}
		sub.Flags().String("smtp-password", "", "")
		sub.Flags().String("twilio-auth-token", "", "")
		sub.Flags().String("http-addr", "", "")
		root.AddCommand(sub)
		root.SetArgs([]string{"serve", "--config", path})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	secrets := "http-addr = :8080\nsmtp-password = hunter2\ntwilio-auth-token = abc\n"
	e := run(write("open.conf", secrets, 0o644))
	if e == nil || e.mode != 0o644 || !slices.Equal(e.keys, []string{"smtp-password", "twilio-auth-token"}) {
		t.Errorf("world-readable file with secrets: %+v", e)
	}
	if e := run(write("closed.conf", secrets, 0o600)); e != nil {
		t.Errorf("mode 0600 reported: %+v", e)
	}
	if e := run(write("plain.conf", "http-addr = :8080\nsmtp-password =\n", 0o644)); e != nil {
		t.Errorf("world-readable file without secrets reported: %+v", e)
	}
}
