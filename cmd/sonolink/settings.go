package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
		Args: cobra.NoArgs,
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
		Args:              cobra.ExactArgs(2),
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
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeSettingKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			return setSetting(cmd, args[0], "", asJSON)
		},
	}
	addJSONFlag(cmd, &asJSON)
	return cmd
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
		if value == "" {
			termf(cmd.OutOrStdout(), "%s cleared (now %s); %s.\n", st.Key, dash(st.Value), where)
		} else {
			termf(cmd.OutOrStdout(), "%s set to %s; %s.\n", st.Key, dash(st.Value), where)
		}
		if st.Note != "" {
			termf(cmd.OutOrStdout(), "%s.\n", st.Note)
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
