package main

// Subcommands whose files are owned elsewhere register here.
func init() { subcommands = append(subcommands, newAnonymizeCmd) }
