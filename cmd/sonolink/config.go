package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// applyConfig fills every flag the user did not set on the command line from
// SONOLINK_<FLAG> environment variables, then from the config file.
// Precedence: flag > environment > config file > default.
func applyConfig(cmd *cobra.Command) error {
	flags := cmd.Flags()
	fileVals, path, err := readConfigFile(flags)
	if err != nil {
		return err
	}
	var errs configErrors
	known := map[string]bool{}
	flags.VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := flags.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
			return
		}
		if v, ok := fileVals[f.Name]; ok {
			if err := flags.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", path, f.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// configErrors are every value the environment or the config file got
// wrong, reported together on one line; each keeps its cause.
type configErrors []error

func (e configErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "configuration: " + strings.Join(msgs, "; ")
}

func (e configErrors) Unwrap() []error { return e }

func envName(flag string) string {
	return "SONOLINK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// readConfigFile reads "key = value" lines (# comments, blank lines allowed).
// Keys are flag names; a key no command knows is an error only for serve,
// since the file is shared by every subcommand.
func readConfigFile(flags *pflag.FlagSet) (map[string]string, string, error) {
	path, explicit := "", false
	if f := flags.Lookup("config"); f != nil && f.Value.String() != "" {
		path, explicit = f.Value.String(), true
	} else if v := os.Getenv("SONOLINK_CONFIG"); v != "" {
		path, explicit = v, true
	} else {
		dir := "./sonolink-data"
		if f := flags.Lookup("data-dir"); f != nil {
			dir = f.Value.String()
		}
		if v := os.Getenv("SONOLINK_DATA_DIR"); v != "" && (flags.Lookup("data-dir") == nil || !flags.Lookup("data-dir").Changed) {
			dir = v
		}
		path = filepath.Join(dir, "sonolink.conf")
	}
	fh, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) && !explicit {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("config file: %w", err)
	}
	defer fh.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, "", fmt.Errorf("%s:%d: expected key = value", path, n)
		}
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `"`)
		vals[k] = v
	}
	return vals, path, sc.Err()
}
