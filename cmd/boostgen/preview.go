package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/boostgen/boostgen/gen/preview"
	"github.com/boostgen/boostgen/internal/blob"
)

type previewOptions struct {
	*globalOptions
	n       int
	seed    uint64
	out     string
	noCards bool
	json    bool
}

func newPreviewCommand(g *globalOptions) *cobra.Command {
	o := &previewOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "preview OUT",
		Short: "Write an HTML page of sampled records with their overlays",
		Long: `Preview samples records from a finished dataset (local folder or
s3://bucket/prefix) and writes a self-contained static page: every sampled
anchor view with its overlays drawn as SVG (the stated points, 2D boxes, the
3D cubes projected as wireframes, the canonical frame's axes), the other
views of multi-view records, the full conversation with the truth behind each
turn, badges from meta (frame, views, and anything later stages add such as
scores and verdicts), and the dataset's statistics as charts.

The folder holds index.html, the images it shows (copied), and one PNG card
per record under cards/ for reports. Open index.html in any browser; it needs
no server and no network.`,
		Example: `  boostgen preview out/quickstart
  boostgen preview s3://bucket/run1 --n 20 --seed 3 --out /tmp/run1-preview`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.n < 1 {
				return fmt.Errorf("--n %d: must be at least 1", o.n)
			}
			if o.out == "" {
				return fmt.Errorf("--out: give a folder")
			}
			store, err := blob.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res, err := preview.Build(cmd.Context(), store, preview.Options{N: o.n, Seed: o.seed, Out: o.out, NoCards: o.noCards})
			if err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "boostgen: %d of %d records, %d images, %d PNG cards → %s\n", res.Cards, res.Records, res.Images, len(res.PNGs), res.Page)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.n, "n", 50, "records to sample")
	f.Uint64Var(&o.seed, "seed", 1, "sampling seed (the same seed shows the same records)")
	f.StringVar(&o.out, "out", "preview", "output folder for index.html, images/ and cards/")
	f.BoolVar(&o.noCards, "no-cards", false, "skip the PNG cards")
	f.BoolVar(&o.json, "json", false, "print what was written as JSON on stdout")
	return cmd
}
