package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/internal/blob"
)

func newFinalizeCommand(g *globalOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "finalize OUT",
		Short: "Merge the parts of a sharded run into the dataset manifest",
		Long: `Finalize checks that every part of the run in OUT is committed (each has its
part manifest under _parts/), then writes rejects.jsonl, manifest.json and
_SUCCESS, the last two with If-None-Match: * so that a reader never sees a
partial dataset as complete.

It refuses while parts are missing and names them and the --shard I/N
processes they belong to. It is idempotent: on a finalized dataset it checks
the manifest and exits 0. Of two finalize calls running at the same time,
exactly one commits; the other exits 1 saying so.

A run without --shard finalizes itself; this command is for sharded runs.`,
		Example: `  # Three machines, one prefix, then one finalize:
  boostgen run cfg.yaml --out s3://bucket/ds --shard 0/3   # machine A
  boostgen run cfg.yaml --out s3://bucket/ds --shard 1/3   # machine B
  boostgen run cfg.yaml --out s3://bucket/ds --shard 2/3   # machine C
  boostgen finalize s3://bucket/ds`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := blob.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res, err := gen.Finalize(cmd.Context(), store)
			if errors.Is(err, gen.ErrFinalizeRace) {
				return fmt.Errorf("%w; nothing to do", err)
			}
			if err != nil {
				return err
			}
			m := res.Manifest
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"out": store.String(), "already": res.Already, "totals": m.Totals, "shards": len(m.Shards)})
			}
			verb := "finalized"
			if res.Already {
				verb = "already finalized"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "boostgen: %s %s: %d items, %d records in %d part files, %d rejects\n",
				verb, store, m.Totals.Items, m.Totals.Records, len(m.Shards), m.Totals.Rejects)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON summary on stdout")
	return cmd
}
