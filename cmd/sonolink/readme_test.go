package main

import (
	"os"
	"regexp"
	"testing"

	"github.com/spf13/pflag"
)

// TestReadmeListsEveryServeFlag keeps README.md's configuration reference
// in step with `sonolink serve`: every flag has its row, with its
// environment variable, and no row names a flag that is gone.
func TestReadmeListsEveryServeFlag(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| `([A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		rows[m[1]] = m[2]
	}
	root := newRootCmd()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]bool{}
	check := func(f *pflag.Flag) {
		if f.Name == "help" || f.Hidden || flags[f.Name] {
			return
		}
		flags[f.Name] = true
		env, ok := rows[f.Name]
		switch {
		case !ok:
			t.Errorf("serve --%s has no row in README.md's configuration reference", f.Name)
		case env != envName(f.Name):
			t.Errorf("README.md gives --%s the variable %s, want %s", f.Name, env, envName(f.Name))
		}
	}
	serve.LocalFlags().VisitAll(check)
	serve.InheritedFlags().VisitAll(check)
	for name := range rows {
		if !flags[name] {
			t.Errorf("README.md lists --%s, which serve does not have", name)
		}
	}
}
