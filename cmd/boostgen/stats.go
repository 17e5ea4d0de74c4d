package main

import (
	"github.com/spf13/cobra"

	"github.com/boostgen/boostgen/gen/stats"
	"github.com/boostgen/boostgen/internal/blob"
)

func newStatsCommand(g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats OUT",
		Short: "Summarize a dataset: turns, answer balance, depths, distances, rejects",
		Long: `Stats reads a finished dataset (local folder or s3://bucket/prefix) and prints
what it holds: turns per level and kind, the true/false balance of every yes/no
predicate (closer, left, above, behind, taller, wider, bigger), histograms of
the stated point depths and object distances, rejects by reason, and records
by number of views. The same figures are drawn as charts by boostgen preview.`,
		Example: `  boostgen stats out/quickstart
  boostgen stats out/quickstart --json | jq '.balance[] | [.predicate, .true_share]'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := blob.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			s, err := stats.Compute(cmd.Context(), store)
			if err != nil {
				return err
			}
			if asJSON {
				return s.WriteJSON(cmd.OutOrStdout())
			}
			return s.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the statistics as JSON")
	return cmd
}
