package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "sonolink.conf")
	if err := os.WriteFile(conf, []byte("# comment\ndicom-addr = :104\nhttp-addr = :9000\nae-title = A,B\nmax-associations = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SONOLINK_HTTP_ADDR", ":9100")
	t.Setenv("SONOLINK_MAX_ASSOCIATIONS", "5")

	var got struct {
		dicom, http string
		aets        []string
		max         int
	}
	root := &cobra.Command{Use: "x", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().String("data-dir", dir, "")
	root.PersistentFlags().String("config", "", "")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error { return applyConfig(cmd) }
	sub := &cobra.Command{Use: "serve", RunE: func(cmd *cobra.Command, args []string) error {
		got.dicom, _ = cmd.Flags().GetString("dicom-addr")
		got.http, _ = cmd.Flags().GetString("http-addr")
		got.aets, _ = cmd.Flags().GetStringSlice("ae-title")
		got.max, _ = cmd.Flags().GetInt("max-associations")
		return nil
	}}
	sub.Flags().String("dicom-addr", ":11112", "")
	sub.Flags().String("http-addr", ":8080", "")
	sub.Flags().StringSlice("ae-title", []string{"SONOLINK"}, "")
	sub.Flags().Int("max-associations", 16, "")
	root.AddCommand(sub)
	root.SetArgs([]string{"serve", "--max-associations", "7"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.dicom != ":104" {
		t.Errorf("file value not applied: dicom-addr = %q", got.dicom)
	}
	if got.http != ":9100" {
		t.Errorf("env should beat file: http-addr = %q", got.http)
	}
	if got.max != 7 {
		t.Errorf("flag should beat env: max-associations = %d", got.max)
	}
	if len(got.aets) != 2 || got.aets[1] != "B" {
		t.Errorf("list from file: %q", got.aets)
	}

	// A bad value is refused, naming the variable.
	t.Setenv("SONOLINK_MAX_ASSOCIATIONS", "many")
	c := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { return nil }}
	c.Flags().Int("max-associations", 16, "")
	c.Flags().String("data-dir", dir, "")
	c.Flags().String("config", "", "")
	if err := applyConfig(c); err == nil || !strings.Contains(err.Error(), "SONOLINK_MAX_ASSOCIATIONS") {
		t.Fatalf("bad env value: err = %v", err)
	}
}
