// Package cmd holds the `boostgen train` commands and the `boostgen run
// --on-cluster` options, in the shape of kubectl plugins: one options struct
// per command, filled by flags, then Complete → Validate → Run.
//
// The lead's root command adds them:
//
//	root.AddCommand(cmd.NewTrainCommand(cmd.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
//	...
//	os.Exit(cmd.ExitCode(root.Execute()))
package cmd

import (
	"errors"
	"io"

	"github.com/boostgen/boostgen/driver"
)

// IOStreams are the command's standard streams, replaceable in tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Exit statuses of the train commands, documented in `boostgen train --help`.
const (
	ExitOK         = 0
	ExitError      = 1 // bad flags, cluster unreachable, RayJob rejected…
	ExitJobFailed  = 2 // the RayJob ended Failed (job or deployment)
	ExitJobStopped = 3 // the RayJob was stopped or deleted (cancel)
)

// ExitCode is the process exit status for an error a command returned.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var je *driver.JobError
	if errors.As(err, &je) {
		if je.Stopped {
			return ExitJobStopped
		}
		return ExitJobFailed
	}
	return ExitError
}
