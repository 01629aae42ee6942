package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print a script that makes your shell complete sonolink's commands, flags,
study ids and setting keys. Load it once per session, or install it.

Bash (needs the bash-completion package):
  source <(sonolink completion bash)
  sonolink completion bash | sudo tee /etc/bash_completion.d/sonolink

Zsh:
  sonolink completion zsh > "${fpath[1]}/_sonolink"   # then start a new shell

Fish:
  sonolink completion fish > ~/.config/fish/completions/sonolink.fish

PowerShell:
  sonolink completion powershell | Out-String | Invoke-Expression`,
		Example: `  source <(sonolink completion bash)
  sonolink completion zsh > ~/.zfunc/_sonolink`,
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             []cobra.Completion{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return usageErr(fmt.Errorf("unknown shell %q: use bash, zsh, fish or powershell", args[0]))
		},
	}
}
