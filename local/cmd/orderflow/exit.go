package main

import (
	"errors"
	"fmt"
	"strings"

	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/store"
)

// Exit codes, for scripts: a check that ran and failed is told apart from
// a command used wrongly and from one that could not do its work.
const (
	exitOK          = 0
	exitCheckFailed = 1 // invariants broken, replay --verify found a difference, a fault scenario failed
	exitUsage       = 2 // unknown command or flag, a bad value
	exitRuntime     = 3 // anything else: a broker or a database not reached, a file not written
)

// exitCodesHelp is what the root command's help says of them.
const exitCodesHelp = `Exit codes: 0 success; 1 a check ran and failed (invariants, replay --verify,
a fault scenario); 2 usage (unknown command or flag, bad value); 3 any other error.`

// checkFailure is a check that ran and failed.
type checkFailure struct{ err error }

func (e *checkFailure) Error() string { return e.err.Error() }
func (e *checkFailure) Unwrap() error { return e.err }

// checkFailed makes a failed check's error: exit code 1.
func checkFailed(format string, args ...any) error {
	return &checkFailure{fmt.Errorf(format, args...)}
}

// usageError is a command used wrongly.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// cobraUsage are the beginnings of the errors cobra and pflag make of a
// command line they cannot take.
var cobraUsage = []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument",
	"flag needs an argument", "bad flag syntax", "accepts ", "requires at least", "requires at most",
	"required flag", "if any flags in the group", "unknown help topic"}

// exitCode is what err means to a script. Besides the marked errors, an
// error that begins with a flag's name (--rate -5: must be positive) is a
// bad value, by this command's convention of naming the flag first.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var cf *checkFailure
	if errors.As(err, &cf) {
		return exitCheckFailed
	}
	var ue *usageError
	var ae *dlq.ArgumentError
	if errors.As(err, &ue) || errors.As(err, &ae) {
		return exitUsage
	}
	if store.IsOpenFailure(err) {
		// "--database=postgres://...: cannot connect" names its flag but
		// is no misuse of it.
		return exitRuntime
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "--") || strings.HasPrefix(msg, "-o ") {
		return exitUsage
	}
	for _, p := range cobraUsage {
		if strings.HasPrefix(msg, p) {
			return exitUsage
		}
	}
	return exitRuntime
}
