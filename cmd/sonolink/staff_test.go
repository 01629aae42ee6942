package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"sonolink/internal/testenv"
	"sonolink/share"
)

// runStaff runs `sonolink staff ARGS` on dir with stdin and returns its
// output and the exit code main would give.
func runStaff(t *testing.T, dir, stdin string, args ...string) (string, int) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"staff", "--data-dir", dir}, args...))
	err := root.Execute()
	if err == nil {
		return out.String(), 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return out.String() + err.Error(), ec.ExitCode()
	}
	return out.String() + err.Error(), exitError
}

// TestStaffCommands: accounts are added with the password on standard
// input (never a flag), listed as JSON without their hashes, disabled and
// given a new password; mistakes get the domain's own messages.
func TestStaffCommands(t *testing.T) {
	testenv.Long(t, "each password is hashed with argon2id at 64 MiB, seconds on a busy machine")
	dir := t.TempDir()
	if out, code := runStaff(t, dir, "a-long-password\n", "add", "anna", "--role", "admin"); code != 0 || !strings.Contains(out, "staff:anna") {
		t.Fatalf("add: %d %s", code, out)
	}
	if out, code := runStaff(t, dir, "another-password\n", "add", "erik"); code != 0 || !strings.Contains(out, "technician") {
		t.Fatalf("add erik: %d %s", code, out)
	}
	for name, c := range map[string]struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		"existing": {"a-long-password\n", []string{"add", "anna"}, exitError, "exists"},
		"unknown":  {"a-long-password\n", []string{"passwd", "nobody"}, exitFailure, "no such staff account"},
	} {
		out, code := runStaff(t, dir, c.stdin, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d %q, want %d and %q", name, code, out, c.code, c.want)
		}
	}
	testStaffMistakes(t, dir)
	if out, code := runStaff(t, dir, "", "disable", "erik"); code != 0 {
		t.Fatalf("disable: %d %s", code, out)
	}
	out, code := runStaff(t, dir, "", "list", "--json")
	if code != 0 {
		t.Fatalf("list: %d %s", code, out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(list) != 2 || list[0]["name"] != "anna" || list[0]["role"] != "admin" || list[1]["disabled"] != true {
		t.Fatalf("list = %v", list)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "hash") {
		t.Fatalf("list shows the password hash: %s", out)
	}
	if out, code := runStaff(t, dir, "a-new-password\n", "passwd", "erik"); code != 0 || !strings.Contains(out, "sessions have ended") {
		t.Fatalf("passwd: %d %s", code, out)
	}
	out, _ = runStaff(t, dir, "", "list")
	if !strings.Contains(out, "erik") || strings.Contains(out, "disabled") {
		t.Fatalf("after passwd, erik is not active again:\n%s", out)
	}
	// Every account change is in the audit log, naming who made it,
	// without a password.
	sh, err := share.Open(dir, share.Options{NoWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := sh.Audit(share.AuditFilter{})
	sh.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		if !strings.HasPrefix(e.Actor, "cli:") {
			t.Errorf("%s by %q, want the person at the terminal (cli:NAME)", e.Type, e.Actor)
		}
		if b, _ := json.Marshal(e); strings.Contains(string(b), "a-new-password") || strings.Contains(string(b), "a-long-password") {
			t.Errorf("audit event holds a password: %s", b)
		}
		got = append(got, e.Type+" "+e.Detail)
	}
	want := []string{"staff.added account anna (admin)", "staff.added account erik (technician)", "staff.disabled account erik", "staff.password account erik"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStaffMistakes: what is refused before any password is hashed.
func TestStaffMistakes(t *testing.T) { testStaffMistakes(t, t.TempDir()) }

func testStaffMistakes(t *testing.T, dir string) {
	for name, c := range map[string]struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		"short":      {"short\n", []string{"add", "bo"}, exitError, "at least 10"},
		"no stdin":   {"", []string{"add", "bo"}, exitError, "no password"},
		"bad role":   {"a-long-password\n", []string{"add", "bo", "--role", "boss"}, exitError, "technician or admin"},
		"bad name":   {"a-long-password\n", []string{"add", "Bo Berg"}, exitError, "lower-case letters"},
		"no name":    {"", []string{"add"}, exitError, "give the new account's name"},
		"two names":  {"", []string{"disable", "a", "b"}, exitError, "give the account's name"},
		"flag value": {"", []string{"add", "bo", "--password", "x"}, exitError, "unknown flag"},
	} {
		out, code := runStaff(t, dir, c.stdin, c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d %q, want %d and %q", name, code, out, c.code, c.want)
		}
	}
}
