//go:build !linux

package main

import (
	"errors"
	"os"
)

// Elsewhere the password is read from standard input only.
func isTerminal(f *os.File) bool { return false }

func echoOff(f *os.File) (func(), error) {
	return nil, errors.New("no terminal support on this system; pipe the password in")
}
