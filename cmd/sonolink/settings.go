package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"sonolink/admin"
	"sonolink/settings"
	"sonolink/share"
)

const settingsLong = `Clinic settings are kept in the data directory and take effect at once, also
in a running sonolink serve: clinic name, language, default country code for
phone numbers, link lifetime, patient link code, branding (logo, message
texts), auto-share rule and stable time, de-identification options.

Keys are written as 'sonolink settings' lists them (link.code); dashes or a
unique last part also work (link-code, code, stable-time).

The patient link code: 'settings set link.code CODE' makes links issued from
then on require it (each link also keeps accepting the code in force when it
was issued); patients who already have a link are not asked for a code they
were never given, unless 'settings set link.code_scope all' (it says how many
active links that affects). 'settings clear link.code' removes the prompt
from every link.`

func newSettingsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Show or change the clinic's settings",
		Long:  settingsLong + "\n\nWithout a subcommand, list every setting with its value and default.",
		Example: `  sonolink settings
  sonolink settings set clinic.name "Ultraljud Söder"
  sonolink settings set link.lifetime 30d
  sonolink settings clear link.code
  sonolink settings --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(fmt.Errorf("%q is not a settings command; to change a setting: sonolink settings set KEY VALUE (e.g. sonolink settings set clinic.name \"Ultraljud Söder\"); to clear one: sonolink settings clear KEY", args[0]))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
				res, err := s.ops.Settings(ctx)
				if err != nil {
					return err
				}
				if res == nil {
					res = []admin.Setting{}
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY\tVALUE\tDEFAULT\tDESCRIPTION")
				for _, st := range res {
					termf(tw, "%s\t%s\t%s\t%s\n", st.Key, dash(st.Value), dash(st.Default), st.Description)
				}
				return tw.Flush()
			})
		},
	}
	addJSONFlag(cmd, &asJSON)
	cmd.AddCommand(newSettingsSetCmd(), newSettingsClearCmd())
	return cmd
}

func newSettingsSetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change a setting (takes effect at once)",
		Long:  settingsLong + "\n\nAn empty VALUE (\"\") clears the setting back to its default. Exit code 2 when\nthe key is unknown or the value is not valid for it.",
		Example: `  sonolink settings set clinic.language sv
  sonolink settings set clinic.region SE
  sonolink settings set link.code 4711
  sonolink settings set link-code ""
  sonolink settings set branding.logo ./logo.png`,
		Args:              settingsSetArgs,
		ValidArgsFunction: completeSettingKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			value := args[1]
			// The server reads a logo file itself: give it the absolute
			// path of a file that is here ("clear" stays a word).
			if k, err := share.Registry().Resolve(args[0]); err == nil && k == settings.KeyLogo && !filepath.IsAbs(value) {
				if _, err := os.Stat(value); err == nil {
					if abs, err := filepath.Abs(value); err == nil {
						value = abs
					}
				}
			}
			return setSetting(cmd, args[0], value, asJSON)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

func newSettingsClearCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:               "clear KEY",
		Short:             "Clear a setting back to its default (e.g. remove the patient link code)",
		Long:              settingsLong,
		Example:           `  sonolink settings clear link.code`,
		Args:              exactArgs(1, "one setting KEY, as 'sonolink settings' lists them", "sonolink settings clear link.code"),
		ValidArgsFunction: completeSettingKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			return setSetting(cmd, args[0], "", asJSON)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// settingsSetArgs wants KEY VALUE and says what went wrong in the
// clinic's terms: a missing value, or a value with spaces not quoted.
func settingsSetArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 2:
		return nil
	case len(args) == 0:
		return usageErr(fmt.Errorf("settings set takes a KEY and a VALUE, e.g. sonolink settings set clinic.name \"Ultraljud Söder\"; 'sonolink settings' lists the keys"))
	case len(args) == 1:
		return usageErr(fmt.Errorf("settings set %s: give the value too, e.g. sonolink settings set %s VALUE; to clear it: sonolink settings clear %s", args[0], args[0], args[0]))
	}
	return usageErr(fmt.Errorf("settings set %s: the value is %d words; put it in quotes: sonolink settings set %s %q", args[0], len(args)-1, args[0], strings.Join(args[1:], " ")))
}

func setSetting(cmd *cobra.Command, key, value string, asJSON bool) error {
	return withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
		st, err := s.ops.SetSetting(ctx, admin.SettingRequest{Key: key, Value: value, Actor: actor()})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(cmd.OutOrStdout(), st)
		}
		where := "it applies from now on"
		if s.remote {
			where = "the running sonolink serve applies it from now on"
		}
		switch {
		case value == "":
			termf(cmd.OutOrStdout(), "%s cleared (now %s); %s.\n", st.Key, dash(st.Value), where)
		case st.Value == "set": // a secret (the link code): not shown
			termf(cmd.OutOrStdout(), "%s set; %s.\n", st.Key, where)
		default:
			termf(cmd.OutOrStdout(), "%s set to %s; %s.\n", st.Key, dash(st.Value), where)
		}
		if st.Note != "" {
			termf(cmd.OutOrStdout(), "%s%s.\n", strings.ToUpper(st.Note[:1]), st.Note[1:])
		}
		return nil
	})
}

func completeSettingKeys(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	_ = withAdmin(cmd, func(ctx context.Context, s *cliSession) error {
		res, err := s.ops.Settings(ctx)
		for _, st := range res {
			out = append(out, cobra.CompletionWithDesc(st.Key, st.Description))
		}
		return err
	})
	return out, cobra.ShellCompDirectiveNoFileComp
}
