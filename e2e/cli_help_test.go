package e2e

import (
	"strings"
	"testing"
)

var technicianCommands = [][]string{
	{"studies"}, {"study"}, {"send"}, {"resend"}, {"revoke"},
	{"settings"}, {"settings", "set"}, {"settings", "clear"}, {"audit"}, {"purge"}, {"completion"},
}

// Every technician command has a description and examples in --help.
func TestCLIHelpHasExamples(t *testing.T) {
	dir := shortTempDir(t)
	for _, c := range technicianCommands {
		r := mustCLI(t, 0, dir, append(c, "--help")...)
		if !strings.Contains(r.out, "Examples:") || !strings.Contains(r.out, "sonolink "+c[0]) {
			t.Errorf("%v --help has no examples:\n%s", c, r.out)
		}
		if c[0] != "completion" && !strings.Contains(r.out, "--json") {
			t.Errorf("%v has no --json flag", c)
		}
	}
}

func TestCLICompletionScripts(t *testing.T) {
	dir := shortTempDir(t)
	for shell, marker := range map[string]string{
		"bash": "complete -o default -F", "zsh": "#compdef sonolink",
		"fish": "complete -c sonolink", "powershell": "Register-ArgumentCompleter",
	} {
		r := mustCLI(t, 0, dir, "completion", shell)
		if !strings.Contains(r.out, marker) {
			t.Errorf("completion %s lacks %q", shell, marker)
		}
	}
	mustCLI(t, 2, dir, "completion", "tcsh")
}

// Usage errors exit 2 and say what to do, before touching the data directory.
func TestCLIUsageErrors(t *testing.T) {
	dir := shortTempDir(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"send", "X1"}, "--to is required"},
		{[]string{"send", "X1", "--to", "a@example.com", "--images", "3-1"}, "e.g. 1,3,5-8"},
		{[]string{"studies", "--from", "20.11.2026"}, "YYYY-MM-DD"},
		{[]string{"audit", "--since", "last week"}, "duration back from now"},
		{[]string{"study"}, "accepts 1 arg"},
	} {
		r := mustCLI(t, 2, dir, tc.args...)
		if !strings.Contains(r.err, tc.want) {
			t.Errorf("%v: stderr lacks %q:\n%s", tc.args, tc.want, r)
		}
	}
	r := mustCLI(t, 2, dir+"/missing", "studies")
	if !strings.Contains(r.err, "--data-dir") {
		t.Errorf("missing data dir: %s", r)
	}
}
