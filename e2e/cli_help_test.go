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
		{[]string{"send", "X1", "--to", "a@example.com", "--images", "3-1"}, `e.g. --images "image 1, image 3-5, video 1"`},
		{[]string{"studies", "--from", "20.11.2026"}, "YYYY-MM-DD"},
		{[]string{"audit", "--since", "last week"}, "duration back from now"},
		// Wrong numbers of arguments get the command's own words.
		{[]string{"study"}, "sonolink study takes one study: its short id from 'sonolink studies'"},
		{[]string{"send"}, "sonolink send takes one study"},
		{[]string{"resend"}, "sonolink resend takes one link id (or a study with one active link)"},
		{[]string{"revoke", "L1", "L2"}, "sonolink revoke takes one link id"},
		{[]string{"settings", "set"}, "settings set takes a KEY and a VALUE"},
		{[]string{"settings", "set", "link.code"}, "settings set link.code: give the value too"},
		{[]string{"settings", "set", "clinic.name", "Ultraljud", "Söder"}, `put it in quotes: sonolink settings set clinic.name "Ultraljud Söder"`},
		{[]string{"settings", "clear"}, "sonolink settings clear takes one setting KEY"},
		{[]string{"settings", "link.code"}, `"link.code" is not a settings command`},
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
