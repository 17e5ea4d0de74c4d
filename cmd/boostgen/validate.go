package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/internal/blob"
)

func newValidateCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "validate OUT",
		Short: "Check a dataset against its manifest and the schemas",
		Long: `Validate reads a dataset the way a trainer would: manifest.json first (against
schemas/manifest.schema.json), then every shard it lists (size, sha256, record
count), every record (against schemas/record.schema.json, plus unique ids, one
<image> token per image, alternating turns, images present), and rejects.jsonl.

It prints a JSON summary and exits 1 if anything is wrong; the summary lists
the first 50 problems, each naming its file, line and record id.`,
		Example: `  boostgen validate out/quickstart
  boostgen validate out/quickstart | jq .error_count`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := blob.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rep := gen.Validate(cmd.Context(), store)
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
			if !rep.OK {
				return exitCode(1)
			}
			return nil
		},
	}
}
