package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// newLogger builds the process logger: JSON for machines (default) or text
// for a person at a terminal. Log lines never carry patient data; packages
// log UIDs' hashes, AE titles, addresses and counts only.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w; use debug, info, warn or error", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: use json or text", format)
	}
	if b, ok := w.(*logBuffer); ok {
		h = warnFlusher{h, b}
	}
	return slog.New(h), nil
}

// useLogger makes logger the process's default, so that whatever logs
// without being handed one (slog.Default, and libraries writing through
// the standard log package) writes in its format too: with --log-format
// json, every line is JSON.
func useLogger(logger *slog.Logger) { slog.SetDefault(logger) }

// reportError writes the error that ended a command: as a log record when
// the command logs (serve), in its --log-format, so that a log collector
// reading JSON sees it too; else as "Error: …".
func reportError(w io.Writer, cmd *cobra.Command, err error) {
	var format string
	if cmd != nil {
		if f := cmd.Flags().Lookup("log-format"); f != nil {
			format = f.Value.String()
		}
	}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, nil)
	case "text":
		h = slog.NewTextHandler(w, nil)
	default:
		fmt.Fprintln(w, "Error:", termText(err.Error()))
		return
	}
	slog.New(h).Error("sonolink stopped: "+err.Error(), "err", err.Error())
}
