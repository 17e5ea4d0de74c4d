package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/internal/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print boostgen's version",
		Example: "  boostgen version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "boostgen %s (record schema %s, %s)\n", version.Version, gen.RecordSchemaVersion, runtime.Version())
			return err
		},
	}
}
